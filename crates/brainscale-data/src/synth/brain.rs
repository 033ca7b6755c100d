//! Synthetic brain geometry: a symmetric brain-shaped mask and the language regions where the
//! signal is planted.

use crate::error::Result;
use crate::mask::Mask;
use crate::nifti_io::Affine;
use crate::rois::{PAPER_ROIS, distance};

/// Centre (MNI mm) and semi-axes (mm) of the ellipsoid the synthetic brain is made of.
const BRAIN_CENTRE: [f64; 3] = [0.0, -18.0, 10.0];
const BRAIN_SEMI_AXES: [f64; 3] = [68.0, 90.0, 62.0];

/// A symmetric, brain-shaped mask on the grid `dims` / `affine`: an ellipsoid around MNI
/// (0, -18, 10) joined with 14 mm balls around the language regions and their mirror images
/// (so every planted region lies inside), then intersected with its left-right mirror
/// (i -> nx - 1 - i), as the paper's mask.
pub(crate) fn brain_mask(dims: [usize; 3], affine: Affine) -> Result<Mask> {
    let grid = crate::nifti_io::Grid { dims, affine };
    let inside = |ijk: [usize; 3]| {
        let p = grid.world(ijk);
        let ellipsoid: f64 = (0..3).map(|d| ((p[d] - BRAIN_CENTRE[d]) / BRAIN_SEMI_AXES[d]).powi(2)).sum();
        ellipsoid <= 1.0
            || PAPER_ROIS.iter().any(|(_, c)| {
                let mirrored = [-c[0], c[1], c[2]];
                distance(p, *c) <= 14.0 || distance(p, mirrored) <= 14.0
            })
    };
    let nx = dims[0];
    Mask::from_fn(dims, affine, |[i, j, k]| inside([i, j, k]) && inside([nx - 1 - i, j, k]))
}

/// Where the signal is planted: per voxel, the signal amplitude (0..1 of the peak
/// signal-to-noise ratio) and the weight of each region's pattern.
#[derive(Clone, Debug)]
pub(crate) struct Planting {
    /// Relative amplitude of each voxel (0 = no signal).
    pub amplitude: Vec<f64>,
    /// For each voxel, (region index, weight) of the regions it belongs to.
    pub regions: Vec<Vec<(usize, f64)>>,
    /// Planted voxels per region: left region r at index r, its right homologue at 7 + r.
    pub counts: Vec<usize>,
}

/// Amplitude profile in a planted sphere: 1 at the centre, 1/2 at the radius, 0 beyond.
fn profile(d: f64, radius: f64) -> f64 {
    if d <= radius { 1.0 - 0.5 * (d / radius).powi(2) } else { 0.0 }
}

/// Planted spheres of `radius` mm at the paper's left ROIs (amplitude 1) and at their mirror
/// images (amplitude `right_ratio`).
pub(crate) fn planting(mask: &Mask, radius: f64, right_ratio: f64) -> Planting {
    let n = mask.n_voxels();
    let mut amplitude = vec![0.0; n];
    let mut regions = vec![Vec::new(); n];
    let mut counts = vec![0; 2 * PAPER_ROIS.len()];
    for (v, &p) in mask.xyz().iter().enumerate() {
        for (r, (_, c)) in PAPER_ROIS.iter().enumerate() {
            for (side, centre, scale) in [(0, *c, 1.0), (1, [-c[0], c[1], c[2]], right_ratio)] {
                let g = profile(distance(p, centre), radius);
                if g > 0.0 {
                    amplitude[v] = f64::max(amplitude[v], scale * g);
                    regions[v].push((r, g));
                    counts[side * PAPER_ROIS.len() + r] += 1;
                }
            }
        }
    }
    Planting { amplitude, regions, counts }
}

/// The paper's ROIs on `mask` ([`crate::rois::paper_spheres`], left side): for each, a 0/1
/// value per voxel.
pub(crate) fn roi_maps(mask: &Mask) -> Vec<(String, Vec<f32>)> {
    crate::rois::paper_spheres(mask)
        .into_iter()
        .map(|pair| {
            let mut values = vec![0.0; mask.n_voxels()];
            pair.left.iter().for_each(|&v| values[v] = 1.0);
            (pair.name, values)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::{Hemisphere, HemisphereRule};

    const LPP: Affine = [[4.0, 0.0, 0.0, -72.0], [0.0, 4.0, 0.0, -106.0], [0.0, 0.0, 4.0, -64.0], [0.0, 0.0, 0.0, 1.0]];

    #[test]
    fn mask_is_symmetric_brain_sized_and_holds_the_rois() {
        let mask = brain_mask([37, 46, 38], LPP).unwrap();
        assert!((20_000..32_000).contains(&mask.n_voxels()), "{} voxels", mask.n_voxels());
        assert!(mask.mirror_index().iter().all(Option::is_some));
        let world = mask.hemispheres(HemisphereRule::World);
        let left = world.iter().filter(|&&h| h == Hemisphere::Left).count();
        let right = world.iter().filter(|&&h| h == Hemisphere::Right).count();
        assert_eq!(left, right);
        for (name, values) in roi_maps(&mask) {
            let n = values.iter().filter(|&&v| v > 0.0).count();
            assert!((50..=90).contains(&n), "ROI {name}: {n} voxels");
        }
        let p = planting(&mask, 12.0, 0.5);
        let mirror = mask.mirror_index();
        for (v, m) in mirror.iter().enumerate() {
            let m = m.unwrap_or(v);
            if mask.xyz()[v][0] < 0.0 && p.amplitude[v] > 0.0 {
                assert!((p.amplitude[m] - 0.5 * p.amplitude[v]).abs() < 1e-9);
            }
        }
        assert!(p.counts.iter().all(|&c| c > 90), "{:?}", p.counts);
    }
}
