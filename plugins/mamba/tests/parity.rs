//! Parity with Hugging Face `transformers` (`MambaModel`, the slow pure-torch path) on the
//! fixture `tests/fixtures/hf/mamba` made by `tests/fixtures/hf/generate.py` (versions pinned
//! in its `expected.json`: transformers 5.24, torch 2.15, float32).
//!
//! * trained: every layer's SPEC 3 word features and the first window's raw hidden states
//!   within a relative max abs difference of 1e-3 (`max|rust - hf| / max|hf|`), the same
//!   `n_layers`, dims and words, and the window's input ids equal to `expected.json`'s;
//! * untrained: each parameter's mean / std over seeds 0, 1, 2 within a tolerance of
//!   `init_stats.json` (HF's `_init_weights`), constants exactly.
//!
//! Skipped, with a message, when the fixture is absent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use brainscale_lm::{LmExtractor, LmOptions, LoadContext};
use brainscale_mamba::MambaFamily;
use brainscale_mamba::config::MambaConfig;
use brainscale_mamba::model::Mamba;
use candle_core::{DType, Device, Tensor};
use serde_json::Value;

const TOLERANCE: f64 = 1e-3;

fn fixture() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hf/mamba");
    if dir.join("expected.json").is_file() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: no Mamba parity fixture at {} (run tests/fixtures/hf/generate.sh)", dir.display());
        None
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

/// `max|got - want| / max|want|`.
fn relative_diff(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f64, |m, &w| m.max(f64::from(w).abs()));
    let diff = got.iter().zip(want).fold(0f64, |m, (&g, &w)| m.max((f64::from(g) - f64::from(w)).abs()));
    diff / scale.max(f64::MIN_POSITIVE)
}

#[test]
fn features_match_transformers() {
    let Some(dir) = fixture() else { return };
    let expected = read_json(&dir.join("expected.json"));
    let runs = read_json(&dir.join("../runs.json"));
    let reference = candle_core::safetensors::load(dir.join("expected.safetensors"), &Device::Cpu).unwrap();
    let step = expected["step"].as_u64().map(|s| s as usize);
    let options = LmOptions { step, ..LmOptions::default() };
    let ex = LmExtractor::<MambaFamily>::open(&dir.join("model"), &options).unwrap();
    let info = ex.info();
    let n_layers = expected["n_layers"].as_u64().unwrap() as usize;
    assert_eq!(info.n_layers, n_layers);
    let dims: Vec<usize> = expected["dims"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    assert_eq!(info.dims, dims);
    assert_eq!((info.context.max_tokens, info.family.as_str()), (None, "mamba"));
    let mut worst = vec![0f64; n_layers];
    for run in runs.as_array().unwrap() {
        let name = run["name"].as_str().unwrap();
        let text = run["text"].as_str().unwrap();
        let words: Vec<String> =
            run["words"].as_array().unwrap().iter().map(|w| w.as_str().unwrap().to_owned()).collect();
        let want = &expected["runs"][name];
        let plan = ex.plan(text, &words).unwrap();
        let windows = want["windows"].as_array().unwrap();
        assert_eq!(plan.input_ids.len(), windows.len(), "{name}: one pass");
        for (got, w) in plan.input_ids.iter().zip(windows) {
            let ids: Vec<u32> = w["input_ids"].as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as u32).collect();
            assert_eq!(got, &ids, "{name}: window input ids");
        }
        // raw hidden states of the first window
        let raw = ex.model().forward(&plan.input_ids[0]).unwrap();
        assert_eq!(raw.len(), n_layers);
        for (k, state) in raw.iter().enumerate() {
            let r = &reference[&format!("{name}/window-00/layer-{k:02}")];
            assert_eq!(state.dims(), r.dims(), "{name} window 0 layer {k}");
            let d = relative_diff(&values(state), &values(r));
            assert!(d <= TOLERANCE, "{name} window 0 layer {k}: relative max abs diff {d:.2e}");
        }
        // SPEC 3 word features
        let layers = ex.extract_all(text, &words).unwrap();
        for (k, m) in layers.iter().enumerate() {
            let r = &reference[&format!("{name}/layer-{k:02}")];
            assert_eq!([m.n_rows(), m.n_cols()], r.dims(), "{name} layer {k}: [n_words, dim]");
            let d = relative_diff(m.as_slice(), &values(r));
            worst[k] = worst[k].max(d);
            assert!(d <= TOLERANCE, "{name} layer {k}: relative max abs diff {d:.2e}");
        }
    }
    eprintln!(
        "mamba parity, max relative diff per layer: {}",
        worst.iter().enumerate().map(|(k, d)| format!("{k:02}: {d:.1e}")).collect::<Vec<_>>().join(", ")
    );
}

#[test]
fn untrained_parameters_follow_hf_init() {
    let Some(dir) = fixture() else { return };
    let stats = read_json(&dir.join("init_stats.json"));
    let seeds: Vec<u64> = stats["seeds"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    let config = read_json(&dir.join("model/config.json"));
    let mamba_config = MambaConfig::from_json(&config, &dir).unwrap();
    // per parameter: all values over the seeds
    let mut pooled: HashMap<String, Vec<Vec<f32>>> = HashMap::new();
    for &seed in &seeds {
        let ctx = LoadContext {
            dir: dir.join("model"),
            config: config.clone(),
            dtype: DType::F32,
            device: Device::Cpu,
            untrained: Some(seed),
        };
        let vb = brainscale_lm::weights::untrained(seed, DType::F32, &Device::Cpu);
        let model = Mamba::load(&ctx, &mamba_config, vb).unwrap();
        for (name, t) in model.named_parameters() {
            pooled.entry(format!("backbone.{name}")).or_default().push(values(t));
        }
    }
    let params = stats["params"].as_object().unwrap();
    assert_eq!(pooled.len(), params.len(), "the same parameters as HF's base model");
    for (name, want) in params {
        let got = pooled.get(name).unwrap_or_else(|| panic!("{name}: not created"));
        let (mean, std) = mean_std(got);
        let (want_mean, want_std) = (want["mean"].as_f64().unwrap(), want["std"].as_f64().unwrap());
        if want["same_for_every_seed"].as_bool().unwrap() {
            assert!(got.windows(2).all(|w| w[0] == w[1]), "{name}: should not depend on the seed");
            assert!((mean - want_mean).abs() <= 1e-5 && (std - want_std).abs() <= 1e-5, "{name}: {mean} {std}");
            continue;
        }
        let n = got.iter().map(Vec::len).sum::<usize>() as f64;
        // sampling error of the std ~ std / sqrt(2n), of the mean ~ std / sqrt(n): 5 sigmas
        // plus the spread between HF's own seeds
        assert!(
            (std - want_std).abs() <= want_std * (5.0 / (2.0 * n).sqrt() + 0.02),
            "{name}: std {std} vs {want_std}"
        );
        assert!((mean - want_mean).abs() <= 2.0 * 5.0 * want_std / n.sqrt(), "{name}: mean {mean} vs {want_mean}");
        let (lo, hi) = (want["min"].as_f64().unwrap(), want["max"].as_f64().unwrap());
        let (glo, ghi) =
            got.iter().flatten().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x.into()), b.max(x.into())));
        let slack = 0.5 * (hi - lo);
        assert!(glo >= lo - slack && ghi <= hi + slack, "{name}: range [{glo}, {ghi}] vs [{lo}, {hi}]");
    }
}

/// Mean of the per-seed means and mean of the per-seed stds (population), as HF's stats.
fn mean_std(per_seed: &[Vec<f32>]) -> (f64, f64) {
    let (mut m, mut s) = (0.0, 0.0);
    for v in per_seed {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = v.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
        m += mean;
        s += var.sqrt();
    }
    let k = per_seed.len() as f64;
    (m / k, s / k)
}

#[test]
fn half_precision_stays_close_to_transformers_f32() {
    let Some(dir) = fixture() else { return };
    let runs = read_json(&dir.join("../runs.json"));
    let reference = candle_core::safetensors::load(dir.join("expected.safetensors"), &Device::Cpu).unwrap();
    let run = &runs[1];
    let name = run["name"].as_str().unwrap();
    let words: Vec<String> = run["words"].as_array().unwrap().iter().map(|w| w.as_str().unwrap().to_owned()).collect();
    for (dtype, tolerance) in [(DType::BF16, 5e-2), (DType::F16, 1e-2)] {
        let options = LmOptions { dtype, ..LmOptions::default() };
        let ex = LmExtractor::<MambaFamily>::open(&dir.join("model"), &options).unwrap();
        assert_eq!(ex.info().dtype, dtype.as_str());
        let layers = ex.extract_all(run["text"].as_str().unwrap(), &words).unwrap();
        for (k, m) in layers.iter().enumerate() {
            let d = relative_diff(m.as_slice(), &values(&reference[&format!("{name}/layer-{k:02}")]));
            eprintln!("{dtype:?} layer {k}: relative max abs diff {d:.1e}");
            assert!(d <= tolerance, "{dtype:?} {name} layer {k}: relative max abs diff {d:.2e}");
        }
    }
}
