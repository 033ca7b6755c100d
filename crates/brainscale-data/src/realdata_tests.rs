//! Checks against the real geometry of the English LPP corpus, when `../shared/data/lpp-en`
//! is present (it is not part of the repository); skipped with a message otherwise.
//!
//! Expected numbers computed with nibabel / numpy from the same files (README.md there).

use std::path::PathBuf;

use crate::mask::{Hemisphere, HemisphereRule, Mask};

fn lpp_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/lpp-en");
    if dir.join("mask.nii.gz").exists() {
        Some(dir)
    } else {
        eprintln!("skipping: ../shared/data/lpp-en not found ({} has no mask.nii.gz)", dir.display());
        None
    }
}

/// numpy's default `percentile` (linear interpolation between order statistics).
fn percentile_linear(values: &[f32], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
    v.sort_by(f64::total_cmp);
    let pos = q / 100.0 * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (pos - lo as f64) * (v[hi] - v[lo])
}

#[test]
fn percentile_matches_numpy() {
    assert_eq!(percentile_linear(&[1.0, 2.0, 3.0, 4.0], 75.0), 3.25);
    assert_eq!(percentile_linear(&[4.0, 1.0, 3.0], 50.0), 3.0);
}

#[test]
fn real_lpp_mask_reliability_and_rois() {
    let Some(dir) = lpp_dir() else { return };
    let mask = Mask::load(&dir.join("mask.nii.gz")).unwrap();
    assert_eq!(mask.n_voxels(), 25_870);
    assert_eq!(mask.dims(), [37, 46, 38]);
    assert_eq!(mask.affine()[0], [4.0, 0.0, 0.0, -72.0]);
    let count = |h: &[Hemisphere], side: Hemisphere| h.iter().filter(|&&x| x == side).count();
    let world = mask.hemispheres(HemisphereRule::World);
    assert_eq!(
        (count(&world, Hemisphere::Left), count(&world, Hemisphere::Midline), count(&world, Hemisphere::Right)),
        (12_425, 1_020, 12_425)
    );
    assert!(mask.mirror_index().iter().all(Option::is_some), "the LPP mask is symmetric");

    let reliability = mask.load_map(&dir.join("reliability.nii.gz")).unwrap();
    let threshold = percentile_linear(&reliability, 75.0);
    assert!((threshold - 0.48730).abs() < 5e-6, "75th percentile {threshold}");
    let paper = mask.hemispheres(HemisphereRule::Paper);
    let reliable: Vec<usize> = (0..mask.n_voxels()).filter(|&v| reliability[v] as f64 > threshold).collect();
    assert_eq!(reliable.len(), 6_468);
    let first = reliable.iter().filter(|&&v| v < mask.n_voxels() / 2).count();
    assert_eq!((first, reliable.len() - first), (3_297, 3_171));
    assert!(reliable.iter().take(first).all(|&v| paper[v] == Hemisphere::Left));

    // The ROI files, and the 10 mm spheres around the paper's coordinates, give the same voxels;
    // the right spheres are the files' mirror images.
    let spheres = crate::rois::paper_spheres(&mask);
    let mut files = Vec::new();
    for (name, n) in [("TP", 59), ("aSTS", 56), ("pSTS", 69), ("AG_TPJ", 56), ("BA44", 56), ("BA45", 53), ("BA47", 81)]
    {
        let roi = mask.load_map(&dir.join(format!("rois/{name}.nii.gz"))).unwrap();
        let voxels: Vec<usize> = (0..roi.len()).filter(|&v| roi[v] != 0.0).collect();
        assert_eq!(voxels.len(), n, "ROI {name}");
        assert!(voxels.iter().all(|&v| mask.xyz()[v][0] < 0.0), "ROI {name} is left");
        let pair = spheres.iter().find(|p| p.name == name).unwrap();
        assert_eq!(pair.left, voxels, "ROI {name}: 10 mm sphere around the paper's coordinate");
        assert_eq!(pair.right.len(), n, "right {name}: the mask is symmetric");
        let n_reliable = |vs: &[usize]| vs.iter().filter(|&&v| reliability[v] as f64 > threshold).count();
        println!(
            "ROI {name:<7} left {:>3} voxels ({:>2} reliable), right {:>3} ({:>2} reliable)",
            pair.left.len(),
            n_reliable(&pair.left),
            pair.right.len(),
            n_reliable(&pair.right)
        );
        files.push(crate::dataset::Roi { name: name.to_string(), voxels });
    }
    assert_eq!(crate::rois::mirrored_pairs(&mask, &files), spheres);
    // The synthetic generator writes the same spheres.
    for ((name, values), pair) in crate::synth::brain::roi_maps(&mask).iter().zip(&spheres) {
        let voxels: Vec<usize> = (0..values.len()).filter(|&v| values[v] != 0.0).collect();
        assert_eq!((name, &voxels), (&pair.name, &pair.left));
    }
}
