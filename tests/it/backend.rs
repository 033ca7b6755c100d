//! The encoding core's backend library (`libbrainscale_backend_candle`, built without CUDA by
//! `cargo test`: a dev-dependency of the toolkit), loaded through the real loader: the solver's
//! conformance suite over the C boundary, load failures by stage, panics inside the library,
//! and `fit --backend candle` against `--backend faer`.

use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::path::{Path, PathBuf};
use std::process::Command;

use brainscale::core::Backend;
use brainscale::plugins::LoadStage;
use brainscale::plugins::backend::{LoadedBackend, backend_file_name, find_backend, load_backend};
use serde_json::json;

/// The built backend library (cargo puts the cdylib in `deps/`).
fn built_backend() -> PathBuf {
    let file = format!("{DLL_PREFIX}brainscale_backend_candle{DLL_SUFFIX}");
    let exe_dir = Path::new(env!("CARGO_BIN_EXE_brainscale")).parent().expect("bin folder");
    [exe_dir.to_path_buf(), exe_dir.join("deps")]
        .into_iter()
        .map(|d| d.join(&file))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{file} not built beside {}: run `cargo test --workspace`", exe_dir.display()))
}

/// The candle backend library on candle's CPU device, loaded from a fresh folder.
pub fn loaded_candle_cpu() -> LoadedBackend {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    std::fs::copy(built_backend(), dir.join(backend_file_name("candle"))).expect("copy");
    let lib = find_backend("candle", &[dir]).expect("load the backend library");
    assert_eq!(lib.name, "brainscale-backend-candle");
    assert_eq!(lib.devices, ["cpu"]);
    lib.create("cpu", json!({})).expect("create")
}

#[test]
fn the_solver_suite_passes_through_the_loaded_library() {
    let backend = loaded_candle_cpu();
    assert_eq!(backend.name(), "cpu (candle)");
    assert!(!backend.direct_scoring());
    assert_eq!(backend.memory().expect("memory"), None);
    for line in brainscale::core::testing::check_backend(&backend).expect("conformance") {
        eprintln!("loaded candle: {line}");
    }
}

#[test]
fn load_failures_name_the_library_and_the_stage() {
    // Missing.
    let empty = tempfile::tempdir().expect("tempdir");
    let f = find_backend("candle", &[empty.path().to_path_buf()]).expect_err("missing");
    assert_eq!(f.stage, LoadStage::Open);
    assert!(f.message.contains("scripts/gpu-kit.sh") && f.message.contains("cargo build --workspace"), "{f}");
    // Not a library.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(backend_file_name("candle"));
    std::fs::write(&path, b"not a library").expect("write");
    assert_eq!(load_backend(&path).expect_err("garbage").stage, LoadStage::Open);
    // A library from the future (the conformance plugin's backend entry).
    let exe_dir = Path::new(env!("CARGO_BIN_EXE_brainscale")).parent().expect("bin").to_path_buf();
    let future = [exe_dir.join("deps"), exe_dir]
        .iter()
        .map(|d| d.join(format!("{DLL_PREFIX}conformance_test_plugin{DLL_SUFFIX}")))
        .find(|p| p.is_file())
        .expect("conformance_test_plugin built");
    // Each library gets its own file: a loaded library is never unloaded, and overwriting its
    // mapped file would corrupt it.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let path = dir2.path().join(backend_file_name("candle"));
    std::fs::copy(&future, &path).expect("copy");
    let f = load_backend(&path).expect_err("future ABI");
    assert_eq!(f.stage, LoadStage::Abi);
    assert!(f.message.contains("backend ABI 2.0") && f.message.contains("speaks backend ABI 1.0"), "{f}");
    // A model plugin is not a backend library: no entry symbol.
    let baselines = future.with_file_name(format!("{DLL_PREFIX}brainscale_baselines{DLL_SUFFIX}"));
    if baselines.is_file() {
        let dir3 = tempfile::tempdir().expect("tempdir");
        let path = dir3.path().join(backend_file_name("candle"));
        std::fs::copy(&baselines, &path).expect("copy");
        let f = load_backend(&path).expect_err("no symbol");
        assert_eq!(f.stage, LoadStage::Symbol);
        assert!(f.message.contains("brainscale_backend_entry"), "{f}");
    }
}

#[test]
fn panics_inside_the_library_are_errors_and_bad_options_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(built_backend(), dir.path().join(backend_file_name("candle"))).expect("copy");
    let lib = find_backend("candle", &[dir.path().to_path_buf()]).expect("load");
    let e = lib.create("cpu", json!({"panic_for_test": "create"})).expect_err("panic in create").to_string();
    assert!(e.contains("panicked") && e.contains("create"), "{e}");
    let backend = lib.create("cpu", json!({"panic_for_test": "matmul"})).expect("create");
    let a = backend.upload(faer::Mat::<f32>::identity(3, 3).as_ref()).expect("upload");
    let e = backend.matmul(&a, &a).expect_err("panic in matmul").to_string();
    assert!(e.contains("panicked") && e.contains("matmul"), "{e}");
    // The library still works after a caught panic.
    assert!(backend.matmul_tn(&a, &a).is_ok());
    let e = lib.create("cpu", json!({"precision": "tf32"})).expect_err("unknown option").to_string();
    assert!(e.contains("unknown option `precision`"), "{e}");
    let e = lib.create("tpu:0", json!({})).expect_err("bad device").to_string();
    assert!(e.contains("expected \"cpu\" or \"cuda:N\""), "{e}");
    // CUDA from a CPU-only build: says how to get the CUDA one.
    let e = lib.create("cuda:0", json!({})).expect_err("no CUDA").to_string();
    assert!(e.contains("built without CUDA") && e.contains("scripts/gpu-kit.sh"), "{e}");
    // The backend library in a plugin folder is not a broken plugin.
    std::fs::copy(
        built_backend().with_file_name(format!("{DLL_PREFIX}brainscale_baselines{DLL_SUFFIX}")),
        dir.path().join(format!("{DLL_PREFIX}brainscale_baselines{DLL_SUFFIX}")),
    )
    .ok();
    let found = brainscale::plugins::discover(&[dir.path().to_path_buf()]);
    assert!(found.failures.is_empty(), "{:?}", found.failures);
}

fn read_r(dir: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(dir.join("scores.csv")).expect("scores.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = header.iter().position(|h| *h == "r").expect("an r column");
    lines.map(|l| l.split(',').nth(col).expect("r").parse().expect("number")).collect()
}

#[test]
fn fit_with_the_candle_backend_matches_faer() {
    let (_tmp, ds) = crate::cli::small_dataset(4);
    let lib_dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(built_backend(), lib_dir.path().join(backend_file_name("candle"))).expect("copy");
    let features = ds.join("truth/features");
    let run = |extra: &[&str], out: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_brainscale"))
            .env("BRAINSCALE_PLUGIN_PATH", lib_dir.path())
            .args(["fit", "--quiet", "--features"])
            .arg(&features)
            .arg("--dataset")
            .arg(&ds)
            .arg("--out")
            .arg(out)
            .args(extra)
            .output()
            .expect("run");
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    for cv in ["paper", "voxelwise"] {
        let (faer, candle) = (tmp.path().join(format!("faer-{cv}")), tmp.path().join(format!("candle-{cv}")));
        assert_eq!(run(&["--cv", cv], &faer).0, Some(0));
        let (code, err) = run(&["--cv", cv, "--backend", "candle", "--device", "cpu", "--voxel-batch", "100"], &candle);
        assert_eq!(code, Some(0), "{err}");
        let (a, b) = (read_r(&faer), read_r(&candle));
        assert_eq!(a.len(), b.len());
        let d = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        let off = a.iter().zip(&b).filter(|(x, y)| (*x - *y).abs() > 1e-5).count();
        eprintln!("{cv}: max |dr| {d:.2e}; {off} of {} voxel-layers beyond 1e-5", a.len());
        if cv == "paper" {
            assert!(d <= 1e-5, "{cv}: max |dr| {d:.2e} between --backend candle and faer");
        } else {
            // One alpha per voxel: a near-tie of two alphas may flip with the last bits of
            // the products, moving that voxel's r a little.
            assert!(d <= 1e-4 && off * 500 <= a.len(), "{cv}: max |dr| {d:.2e}, {off} voxels beyond 1e-5");
        }
        let fit: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(candle.join("fit.json")).expect("fit.json")).expect("json");
        assert_eq!(fit["backend"]["backend"], "candle");
        assert_eq!(fit["backend"]["info"]["name"], "cpu (candle)");
    }
    // Device errors: exit 1 with what to do.
    let (code, err) = run(&["--device", "cuda"], &tmp.path().join("cuda"));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("built without CUDA") && err.contains("scripts/gpu-kit.sh"), "{err}");
    let (code, err) = run(&["--device", "cuda", "--backend", "faer"], &tmp.path().join("cuda-faer"));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--backend faer runs on the CPU only"), "{err}");
    let (code, err) = run(&["--device", "gpu"], &tmp.path().join("gpu"));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("expected `cpu`, `cuda` or `cuda:N`"), "{err}");
    let empty = tempfile::tempdir().expect("tempdir");
    let o = Command::new(env!("CARGO_BIN_EXE_brainscale"))
        .env("BRAINSCALE_PLUGIN_PATH", empty.path())
        .current_dir(empty.path())
        .args(["fit", "--quiet", "--backend", "candle", "--features"])
        .arg(&features)
        .arg("--dataset")
        .arg(&ds)
        .arg("--out")
        .arg(tmp.path().join("nolib"))
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    // The binary's own folder holds the library built by cargo, so it may be found there.
    if o.status.code() == Some(1) {
        assert!(err.contains("libbrainscale_backend_candle") || err.contains("brainscale_backend_candle"), "{err}");
    }
}
