//! Pass 1 of [`super::prepare`]: every run is read once; its mean volume (in source space),
//! resampled onto the target grid, votes in the group mask and, for a subject kept with its
//! own mask, in that subject's mask; each run's clip range is kept for pass 2.
//!
//! Both masks are nilearn's `compute_multi_epi_mask(runs, threshold)` (one image per run),
//! intersected with the left-right mirror as `intersect_masks([mask,
//! swap_img_hemispheres(mask)], threshold=1)` does ([`mirror_intersect`]): over every run of
//! every subject for the group (`compute_mask.py`), over the subject's own runs for a kept
//! subject (`fit_individual_subject.py`).

use std::path::{Path, PathBuf};

use brainscale_data::nifti_io::VolumeReader;
use brainscale_data::{Grid, Mask};

use super::{Plan, Progress};
use crate::bids::Subject;
use crate::error::{PrepError, Result};
use crate::mask::{EpiMaskParams, MaskError, MeanVolume, MultiEpiMask, mirror_intersect};
use crate::resample::ClipRange;
use crate::spec::PrepareSpec;

/// What a mask step found (for provenance).
#[derive(Clone, Debug)]
pub struct MaskStats {
    /// Images (runs) that voted.
    pub n_images: usize,
    /// Voxels of the multi-image mask before symmetrisation.
    pub n_before_symmetry: usize,
    /// Voxels of the symmetric mask.
    pub n_voxels: usize,
}

/// The masks and clip ranges of pass 1.
pub(super) struct Masks {
    /// The group mask (every run of every subject).
    pub group: Mask,
    /// Its statistics.
    pub group_stats: MaskStats,
    /// For each subject, its own mask when it was asked for.
    pub own: Vec<Option<(Mask, MaskStats)>>,
    /// For each subject and run, nilearn's clip range of the run's values (all its volumes).
    pub clip: Vec<Vec<ClipRange>>,
}

/// Pass 1; `own[s]`: whether subject `s` gets a mask of its own.
pub(super) fn compute_masks(
    spec: &PrepareSpec,
    subjects: &[Subject],
    plan: &Plan,
    own: &[bool],
    progress: &mut dyn Progress,
) -> Result<Masks> {
    let grid = &spec.grid;
    let group_what = || "the group mask (compute_multi_epi_mask over every run's mean image)".to_string();
    let new_vote = |what: &dyn Fn() -> String| {
        MultiEpiMask::new(grid, EpiMaskParams::default(), spec.mask_threshold).map_err(|source| PrepError::Mask {
            path: PathBuf::from("(mask settings)"),
            what: what(),
            source,
        })
    };
    let mut group = new_vote(&group_what)?;
    let mut resampled = vec![0f32; grid.n_cells()];
    let mut clip = Vec::with_capacity(subjects.len());
    let mut own_masks = Vec::with_capacity(subjects.len());
    progress.start("mask", (subjects.len() * spec.runs) as u64);
    for (s, subject) in subjects.iter().enumerate() {
        let own_what = || own_mask_what(subject);
        let mut mine = if own.get(s).copied().unwrap_or(false) { Some(new_vote(&own_what)?) } else { None };
        let mut ranges = Vec::with_capacity(subject.runs.len());
        for (r, run) in subject.runs.iter().enumerate() {
            let mut reader = VolumeReader::open(&run.path)?;
            let mut mean = MeanVolume::new(reader.info().grid.n_cells());
            let mut volume = vec![0f32; reader.info().grid.n_cells()];
            let mut range = ClipRange::default();
            while reader.read_next(&mut volume)?.is_some() {
                mean.add(&volume).map_err(|source| PrepError::Mask {
                    path: run.path.clone(),
                    what: group_what(),
                    source,
                })?;
                range.merge(ClipRange::of(&volume));
            }
            ranges.push(range);
            let mean = mean.finish();
            let mut resampler = plan.resampler(s, r)?;
            resampler.resample(&mean, &mut resampled).map_err(|e| PrepError::Resample {
                path: run.path.clone(),
                target: grid.to_string(),
                reason: e.to_string(),
            })?;
            ClipRange::of(&mean).clip(&mut resampled);
            group.add(&resampled).map_err(|source| PrepError::Mask {
                path: run.path.clone(),
                what: group_what(),
                source,
            })?;
            if let Some(m) = &mut mine {
                m.add(&resampled).map_err(|source| PrepError::Mask {
                    path: run.path.clone(),
                    what: own_what(),
                    source,
                })?;
            }
            progress.step(&format!("{} run {}", subject.label, r + 1));
        }
        clip.push(ranges);
        let own_mask = match mine {
            Some(m) => Some(finish(m, grid, Path::new(&format!("({}'s runs)", subject.label)), &own_what)?),
            None => None,
        };
        own_masks.push(own_mask);
    }
    progress.finish();
    let (group, group_stats) = finish(group, grid, Path::new("(all runs)"), &group_what)?;
    Ok(Masks { group, group_stats, own: own_masks, clip })
}

fn own_mask_what(subject: &Subject) -> String {
    format!(
        "{}'s own mask (compute_multi_epi_mask over its {} runs; `--subject-mask group` gives it the group mask \
         instead)",
        subject.label,
        subject.runs.len()
    )
}

/// The vote's mask, mirror-intersected, as a [`Mask`].
fn finish(vote: MultiEpiMask, grid: &Grid, path: &Path, what: &dyn Fn() -> String) -> Result<(Mask, MaskStats)> {
    let err = |source: MaskError| PrepError::Mask { path: path.to_path_buf(), what: what(), source };
    let n_images = vote.n_subjects();
    let multi = vote.finish().map_err(err)?;
    let n_before_symmetry = multi.iter().filter(|&&m| m).count();
    let sym = mirror_intersect(&multi, grid).map_err(err)?;
    let [nx, ny, _] = grid.dims;
    let mask = Mask::from_fn(grid.dims, grid.affine, |[i, j, k]| sym[i + nx * (j + ny * k)])?;
    let stats = MaskStats { n_images, n_before_symmetry, n_voxels: mask.n_voxels() };
    Ok((mask, stats))
}
