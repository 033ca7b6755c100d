//! Planted-signal recovery: on `brainscale synth` data, the fitted r map follows the planted
//! ground truth, and left beats right in the planted regions.

use brainscale::core::stats::pearson;
use brainscale::data::synth::{SynthParams, write_dataset};
use brainscale::data::{Dataset, Features, Hemisphere, HemisphereRule};
use brainscale::encoding::{FitParams, fit_features};
use brainscale::progress::Progress;

#[test]
fn the_fit_recovers_the_planted_voxels_and_their_lateralisation() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ds");
    let params = SynthParams { n_runs: 5, n_scans: 150, ..SynthParams::small(11) };
    write_dataset(&dir, &params).expect("synth");
    let ds = Dataset::open(&dir).expect("dataset");
    let features = Features::open(&dir.join("truth/features")).expect("features");
    let fit = fit_features(&ds, &features, &FitParams::default(), None, Progress::Quiet).expect("fit");
    let r: Vec<f64> = fit.layers[0].r.iter().map(|&v| v as f64).collect();
    let expected: Vec<f64> =
        ds.mask().load_map(&dir.join("truth/expected_r.nii.gz")).expect("truth").iter().map(|&v| v as f64).collect();
    let recovery = pearson(&r, &expected);
    let hemi = ds.mask().hemispheres(HemisphereRule::World);
    let mean_planted = |side: Hemisphere| {
        let v: Vec<f64> = (0..r.len()).filter(|&v| expected[v] > 0.0 && hemi[v] == side).map(|v| r[v]).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let (left, right) = (mean_planted(Hemisphere::Left), mean_planted(Hemisphere::Right));
    let unplanted: Vec<f64> = (0..r.len()).filter(|&v| expected[v] == 0.0).map(|v| r[v]).collect();
    let null_mean = unplanted.iter().sum::<f64>() / unplanted.len() as f64;
    eprintln!(
        "planted-signal recovery: corr(r, expected r) = {recovery:.3}; planted left {left:.3}, right {right:.3}; \
         unplanted mean {null_mean:.4} over {} voxels",
        unplanted.len()
    );
    assert!(recovery > 0.8, "the r map should follow the planted truth: corr = {recovery:.3}");
    assert!(left > right + 0.05, "left ({left:.3}) should beat right ({right:.3})");
    assert!(null_mean.abs() < 0.02, "unplanted voxels should score ~0: {null_mean:.4}");
}
