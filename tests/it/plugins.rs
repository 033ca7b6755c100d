//! Plugin conformance: the real, built plugin libraries loaded through the real loader.
//!
//! The libraries are built by `cargo test` itself: `brainscale-baselines` and
//! `conformance-test-plugin` are dev-dependencies of the `brainscale` package (see
//! toolkit/Cargo.toml), so cargo builds their cdylibs into `target/<profile>/deps/` before
//! this binary runs. Each test copies the libraries it needs into a fresh folder, under plugin
//! file names, and points the loader there.

use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use brainscale::Error;
use brainscale::data::synth::{SynthParams, write_dataset};
use brainscale::data::{Dataset, Features};
use brainscale::extract::{FeatureExtractor, RunText};
use brainscale::plugins::{Discovery, LoadStage, Plugin, Status, discover};
use serde_json::json;

/// The workspace version, shared by the toolkit and the baselines plugin.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The folder of the built libraries: `deps/` (rebuilt for every `cargo test`) first.
fn built_library(crate_name: &str) -> PathBuf {
    let file = format!("{DLL_PREFIX}{crate_name}{DLL_SUFFIX}");
    let exe_dir = Path::new(env!("CARGO_BIN_EXE_brainscale")).parent().expect("bin folder");
    [exe_dir.join("deps"), exe_dir.to_path_buf()]
        .into_iter()
        .map(|d| d.join(&file))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{file} not built beside {}: run `cargo test --workspace`", exe_dir.display()))
}

/// A fresh plugin folder holding a copy of the baselines plugin.
pub fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let to = dir.path().join(format!("{DLL_PREFIX}brainscale_baselines{DLL_SUFFIX}"));
    std::fs::copy(built_library("brainscale_baselines"), to).expect("copy plugin");
    dir
}

fn baselines(dir: &Path) -> (Discovery, Plugin) {
    let found = discover(&[dir.to_path_buf()]);
    assert!(found.failures.is_empty(), "{:?}", found.failures);
    let plugin = found.find("random-vectors").expect("baselines plugin").clone();
    (found, plugin)
}

fn brainscale(args: &[&str], paths: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_brainscale"));
    cmd.env_remove("BRAINSCALE_PLUGIN_PATH").arg("--quiet").args(args);
    for (flag, path) in paths {
        cmd.arg(flag).arg(path);
    }
    cmd.output().expect("run brainscale")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn plugins_list_shows_plugins_and_each_failure_with_its_stage() {
    let dir = plugin_dir();
    let lib = |name: &str| dir.path().join(format!("{DLL_PREFIX}brainscale_{name}{DLL_SUFFIX}"));
    std::fs::copy(built_library("conformance_test_plugin"), lib("future")).expect("copy");
    std::fs::write(lib("garbage"), b"not a shared library").expect("write");
    // A real shared library without the entry symbol: one of cargo's proc-macro libraries.
    let deps = Path::new(env!("CARGO_BIN_EXE_brainscale")).parent().expect("bin").join("deps");
    let no_symbol = std::fs::read_dir(&deps).expect("deps").filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        name.starts_with(&format!("{DLL_PREFIX}thiserror_impl-")) && name.ends_with(DLL_SUFFIX)
    });
    if let Some(so) = &no_symbol {
        std::fs::copy(so, lib("nosymbol")).expect("copy");
    } else {
        eprintln!("no proc-macro library in {}: the `entry symbol` stage is not exercised", deps.display());
    }

    let found = discover(&[dir.path().to_path_buf()]);
    assert_eq!(found.plugins.len(), 1);
    let info = found.plugins[0].info();
    assert_eq!((info.name.as_str(), info.version.as_str()), ("brainscale-baselines", VERSION));
    assert_eq!(info.families, ["random-vectors", "random-embeddings", "glove"]);
    let stage = |name: &str| found.failures.iter().find(|f| f.path == lib(name)).map(|f| (f.stage, f.message.clone()));
    let (s, message) = stage("future").expect("future ABI refused");
    assert_eq!(s, LoadStage::Abi);
    assert!(message.contains("plugin ABI 2.0, but this brainscale speaks ABI 1.0"), "{message}");
    assert_eq!(stage("garbage").expect("garbage refused").0, LoadStage::Open);
    if no_symbol.is_some() {
        let (s, message) = stage("nosymbol").expect("no-symbol refused");
        assert_eq!(s, LoadStage::Symbol);
        assert!(message.contains("brainscale_plugin_entry"), "{message}");
    }

    let o = brainscale(&["plugins", "list"], &[("--plugin-dir", dir.path())]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let line = format!("brainscale-baselines {}  ABI 1.0  families: random-vectors, random-embeddings, glove", VERSION);
    assert!(stdout.contains(&line), "{stdout}");
    assert!(stdout.contains("stage ABI version: plugin ABI 2.0, but this brainscale speaks ABI 1.0"), "{stdout}");
    assert!(stdout.contains("stage open:"), "{stdout}");
    let o = brainscale(&["plugins", "list"], &[("--plugin-dir", &dir.path().join("missing"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("no such folder"));
}

#[test]
fn bad_options_are_typed_errors_from_the_plugin() {
    let dir = plugin_dir();
    let (_found, plugin) = baselines(dir.path());
    let refused = |model: &str, options: serde_json::Value| match plugin.create(model, &options) {
        Ok(_) => panic!("{model} {options} accepted"),
        Err(Error::Plugin { status, message, .. }) => {
            assert_eq!(status, Status::INVALID_ARGUMENT, "{message}");
            message
        }
        Err(e) => panic!("not a plugin error: {e}"),
    };
    assert!(refused("random-embeddings", json!({"dim": 0})).contains("option `dim` must be at least 1"));
    assert!(
        refused("random-vectors", json!({"seed": "abc"})).contains("option `seed`: expected a non-negative integer")
    );
    assert!(refused("random-vectors", json!({"colour": 1})).contains("unknown option `colour`"));
    assert!(refused("glove", json!({})).contains("glove:/data/glove.6B.300d.txt"));

    // Through the command line: exit 1, one message, nothing written.
    let (_tmp, ds) = dataset();
    let out = ds.parent().expect("parent").join("feats");
    let o = brainscale(
        &["extract", "--model", "random-embeddings", "--option", "dim=0"],
        &[("--plugin-dir", dir.path()), ("--dataset", &ds), ("--out", &out)],
    );
    assert_eq!(o.status.code(), Some(1));
    let stderr = text(&o.stderr);
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error:")).count(), 1, "{stderr}");
    assert!(stderr.contains("plugin brainscale-baselines (create): option `dim` must be at least 1"), "{stderr}");
    assert!(!out.exists());
    // A family no plugin serves (the executable's folder, searched last, may hold the
    // language-model plugins after `cargo build --workspace`).
    let o = brainscale(
        &["extract", "--model", "xlnet"],
        &[("--plugin-dir", dir.path()), ("--dataset", &ds), ("--out", &out)],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("no plugin serves the model family `xlnet`"), "{}", text(&o.stderr));
    let o = brainscale(&["extract", "--model", "glove", "--option", "nokey"], &[("--dataset", &ds), ("--out", &out)]);
    assert_eq!(o.status.code(), Some(2), "a malformed --option is a usage error");
}

#[test]
fn a_panic_inside_the_plugin_is_an_error_and_the_host_keeps_working() {
    let dir = plugin_dir();
    let (_found, plugin) = baselines(dir.path());
    let status = |e: Error| match e {
        Error::Plugin { status, message, .. } => (status, message),
        e => panic!("not a plugin error: {e}"),
    };
    let (s, message) = status(plugin.create("random-vectors", &json!({"panic_for_test": "create"})).unwrap_err());
    assert_eq!(s, Status::PANIC);
    assert!(message.contains("the plugin panicked"), "{message}");

    let run_words = words("a b c");
    let run = RunText { text: "a b c", words: &run_words };
    let mut ex = plugin.create("random-vectors", &json!({"panic_for_test": "extract", "dim": 4})).expect("create");
    assert_eq!(status(ex.extract(&run, 0).unwrap_err()).0, Status::PANIC);
    // The same extractor still describes itself, and refuses to extract again.
    assert_eq!(ex.describe().expect("describe after a panic").dims, [4]);
    assert!(status(ex.extract(&run, 0).unwrap_err()).1.contains("panicked earlier"));
    drop(ex);
    // The library and a new extractor work.
    let mut ex = plugin.create("random-vectors", &json!({"dim": 4})).expect("create after a panic");
    assert_eq!(ex.extract(&run, 0).expect("extract").shape(), (3, 4));
}

#[test]
fn outputs_have_the_announced_shapes_and_random_baselines_are_deterministic() {
    let dir = plugin_dir();
    let (_found, plugin) = baselines(dir.path());
    let run_words = words("The cat saw the dog");
    let run = RunText { text: "The cat saw the dog.", words: &run_words };
    let features = |model: &str, options: serde_json::Value| {
        let mut ex = plugin.create(model, &options).expect("create");
        let info = ex.describe().expect("describe");
        assert_eq!((info.n_layers, info.context.max_tokens), (1, None));
        let m = ex.extract(&run, 0).expect("extract");
        assert_eq!(m.shape(), (run_words.len(), info.dims[0]));
        assert!(plugin.create(model, &options).expect("create").extract(&run, 1).is_err(), "layer 1 does not exist");
        m
    };
    for family in ["random-vectors", "random-embeddings"] {
        let a = features(family, json!({"dim": 16, "seed": 5}));
        assert_eq!(a, features(family, json!({"dim": 16, "seed": 5})), "{family}: same seed, same features");
        assert_ne!(a, features(family, json!({"dim": 16, "seed": 6})), "{family}: another seed");
        assert_eq!(features(family, json!({})).ncols(), 300);
    }
    let e = features("random-embeddings", json!({"dim": 8}));
    assert_eq!(e.row(0), e.row(3), "one vector per lower-cased word type");
    let v = features("random-vectors", json!({"dim": 8}));
    assert_ne!(v.row(0), v.row(3), "one vector per occurrence");

    let glove_dir = tempfile::tempdir().expect("tempdir");
    let glove = glove_dir.path().join("glove.tiny.3d.txt");
    std::fs::write(&glove, "the 1 0 0\ncat 0 1 0\nsaw 0 0 1\n").expect("write");
    let g = features(&format!("glove:{}", glove.display()), json!({}));
    let row = |i: usize| (0..3).map(|j| g[(i, j)]).collect::<Vec<f32>>();
    assert_eq!((row(0), row(4)), (vec![1.0, 0.0, 0.0], vec![0.0; 3]), "`The` is found, `dog` gets zeros");
    std::fs::write(&glove, "the 1 0 0\ncat 0 1\n").expect("write");
    match plugin.create(&format!("glove:{}", glove.display()), &json!({})) {
        Err(Error::Plugin { status, message, .. }) => {
            assert_eq!(status, Status::MODEL);
            assert!(message.contains("line 2: \"cat\" has 2 values, expected 3"), "{message}");
        }
        other => panic!("malformed GloVe accepted: {other:?}"),
    }
}

fn dataset() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ds");
    write_dataset(&dir, &SynthParams { n_runs: 3, n_scans: 60, ..SynthParams::small(1) }).expect("synth");
    (tmp, dir)
}

#[test]
fn extract_then_fit_end_to_end() {
    let plugins = plugin_dir();
    let (_tmp, ds) = dataset();
    let root = ds.parent().expect("parent").to_path_buf();
    let feats = root.join("feats");
    let o = brainscale(
        &["extract", "--model", "random-embeddings", "--option", "dim=20", "--option", "seed=3"],
        &[("--plugin-dir", plugins.path()), ("--dataset", &ds), ("--out", &feats)],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let f = Features::open(&feats).expect("features folder");
    let meta = f.meta();
    assert_eq!((meta.model.as_str(), meta.family.as_str()), ("random-embeddings-20d-seed3", "random-embeddings"));
    assert_eq!((meta.plugin.as_deref(), meta.plugin_version.as_deref()), (Some("brainscale-baselines"), Some(VERSION)));
    assert_eq!((meta.n_layers, meta.dims.as_slice(), meta.n_params), (1, &[20][..], None));
    assert_eq!((meta.context.max_tokens, meta.context.step), (None, None));
    assert_eq!((meta.dtype.as_deref(), meta.device.as_deref()), (Some("f32"), Some("cpu")));
    assert_eq!(meta.extra["options"], json!({"dim": 20, "seed": 3}));
    let d = Dataset::open(&ds).expect("dataset");
    let n_words: Vec<usize> = d.runs().iter().map(|r| r.words.len()).collect();
    assert_eq!(f.read_layer_checked(0, &n_words).expect("layer 0").len(), 3);

    let results = root.join("results");
    let o =
        brainscale(&["fit", "--alphas", "0,4,5"], &[("--features", &feats), ("--dataset", &ds), ("--out", &results)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(results.join("layer-00_r.nii.gz").is_file());

    // GloVe from a tiny file that knows only some of the dataset's words.
    let vocabulary: Vec<&String> = d.runs()[0].words.word.iter().take(5).collect();
    let glove = root.join("glove.tiny.4d.txt");
    let lines: Vec<String> =
        vocabulary.iter().enumerate().map(|(i, w)| format!("{} {i} 1 0.5 -2", w.to_lowercase())).collect();
    std::fs::write(&glove, lines.join("\n") + "\n").expect("write glove");
    let glove_feats = root.join("glove-feats");
    let spec = format!("glove:{}", glove.display());
    let o = brainscale(
        &["extract", "--model", &spec],
        &[("--plugin-dir", plugins.path()), ("--dataset", &ds), ("--out", &glove_feats)],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("not in the GloVe vocabulary"), "{}", text(&o.stderr));
    let f = Features::open(&glove_feats).expect("glove features");
    assert_eq!((f.meta().model.as_str(), f.meta().dims.as_slice()), ("glove.tiny.4d", &[4][..]));
    assert!(f.meta().extra["warnings"][0].as_str().is_some_and(|w| w.contains("got a zero vector")));
    let run1 = &f.read_layer_checked(0, &n_words).expect("layer")[0];
    assert_eq!(run1[(0, 1)], 1.0, "the first word is in the vocabulary");
}
