//! Regions of interest, per hemisphere: the paper's seven language ROIs built from their MNI
//! coordinates, or the masks in a dataset's `rois/` folder, as one type ([`RoiPair`]).
//!
//! The paper's ROIs (Bonnasse-Gahot & Pallier 2024, figure 7) are spheres of radius 10 mm
//! around seven left-hemisphere MNI points, intersected with the mask: TP, aSTS, pSTS
//! (Pallier et al. 2011), BA45, BA47, BA44 (Zaccarella et al. 2017) and AG/TPJ (Price et al.
//! 2015). The right ROIs are their mirror images (x -> -x). On the real English mask the left
//! spheres hold TP 59, aSTS 56, pSTS 69, AG_TPJ 56, BA44 56, BA45 53 and BA47 81 voxels,
//! exactly the voxels of the paper's own ROI files (tested when `../shared/data/lpp-en` is
//! present).
//!
//! ```
//! use brainscale_data::{Mask, rois};
//! let lpp = [[4.0, 0.0, 0.0, -72.0], [0.0, 4.0, 0.0, -106.0], [0.0, 0.0, 4.0, -64.0], [0.0, 0.0, 0.0, 1.0]];
//! let mask = Mask::from_fn([37, 46, 38], lpp, |_| true)?; // a full box: spheres are not clipped
//! let pairs = rois::paper_spheres(&mask);
//! assert_eq!(pairs.len(), 7);
//! let tp = &pairs[0];
//! assert_eq!((tp.name.as_str(), tp.left.len(), tp.right.len()), ("TP", 70, 70));
//! # Ok::<(), brainscale_data::DataError>(())
//! ```

use crate::dataset::{Dataset, Roi};
use crate::error::{DataError, Result};
use crate::mask::{Hemisphere, Mask};

/// The paper's seven left-hemisphere ROIs (MNI mm): TP, aSTS, pSTS (Pallier et al. 2011),
/// BA45, BA47, BA44 (Zaccarella et al. 2017), AG/TPJ (Price et al. 2015).
pub const PAPER_ROIS: [(&str, [f64; 3]); 7] = [
    ("TP", [-48.0, 15.0, -27.0]),
    ("aSTS", [-54.0, -12.0, -12.0]),
    ("pSTS", [-51.0, -39.0, 3.0]),
    ("BA45", [-52.0, 28.0, 10.0]),
    ("BA47", [-44.0, 34.0, -8.0]),
    ("BA44", [-50.0, 12.0, 16.0]),
    ("AG_TPJ", [-52.0, -56.0, 22.0]),
];

/// Radius (mm) of the paper's ROI spheres.
pub const ROI_RADIUS_MM: f64 = 10.0;

/// Where a study's ROIs come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RoiSource {
    /// The paper's seven spheres, built from [`PAPER_ROIS`] on the dataset's mask.
    #[default]
    PaperSpheres,
    /// The masks in the dataset's `rois/` folder, with their mirror images.
    DatasetFiles,
}

/// One region in both hemispheres, as mask-voxel indices (increasing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoiPair {
    /// The region's name (e.g. `pSTS`).
    pub name: String,
    /// Its voxels in the left hemisphere.
    pub left: Vec<usize>,
    /// Its voxels in the right hemisphere (the mirror image of the left region).
    pub right: Vec<usize>,
}

impl RoiPair {
    /// The voxels on one side (none for [`Hemisphere::Midline`]).
    pub fn voxels(&self, hemisphere: Hemisphere) -> &[usize] {
        match hemisphere {
            Hemisphere::Left => &self.left,
            Hemisphere::Right => &self.right,
            Hemisphere::Midline => &[],
        }
    }
}

/// Euclidean distance in mm.
pub(crate) fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// The mask voxels within `radius_mm` of `centre` (world mm, inclusive), increasing.
pub fn sphere(mask: &Mask, centre: [f64; 3], radius_mm: f64) -> Vec<usize> {
    (0..mask.n_voxels()).filter(|&v| distance(mask.xyz()[v], centre) <= radius_mm).collect()
}

/// Spheres of `radius_mm` around left-hemisphere `centres` (name, MNI mm), and their mirror
/// images around (−x, y, z), each intersected with the mask.
pub fn spheres(mask: &Mask, centres: &[(&str, [f64; 3])], radius_mm: f64) -> Vec<RoiPair> {
    centres
        .iter()
        .map(|&(name, c)| RoiPair {
            name: name.to_string(),
            left: sphere(mask, c, radius_mm),
            right: sphere(mask, [-c[0], c[1], c[2]], radius_mm),
        })
        .collect()
}

/// The paper's seven ROIs on `mask` ([`PAPER_ROIS`], 10 mm), in the order of [`PAPER_ROIS`].
pub fn paper_spheres(mask: &Mask) -> Vec<RoiPair> {
    spheres(mask, &PAPER_ROIS, ROI_RADIUS_MM)
}

/// ROI masks of one hemisphere (e.g. from [`Dataset::rois`]) with their mirror images
/// ([`Mask::mirror_index`]; voxels whose mirror is outside the mask are dropped). A mask whose
/// voxels lie mostly at x > 0 is taken as the right region, and mirrored to the left. Pairs
/// come in the order of [`PAPER_ROIS`] for the paper's names, then the others by name.
pub fn mirrored_pairs(mask: &Mask, rois: &[Roi]) -> Vec<RoiPair> {
    let mirror = mask.mirror_index();
    let mut pairs: Vec<RoiPair> = rois
        .iter()
        .map(|roi| {
            let n_right = roi.voxels.iter().filter(|&&v| mask.xyz().get(v).is_some_and(|p| p[0] > 0.0)).count();
            let other = roi.mirrored(&mirror).voxels;
            let (left, right) =
                if 2 * n_right > roi.voxels.len() { (other, roi.voxels.clone()) } else { (roi.voxels.clone(), other) };
            RoiPair { name: roi.name.clone(), left, right }
        })
        .collect();
    let rank = |name: &str| PAPER_ROIS.iter().position(|(n, _)| *n == name).unwrap_or(PAPER_ROIS.len());
    pairs.sort_by(|a, b| (rank(&a.name), &a.name).cmp(&(rank(&b.name), &b.name)));
    pairs
}

/// The ROIs of a dataset, from either source. [`RoiSource::DatasetFiles`] on a dataset without
/// a `rois/` folder is an error that says so.
///
/// ```
/// use brainscale_data::{Dataset, rois::{self, RoiSource}, synth};
/// # let dir = tempfile::tempdir()?;
/// synth::write_dataset(dir.path(), &synth::SynthParams::small(1))?;
/// let ds = Dataset::open(dir.path())?;
/// let spheres = rois::load(&ds, RoiSource::PaperSpheres)?;
/// let files = rois::load(&ds, RoiSource::DatasetFiles)?; // synth writes the same spheres
/// assert_eq!(spheres, files);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load(dataset: &Dataset, source: RoiSource) -> Result<Vec<RoiPair>> {
    match source {
        RoiSource::PaperSpheres => Ok(paper_spheres(dataset.mask())),
        RoiSource::DatasetFiles => {
            if dataset.roi_names().is_empty() {
                return Err(DataError::missing(
                    &dataset.root().join("rois"),
                    "ROI masks (rois/NAME.nii.gz)",
                    "add them, or use the paper's spheres (RoiSource::PaperSpheres)",
                ));
            }
            Ok(mirrored_pairs(dataset.mask(), &dataset.rois()?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LPP: crate::nifti_io::Affine =
        [[4.0, 0.0, 0.0, -72.0], [0.0, 4.0, 0.0, -106.0], [0.0, 0.0, 4.0, -64.0], [0.0, 0.0, 0.0, 1.0]];

    #[test]
    fn right_spheres_are_mirror_images_on_a_symmetric_mask() {
        // A symmetric mask (i -> 36 - i) that clips some spheres.
        let mask = Mask::from_fn([37, 46, 38], LPP, |[i, j, k]| (i as i64 - 18).abs() < 14 && j > 10 && k > 8).unwrap();
        let mirror = mask.mirror_index();
        for pair in paper_spheres(&mask) {
            let mut mirrored: Vec<usize> = pair.left.iter().map(|&v| mirror[v].unwrap()).collect();
            mirrored.sort_unstable();
            assert_eq!(mirrored, pair.right, "{}", pair.name);
            assert!(pair.left.iter().all(|&v| mask.xyz()[v][0] < 0.0));
        }
        // Files of left ROIs give the same pairs; a right-hemisphere file is recognised.
        let spheres = paper_spheres(&mask);
        let files: Vec<Roi> =
            spheres.iter().rev().map(|p| Roi { name: p.name.clone(), voxels: p.left.clone() }).collect();
        assert_eq!(mirrored_pairs(&mask, &files), spheres);
        let right = [Roi { name: "TP".into(), voxels: spheres[0].right.clone() }];
        assert_eq!(mirrored_pairs(&mask, &right)[0], spheres[0]);
        assert!(spheres[0].voxels(Hemisphere::Midline).is_empty());
    }
}
