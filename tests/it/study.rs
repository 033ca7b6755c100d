//! `run`'s pipeline on a small simulated study: the planted left-lateralised scaling effect is
//! recovered, the outputs are written, and a second run reuses everything.

use brainscale::data::Dataset;
use brainscale::data::synth::{SynthParams, write_dataset};
use brainscale::encoding::FitParams;
use brainscale::plugins::Discovery;
use brainscale::progress::Progress;
use brainscale::report::{AnalyzeParams, write_study};
use brainscale::run::{StudyModel, run_models};
use brainscale::study::Study;

#[test]
fn a_simulated_study_recovers_the_planted_effect_and_reuses_its_work() {
    let dir = tempfile::tempdir().unwrap();
    let ds_dir = dir.path().join("ds");
    write_dataset(&ds_dir, &SynthParams { n_runs: 5, n_scans: 120, ..SynthParams::small(7) }).unwrap();
    let ds = Dataset::open(&ds_dir).unwrap();
    let models: Vec<StudyModel> = brainscale::demo::DEMO_LADDER
        .iter()
        .map(|&(n_params, n_layers, dim)| StudyModel::Simulated { n_params, n_layers: n_layers.min(4), dim: dim / 4 })
        .collect();
    let fit = FitParams::default();
    let out = dir.path().join("study");
    let plugins = Discovery::default();
    let outcomes = run_models(&ds, &models, &fit, &plugins, &out, Progress::Quiet).unwrap();
    assert!(outcomes.iter().all(|o| o.reused == (false, false)));
    let results: Vec<_> = outcomes.iter().map(|o| o.results.clone()).collect();
    let study = Study::open(&ds, &results).unwrap();
    let params = AnalyzeParams { permutations: 999, ..AnalyzeParams::default() };
    let analysis = write_study(&study, &params, &out).unwrap().expect("6 sized models");
    eprint!("{}", analysis.headline());
    assert!(analysis.scaling.slope.value > 0.0 && analysis.scaling.slope.p < 0.05);
    assert!(analysis.left_lateralised_scaling(), "{}", analysis.headline());
    for table in ["models", "layers", "voxels", "rois", "stats_rois"] {
        assert!(out.join("tables").join(format!("{table}.parquet")).is_file(), "{table}");
        assert!(out.join("tables").join(format!("{table}.csv")).is_file(), "{table}");
    }
    assert!(out.join("analysis.json").is_file() && out.join("maps/slope_t.nii.gz").is_file());
    let report = brainscale::figures::write_report(&study, Some(&analysis), None, true, &out).unwrap();
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("THIS IS A SIMULATION") && html.contains("planted effect recovered"));
    for fig in ["reliability", "score_distributions", "layers", "scaling", "hemispheres", "roi_slopes", "slope_t_map"] {
        for ext in ["svg", "png"] {
            let path = out.join("figures").join(format!("{fig}.{ext}"));
            assert!(std::fs::metadata(&path).map(|m| m.len() > 1000).unwrap_or(false), "{}", path.display());
        }
    }

    let again = run_models(&ds, &models, &fit, &plugins, &out, Progress::Quiet).unwrap();
    assert!(again.iter().all(|o| o.reused == (true, true)), "{again:?}");
    let changed = FitParams { alphas: brainscale::core::ridge::logspace(1.0, 6.0, 6), ..fit.clone() };
    let refit = run_models(&ds, &models[..1], &changed, &plugins, &out, Progress::Quiet).unwrap();
    assert_eq!(refit[0].reused, (true, false), "other fit settings: features reused, fit redone");

    // A dataset rewritten in place is not mistaken for the one the cache came from: new BOLD
    // redoes the fits only, new words redo the features too.
    let touch = |path: &std::path::Path| {
        let bytes = std::fs::read(path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(path, bytes).unwrap();
    };
    touch(&ds_dir.join("bold/run-01.nii.gz"));
    let after_bold = run_models(&ds, &models[..1], &fit, &plugins, &out, Progress::Quiet).unwrap();
    assert_eq!(after_bold[0].reused, (true, false), "BOLD rewritten: features reused, fit redone");
    touch(&ds_dir.join("words/run-02.tsv"));
    let after_words = run_models(&ds, &models[..1], &fit, &plugins, &out, Progress::Quiet).unwrap();
    assert_eq!(after_words[0].reused, (false, false), "words rewritten: everything redone");

    // `analyze` with a baseline that is not among the results: one clear message, exit 1.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_brainscale"))
        .arg("analyze")
        .arg("--results")
        .args(&results)
        .arg("--dataset")
        .arg(&ds_dir)
        .arg("--out")
        .arg(dir.path().join("analysis"))
        .args(["--baseline", "random-embeddings_dim-1024_seed-0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--baseline") && stderr.contains("simulated-125M") && !stderr.contains("panic"),
        "{stderr}"
    );
    assert!(!dir.path().join("analysis").exists(), "nothing written");
}
