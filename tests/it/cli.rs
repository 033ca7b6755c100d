//! The `brainscale` binary: bad input gets exit status 1, one clear message naming the file
//! (and line, run or voxel), and no output files; usage errors get 2.

use std::path::{Path, PathBuf};
use std::process::Command;

use brainscale::data::synth::{SynthParams, write_dataset};
use brainscale::data::{Dataset, Mask};
use flate2::Compression;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_brainscale"))
}

/// A small synthetic dataset (8 mm grid, 4 runs x 60 scans) in a fresh temporary folder.
pub fn small_dataset(runs: usize) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ds");
    let params = SynthParams { n_runs: runs, n_scans: 60, ..SynthParams::small(3) };
    write_dataset(&dir, &params).expect("synth");
    (tmp, dir)
}

struct Outcome {
    code: i32,
    stderr: String,
}

/// `brainscale fit --quiet EXTRA --features FEATURES --dataset DS --out OUT`.
fn fit_with(features: &Path, ds: &Path, out: &Path, extra: &[&str]) -> Outcome {
    let o = bin()
        .args(["fit", "--quiet"])
        .args(extra)
        .arg("--features")
        .arg(features)
        .arg("--dataset")
        .arg(ds)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run brainscale");
    Outcome { code: o.status.code().unwrap_or(-1), stderr: String::from_utf8_lossy(&o.stderr).into_owned() }
}

fn fit(ds: &Path, out: &Path) -> Outcome {
    fit_with(&ds.join("truth/features"), ds, out, &["--alphas", "0,4,5"])
}

/// Runs `fit` on a broken dataset and checks: exit 1, a one-line message containing every
/// `needles`, no backtrace, no output folder.
fn assert_user_error(ds: &Path, needles: &[&str]) {
    let out = ds.parent().expect("parent").join("results");
    let o = fit(ds, &out);
    assert_eq!(o.code, 1, "exit status; stderr:\n{}", o.stderr);
    let errors: Vec<&str> = o.stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "exactly one error message expected:\n{}", o.stderr);
    // The message starts at the `error:` line (it may list details on indented lines below).
    let message: String = o.stderr.lines().skip_while(|l| !l.starts_with("error:")).collect::<Vec<_>>().join("\n");
    for n in needles {
        assert!(message.contains(n), "message lacks {n:?}: {message}");
    }
    assert!(!o.stderr.contains("panicked") && !o.stderr.contains("RUST_BACKTRACE"), "{}", o.stderr);
    assert!(!out.exists(), "no output may be written on bad input: {} exists", out.display());
}

#[test]
fn a_good_dataset_fits_and_writes_every_output() {
    let (_tmp, ds) = small_dataset(4);
    let out = ds.parent().expect("parent").join("results");
    let o = fit(&ds, &out);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for f in ["layer-00_r.nii.gz", "scores.parquet", "scores.csv", "summary.parquet", "summary.csv", "fit.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .expect("out")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
    // The r map is on the mask's grid with the mask's affine.
    let d = Dataset::open(&ds).expect("dataset");
    let r = d.mask().load_map(&out.join("layer-00_r.nii.gz")).expect("r map");
    assert_eq!(r.len(), d.mask().n_voxels());
    // `--out` may exist; other files there are left alone.
    std::fs::write(out.join("notes.txt"), "mine").expect("write");
    assert_eq!(fit(&ds, &out).code, 0);
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).expect("read"), "mine");
}

#[test]
fn design_writes_one_tensor_per_run() {
    let (_tmp, ds) = small_dataset(3);
    let out = ds.parent().expect("parent").join("design.safetensors");
    let o = bin()
        .args(["design", "--layer", "0", "--features"])
        .arg(ds.join("truth/features"))
        .arg("--dataset")
        .arg(&ds)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&out).expect("design file");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let mut names = st.names();
    names.sort();
    assert_eq!(names, ["run-01", "run-02", "run-03"]);
    // 60 scans - 10 - 10 trimmed.
    assert_eq!(st.tensor("run-01").expect("run-01").shape()[0], 40);
}

#[test]
fn grid_mismatch_between_mask_and_run() {
    let (_tmp, ds) = small_dataset(3);
    let d = Dataset::open(&ds).expect("dataset");
    let mut affine = *d.mask().affine();
    affine[0][3] += 8.0;
    let other = Mask::from_fn(d.mask().dims(), affine, |_| true).expect("mask");
    let data = faer::Mat::<f32>::from_fn(60, other.n_voxels(), |i, j| ((i * 7 + j) % 13) as f32);
    other.write_series(&ds.join("bold/run-02.nii.gz"), data.as_ref(), 2.0, Compression::fast()).expect("write");
    assert_user_error(&ds, &["run-02.nii.gz", "grid"]);
}

#[test]
fn bold_runs_and_word_files_differ_in_number() {
    let (_tmp, ds) = small_dataset(4);
    std::fs::remove_file(ds.join("words/run-03.tsv")).expect("rm");
    assert_user_error(&ds, &["run-03"]);
}

#[test]
fn a_word_beyond_the_end_of_its_run() {
    let (_tmp, ds) = small_dataset(3);
    let path = ds.join("words/run-02.tsv");
    let mut text = std::fs::read_to_string(&path).expect("read");
    let line = text.lines().count() + 1;
    text.push_str("late\t500.0\t500.3\n");
    std::fs::write(&path, text).expect("write");
    assert_user_error(&ds, &["run-02.tsv", &format!("line {line}"), "late"]);
}

#[test]
fn nan_voxels_are_errors_naming_scan_and_voxel() {
    let (_tmp, ds) = small_dataset(3);
    let d = Dataset::open(&ds).expect("dataset");
    let mut bold = d.load_bold(1).expect("bold").data;
    bold[(7, 5)] = f32::NAN;
    d.mask().write_series(&ds.join("bold/run-02.nii.gz"), bold.as_ref(), 2.0, Compression::fast()).expect("write");
    let [i, j, k] = d.mask().ijk()[5];
    assert_user_error(&ds, &["run-02.nii.gz", "scan 7", &format!("({i}, {j}, {k})")]);
}

#[test]
fn constant_voxels_score_zero_and_are_reported() {
    let (_tmp, ds) = small_dataset(3);
    let d = Dataset::open(&ds).expect("dataset");
    for run in 0..3 {
        let mut bold = d.load_bold(run).expect("bold").data;
        bold.col_mut(4).fill(100.0);
        let path = ds.join(format!("bold/run-{:02}.nii.gz", run + 1));
        d.mask().write_series(&path, bold.as_ref(), 2.0, Compression::fast()).expect("write");
    }
    let out = ds.parent().expect("parent").join("results");
    let o = fit(&ds, &out);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("constant"), "a warning about constant voxels is expected: {}", o.stderr);
    let r = d.mask().load_map(&out.join("layer-00_r.nii.gz")).expect("r map");
    assert_eq!(r[4], 0.0);
}

#[test]
fn fewer_than_three_runs() {
    let (_tmp, ds) = small_dataset(3);
    for f in ["bold/run-03.nii.gz", "words/run-03.tsv", "text/run-03.txt"] {
        let _ = std::fs::remove_file(ds.join(f));
    }
    assert_user_error(&ds, &["found 2 run", "at least 3"]);
}

#[test]
fn malformed_tsv_names_the_line() {
    let (_tmp, ds) = small_dataset(3);
    let path = ds.join("words/run-01.tsv");
    let text = std::fs::read_to_string(&path).expect("read");
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[4] = "word\tsoon\t1.0".into();
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    assert_user_error(&ds, &["run-01.tsv", "line 5"]);
}

#[test]
fn malformed_toml_names_the_line() {
    let (_tmp, ds) = small_dataset(3);
    std::fs::write(ds.join("dataset.toml"), "name = \"x\"\ntr = 2.0\ntrim_start = [oops\n").expect("write");
    assert_user_error(&ds, &["dataset.toml", "line 3"]);
}

#[test]
fn missing_files_are_named() {
    let (_tmp, ds) = small_dataset(3);
    std::fs::remove_file(ds.join("mask.nii.gz")).expect("rm");
    assert_user_error(&ds, &["mask.nii.gz"]);
    let (_tmp2, ds2) = small_dataset(3);
    std::fs::remove_dir_all(ds2.join("truth/features")).expect("rm");
    assert_user_error(&ds2, &["features"]);
}

#[test]
fn features_that_do_not_fit_the_dataset() {
    let (_tmp, ds) = small_dataset(3);
    let (_tmp2, other) = small_dataset(4);
    let out = ds.parent().expect("parent").join("results");
    let o = fit_with(&other.join("truth/features"), &ds, &out, &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("features"));
    assert!(!out.exists());
}

#[test]
fn usage_errors_exit_2_and_bad_option_values_exit_1() {
    let o = bin().args(["fit", "--no-such-flag"]).output().expect("run");
    assert_eq!(o.status.code(), Some(2));
    let (_tmp, ds) = small_dataset(3);
    for (flag, value) in [("--alphas", "7,2,16"), ("--cv", "loo"), ("--hrf", "spm"), ("--device", "tpu")] {
        let out = ds.parent().expect("parent").join("results");
        let o = fit_with(&ds.join("truth/features"), &ds, &out, &[flag, value]);
        assert_eq!(o.code, 1, "{flag} {value}: {}", o.stderr);
        assert!(o.stderr.contains(flag), "{flag}: {}", o.stderr);
        assert!(!out.exists());
    }
}
