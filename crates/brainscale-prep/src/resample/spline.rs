//! B-spline machinery of `scipy.ndimage` (1.13) as `affine_transform(..., mode="constant")`
//! uses it: the cubic prefilter with the mirror boundary, and per-voxel tap indices and
//! weights.

use super::Weights;

/// The pole of the cubic B-spline prefilter.
const POLE: f64 = -0.267_949_192_431_122_7; // sqrt(3) - 2

/// Turns a volume (Fortran order) into cubic B-spline coefficients in place: the recursive
/// filter along each axis in turn (i, then j, then k), mirror boundary (whole-sample symmetric,
/// exact initial conditions), as `scipy.ndimage.spline_filter(order=3, mode="constant")`.
pub(super) fn prefilter_cubic(data: &mut [f64], dims: [usize; 3]) {
    let [nx, ny, nz] = dims;
    // Axis i: lines are contiguous (inner = 1), one per (j, k).
    filter_lines(data, nx, 1, 1, ny * nz, nx);
    // Axis j: for each k, the rows i = 0..nx are filtered together along j.
    filter_lines(data, ny, nx, nx, nz, nx * ny);
    // Axis k: the whole (i, j) slab filtered together along k.
    filter_lines(data, nz, nx * ny, nx * ny, 1, 0);
}

/// Filters `outer` groups of lines of length `n`: element `m` of line `e` (0 <= e < inner) of
/// group `g` sits at `g * group_stride + m * stride + e`. Lines of one group are processed
/// together so that the inner loops run over contiguous memory.
fn filter_lines(data: &mut [f64], n: usize, stride: usize, inner: usize, outer: usize, group_stride: usize) {
    if n <= 1 {
        return;
    }
    let z = POLE;
    let gain = (1.0 - z) * (1.0 - 1.0 / z);
    let z_n1 = z.powi(n as i32 - 1);
    let init_scale = 1.0 / (1.0 - z_n1 * z_n1);
    let anti = z / (z * z - 1.0);
    let mut acc = vec![0.0f64; inner];
    for g in 0..outer {
        let base = g * group_stride;
        let at = |m: usize| base + m * stride;
        for m in 0..n {
            for v in &mut data[at(m)..at(m) + inner] {
                *v *= gain;
            }
        }
        // Causal initial value: sum over the mirrored, infinitely extended line.
        for (e, a) in acc.iter_mut().enumerate() {
            *a = data[at(0) + e] + z_n1 * data[at(n - 1) + e];
        }
        let mut z_i = z;
        for m in 1..n - 1 {
            let (p, q) = (at(m), at(n - 1 - m));
            for (e, a) in acc.iter_mut().enumerate() {
                *a += z_i * (data[p + e] + z_n1 * data[q + e]);
            }
            z_i *= z;
        }
        for (e, a) in acc.iter().enumerate() {
            data[at(0) + e] = a * init_scale;
        }
        for m in 1..n {
            let (prev, cur) = (at(m - 1), at(m));
            for e in 0..inner {
                data[cur + e] += z * data[prev + e];
            }
        }
        // Anticausal initial value, then the backward recursion.
        let (last, before) = (at(n - 1), at(n - 2));
        for e in 0..inner {
            data[last + e] = (z * data[before + e] + data[last + e]) * anti;
        }
        for m in (0..n - 1).rev() {
            let (next, cur) = (at(m + 1), at(m));
            for e in 0..inner {
                data[cur + e] = z * (data[next + e] - data[cur + e]);
            }
        }
    }
}

/// Index of knot `idx` on an axis of length `len`, mirrored into the grid the way scipy maps
/// knots beyond the edges (whole-sample symmetric, period `2 * len - 2`).
pub(super) fn mirror(idx: i64, len: i64) -> i64 {
    if len <= 1 {
        return 0;
    }
    let period = 2 * len - 2;
    let mut i = idx.rem_euclid(period);
    if i >= len {
        i = period - i;
    }
    i
}

/// The taps of one source coordinate `cc` (inside `[0, len - 1]`) for a spline of `order`:
/// indices (mirrored) and weights.
fn taps(cc: f64, len: usize, order: usize, index: &mut [u32], weight: &mut [f64]) {
    let len = len as i64;
    match order {
        0 => {
            index[0] = mirror((cc + 0.5).floor() as i64, len) as u32;
            weight[0] = 1.0;
        }
        1 => {
            let start = cc.floor();
            let t = cc - start;
            let s = start as i64;
            index[0] = mirror(s, len) as u32;
            index[1] = mirror(s + 1, len) as u32;
            weight[0] = 1.0 - t;
            weight[1] = t;
        }
        _ => {
            let start = cc.floor() - 1.0;
            for h in 0..4 {
                let y = (start + h as f64 - cc).abs();
                weight[h] = if y < 1.0 {
                    (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0
                } else if y < 2.0 {
                    let u = 2.0 - y;
                    u * u * u / 6.0
                } else {
                    0.0
                };
                index[h] = mirror(start as i64 + h as i64, len) as u32;
            }
        }
    }
}

/// Source coordinates of every target voxel under `x = a · o + b`, computed as scipy does
/// (the separable `zoom_shift` path, `(o + b / a) * a`, when `a` is diagonal, as nilearn then
/// passes the diagonal), and the taps of those inside the source grid.
pub(super) fn weights(a: &[[f64; 3]; 3], b: &[f64; 3], src: [usize; 3], dst: [usize; 3], order: usize) -> Weights {
    let diagonal = (0..3).all(|r| (0..3).all(|c| r == c || a[r][c] == 0.0));
    let t = order + 1;
    let mut w = Weights { taps: t, cells: Vec::new(), index: Vec::new(), weight: Vec::new(), nearest: Vec::new() };
    let mut index = vec![0u32; 3 * t];
    let mut weight = vec![0f64; 3 * t];
    let [nx, ny, nz] = dst;
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let o = [i as f64, j as f64, k as f64];
                let cc: [f64; 3] = if diagonal {
                    std::array::from_fn(|d| (o[d] + b[d] / a[d][d]) * a[d][d])
                } else {
                    std::array::from_fn(|d| {
                        let mut x = 0.0;
                        for (l, ol) in o.iter().enumerate() {
                            x += ol * a[d][l];
                        }
                        x + b[d]
                    })
                };
                // Strictly outside [0, len - 1] on any axis: the fill value (mode "constant").
                if (0..3).any(|d| !(cc[d] >= 0.0 && cc[d] <= (src[d] - 1) as f64)) {
                    continue;
                }
                for d in 0..3 {
                    taps(cc[d], src[d], order, &mut index[d * t..(d + 1) * t], &mut weight[d * t..(d + 1) * t]);
                }
                let near: [usize; 3] = std::array::from_fn(|d| (cc[d] + 0.5).floor() as usize);
                w.cells.push((i + nx * (j + ny * k)) as u32);
                w.index.extend_from_slice(&index);
                w.weight.extend_from_slice(&weight);
                w.nearest.push((near[0] + src[0] * (near[1] + src[1] * near[2])) as u32);
            }
        }
    }
    w
}
