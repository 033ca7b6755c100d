//! The synthetic dataset is deterministic, opens as layout v1, and holds the signal it claims.

use brainscale_core::design::{RegressorParams, regressor_operator};

use super::*;
use crate::dataset::Dataset;
use crate::features::Features;
use crate::mask::{Hemisphere, HemisphereRule};

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn same_seed_same_dataset_other_seed_other_words() {
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let params = SynthParams { n_runs: 3, n_scans: 40, ..SynthParams::small(5) };
    write_dataset(a.path(), &params).unwrap();
    write_dataset(b.path(), &params).unwrap();
    write_dataset(c.path(), &SynthParams { seed: 6, ..params.clone() }).unwrap();
    for file in ["words/run-02.tsv", "text/run-03.txt", "dataset.toml", "truth/truth.json", "truth/weights.safetensors"]
    {
        assert_eq!(read(&a.path().join(file)), read(&b.path().join(file)), "{file}");
    }
    assert_ne!(read(&a.path().join("words/run-01.tsv")), read(&c.path().join("words/run-01.tsv")));
    let (da, db) = (Dataset::open(a.path()).unwrap(), Dataset::open(b.path()).unwrap());
    for r in 0..3 {
        assert_eq!(da.load_bold(r).unwrap().data, db.load_bold(r).unwrap().data, "run {r}");
    }
    assert_eq!(read(&a.path().join("bold/run-01.nii.gz")), read(&b.path().join("bold/run-01.nii.gz")));
}

#[test]
fn bad_parameters_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for params in [
        SynthParams { n_runs: 2, ..SynthParams::small(0) },
        SynthParams { n_scans: 22, ..SynthParams::small(0) },
        SynthParams { snr: f64::NAN, ..SynthParams::small(0) },
        SynthParams { context_weight: 1.5, ..SynthParams::small(0) },
    ] {
        assert!(matches!(write_dataset(dir.path(), &params), Err(DataError::SynthParams { .. })), "{params:?}");
    }
}

/// Pearson r of two equally long series.
fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 || vb == 0.0 { 0.0 } else { cov / (va * vb).sqrt() }
}

#[test]
fn small_dataset_opens_and_holds_its_planted_signal() {
    let dir = tempfile::tempdir().unwrap();
    let params = SynthParams::small(11);
    let summary = write_dataset(dir.path(), &params).unwrap();
    let ds = Dataset::open(dir.path()).unwrap();
    assert_eq!(ds.n_runs(), 4);
    assert_eq!(ds.name(), "synth-seed11");
    assert_eq!(ds.config().language.as_deref(), Some("synthetic"));
    assert!(ds.config().extra["provenance"]["parameters"]["snr"].as_float().is_some());
    assert_eq!(ds.mask().n_voxels(), summary.n_voxels);
    assert_eq!(ds.runs().iter().map(|r| r.words.len()).collect::<Vec<_>>(), summary.n_words);
    assert!(summary.n_words.iter().all(|&n| (300..500).contains(&n)), "{:?}", summary.n_words);
    assert_eq!(ds.roi_names(), vec!["AG_TPJ", "BA44", "BA45", "BA47", "TP", "aSTS", "pSTS"]);
    assert!(ds.rois().unwrap().iter().all(|r| !r.voxels.is_empty()));
    assert!(ds.text(0).unwrap().contains('.'));

    // Signal only in planted voxels, stronger on the left.
    let expected_r = ds.mask().load_map(&dir.path().join("truth/expected_r.nii.gz")).unwrap();
    let world = ds.mask().hemispheres(HemisphereRule::World);
    let side_max =
        |side| expected_r.iter().zip(&world).filter(|(_, h)| **h == side).map(|(r, _)| *r).fold(0.0f32, f32::max);
    assert!((side_max(Hemisphere::Left) - 0.5f32.sqrt()).abs() < 0.05, "{}", side_max(Hemisphere::Left));
    assert!(side_max(Hemisphere::Right) < 0.5 && side_max(Hemisphere::Right) > 0.3);
    assert_eq!(expected_r.iter().filter(|&&r| r > 0.0).count(), summary.n_planted);

    // The reliability map is a split-half estimate: ~expected_r² where planted, noise around 0
    // elsewhere (sd ~ 1/sqrt(kept scans)).
    let reliability = ds.reliability().unwrap().unwrap();
    let (planted_v, empty_v): (Vec<usize>, Vec<usize>) = (0..summary.n_voxels).partition(|&v| expected_r[v] > 0.0);
    let mean = |vs: &[usize], f: &dyn Fn(usize) -> f64| vs.iter().map(|&v| f(v)).sum::<f64>() / vs.len() as f64;
    let (got, want) =
        (mean(&planted_v, &|v| reliability[v] as f64), mean(&planted_v, &|v| (expected_r[v] as f64).powi(2)));
    assert!((got - want).abs() < 0.03, "planted voxels: mean reliability {got}, expected {want}");
    let kept = (params.n_scans - params.trim_start - params.trim_end) * params.n_runs;
    let noise_mean = mean(&empty_v, &|v| reliability[v] as f64);
    let noise_sd = mean(&empty_v, &|v| (reliability[v] as f64 - noise_mean).powi(2)).sqrt();
    assert!(noise_mean.abs() < 0.01, "{noise_mean}");
    assert!((noise_sd * (kept as f64).sqrt() - 1.0).abs() < 0.2, "sd {noise_sd} over {kept} scans");
    assert!(reliability.iter().all(|r| r.is_finite() && (-1.0..=1.0).contains(r)));

    // The truth features reproduce the BOLD signal: r(BOLD, truth signal) ~ expected r.
    let truth = Features::open(&dir.path().join("truth/features")).unwrap();
    assert_eq!(truth.meta().model, "synth-truth");
    let n_words: Vec<usize> = ds.runs().iter().map(|r| r.words.len()).collect();
    let latent = truth.read_layer_checked(0, &n_words).unwrap();
    let weights = std::fs::read(dir.path().join("truth/weights.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&weights).unwrap();
    let w = st.tensor("W").unwrap();
    assert_eq!(w.shape(), &[params.n_latent, summary.n_voxels]);
    let w: Vec<f32> = w.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let n_voxels = summary.n_voxels;
    let planted: Vec<usize> = (0..n_voxels).filter(|&v| expected_r[v] > 0.0).collect();
    let (mut bold_all, mut signal_all) = (vec![Vec::new(); planted.len()], vec![Vec::new(); planted.len()]);
    for (r, run) in ds.runs().iter().enumerate() {
        let op = regressor_operator(
            &run.words.onset,
            &run.words.durations(),
            &RegressorParams::new(ds.tr(), run.n_scans, Hrf::Glover),
        )
        .unwrap();
        let lat = Mat::<f64>::from_fn(latent[r].nrows(), latent[r].ncols(), |i, j| latent[r][(i, j)] as f64);
        let x = &op * &lat;
        let bold = ds.load_bold(r).unwrap().data;
        for (p, &v) in planted.iter().enumerate() {
            for t in 10..run.n_scans - 10 {
                let s: f64 = (0..params.n_latent).map(|d| x[(t, d)] * w[d * n_voxels + v] as f64).sum();
                signal_all[p].push(s);
                bold_all[p].push(bold[(t, v)] as f64);
            }
        }
    }
    let observed: f64 =
        (0..planted.len()).map(|p| pearson(&bold_all[p], &signal_all[p])).sum::<f64>() / planted.len() as f64;
    let expected: f64 = planted.iter().map(|&v| expected_r[v] as f64).sum::<f64>() / planted.len() as f64;
    assert!((observed - expected).abs() < 0.05, "mean r over planted voxels: observed {observed}, expected {expected}");
}
