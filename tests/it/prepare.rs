//! `brainscale prepare` on a synthetic OpenNeuro-like BIDS dataset (brainscale_prep::synth_bids):
//! a layout-v1 dataset that `fit` accepts, with provenance, reliability high where the subjects
//! share a signal and low elsewhere; and bad input, each an error naming the file with nothing
//! left behind.

use std::path::{Path, PathBuf};
use std::process::Command;

use brainscale::data::{Dataset, FeaturesMeta, FeaturesWriter, HemisphereRule};
use brainscale_prep::synth_bids::{self, SynthBids};
use faer::Mat;

const ENTRY: &str = "synth-lpp";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_brainscale"))
}

/// A data directory with the synthetic downloads in `raw/synth-lpp` and a registry file whose
/// `synth-lpp` entry prepares them (`extra` is appended to its prepare table).
struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    registry: PathBuf,
    params: SynthBids,
}

impl Setup {
    fn new(params: SynthBids, extra: &str) -> Setup {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("data");
        synth_bids::write(&root.join("raw").join(ENTRY), &params).expect("synthetic BIDS");
        let registry = tmp.path().join("registry.toml");
        let spec = synth_bids::spec_toml(&params, Some(&format!("{ENTRY}.prepare")));
        // The extra keys belong to the prepare table itself: put them before its sub-tables.
        let spec = spec.replacen("\n[", &format!("\n{extra}\n["), 1);
        let text = format!(
            "[{ENTRY}]\nversion = \"1\"\ndescription = \"synthetic LPP-like BIDS dataset\"\nlicense = \"CC0-1.0\"\n\
             generated = \"brainscale_prep::synth_bids::write\"\n\n{spec}"
        );
        std::fs::write(&registry, text).expect("registry");
        Setup { _tmp: tmp, root, registry, params }
    }

    fn raw(&self) -> PathBuf {
        self.root.join("raw").join(ENTRY)
    }

    fn out(&self) -> PathBuf {
        self.root.join("datasets").join(ENTRY)
    }

    fn prepare(&self, extra: &[&str]) -> std::process::Output {
        bin()
            .args(["prepare", ENTRY, "--quiet", "--registry"])
            .arg(&self.registry)
            .arg("--data-dir")
            .arg(&self.root)
            .args(extra)
            .output()
            .expect("run brainscale")
    }

    /// Runs prepare, expects exit 1 with one error line containing every needle, and no
    /// dataset (complete or partial) left behind.
    fn assert_fails(&self, needles: &[&str]) {
        let o = self.prepare(&[]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "exit status; stderr:\n{stderr}");
        let message: String = stderr.lines().skip_while(|l| !l.starts_with("error:")).collect::<Vec<_>>().join("\n");
        for n in needles {
            assert!(message.contains(n), "the message lacks {n:?}:\n{message}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!self.out().exists(), "no dataset may be left on bad input");
        let datasets = self.root.join("datasets");
        if datasets.is_dir() {
            let leftovers: Vec<_> = std::fs::read_dir(&datasets)
                .expect("datasets")
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".partial-"))
                .collect();
            assert!(leftovers.is_empty(), "staging folders left: {leftovers:?}");
        }
    }
}

/// Mean of `values` over the mask voxels whose world y satisfies `keep`.
fn mean_where(ds: &Dataset, values: &[f32], keep: impl Fn(f64) -> bool) -> f32 {
    let picked: Vec<f32> =
        ds.mask().xyz().iter().zip(values).filter(|(xyz, _)| keep(xyz[1])).map(|(_, v)| *v).collect();
    assert!(!picked.is_empty());
    picked.iter().sum::<f32>() / picked.len() as f32
}

/// Mean correlation of run 1's time series between each mask voxel and its +x neighbour.
fn neighbour_correlation(ds: &Dataset) -> f64 {
    let bold = ds.load_bold(0).expect("bold");
    let n = bold.data.nrows();
    let (mut total, mut pairs) = (0.0, 0usize);
    for (v, &[i, j, k]) in ds.mask().ijk().iter().enumerate() {
        let Some(w) = ds.mask().index_of([i + 1, j, k]) else { continue };
        // The runs are z-scored: the correlation is the mean product.
        total += (0..n).map(|t| bold.data[(t, v)] as f64 * bold.data[(t, w)] as f64).sum::<f64>() / n as f64;
        pairs += 1;
    }
    assert!(pairs > 0);
    total / pairs as f64
}

/// Random features for every word of the dataset (one layer of 6 dims).
fn write_features(ds: &Dataset, dir: &Path) {
    let mut meta = FeaturesMeta::new("random", "test", vec![6]);
    meta.dataset = Some(ds.name().to_string());
    let mut writer = FeaturesWriter::create(dir, meta).expect("features writer");
    let runs: Vec<Mat<f32>> = ds
        .runs()
        .iter()
        .map(|r| Mat::from_fn(r.words.len(), 6, |i, j| ((i * 7 + j * 13 + r.index * 3) as f32 * 0.37).sin()))
        .collect();
    writer.write_layer(0, &runs).expect("layer");
    writer.finish().expect("finish");
}

#[test]
fn prepare_writes_a_dataset_that_fit_accepts_with_reliability_where_the_signal_is() {
    let setup = Setup::new(SynthBids::small(4, 3, 11), "keep_subjects = [\"sub-XX002\"]");
    let o = setup.prepare(&[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "stderr:\n{stderr}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("4 subject(s)"), "{stdout}");

    let ds = Dataset::open(&setup.out()).expect("a layout-v1 dataset");
    assert_eq!(ds.n_runs(), 3);
    assert_eq!(ds.tr(), 2.0);
    assert_eq!(ds.config().language.as_deref(), Some("xx"));
    assert_eq!(ds.mask().grid(), &SynthBids::target_grid());
    // The mask is symmetric and covers the synthetic brain, not the background.
    assert!(ds.mask().mirror_index().iter().all(Option::is_some));
    assert!(ds.mask().n_voxels() > 300 && ds.mask().n_voxels() < SynthBids::target_grid().n_cells() / 2);
    for (r, run) in ds.runs().iter().enumerate() {
        assert_eq!(run.n_scans, setup.params.scans(r));
        let bold = ds.load_bold(r).expect("bold");
        // The average subject is z-scored again.
        let col: Vec<f32> = (0..bold.data.nrows()).map(|t| bold.data[(t, 5)]).collect();
        let mean = col.iter().sum::<f32>() / col.len() as f32;
        let var = col.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / col.len() as f32;
        assert!(mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3, "run {r}: mean {mean}, var {var}");
        assert!(run.text_path.is_some());
    }
    // Reliability: high in front of y = 0 (the shared signal), low behind.
    let rel = ds.reliability().expect("read").expect("reliability.nii.gz");
    let front = mean_where(&ds, &rel, |y| y > 6.0);
    let back = mean_where(&ds, &rel, |y| y < -6.0);
    assert!(front > 0.5, "reliability where the subjects share a signal: {front}");
    assert!(back.abs() < 0.15, "reliability where they do not: {back}");
    // Provenance.
    let prov = &ds.config().extra["provenance"];
    assert_eq!(prov["source"]["entry"].as_str(), Some(ENTRY));
    assert_eq!(prov["subjects"]["n"].as_integer(), Some(4));
    assert_eq!(prov["subjects"]["run_numbers"]["sub-XX002"].as_array().map(|a| a.len()), Some(3));
    let steps: Vec<&str> = prov["steps"].as_array().expect("steps").iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(steps, ["words", "resample", "mask", "clean", "average", "reliability"]);
    assert!(prov["software"].as_str().is_some_and(|s| s.starts_with("brainscale ")));
    assert!(prov["date"].as_str().is_some_and(|d| d.len() >= 20));
    assert!(setup.out().join("provenance/alignment.tsv").is_file());
    assert!(setup.out().join("provenance/reliability-splits.nii.gz").is_file());
    // The kept subject is a dataset of its own, as the paper's fit_individual_subject.py: its
    // own mask (from its runs, symmetric) and its runs smoothed (4 mm FWHM) before cleaning.
    let single = Dataset::open(&setup.out().join("sub-XX002")).expect("single-subject dataset");
    assert_eq!(single.name(), "synth-lpp/sub-XX002");
    assert_eq!(single.mask().grid(), ds.mask().grid());
    assert!(single.mask().mirror_index().iter().all(Option::is_some), "the subject's mask is symmetric");
    assert_ne!(single.mask().ijk(), ds.mask().ijk(), "the subject's mask is its own");
    assert_eq!(single.mask().hemispheres(HemisphereRule::Paper).len(), single.mask().n_voxels());
    let own_steps = &single.config().extra["provenance"]["steps"];
    let names: Vec<&str> = own_steps.as_array().expect("steps").iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["words", "resample", "mask", "clean", "single-subject"]);
    let own_voxels = single.mask().n_voxels() as i64;
    assert_eq!(own_steps[2]["mask"].as_str(), Some("own"));
    assert_eq!(own_steps[2]["voxels"].as_integer(), Some(own_voxels));
    assert_eq!(own_steps[2]["images"].as_integer(), Some(3), "the subject's 3 runs voted");
    assert_eq!(own_steps[3]["smoothing_fwhm"].as_float(), Some(4.0));
    assert_eq!(own_steps[4]["mask"].as_str(), Some("own"));
    assert_eq!(own_steps[4]["mask_voxels"].as_integer(), Some(own_voxels));
    assert_eq!(own_steps[4]["group_mask_voxels"].as_integer(), Some(ds.mask().n_voxels() as i64));
    assert_eq!(own_steps[4]["smoothing_fwhm"].as_float(), Some(4.0));
    assert_eq!(ds.config().extra["provenance"]["steps"][3]["smoothing_fwhm"].as_float(), Some(0.0));
    assert!(stdout.contains(&format!("sub-XX002 ({own_voxels} voxels)")), "{stdout}");
    let smoothed = neighbour_correlation(&single);

    // `fit` accepts it, end to end.
    let features = setup.root.join("features");
    write_features(&ds, &features);
    let results = setup.root.join("results");
    let o = bin()
        .args(["fit", "--quiet", "--alphas", "0,3,4", "--features"])
        .arg(&features)
        .arg("--dataset")
        .arg(setup.out())
        .arg("--out")
        .arg(&results)
        .output()
        .expect("fit");
    assert_eq!(o.status.code(), Some(0), "fit: {}", String::from_utf8_lossy(&o.stderr));
    assert!(results.join("layer-00_r.nii.gz").is_file());

    // Without smoothing: the same own mask, neighbouring voxels less alike.
    let o = setup.prepare(&["--subject-smoothing-fwhm", "0"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let raw = Dataset::open(&setup.out().join("sub-XX002")).expect("unsmoothed single subject");
    assert_eq!(raw.mask().ijk(), single.mask().ijk());
    assert_eq!(raw.config().extra["provenance"]["steps"][4]["smoothing_fwhm"].as_float(), Some(0.0));
    let unsmoothed = neighbour_correlation(&raw);
    eprintln!("neighbour correlation of the kept subject: {smoothed:.3} smoothed (4 mm), {unsmoothed:.3} not");
    assert!(
        smoothed > unsmoothed + 0.03,
        "neighbour correlation: {smoothed:.3} smoothed vs {unsmoothed:.3} without smoothing"
    );
    // `subject_mask = "group"` and no smoothing: the old behaviour, the group mask.
    let o = setup.prepare(&["--subject-mask", "group", "--subject-smoothing-fwhm", "0"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let ds = Dataset::open(&setup.out()).expect("prepared with the group mask");
    let single = Dataset::open(&setup.out().join("sub-XX002")).expect("single subject, group mask");
    assert_eq!(single.mask().n_voxels(), ds.mask().n_voxels());
    assert_eq!(single.mask().ijk(), ds.mask().ijk());
    assert_eq!(single.mask().hemispheres(HemisphereRule::Paper).len(), ds.mask().n_voxels());
    let steps = &single.config().extra["provenance"]["steps"];
    assert_eq!(steps[2]["mask"].as_str(), Some("group"));
    assert_eq!(steps[4]["mask"].as_str(), Some("group"));
    assert_eq!(steps[4]["smoothing_fwhm"].as_float(), Some(0.0));
    let bad = setup.prepare(&["--subject-smoothing-fwhm", "-2"]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--subject-smoothing-fwhm -2"), "{stderr}");

    // Preparing again replaces the dataset (here with linear interpolation and 2 subjects).
    let o = setup.prepare(&["--subjects", "2", "--interpolation", "linear", "--keep-subjects", ""]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let ds = Dataset::open(&setup.out()).expect("prepared again");
    assert_eq!(ds.config().extra["provenance"]["subjects"]["n"].as_integer(), Some(2));
    assert_eq!(ds.config().extra["provenance"]["steps"][1]["interpolation"].as_str(), Some("linear"));
    assert!(!setup.out().join("sub-XX002").exists());
}

#[test]
fn a_subject_with_a_missing_run_is_an_error_naming_it() {
    let setup = Setup::new(SynthBids { n_scans: 30, ..SynthBids::small(3, 3, 1) }, "");
    std::fs::remove_file(setup.raw().join(setup.params.bold_path(2, 1))).expect("remove a run");
    setup.assert_fails(&["sub-XX003", "2 BOLD run(s)", "expected 3", "run-01, run-03"]);
}

#[test]
fn runs_of_different_lengths_across_subjects_are_an_error_naming_the_file() {
    let setup = Setup::new(SynthBids { n_scans: 30, ..SynthBids::small(3, 3, 2) }, "");
    // Subject 3's run 2 gets 5 scans fewer than the others'.
    let shorter = SynthBids { n_subjects: 3, n_scans: 30 - 5, ..setup.params.clone() };
    let tmp = tempfile::tempdir().expect("tempdir");
    synth_bids::write(tmp.path(), &shorter).expect("shorter");
    let rel = setup.params.bold_path(2, 1);
    std::fs::copy(tmp.path().join(&rel), setup.raw().join(&rel)).expect("replace the run");
    setup.assert_fails(&["sub-XX003_task-lppXX_run-02", "has 27 scans", "sub-XX001_task-lppXX_run-02", "32"]);
}

#[test]
fn a_grid_that_cannot_be_resampled_is_an_error_naming_the_file() {
    // Subject 2's images lie far away from the target grid (a shifted origin).
    let setup = Setup::new(SynthBids { n_scans: 30, ..SynthBids::small(2, 3, 3) }, "");
    let mut far = SynthBids { n_scans: 30, ..SynthBids::small(2, 3, 3) };
    far.source.affine[0][3] += 500.0;
    let tmp = tempfile::tempdir().expect("tempdir");
    synth_bids::write(tmp.path(), &far).expect("far");
    let rel = setup.params.bold_path(1, 0);
    std::fs::copy(tmp.path().join(&rel), setup.raw().join(&rel)).expect("replace the run");
    setup.assert_fails(&["sub-XX002_task-lppXX_run-15", "cannot resample onto the target grid"]);
}

#[test]
fn an_annotation_without_a_column_is_an_error_naming_the_file() {
    let setup = Setup::new(SynthBids { n_scans: 30, ..SynthBids::small(2, 3, 4) }, "");
    let path = setup.raw().join(setup.params.annotation_path());
    let text = std::fs::read_to_string(&path).expect("csv");
    std::fs::write(&path, text.replacen(",offset\n", ",end\n", 1)).expect("rewrite");
    setup.assert_fails(&["lppXX_word_information.csv, line 1", "missing column(s) offset"]);
}

#[test]
fn text_mismatches_are_all_reported_and_corrections_come_from_a_file() {
    let params = SynthBids { n_scans: 30, ..SynthBids::small(2, 3, 5) };
    let setup = Setup::new(params.clone(), "");
    // Two typos in run 2's text.
    let text_path = setup.raw().join("text/text_run2.txt");
    let text = std::fs::read_to_string(&text_path).expect("text");
    let words: Vec<&str> = text.split_whitespace().collect();
    let (w3, w7) =
        (words[3].trim_matches(|c: char| !c.is_alphanumeric()), words[7].trim_matches(|c: char| !c.is_alphanumeric()));
    let broken = text
        .split_whitespace()
        .enumerate()
        .map(|(i, w)| match i {
            3 => w.replacen(w3, "zzzq", 1),
            7 => w.replacen(w7, "qqqz", 1),
            _ => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    std::fs::write(&text_path, &broken).expect("write");
    setup.assert_fails(&["2 mismatch(es)", "run 2, word 4", "vs text \"zzzq", "run 2, word 8", "vs text \"qqqz"]);
    let report = setup.root.join("datasets").join(format!("{ENTRY}.alignment.tsv"));
    let report_text = std::fs::read_to_string(&report).expect("the report is kept");
    assert_eq!(report_text.lines().filter(|l| l.contains("\treplaced\t")).count(), 2, "{report_text}");

    // A corrections file fixes them.
    let fixes = setup.root.join("fixes.toml");
    std::fs::write(
        &fixes,
        format!(
            "[[text]]\nrun = 2\nfrom = \"zzzq\"\nto = \"{w3}\"\n[[text]]\nrun = 2\nfrom = \"qqqz\"\nto = \"{w7}\"\n"
        ),
    )
    .expect("fixes");
    let fixed = Setup { registry: setup.registry.with_file_name("fixed.toml"), ..setup };
    let registry = std::fs::read_to_string(fixed.registry.with_file_name("registry.toml")).expect("registry");
    let registry =
        registry.replacen("text = ", &format!("corrections = {:?}\ntext = ", fixes.display().to_string()), 1);
    std::fs::write(&fixed.registry, registry).expect("registry");
    let o = fixed.prepare(&["--subjects", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let ds = Dataset::open(&fixed.out()).expect("dataset");
    assert_eq!(ds.config().extra["provenance"]["steps"][0]["text_replacements"].as_integer(), Some(2));
}

#[test]
fn a_single_subject_is_prepared_without_reliability() {
    let setup = Setup::new(SynthBids { n_scans: 30, ..SynthBids::small(2, 3, 6) }, "");
    let o = setup.prepare(&["--subjects", "1"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("no split-half reliability"), "{stderr}");
    let ds = Dataset::open(&setup.out()).expect("dataset");
    assert!(ds.reliability_path().is_none());
    let steps = &ds.config().extra["provenance"]["steps"];
    assert_eq!(steps[5]["splits"].as_integer(), Some(0));
    let leftovers: Vec<_> =
        std::fs::read_dir(setup.out()).expect("out").filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert!(!leftovers.iter().any(|n| n.to_string_lossy().starts_with('.')), "{leftovers:?}");
}
