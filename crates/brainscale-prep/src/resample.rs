//! Resampling images onto another voxel grid, as `nilearn.image.resample_img` does (nilearn
//! 0.10.4 on scipy 1.13).
//!
//! nilearn maps every target voxel to source voxel coordinates with
//! `A · (i, j, k) + b`, where `[A | b] = inv(source_affine) · target_affine`, and evaluates
//! `scipy.ndimage.affine_transform` there:
//!
//! * [`Interpolation::Continuous`] (nilearn's default): cubic B-spline (order 3). The source
//!   volume is first turned into spline coefficients by scipy's prefilter, which for
//!   `mode="constant"` uses the mirror boundary (whole-sample symmetric: `... c b | a b c d | c b
//!   ...`); knots beyond the edges are mirrored the same way.
//! * [`Interpolation::Linear`] (order 1) and [`Interpolation::Nearest`] (order 0): no prefilter.
//! * A target voxel whose source coordinate lies outside `[0, n - 1]` on any axis (strictly;
//!   scipy's `mode="constant"`) gets 0 (nilearn's `fill_value`); no interpolation towards the
//!   fill value happens at the border.
//! * Non-finite source values: nilearn replaces them by the mean of their finite 6-neighbours,
//!   twice (`nilearn.masking.extrapolate_out_mask(..., iterations=2)`; everything further away
//!   becomes 0), interpolates, then puts NaN back wherever the nearest source voxel was not
//!   finite. [`Resampler`] does the same.
//! * Finally nilearn clips the result to `[min(data, 0), max(data, 0)]` over the **whole 4D
//!   image** (NaNs ignored). Clipping is elementwise, so it commutes with masking: stream the
//!   volumes, merge the [`ClipRange`] that [`Resampler::resample`] returns for each, and clip
//!   the kept values once the run is done.
//! * Two shortcuts of nilearn are kept because their output differs from interpolation at the
//!   last bits: a target grid equal to the source grid (affines `allclose`) returns the data
//!   unchanged, and an integer translation (`A` the identity, `b` integers) copies values.
//!
//! Deliberate difference: nilearn raises `BoundingBoxError` only when the source lies entirely
//! *below* the target grid along an axis, and returns an all-zero image when it lies above it;
//! here any target grid that sees none of the source field of view is an error
//! ([`ResampleError::OutsideFieldOfView`]), as are singular or non-finite affines and empty
//! grids.
//!
//! ```
//! use brainscale_data::Grid;
//! use brainscale_prep::resample::{ClipRange, Interpolation, Resampler};
//!
//! let diag = |s: f64, o: f64| [[s, 0.0, 0.0, o], [0.0, s, 0.0, o], [0.0, 0.0, s, o], [0.0, 0.0, 0.0, 1.0]];
//! let source = Grid { dims: [8, 8, 8], affine: diag(2.0, -7.0) };
//! let target = Grid { dims: [4, 4, 4], affine: diag(4.0, -6.0) };
//! let mut resampler = Resampler::new(&source, &target, Interpolation::Continuous)?;
//! let volume: Vec<f32> = (0..512).map(|v| (v % 7) as f32).collect();
//! let mut out = vec![0f32; target.n_cells()];
//! let mut range = ClipRange::default();
//! range.merge(resampler.resample(&volume, &mut out)?);
//! range.clip(&mut out);
//! assert!(out.iter().all(|v| (0.0..=6.0).contains(v)));
//! # Ok::<(), brainscale_prep::resample::ResampleError>(())
//! ```

use std::fmt;
use std::sync::Arc;

use brainscale_data::Grid;

/// How values between voxel centres are computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Interpolation {
    /// Cubic B-spline with scipy's prefilter (nilearn's `"continuous"`, its default).
    #[default]
    Continuous,
    /// Trilinear (nilearn's `"linear"`).
    Linear,
    /// Nearest neighbour (nilearn's `"nearest"`; for label images and masks).
    Nearest,
}

impl Interpolation {
    /// The spline order scipy uses for it (3, 1 or 0).
    pub fn order(self) -> usize {
        match self {
            Interpolation::Continuous => 3,
            Interpolation::Linear => 1,
            Interpolation::Nearest => 0,
        }
    }

    /// nilearn's name (`continuous`, `linear`, `nearest`).
    pub fn name(self) -> &'static str {
        match self {
            Interpolation::Continuous => "continuous",
            Interpolation::Linear => "linear",
            Interpolation::Nearest => "nearest",
        }
    }

    /// Parses nilearn's name.
    pub fn from_name(name: &str) -> Option<Interpolation> {
        match name {
            "continuous" => Some(Interpolation::Continuous),
            "linear" => Some(Interpolation::Linear),
            "nearest" => Some(Interpolation::Nearest),
            _ => None,
        }
    }
}

impl fmt::Display for Interpolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which grid of a resampling an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridRole {
    /// The image's own grid.
    Source,
    /// The grid resampled onto.
    Target,
}

impl fmt::Display for GridRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GridRole::Source => "source",
            GridRole::Target => "target",
        })
    }
}

/// Why a resampling cannot be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResampleError {
    /// A grid with a zero dimension, or too many voxels to index.
    #[error("{role} grid {grid}: has no voxels or more than 2^32; a grid needs 1..2^32 voxels")]
    EmptyGrid {
        /// Which grid.
        role: GridRole,
        /// The grid.
        grid: Box<Grid>,
    },
    /// An affine with a NaN or an infinite element.
    #[error("{role} grid {grid}: the affine has non-finite elements; check the image header (sform/qform)")]
    NonFiniteAffine {
        /// Which grid.
        role: GridRole,
        /// The grid.
        grid: Box<Grid>,
    },
    /// An affine whose 3x3 part cannot be inverted (a zero voxel size or collinear axes), or
    /// whose last row is not (0, 0, 0, 1).
    #[error(
        "{role} grid {grid}: the affine is singular or not a 3D affine (|det| = {det:e}); check the image \
         header (a zero voxel size in pixdim or srow)"
    )]
    SingularAffine {
        /// Which grid.
        role: GridRole,
        /// The grid.
        grid: Box<Grid>,
        /// Determinant of the 3x3 part.
        det: f64,
    },
    /// No target voxel falls inside the source field of view.
    #[error(
        "the target grid {target} does not overlap the image's field of view ({source_grid}): every \
         resampled value would be the fill value; check that both are in the same space (e.g. MNI)"
    )]
    OutsideFieldOfView {
        /// The image's grid.
        source_grid: Box<Grid>,
        /// The target grid.
        target: Box<Grid>,
    },
    /// A volume buffer of the wrong length.
    #[error("{what}: expected {expected} values, got {found}")]
    VolumeLength {
        /// Which buffer ("source volume", "output volume", ...).
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Length found.
        found: usize,
    },
}

/// The value range nilearn clips resampled data to: `[min(data, 0), max(data, 0)]` over the
/// source values, NaNs ignored. Starts at `[0, 0]` ([`Default`]); merge the range of every
/// volume of a run, then [`ClipRange::clip`] the resampled run (or any subset of its values).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipRange {
    /// Lower bound (at most 0).
    pub min: f32,
    /// Upper bound (at least 0).
    pub max: f32,
}

impl Default for ClipRange {
    fn default() -> Self {
        ClipRange { min: 0.0, max: 0.0 }
    }
}

impl ClipRange {
    /// The range of `values` (NaNs ignored) extended to contain 0.
    pub fn of(values: &[f32]) -> ClipRange {
        let mut r = ClipRange::default();
        for &v in values {
            // NaN compares false both ways and is skipped.
            if v < r.min {
                r.min = v;
            }
            if v > r.max {
                r.max = v;
            }
        }
        r
    }

    /// Widens this range to contain `other`.
    pub fn merge(&mut self, other: ClipRange) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Clips every value into the range (NaNs stay NaN, as `numpy.clip`).
    pub fn clip(&self, values: &mut [f32]) {
        for v in values {
            if *v < self.min {
                *v = self.min;
            } else if *v > self.max {
                *v = self.max;
            }
        }
    }
}

/// Resamples volumes from one grid onto another, one 3D volume at a time.
///
/// Building it precomputes, for every target voxel inside the source field of view, its spline
/// weights and source indices; [`Resampler::resample`] then only prefilters (continuous) and
/// sums. Cloning is cheap (the plan is shared); give each thread its own clone.
#[derive(Clone)]
pub struct Resampler {
    plan: Arc<Plan>,
    /// Spline coefficients of the current volume (continuous) or its extrapolated copy.
    scratch: Vec<f64>,
}

impl fmt::Debug for Resampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resampler")
            .field("source", &self.plan.source.to_string())
            .field("target", &self.plan.target.to_string())
            .field("interpolation", &self.plan.interpolation)
            .field("n_inside", &self.n_inside())
            .finish()
    }
}

struct Plan {
    source: Grid,
    target: Grid,
    interpolation: Interpolation,
    kind: PlanKind,
}

enum PlanKind {
    /// Same grid: values are copied (nilearn returns the image unchanged).
    Identity,
    /// Integer translation: target (i, j, k) takes source (i, j, k) + shift.
    Shift { shift: [i64; 3], n_inside: usize },
    /// Spline evaluation.
    Spline(Weights),
}

/// Per inside target voxel: its cell, the source indices and weights of its taps along each
/// axis, and its nearest source cell (for putting NaNs back).
struct Weights {
    taps: usize,
    cells: Vec<u32>,
    /// `3 * taps` per cell: i indices, then j, then k (already mirrored into the grid).
    index: Vec<u32>,
    /// `3 * taps` per cell, same layout.
    weight: Vec<f64>,
    nearest: Vec<u32>,
}

impl Resampler {
    /// Plans the resampling of volumes on `source` onto `target`.
    pub fn new(source: &Grid, target: &Grid, interpolation: Interpolation) -> Result<Resampler, ResampleError> {
        check_grid(source, GridRole::Source)?;
        check_grid(target, GridRole::Target)?;
        let kind = plan(source, target, interpolation)?;
        let n_inside = match &kind {
            PlanKind::Identity => target.n_cells(),
            PlanKind::Shift { n_inside, .. } => *n_inside,
            PlanKind::Spline(w) => w.cells.len(),
        };
        if n_inside == 0 {
            return Err(ResampleError::OutsideFieldOfView {
                source_grid: Box::new(source.clone()),
                target: Box::new(target.clone()),
            });
        }
        let plan = Plan { source: source.clone(), target: target.clone(), interpolation, kind };
        Ok(Resampler { plan: Arc::new(plan), scratch: Vec::new() })
    }

    /// The source grid.
    pub fn source(&self) -> &Grid {
        &self.plan.source
    }

    /// The target grid.
    pub fn target(&self) -> &Grid {
        &self.plan.target
    }

    /// The interpolation.
    pub fn interpolation(&self) -> Interpolation {
        self.plan.interpolation
    }

    /// Number of target voxels inside the source field of view (the others get 0).
    pub fn n_inside(&self) -> usize {
        match &self.plan.kind {
            PlanKind::Identity => self.plan.target.n_cells(),
            PlanKind::Shift { n_inside, .. } => *n_inside,
            PlanKind::Spline(w) => w.cells.len(),
        }
    }

    /// Resamples one source volume (Fortran order, `source.n_cells()` values) into `out`
    /// (Fortran order, `target.n_cells()` values), **without** clipping. Returns the clip range
    /// of this source volume: merge it over the run, then clip (see the module docs).
    pub fn resample(&mut self, source: &[f32], out: &mut [f32]) -> Result<ClipRange, ResampleError> {
        let plan = &*self.plan;
        if source.len() != plan.source.n_cells() {
            return Err(ResampleError::VolumeLength {
                what: "source volume",
                expected: plan.source.n_cells(),
                found: source.len(),
            });
        }
        if out.len() != plan.target.n_cells() {
            return Err(ResampleError::VolumeLength {
                what: "output volume",
                expected: plan.target.n_cells(),
                found: out.len(),
            });
        }
        let range = ClipRange::of(source);
        match &plan.kind {
            PlanKind::Identity => out.copy_from_slice(source),
            PlanKind::Shift { shift, .. } => shift_copy(&plan.source.dims, &plan.target.dims, *shift, source, out),
            PlanKind::Spline(w) => {
                let dims = plan.source.dims;
                let finite = source.iter().all(|v| v.is_finite());
                self.scratch.clear();
                if finite {
                    self.scratch.extend(source.iter().map(|&v| v as f64));
                } else {
                    extrapolate_out_mask(dims, source, &mut self.scratch);
                }
                if plan.interpolation == Interpolation::Continuous {
                    spline::prefilter_cubic(&mut self.scratch, dims);
                }
                out.fill(0.0);
                evaluate(w, dims, &self.scratch, out);
                if !finite {
                    for (&cell, &near) in w.cells.iter().zip(&w.nearest) {
                        if !source[near as usize].is_finite() {
                            out[cell as usize] = f32::NAN;
                        }
                    }
                }
            }
        }
        Ok(range)
    }
}

/// Resamples a whole image in memory like `nilearn.image.resample_img(img, target_affine,
/// target_shape, interpolation)`, clipping included: `data` holds `n_volumes` source volumes one
/// after the other (each in Fortran order); the result holds as many target volumes.
pub fn resample_img(
    source: &Grid,
    data: &[f32],
    target: &Grid,
    interpolation: Interpolation,
) -> Result<Vec<f32>, ResampleError> {
    let mut resampler = Resampler::new(source, target, interpolation)?;
    let (n_src, n_out) = (source.n_cells(), target.n_cells());
    if data.len() % n_src != 0 {
        return Err(ResampleError::VolumeLength {
            what: "image data (a whole number of source volumes)",
            expected: data.len().div_ceil(n_src) * n_src,
            found: data.len(),
        });
    }
    let n_volumes = data.len() / n_src;
    let mut out = vec![0f32; n_volumes * n_out];
    let mut range = ClipRange::default();
    for (volume, dst) in data.chunks_exact(n_src).zip(out.chunks_exact_mut(n_out)) {
        range.merge(resampler.resample(volume, dst)?);
    }
    range.clip(&mut out);
    Ok(out)
}

fn check_grid(grid: &Grid, role: GridRole) -> Result<(), ResampleError> {
    let n = grid.dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if grid.dims.contains(&0) || n.is_none_or(|n| n > u32::MAX as usize) {
        return Err(ResampleError::EmptyGrid { role, grid: Box::new(grid.clone()) });
    }
    if grid.affine.iter().flatten().any(|v| !v.is_finite()) {
        return Err(ResampleError::NonFiniteAffine { role, grid: Box::new(grid.clone()) });
    }
    let a = &grid.affine;
    let det = det3(a);
    let scale: f64 = (0..3).map(|r| (0..3).map(|c| a[r][c].abs()).sum::<f64>()).product();
    if a[3] != [0.0, 0.0, 0.0, 1.0] || det.abs() <= 1e-12 * scale.max(f64::MIN_POSITIVE) || det == 0.0 {
        return Err(ResampleError::SingularAffine { role, grid: Box::new(grid.clone()), det });
    }
    Ok(())
}

fn det3(a: &[[f64; 4]; 4]) -> f64 {
    a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
        + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
}

/// Inverse of a 4x4 matrix by Gauss-Jordan elimination with partial pivoting (as LAPACK's LU
/// does; the affines here are well conditioned).
fn inverse4(m: &[[f64; 4]; 4]) -> [[f64; 4]; 4] {
    let mut a = *m;
    let mut inv = [[0.0; 4]; 4];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for col in 0..4 {
        let pivot = (col..4).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs())).unwrap_or(col);
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let p = a[col][col];
        for c in 0..4 {
            a[col][c] /= p;
            inv[col][c] /= p;
        }
        for r in 0..4 {
            if r != col {
                let f = a[r][col];
                if f != 0.0 {
                    for c in 0..4 {
                        a[r][c] -= f * a[col][c];
                        inv[r][c] -= f * inv[col][c];
                    }
                }
            }
        }
    }
    inv
}

fn matmul4(a: &[[f64; 4]; 4], b: &[[f64; 4]; 4]) -> [[f64; 4]; 4] {
    let mut out = [[0.0; 4]; 4];
    for (r, row) in out.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = (0..4).map(|k| a[r][k] * b[k][c]).sum();
        }
    }
    out
}

/// numpy's `allclose(a, b)` (rtol 1e-5, atol 1e-8, relative to `b`).
fn allclose(a: &[[f64; 4]; 4], b: &[[f64; 4]; 4]) -> bool {
    a.iter().flatten().zip(b.iter().flatten()).all(|(x, y)| (x - y).abs() <= 1e-8 + 1e-5 * y.abs())
}

fn plan(source: &Grid, target: &Grid, interpolation: Interpolation) -> Result<PlanKind, ResampleError> {
    if source.dims == target.dims && allclose(&target.affine, &source.affine) {
        return Ok(PlanKind::Identity);
    }
    let transform = if target.affine == source.affine {
        let mut eye = [[0.0; 4]; 4];
        (0..4).for_each(|i| eye[i][i] = 1.0);
        eye
    } else {
        matmul4(&inverse4(&source.affine), &target.affine)
    };
    let a: [[f64; 3]; 3] = std::array::from_fn(|r| std::array::from_fn(|c| transform[r][c]));
    let b: [f64; 3] = std::array::from_fn(|r| transform[r][3]);
    let identity = (0..3).all(|r| (0..3).all(|c| a[r][c] == if r == c { 1.0 } else { 0.0 }));
    if identity && b.iter().all(|v| v.round() == *v) {
        let shift = b.map(|v| v as i64);
        let n_inside = (0..3)
            .map(|d| {
                let (lo, hi) = (-shift[d], source.dims[d] as i64 - shift[d]);
                (hi.min(target.dims[d] as i64) - lo.max(0)).max(0) as usize
            })
            .product();
        return Ok(PlanKind::Shift { shift, n_inside });
    }
    Ok(PlanKind::Spline(spline::weights(&a, &b, source.dims, target.dims, interpolation.order())))
}

fn shift_copy(src_dims: &[usize; 3], dst_dims: &[usize; 3], shift: [i64; 3], source: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    let range = |d: usize| {
        let lo = (-shift[d]).max(0);
        let hi = (src_dims[d] as i64 - shift[d]).min(dst_dims[d] as i64);
        lo..hi.max(lo)
    };
    let (ri, rj, rk) = (range(0), range(1), range(2));
    for k in rk {
        let sk = (k + shift[2]) as usize;
        for j in rj.clone() {
            let sj = (j + shift[1]) as usize;
            for i in ri.clone() {
                let si = (i + shift[0]) as usize;
                out[i as usize + dst_dims[0] * (j as usize + dst_dims[1] * k as usize)] =
                    source[si + src_dims[0] * (sj + src_dims[1] * sk)];
            }
        }
    }
}

fn evaluate(w: &Weights, dims: [usize; 3], coef: &[f64], out: &mut [f32]) {
    let t = w.taps;
    let (nx, nxy) = (dims[0], dims[0] * dims[1]);
    for (n, &cell) in w.cells.iter().enumerate() {
        let idx = &w.index[3 * t * n..3 * t * (n + 1)];
        let wt = &w.weight[3 * t * n..3 * t * (n + 1)];
        let (ii, jj, kk) = (&idx[..t], &idx[t..2 * t], &idx[2 * t..]);
        let (wi, wj, wk) = (&wt[..t], &wt[t..2 * t], &wt[2 * t..]);
        let mut total = 0.0;
        for c in 0..t {
            let base_k = kk[c] as usize * nxy;
            let mut sum_j = 0.0;
            for b in 0..t {
                let base = base_k + jj[b] as usize * nx;
                let mut sum_i = 0.0;
                for a in 0..t {
                    sum_i += wi[a] * coef[base + ii[a] as usize];
                }
                sum_j += wj[b] * sum_i;
            }
            total += wk[c] * sum_j;
        }
        out[cell as usize] = total as f32;
    }
}

/// nilearn's `extrapolate_out_mask(data, isfinite(data), iterations=2)`: non-finite values (and
/// everything more than two 6-neighbour steps away from a finite value) are replaced; `out`
/// receives the result in f64.
fn extrapolate_out_mask(dims: [usize; 3], source: &[f32], out: &mut Vec<f64>) {
    let n = source.len();
    let mut mask: Vec<bool> = source.iter().map(|v| v.is_finite()).collect();
    out.clear();
    out.extend(source.iter().map(|&v| if v.is_finite() { v as f64 } else { 0.0 }));
    let mut next = vec![0.0f64; n];
    let mut next_mask = vec![false; n];
    let [nx, ny, nz] = dims;
    for _ in 0..2 {
        for k in 0..nz {
            for j in 0..ny {
                for i in 0..nx {
                    let c = i + nx * (j + ny * k);
                    if mask[c] {
                        next[c] = out[c];
                        next_mask[c] = true;
                        continue;
                    }
                    let (mut sum, mut count) = (0.0, 0usize);
                    let mut visit = |cc: usize| {
                        if mask[cc] {
                            sum += out[cc];
                            count += 1;
                        }
                    };
                    if i > 0 {
                        visit(c - 1);
                    }
                    if i + 1 < nx {
                        visit(c + 1);
                    }
                    if j > 0 {
                        visit(c - nx);
                    }
                    if j + 1 < ny {
                        visit(c + nx);
                    }
                    if k > 0 {
                        visit(c - nx * ny);
                    }
                    if k + 1 < nz {
                        visit(c + nx * ny);
                    }
                    next_mask[c] = count > 0;
                    next[c] = if count > 0 { sum / count as f64 } else { 0.0 };
                }
            }
        }
        std::mem::swap(out, &mut next);
        std::mem::swap(&mut mask, &mut next_mask);
    }
}

mod spline;
#[cfg(test)]
mod tests;
