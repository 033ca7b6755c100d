//! The voxel sets a study averages over, and the numbers it computes on one r map.

use brainscale_core::stats::{above_percentile, percentile};
use brainscale_data::{Dataset, Hemisphere, HemisphereRule, Mask};

use crate::error::Result;
use crate::tables::RELIABLE_PERCENTILE;

/// The dataset's voxel sets: hemispheres by both rules, reliable voxels, ROIs.
#[derive(Clone, Debug)]
pub struct Regions {
    /// The mask.
    pub mask: Mask,
    /// Hemisphere of each voxel, the paper's rule (first / second half of the mask order).
    pub hemi_paper: Vec<Hemisphere>,
    /// Hemisphere of each voxel by world x.
    pub hemi_world: Vec<Hemisphere>,
    /// The reliability (ISC) map, when the dataset has one.
    pub reliability: Option<Vec<f32>>,
    /// The 25% most reliable voxels (all voxels when there is no reliability map).
    pub reliable: Vec<bool>,
    /// Whether the dataset has a reliability map.
    pub has_reliability: bool,
    /// ROIs, each on both sides: the dataset's `rois/` masks and their mirror images.
    pub rois: Vec<RoiRegion>,
}

/// One ROI on one side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoiRegion {
    /// Its name (the file name in `rois/`, e.g. `pSTS`).
    pub name: String,
    /// Its side (by world x of most of its voxels).
    pub hemisphere: Hemisphere,
    /// Its voxels, in mask order.
    pub voxels: Vec<usize>,
}

impl Regions {
    /// The regions of a dataset: its mask, reliability map and `rois/` masks.
    pub fn of(dataset: &Dataset) -> Result<Regions> {
        let mask = dataset.mask().clone();
        let reliability = dataset.reliability()?;
        let n = mask.n_voxels();
        let reliable = match &reliability {
            Some(rel) => above_percentile(rel, RELIABLE_PERCENTILE).0,
            None => vec![true; n],
        };
        let hemi_world = mask.hemispheres(HemisphereRule::World);
        let mirror = mask.mirror_index();
        let mut rois = Vec::new();
        for roi in dataset.rois()? {
            let n_left = roi.voxels.iter().filter(|&&v| hemi_world[v] == Hemisphere::Left).count();
            let side = if 2 * n_left >= roi.voxels.len() { Hemisphere::Left } else { Hemisphere::Right };
            let other = if side == Hemisphere::Left { Hemisphere::Right } else { Hemisphere::Left };
            let mut mirrored: Vec<usize> = roi.voxels.iter().filter_map(|&v| mirror[v]).collect();
            mirrored.sort_unstable();
            rois.push(RoiRegion { name: roi.name.clone(), hemisphere: side, voxels: roi.voxels });
            rois.push(RoiRegion { name: roi.name, hemisphere: other, voxels: mirrored });
        }
        Ok(Regions {
            hemi_paper: mask.hemispheres(HemisphereRule::Paper),
            hemi_world,
            has_reliability: reliability.is_some(),
            reliability,
            reliable,
            rois,
            mask,
        })
    }

    /// The numbers of one r map.
    pub fn scores(&self, r: &[f32]) -> RegionScores {
        let (hp, hw, rel) = (&self.hemi_paper, &self.hemi_world, &self.reliable);
        let m = |keep: &dyn Fn(usize) -> bool| mean_where(r, keep);
        let left_paper_reliable = m(&|v| rel[v] && hp[v] == Hemisphere::Left);
        let right_paper_reliable = m(&|v| rel[v] && hp[v] == Hemisphere::Right);
        let isc_normalised = self.reliability.as_ref().and_then(|isc| {
            mean_of(
                r.iter()
                    .zip(isc)
                    .enumerate()
                    .filter(|(v, (_, i))| rel[*v] && **i > 0.0)
                    .map(|(_, (r, i))| (*r / *i) as f64),
            )
        });
        RegionScores {
            mean_r: m(&|_| true).unwrap_or(f64::NAN),
            mean_r_reliable: m(&|v| rel[v]).unwrap_or(f64::NAN),
            left_paper: m(&|v| hp[v] == Hemisphere::Left).unwrap_or(f64::NAN),
            right_paper: m(&|v| hp[v] == Hemisphere::Right).unwrap_or(f64::NAN),
            left_world: m(&|v| hw[v] == Hemisphere::Left).unwrap_or(f64::NAN),
            right_world: m(&|v| hw[v] == Hemisphere::Right).unwrap_or(f64::NAN),
            left_paper_reliable: left_paper_reliable.unwrap_or(f64::NAN),
            right_paper_reliable: right_paper_reliable.unwrap_or(f64::NAN),
            isc_normalised: isc_normalised.unwrap_or(f64::NAN),
            p90: percentile(r, 90.0).unwrap_or(f64::NAN),
            p90_left_paper: percentile(&select(r, |v| hp[v] == Hemisphere::Left), 90.0).unwrap_or(f64::NAN),
            p90_right_paper: percentile(&select(r, |v| hp[v] == Hemisphere::Right), 90.0).unwrap_or(f64::NAN),
        }
    }
}

fn select(r: &[f32], keep: impl Fn(usize) -> bool) -> Vec<f32> {
    r.iter().enumerate().filter(|(v, _)| keep(*v)).map(|(_, &x)| x).collect()
}

fn mean_of(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut s, mut c) = (0.0, 0usize);
    for x in values {
        s += x;
        c += 1;
    }
    (c > 0).then(|| s / c as f64)
}

fn mean_where(r: &[f32], keep: &dyn Fn(usize) -> bool) -> Option<f64> {
    mean_of(r.iter().enumerate().filter(|(v, _)| keep(*v)).map(|(_, &x)| x as f64))
}

/// Mean of `r` over `voxels` (NaN when empty).
pub fn mean_over(r: &[f32], voxels: &[usize]) -> f64 {
    mean_of(voxels.iter().filter_map(|&v| r.get(v)).map(|&x| x as f64)).unwrap_or(f64::NAN)
}

/// The numbers of one r map (NaN where a set is empty).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegionScores {
    /// Mean r over all voxels.
    pub mean_r: f64,
    /// Mean r over the 25% most reliable voxels (all voxels without a reliability map).
    pub mean_r_reliable: f64,
    /// Left mean, paper rule.
    pub left_paper: f64,
    /// Right mean, paper rule.
    pub right_paper: f64,
    /// Left mean, world rule.
    pub left_world: f64,
    /// Right mean, world rule.
    pub right_world: f64,
    /// Left mean over reliable voxels, paper rule.
    pub left_paper_reliable: f64,
    /// Right mean over reliable voxels, paper rule.
    pub right_paper_reliable: f64,
    /// Mean of r / ISC over reliable voxels with ISC > 0 (NaN without a reliability map).
    pub isc_normalised: f64,
    /// 90th percentile of r over all voxels.
    pub p90: f64,
    /// 90th percentile over the left hemisphere (paper rule).
    pub p90_left_paper: f64,
    /// 90th percentile over the right hemisphere (paper rule).
    pub p90_right_paper: f64,
}
