//! Parity helpers shared by the transformer plugins' tests (included with `#[path]`).
//!
//! Fixtures: `tests/fixtures/hf/<case>/` (see its README): `model/` (config.json,
//! model.safetensors, tokenizer), `expected.safetensors` (`run-XX/layer-KK` word features and
//! `run-XX/window-00/layer-KK` raw hidden states of each run's first window) and
//! `expected.json` (the windows' input_ids). A missing fixture skips the test with a message.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use brainscale_lm::{CausalLm, Family, LoadContext};
use candle_core::{DType, Device, Tensor};

/// Relative max abs difference: `max|got - want| / max|want|`.
pub fn rel_max_diff(got: &Tensor, want: &Tensor) -> anyhow::Result<f32> {
    let scale = want.abs()?.max_all()?.to_scalar::<f32>()?.max(f32::MIN_POSITIVE);
    Ok((got - want)?.abs()?.max_all()?.to_scalar::<f32>()? / scale)
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Loads the family's model from a model folder (`untrained`: `Some(seed)`).
pub fn load_model<F: Family>(dir: &Path, untrained: Option<u64>) -> anyhow::Result<Box<dyn CausalLm>> {
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)?;
    let ctx = LoadContext { dir: dir.to_path_buf(), config, dtype: DType::F32, device: Device::Cpu, untrained };
    let vb = brainscale_lm::weights::var_builder(&ctx, F::prefixes())?;
    Ok(F::load(&ctx, vb)?)
}

/// Checks `model.forward(ids)` against HF hidden states `states["layer-KK"]` (or
/// `states["{prefix}layer-KK"]`); returns the max relative difference over layers.
pub fn check_states(
    model: &dyn CausalLm,
    ids: &[u32],
    states: &HashMap<String, Tensor>,
    prefix: &str,
    label: &str,
) -> anyhow::Result<f32> {
    let got = model.forward(ids)?;
    let n_expected = (0..).take_while(|k| states.contains_key(&format!("{prefix}layer-{k:02}"))).count();
    anyhow::ensure!(got.len() == n_expected, "{label}: {} hidden states, HF has {n_expected}", got.len());
    anyhow::ensure!(got.len() == model.n_layers(), "{label}: n_layers() disagrees with forward");
    let mut worst = 0f32;
    for (k, g) in got.iter().enumerate() {
        let want = &states[&format!("{prefix}layer-{k:02}")];
        anyhow::ensure!(g.dims() == want.dims(), "{label} layer {k}: shape {:?}, HF {:?}", g.dims(), want.dims());
        anyhow::ensure!(model.dims()[k] == want.dim(1)?, "{label} layer {k}: dims() disagrees");
        let d = rel_max_diff(g, want)?;
        anyhow::ensure!(d <= 1e-3, "{label} layer {k}: relative max abs diff {d:.3e} > 1e-3");
        worst = worst.max(d);
    }
    // keeping only the last rows gives the same rows
    let keep = ids.len() / 2;
    let tail = model.forward_from(ids, keep)?;
    for (k, (t, g)) in tail.iter().zip(&got).enumerate() {
        let d = rel_max_diff(t, &g.narrow(0, keep, ids.len() - keep)?)?;
        anyhow::ensure!(d <= 1e-5, "{label} layer {k}: forward_from differs from forward by {d:.3e}");
    }
    Ok(worst)
}

/// Dev loop: `scratch/parity/<case>` (made by `scratch/parity/make.py`) if present.
pub fn check_scratch<F: Family>(case: &str) -> anyhow::Result<Option<f32>> {
    let dir = root().join("scratch/parity").join(case);
    if !dir.exists() {
        return Ok(None);
    }
    let model = load_model::<F>(&dir.join("model"), None)?;
    let ids: Vec<u32> = serde_json::from_str(&std::fs::read_to_string(dir.join("ids.json"))?)?;
    let states = candle_core::safetensors::load(dir.join("states.safetensors"), &Device::Cpu)?;
    check_states(model.as_ref(), &ids, &states, "", case).map(Some)
}

/// `tests/fixtures/hf/<case>`, if its expected outputs exist (else prints why it skips).
pub fn fixture_dir(case: &str) -> Option<PathBuf> {
    let dir = root().join("tests/fixtures/hf").join(case);
    if dir.join("expected.safetensors").exists() && dir.join("expected.json").exists() {
        Some(dir)
    } else {
        println!("skipped: fixture {} absent (run tests/fixtures/hf/generate.py)", dir.display());
        None
    }
}

/// A fixture run: name, text, words.
#[derive(serde::Deserialize)]
pub struct Run {
    pub name: String,
    pub text: String,
    pub words: Vec<String>,
}

pub fn runs() -> anyhow::Result<Vec<Run>> {
    Ok(serde_json::from_str(&std::fs::read_to_string(root().join("tests/fixtures/hf/runs.json"))?)?)
}

/// Checks a fixture case end to end: n_layers and dims, every run's first window (raw hidden
/// states, all tokens) and every run's SPEC 3 word features through
/// [`brainscale_lm::LmExtractor`]. Returns `(worst window diff, worst word-feature diff)`.
pub fn check_fixture<F: Family>(case: &str) -> anyhow::Result<Option<(f32, f32)>> {
    let Some(dir) = fixture_dir(case) else { return Ok(None) };
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json"))?)?;
    let expected = candle_core::safetensors::load(dir.join("expected.safetensors"), &Device::Cpu)?;
    let step = meta["step"].as_u64().map(|s| s as usize);
    let opts = brainscale_lm::LmOptions { step, ..Default::default() };
    let ext = brainscale_lm::LmExtractor::<F>::open(&dir.join("model"), &opts)?;
    let model = ext.model();
    let dims: Vec<usize> = serde_json::from_value(meta["dims"].clone())?;
    anyhow::ensure!(model.n_layers() as u64 == meta["n_layers"].as_u64().unwrap_or(0), "{case}: n_layers");
    anyhow::ensure!(model.dims() == dims, "{case}: dims {:?}, HF {dims:?}", model.dims());
    let (mut worst_window, mut worst_words) = (0f32, 0f32);
    for run in runs()? {
        let ids: Vec<u32> = serde_json::from_value(meta["runs"][&run.name]["windows"][0]["input_ids"].clone())?;
        let label = format!("{case} {} window 0", run.name);
        worst_window =
            worst_window.max(check_states(model, &ids, &expected, &format!("{}/window-00/", run.name), &label)?);
        let features = ext.extract_all(&run.text, &run.words)?;
        anyhow::ensure!(features.len() == dims.len(), "{case} {}: {} layers", run.name, features.len());
        for (k, m) in features.iter().enumerate() {
            let want = &expected[&format!("{}/layer-{k:02}", run.name)];
            let got = Tensor::from_slice(m.as_slice(), (m.n_rows(), m.n_cols()), &Device::Cpu)?;
            anyhow::ensure!(
                got.dims() == want.dims(),
                "{case} {} layer {k}: {:?} vs HF {:?}",
                run.name,
                got.dims(),
                want.dims()
            );
            let d = rel_max_diff(&got, want)?;
            anyhow::ensure!(
                d <= 1e-3,
                "{case} {} layer {k} word features: relative max abs diff {d:.3e} > 1e-3",
                run.name
            );
            worst_words = worst_words.max(d);
        }
    }
    Ok(Some((worst_window, worst_words)))
}

/// Records every tensor the model asks for, created exactly as the `--untrained` backend does
/// (`brainscale_lm::weights::{seeded_rng, init_values}`).
struct Recorder {
    seed: u64,
    seen: std::sync::Mutex<Vec<(String, Tensor)>>,
}

impl candle_nn::var_builder::SimpleBackend for Recorder {
    fn get(
        &self,
        s: candle_core::Shape,
        name: &str,
        init: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let values =
            brainscale_lm::weights::init_values(&s, init, &mut brainscale_lm::weights::seeded_rng(self.seed, name))?;
        let t = Tensor::from_vec(values, s, dev)?.to_dtype(dtype)?;
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((name.to_owned(), t.clone()));
        }
        Ok(t)
    }
    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("no shape for {name}")
    }
    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

/// `--untrained`: every parameter's mean/std agree with HF's init (`init_stats.json`), every
/// HF parameter is created, and the extractor is deterministic per seed and differs across seeds.
pub fn check_untrained<F: Family>(case: &str) -> anyhow::Result<bool> {
    let Some(dir) = fixture_dir(case) else { return Ok(false) };
    let stats: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("init_stats.json"))?)?;
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("model/config.json"))?)?;
    let ctx =
        LoadContext { dir: dir.join("model"), config, dtype: DType::F32, device: Device::Cpu, untrained: Some(7) };
    let rec = std::sync::Arc::new(Recorder { seed: 7, seen: Default::default() });
    struct Shared(std::sync::Arc<Recorder>);
    impl candle_nn::var_builder::SimpleBackend for Shared {
        fn get(
            &self,
            s: candle_core::Shape,
            n: &str,
            h: candle_nn::Init,
            d: DType,
            dev: &Device,
        ) -> candle_core::Result<Tensor> {
            self.0.get(s, n, h, d, dev)
        }
        fn get_unchecked(&self, n: &str, d: DType, dev: &Device) -> candle_core::Result<Tensor> {
            self.0.get_unchecked(n, d, dev)
        }
        fn contains_tensor(&self, n: &str) -> bool {
            self.0.contains_tensor(n)
        }
    }
    let vb = candle_nn::VarBuilder::from_backend(Box::new(Shared(rec.clone())), DType::F32, Device::Cpu);
    F::load(&ctx, vb)?;
    let seen: HashMap<String, Tensor> =
        rec.seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.iter().cloned().collect();
    let params = stats["params"].as_object().ok_or_else(|| anyhow::anyhow!("init_stats.json: no params"))?;
    for (hf_name, s) in params {
        let name = F::prefixes().iter().find_map(|p| hf_name.strip_prefix(p)).unwrap_or(hf_name);
        let Some(t) = seen.get(name) else {
            // tied output head or a weight the base model does not use
            anyhow::ensure!(name.starts_with("lm_head"), "{case}: HF parameter {hf_name} was never created");
            continue;
        };
        let shape: Vec<usize> = serde_json::from_value(s["shape"].clone())?;
        anyhow::ensure!(t.dims() == shape, "{case} {name}: shape {:?}, HF {shape:?}", t.dims());
        let n = t.elem_count() as f64;
        let mean = t.mean_all()?.to_scalar::<f32>()? as f64;
        let std = ((t.sqr()?.mean_all()?.to_scalar::<f32>()? as f64) - mean * mean).max(0.0).sqrt();
        let (hm, hs) = (s["mean"].as_f64().unwrap_or(f64::NAN), s["std"].as_f64().unwrap_or(f64::NAN));
        // HF zeroes the padding row of some embeddings; our init hint cannot, so allow it
        let zero_rows = s["zero_rows"].as_array().map_or(0, |r| r.len()) as f64;
        let tol_mean = 5.0 * hs / n.sqrt() + 1e-6;
        let tol_std = 5.0 * hs / (2.0 * n).sqrt() + hs * zero_rows / n.sqrt() + 1e-6;
        anyhow::ensure!((mean - hm).abs() <= tol_mean, "{case} {name}: init mean {mean:.3e}, HF {hm:.3e}");
        anyhow::ensure!((std - hs).abs() <= tol_std, "{case} {name}: init std {std:.3e}, HF {hs:.3e}");
    }
    // determinism and seed dependence, through the extractor
    let run = runs()?.into_iter().find(|r| r.name == "run-02").ok_or_else(|| anyhow::anyhow!("no run-02"))?;
    let features = |seed| -> anyhow::Result<Vec<f32>> {
        let opts = brainscale_lm::LmOptions { untrained: Some(seed), step: Some(16), ..Default::default() };
        let ext = brainscale_lm::LmExtractor::<F>::open(&dir.join("model"), &opts)?;
        let last = ext.extract_all(&run.text, &run.words)?.pop().ok_or_else(|| anyhow::anyhow!("no layers"))?;
        Ok(last.into_vec())
    };
    let (a, b, c) = (features(1)?, features(1)?, features(2)?);
    anyhow::ensure!(a == b, "{case}: the same seed gave different features");
    anyhow::ensure!(a != c, "{case}: two seeds gave the same features");
    Ok(true)
}
