//! The multi-subject EPI mask of nilearn 0.10.4 (`compute_multi_epi_mask`), computed one
//! subject at a time, and its left-right symmetrisation.
//!
//! nilearn's `compute_multi_epi_mask(epi_imgs, threshold=0.5)` takes one image per subject (a
//! subject given as a list of runs is concatenated in time first) and, for each subject,
//! `compute_epi_mask`:
//!
//! 1. the **mean image over all the subject's volumes** (every run), resampled to
//!    `target_affine` / `target_shape` when they are given (continuous interpolation, clipped
//!    to the mean image's range);
//! 2. smoothed with a Gaussian of FWHM 1 *voxel* (sigma = 1 / sqrt(8 ln 2) voxels per axis,
//!    nilearn passes an identity affine), NaN voxels put back to 0 afterwards;
//! 3. thresholded at the middle of the largest gap between consecutive sorted values between the
//!    20% and 85% quantiles (`lower_cutoff`, `upper_cutoff`);
//! 4. opened: eroded twice, largest 6-connected component, dilated 4 times, eroded twice.
//!
//! Then `intersect_masks(..., threshold=0.5, connected=True)` keeps the voxels in strictly more
//! than `threshold * n_subjects` subject masks and their largest connected component.
//!
//! Here: feed each subject's mean volume (on the target grid) to [`MultiEpiMask::add`]; only an
//! integer count per voxel is kept between subjects. [`MeanVolume`] accumulates a subject's
//! mean volume by volume. To match nilearn's `target_affine` route exactly, average in the
//! source space and resample the mean ([`crate::resample::Resampler`], clipped with the mean's
//! own [`crate::resample::ClipRange`]); averaging resampled volumes differs only by the clipping
//! and rounding (interpolation is linear).
//!
//! The paper then intersects the mask with its left-right mirror,
//! `intersect_masks([mask, swap_img_hemispheres(mask)], threshold=1)`: [`mirror_intersect`]
//! ([`symmetrize`], then the largest connected component, as `intersect_masks`'s default
//! `connected=True`). The group mask of `compute_mask.py` and each subject's mask of
//! `fit_individual_subject.py` (over the subject's own runs) are made this way.
//!
//! ```
//! use brainscale_data::Grid;
//! use brainscale_prep::mask::{EpiMaskParams, MultiEpiMask, mirror_intersect, symmetrize};
//!
//! let grid = Grid { dims: [11, 12, 10], affine: [[4.0, 0.0, 0.0, -20.0], [0.0, 4.0, 0.0, -22.0],
//!     [0.0, 0.0, 4.0, -18.0], [0.0, 0.0, 0.0, 1.0]] };
//! // A bright ellipsoid on a dark background, one per subject.
//! let subject = |r: f64| -> Vec<f32> {
//!     let mut v = Vec::new();
//!     for k in 0..10 { for j in 0..12 { for i in 0..11 {
//!         let d = ((i as f64 - 5.0) / r).powi(2) + ((j as f64 - 5.5) / 4.5).powi(2) + ((k as f64 - 4.5) / 3.5).powi(2);
//!         v.push(if d < 1.0 { 1000.0 } else { 10.0 });
//!     } } }
//!     v
//! };
//! let mut multi = MultiEpiMask::new(&grid, EpiMaskParams::default(), 0.5)?;
//! for r in [4.0, 4.5, 3.5] {
//!     multi.add(&subject(r))?;
//! }
//! let mask = mirror_intersect(&multi.finish()?, &grid)?;
//! assert!(mask.iter().any(|&m| m));
//! assert_eq!(symmetrize(&mask, &grid)?, mask);
//! # Ok::<(), brainscale_prep::mask::MaskError>(())
//! ```

use brainscale_data::Grid;

mod morphology;
#[cfg(test)]
mod tests;

use morphology::Dims;

/// Settings of nilearn's `compute_epi_mask` (its defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct EpiMaskParams {
    /// Lower quantile of the histogram search (0.2).
    pub lower_cutoff: f64,
    /// Upper quantile of the histogram search (0.85).
    pub upper_cutoff: f64,
    /// Keep only the largest connected component (true).
    pub connected: bool,
    /// Erosions of the opening (2); also turns on the FWHM-1-voxel smoothing of the mean.
    pub opening: usize,
    /// Ignore zero values in the histogram (false).
    pub exclude_zeros: bool,
}

impl Default for EpiMaskParams {
    fn default() -> Self {
        EpiMaskParams { lower_cutoff: 0.2, upper_cutoff: 0.85, connected: true, opening: 2, exclude_zeros: false }
    }
}

/// Why a mask cannot be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum MaskError {
    /// A grid with no voxels.
    #[error("grid {dims:?} has no voxels")]
    EmptyGrid {
        /// The dimensions.
        dims: [usize; 3],
    },
    /// A volume of the wrong length.
    #[error("{what}: expected {expected} values (the grid's voxels), got {found}")]
    VolumeLength {
        /// Which volume.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// Cut-offs outside 0 <= lower < upper <= 1, or a threshold outside [0, 1].
    #[error("{what} = {value}: {expected}")]
    InvalidParameter {
        /// The parameter.
        what: &'static str,
        /// Its value.
        value: f64,
        /// What is allowed.
        expected: &'static str,
    },
    /// Too few values between the cut-offs to find a histogram gap.
    #[error(
        "subject {subject}: only {n_values} values between the cut-offs; the mean image is too small or too \
         constant for an EPI mask"
    )]
    TooFewValues {
        /// 0-based subject index.
        subject: usize,
        /// Values considered.
        n_values: usize,
    },
    /// `finish` before any subject.
    #[error("no subject was added to the multi-subject mask")]
    NoSubjects,
    /// The group mask is empty.
    #[error(
        "the {what} is empty ({n_subjects} subjects, threshold {threshold}); check that the images are EPI \
         images (not detrended or standardised) on one grid"
    )]
    Empty {
        /// "multi-subject mask" or "symmetric mask".
        what: &'static str,
        /// Subjects added.
        n_subjects: usize,
        /// Intersection threshold.
        threshold: f64,
    },
    /// The mask shares no voxel with its mirror image.
    #[error("the mask ({n_voxels} voxels) and its left-right mirror share no voxel: the symmetric mask is empty")]
    EmptySymmetric {
        /// Voxels in the mask before symmetrisation.
        n_voxels: usize,
    },
    /// The grid is not mirror-symmetric about x = 0 along its first axis.
    #[error(
        "grid {grid}: cannot mirror left-right, {reason}; symmetrisation needs an axis-aligned grid whose first \
         axis is x, centred on x = 0 (voxel i mirrors to nx - 1 - i)"
    )]
    NotSymmetric {
        /// The grid.
        grid: Box<Grid>,
        /// What is wrong.
        reason: String,
    },
}

/// What [`MultiEpiMask::add`] found for one subject.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SubjectMask {
    /// 0-based subject index.
    pub subject: usize,
    /// The intensity threshold chosen from the histogram.
    pub threshold: f32,
    /// Voxels in the subject's mask (0 means nilearn would warn "Computed an empty mask").
    pub n_voxels: usize,
}

/// The mean of a subject's volumes (all runs), accumulated one volume at a time in f64.
#[derive(Clone, Debug)]
pub struct MeanVolume {
    sums: Vec<f64>,
    n_volumes: usize,
}

impl MeanVolume {
    /// An empty accumulator for volumes of `n_cells` values.
    pub fn new(n_cells: usize) -> MeanVolume {
        MeanVolume { sums: vec![0.0; n_cells], n_volumes: 0 }
    }

    /// Adds one volume (NaNs propagate, as in numpy's mean).
    pub fn add(&mut self, volume: &[f32]) -> Result<(), MaskError> {
        if volume.len() != self.sums.len() {
            return Err(MaskError::VolumeLength { what: "volume", expected: self.sums.len(), found: volume.len() });
        }
        self.sums.iter_mut().zip(volume).for_each(|(s, &v)| *s += v as f64);
        self.n_volumes += 1;
        Ok(())
    }

    /// Volumes added so far.
    pub fn n_volumes(&self) -> usize {
        self.n_volumes
    }

    /// The mean volume (f32, as numpy's mean of float32 data); all zeros before any volume.
    pub fn finish(&self) -> Vec<f32> {
        let n = self.n_volumes.max(1) as f64;
        self.sums.iter().map(|s| (s / n) as f32).collect()
    }
}

/// nilearn's `compute_epi_mask` on a subject's mean volume (Fortran order on a grid of `dims`):
/// the mask (Fortran order) and the threshold used. `subject` only labels errors.
pub fn compute_epi_mask(
    mean: &[f32],
    dims: [usize; 3],
    params: &EpiMaskParams,
    subject: usize,
) -> Result<(Vec<bool>, f32), MaskError> {
    check_params(params)?;
    let d = Dims::new(dims);
    if d.len() == 0 {
        return Err(MaskError::EmptyGrid { dims });
    }
    if mean.len() != d.len() {
        return Err(MaskError::VolumeLength { what: "mean volume", expected: d.len(), found: mean.len() });
    }
    let mut data: Vec<f32> = mean.iter().map(|&v| if v.is_finite() { v } else { 0.0 }).collect();
    if params.opening > 0 {
        // `smooth=1` with an identity affine: FWHM of 1 voxel.
        let sigma = 1.0 / crate::smooth::fwhm_over_sigma();
        crate::smooth::gaussian_filter(&mut data, dims, [sigma; 3]);
        for (v, m) in data.iter_mut().zip(mean) {
            if m.is_nan() {
                *v = 0.0;
            }
        }
    }
    let threshold = histogram_threshold(&data, params, subject)?;
    let mut mask: Vec<bool> = data.iter().map(|&v| v >= threshold).collect();
    if params.opening > 0 {
        morphology::erode(&mut mask, d, params.opening);
    }
    if params.connected && mask.iter().any(|&m| m) {
        morphology::largest_component(&mut mask, d);
    }
    if params.opening > 0 {
        morphology::dilate(&mut mask, d, 2 * params.opening);
        morphology::erode(&mut mask, d, params.opening);
    }
    Ok((mask, threshold))
}

fn check_params(params: &EpiMaskParams) -> Result<(), MaskError> {
    let (lo, hi) = (params.lower_cutoff, params.upper_cutoff);
    if !(0.0..1.0).contains(&lo) {
        return Err(MaskError::InvalidParameter { what: "lower_cutoff", value: lo, expected: "0 <= lower_cutoff < 1" });
    }
    if !(hi > lo && hi <= 1.0) {
        return Err(MaskError::InvalidParameter {
            what: "upper_cutoff",
            value: hi,
            expected: "lower_cutoff < upper_cutoff <= 1",
        });
    }
    Ok(())
}

/// The middle of the largest gap between consecutive sorted values in the cut-off range, in
/// f32 arithmetic as numpy does it on float32 data.
fn histogram_threshold(data: &[f32], params: &EpiMaskParams, subject: usize) -> Result<f32, MaskError> {
    let mut sorted: Vec<f32> = data.iter().copied().filter(|&v| !(params.exclude_zeros && v == 0.0)).collect();
    sorted.sort_by(f32::total_cmp);
    let n = sorted.len();
    let lower = (params.lower_cutoff * n as f64).floor() as usize;
    let upper = ((params.upper_cutoff * n as f64).floor() as usize).min(n.saturating_sub(1));
    if n == 0 || upper <= lower {
        return Err(MaskError::TooFewValues { subject, n_values: upper.saturating_sub(lower) });
    }
    let mut best = (f32::NEG_INFINITY, 0usize);
    for i in 0..upper - lower {
        let delta = sorted[lower + i + 1] - sorted[lower + i];
        if delta > best.0 {
            best = (delta, i);
        }
    }
    let ia = best.1 + lower;
    Ok(0.5 * (sorted[ia] + sorted[ia + 1]))
}

/// The multi-subject EPI mask, one subject at a time (see the module docs).
#[derive(Clone, Debug)]
pub struct MultiEpiMask {
    dims: [usize; 3],
    params: EpiMaskParams,
    threshold: f64,
    counts: Vec<u32>,
    n_subjects: usize,
}

impl MultiEpiMask {
    /// An empty accumulator for mean volumes on `grid`, with nilearn's intersection `threshold`
    /// (0.5 in the paper).
    pub fn new(grid: &Grid, params: EpiMaskParams, threshold: f64) -> Result<MultiEpiMask, MaskError> {
        check_params(&params)?;
        if !(0.0..=1.0).contains(&threshold) {
            return Err(MaskError::InvalidParameter {
                what: "threshold",
                value: threshold,
                expected: "0 <= threshold <= 1",
            });
        }
        if grid.n_cells() == 0 {
            return Err(MaskError::EmptyGrid { dims: grid.dims });
        }
        Ok(MultiEpiMask { dims: grid.dims, params, threshold, counts: vec![0; grid.n_cells()], n_subjects: 0 })
    }

    /// Adds one subject, given as its mean volume over all its volumes (Fortran order on the
    /// grid).
    pub fn add(&mut self, mean_volume: &[f32]) -> Result<SubjectMask, MaskError> {
        let subject = self.n_subjects;
        let (mask, threshold) = compute_epi_mask(mean_volume, self.dims, &self.params, subject)?;
        let mut n_voxels = 0;
        for (c, &m) in self.counts.iter_mut().zip(&mask) {
            *c += m as u32;
            n_voxels += m as usize;
        }
        if n_voxels == 0 {
            log::warn!("subject {subject}: computed an empty EPI mask (are the images EPI, not detrended?)");
        }
        self.n_subjects += 1;
        Ok(SubjectMask { subject, threshold, n_voxels })
    }

    /// Subjects added so far.
    pub fn n_subjects(&self) -> usize {
        self.n_subjects
    }

    /// How many subject masks contain each voxel (Fortran order).
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// nilearn's `intersect_masks(masks, threshold, connected=True)`: voxels in strictly more
    /// than `threshold * n_subjects` subject masks (the threshold capped at `1 - 1e-7`), then
    /// their largest connected component. Fortran order.
    pub fn finish(self) -> Result<Vec<bool>, MaskError> {
        if self.n_subjects == 0 {
            return Err(MaskError::NoSubjects);
        }
        let cut = self.threshold.min(1.0 - 1e-7) * self.n_subjects as f64;
        let mut mask: Vec<bool> = self.counts.iter().map(|&c| c as f64 > cut).collect();
        if !mask.iter().any(|&m| m) {
            return Err(MaskError::Empty {
                what: "multi-subject mask",
                n_subjects: self.n_subjects,
                threshold: self.threshold,
            });
        }
        if self.params.connected {
            morphology::largest_component(&mut mask, Dims::new(self.dims));
        }
        Ok(mask)
    }
}

/// The mask intersected with its left-right mirror: voxel (i, j, k) stays when it and
/// (nx - 1 - i, j, k) are both in. The grid must be axis-aligned with x along i and centred
/// on x = 0 (so that i and nx - 1 - i sit at opposite x), as the paper's 4 mm grid is
/// (x = -72 + 4 i, i = 0..36: i <-> 36 - i).
pub fn symmetrize(mask: &[bool], grid: &Grid) -> Result<Vec<bool>, MaskError> {
    let [nx, ny, nz] = grid.dims;
    if mask.len() != grid.n_cells() {
        return Err(MaskError::VolumeLength { what: "mask", expected: grid.n_cells(), found: mask.len() });
    }
    let a = &grid.affine;
    let not_symmetric = |reason: String| MaskError::NotSymmetric { grid: Box::new(grid.clone()), reason };
    if a[0][1] != 0.0 || a[0][2] != 0.0 || a[1][0] != 0.0 || a[2][0] != 0.0 || a[0][0] == 0.0 {
        return Err(not_symmetric("x is not along the first voxel axis alone".into()));
    }
    let centre = a[0][0] * (nx as f64 - 1.0) / 2.0 + a[0][3];
    if centre.abs() > 1e-4 * a[0][0].abs() {
        return Err(not_symmetric(format!("the grid's centre is at x = {centre} mm")));
    }
    let mut out = vec![false; mask.len()];
    for k in 0..nz {
        for j in 0..ny {
            let row = nx * (j + ny * k);
            for i in 0..nx {
                out[row + i] = mask[row + i] && mask[row + nx - 1 - i];
            }
        }
    }
    let n_voxels = mask.iter().filter(|&&m| m).count();
    if n_voxels > 0 && !out.iter().any(|&m| m) {
        return Err(MaskError::EmptySymmetric { n_voxels });
    }
    Ok(out)
}

/// nilearn's `intersect_masks([mask, swap_img_hemispheres(mask)], threshold=1)` (its default
/// `connected=True`): the voxels in both the mask and its mirror image ([`symmetrize`]), then
/// their largest 6-connected component (the mirror intersection of a connected mask can fall
/// apart; nilearn keeps the largest part, ties to the first in C order).
pub fn mirror_intersect(mask: &[bool], grid: &Grid) -> Result<Vec<bool>, MaskError> {
    let mut out = symmetrize(mask, grid)?;
    if out.iter().any(|&m| m) {
        morphology::largest_component(&mut out, Dims::new(grid.dims));
    }
    Ok(out)
}
