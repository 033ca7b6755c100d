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
    let [nx, ny, _] = dims;
    // Axis i: every line is a contiguous run of nx values.
    if nx > 1 {
        let f = LineFilter::new(nx);
        for line in data.chunks_exact_mut(nx) {
            f.apply_line(line);
        }
    }
    // Axis j: for each k, the ny rows of nx values are filtered together along j.
    if ny > 1 {
        let f = LineFilter::new(ny);
        let mut acc = vec![0.0; nx];
        for slab in data.chunks_exact_mut(nx * ny) {
            f.apply_rows(slab, nx, &mut acc);
        }
    }
    // Axis k: the whole volume, nz rows (slabs) of nx * ny values.
    if dims[2] > 1 {
        let f = LineFilter::new(dims[2]);
        let mut acc = vec![0.0; nx * ny];
        f.apply_rows(data, nx * ny, &mut acc);
    }
}

/// The cubic B-spline prefilter for lines of length `n` (> 1).
struct LineFilter {
    n: usize,
    /// `z^(n - 1)`.
    z_n1: f64,
    /// `1 / (1 - z^(2n - 2))`.
    init_scale: f64,
}

impl LineFilter {
    const GAIN: f64 = (1.0 - POLE) * (1.0 - 1.0 / POLE);
    const ANTI: f64 = POLE / (POLE * POLE - 1.0);

    fn new(n: usize) -> LineFilter {
        let z_n1 = POLE.powi(n as i32 - 1);
        LineFilter { n, z_n1, init_scale: 1.0 / (1.0 - z_n1 * z_n1) }
    }

    /// One contiguous line.
    fn apply_line(&self, c: &mut [f64]) {
        let (n, z) = (self.n, POLE);
        c.iter_mut().for_each(|v| *v *= Self::GAIN);
        // Causal initial value: the sum over the mirrored, infinitely extended line.
        let mut sum = c[0] + self.z_n1 * c[n - 1];
        let mut z_i = z;
        for m in 1..n - 1 {
            sum += z_i * (c[m] + self.z_n1 * c[n - 1 - m]);
            z_i *= z;
        }
        c[0] = sum * self.init_scale;
        for m in 1..n {
            c[m] += z * c[m - 1];
        }
        // Anticausal initial value, then the backward recursion.
        c[n - 1] = (z * c[n - 2] + c[n - 1]) * Self::ANTI;
        for m in (0..n - 1).rev() {
            c[m] = z * (c[m + 1] - c[m]);
        }
    }

    /// `n` rows of `width` contiguous values, each column a line: the same recursion with the
    /// inner loops over contiguous memory. `acc` has `width` values of scratch.
    fn apply_rows(&self, block: &mut [f64], width: usize, acc: &mut [f64]) {
        let (n, z, z_n1) = (self.n, POLE, self.z_n1);
        block.iter_mut().for_each(|v| *v *= Self::GAIN);
        {
            let (first, rest) = block.split_at(width);
            let last = &rest[(n - 2) * width..];
            acc.iter_mut().zip(first.iter().zip(last)).for_each(|(a, (f, l))| *a = f + z_n1 * l);
        }
        let mut z_i = z;
        for m in 1..n - 1 {
            let row = &block[m * width..(m + 1) * width];
            let mirror = &block[(n - 1 - m) * width..(n - m) * width];
            acc.iter_mut().zip(row.iter().zip(mirror)).for_each(|(a, (r, q))| *a += z_i * (r + z_n1 * q));
            z_i *= z;
        }
        block[..width].iter_mut().zip(acc.iter()).for_each(|(c, a)| *c = a * self.init_scale);
        for m in 1..n {
            let (done, todo) = block.split_at_mut(m * width);
            let prev = &done[(m - 1) * width..];
            todo[..width].iter_mut().zip(prev).for_each(|(c, p)| *c += z * p);
        }
        {
            let (head, last) = block.split_at_mut((n - 1) * width);
            let before = &head[(n - 2) * width..];
            last.iter_mut().zip(before).for_each(|(c, b)| *c = (z * b + *c) * Self::ANTI);
        }
        for m in (0..n - 1).rev() {
            let (head, tail) = block.split_at_mut((m + 1) * width);
            let cur = &mut head[m * width..];
            cur.iter_mut().zip(&tail[..width]).for_each(|(c, nx)| *c = z * (nx - *c));
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
