//! A study of the synthetic dataset: its planted truth (left-lateralised) against a random
//! baseline, through the real fit and the results folders.

use brainscale_data::synth::{SynthParams, write_dataset};
use brainscale_data::{Dataset, Features};
use faer::Mat;

use super::*;
use crate::columns as col;
use crate::encoding::{FitParams, fit_features};
use crate::extract::{FeatureExtractor, ModelInfo, RunText, extract_features};
use crate::progress::Progress;

/// Gaussian noise per word, 8 dimensions: a baseline with nothing to find.
struct Noise;

impl FeatureExtractor for Noise {
    fn describe(&self) -> crate::Result<ModelInfo> {
        Ok(ModelInfo::new("noise", "baseline", vec![8]))
    }
    fn extract(&mut self, run: &RunText<'_>, _layer: usize) -> crate::Result<Mat<f32>> {
        let seed = run.words.len() as u64;
        Ok(Mat::from_fn(run.words.len(), 8, |i, j| {
            let x = (i as u64 * 7919 + j as u64 * 104_729 + seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        }))
    }
}

#[test]
fn tables_of_a_planted_study() {
    let dir = tempfile::tempdir().unwrap();
    let ds_dir = dir.path().join("ds");
    write_dataset(&ds_dir, &SynthParams { n_runs: 4, n_scans: 80, ..SynthParams::small(3) }).unwrap();
    let ds = Dataset::open(&ds_dir).unwrap();
    let params = FitParams { alphas: brainscale_core::ridge::logspace(0.0, 4.0, 5), ..FitParams::default() };
    let truth = Features::open(&ds_dir.join("truth/features")).unwrap();
    fit_features(&ds, &truth, &params, Some(&dir.path().join("res-truth")), Progress::Quiet).unwrap();
    let noise = extract_features(&mut Noise, &ds, &dir.path().join("f-noise"), Progress::Quiet).unwrap();
    fit_features(&ds, &noise, &params, Some(&dir.path().join("res-noise")), Progress::Quiet).unwrap();

    let study = Study::open(&ds, &[dir.path().join("res-truth"), dir.path().join("res-noise")]).unwrap();
    let models = study.models_frame().unwrap();
    assert_eq!(models.height(), 2);
    let score = |c: &str, row: usize| models.column(c).unwrap().f64().unwrap().get(row).unwrap();
    // The reliable quarter of the voxels (split-half reliability, as on real data) holds the
    // planted voxels and as many noise voxels, so the truth's brain score is diluted (~0.07).
    assert!(score(col::BRAIN_SCORE, 0) > score(col::BRAIN_SCORE, 1) + 0.04, "{models}");
    assert!(score(col::LR_RELIABLE, 0) > 0.03, "the truth is planted left: {models}");
    assert!(score(col::LR_RELIABLE, 1).abs() < 0.05, "noise has no side: {models}");

    let layers = study.layers_frame().unwrap();
    assert_eq!(layers.height(), 2);
    let voxels = study.voxels_frame(Some("noise")).unwrap();
    assert_eq!(voxels.height(), 2 * ds.mask().n_voxels());
    let diff = voxels.column(col::R_MINUS_BASELINE).unwrap().f32().unwrap();
    assert!(diff.iter().skip(ds.mask().n_voxels()).all(|d| d == Some(0.0)), "the baseline minus itself");
    assert!(study.voxels_frame(Some("gpt2")).unwrap_err().to_string().contains("not among the study's models"));

    let rois = study.rois_frame().unwrap();
    assert_eq!(rois.height(), 2 * study.regions.rois.len());
    assert_eq!(study.regions.rois.len(), 2 * ds.rois().unwrap().len(), "every ROI and its mirror image");

    // Results from another grid cannot be mixed in.
    let bad = dir.path().join("res-bad");
    std::fs::create_dir(&bad).unwrap();
    let fit = std::fs::read_to_string(dir.path().join("res-truth/fit.json")).unwrap();
    let n = ds.mask().n_voxels();
    let fit = fit.replace(&format!("\"n_voxels\": {n}"), &format!("\"n_voxels\": {}", n + 1));
    std::fs::write(bad.join("fit.json"), fit).unwrap();
    let e = Study::open(&ds, &[dir.path().join("res-truth"), bad]).unwrap_err().to_string();
    assert!(e.contains("cannot be mixed"), "{e}");
    let e = Study::open(&ds, &[dir.path().join("f-noise")]).unwrap_err().to_string();
    assert!(e.contains("not a results folder"), "{e}");

    // Nor results fitted on another dataset with the same grid.
    let other = dir.path().join("res-other");
    std::fs::create_dir(&other).unwrap();
    for entry in std::fs::read_dir(dir.path().join("res-noise")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), other.join(entry.file_name())).unwrap();
    }
    let fit = std::fs::read_to_string(other.join("fit.json")).unwrap();
    let name = ds.name();
    std::fs::write(other.join("fit.json"), fit.replace(&format!("\"dataset\": \"{name}\""), "\"dataset\": \"lpp-fr\""))
        .unwrap();
    let e = Study::open(&ds, &[dir.path().join("res-truth"), other]).unwrap_err().to_string();
    assert!(e.contains("different datasets") && e.contains("lpp-fr") && e.contains(name), "{e}");

    // A model without a parameter count is named when the scaling analysis cannot run.
    let e = crate::analysis::analyze(&study, 100, 0).unwrap_err().to_string();
    assert!(e.contains("without a parameter count") && e.contains("synth-truth"), "{e}");
}
