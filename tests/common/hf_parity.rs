//! The features of every tiny Hugging Face fixture model (`tests/fixtures/hf/`, see its README)
//! extracted through the real plugins and the C boundary, compared with transformers' hidden
//! states. Shared, by `#[path]`, by the `it` test (CPU, in `cargo test`) and by the
//! `plugin_parity` example (any device: `scripts/gpu-check.sh` runs it on a GPU machine with the
//! CUDA builds of the plugins).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use brainscale::extract::{FeatureExtractor, RunText, open_model};
use brainscale::plugins::Discovery;
use serde_json::Value;

/// What one fixture case gave.
#[derive(Clone, Debug)]
pub struct CaseReport {
    /// The case (folder name: `gpt2`, `llama`, ...).
    pub case: String,
    /// Largest |brainscale - transformers| over runs and layers, relative to each layer's
    /// largest |transformers| value.
    pub worst: f32,
    /// Layers compared (over all runs).
    pub n_layers: usize,
    /// Seconds spent opening the model and extracting.
    pub seconds: f64,
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// One layer's expected word features: shape and row-major values.
type Layer = (Vec<usize>, Vec<f32>);

/// The fixture's expected word features of `run`, per layer.
fn expected_layers(case_dir: &Path, run: &str, n_layers: usize) -> Result<Vec<Layer>, String> {
    let path = case_dir.join("expected.safetensors");
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    (0..n_layers)
        .map(|k| {
            let name = format!("{run}/layer-{k:02}");
            let t = st.tensor(&name).map_err(|e| format!("{}: {name}: {e}", path.display()))?;
            let values = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            Ok((t.shape().to_vec(), values))
        })
        .collect()
}

/// Every case of `fixtures` (a folder with `runs.json` and one sub-folder per case), opened with
/// the plugins of `plugins` and the plugin `options` (e.g. `{"step": 16, "device": "cuda"}`).
/// Every layer of every run must match within `layer_bound` x the layer's largest |value|;
/// the worst relative difference of each case is returned for the caller to judge.
pub fn check_fixture_cases(
    fixtures: &Path,
    plugins: &Discovery,
    options: &Value,
    layer_bound: f32,
) -> Result<Vec<CaseReport>, String> {
    let runs: BTreeMap<String, Value> = read_json(&fixtures.join("runs.json"))?
        .as_array()
        .ok_or("runs.json: expected a list")?
        .iter()
        .map(|r| Ok((r["name"].as_str().ok_or("runs.json: a run without a name")?.to_owned(), r.clone())))
        .collect::<Result<_, String>>()?;
    let mut cases: Vec<_> = std::fs::read_dir(fixtures)
        .map_err(|e| format!("{}: {e}", fixtures.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    cases.sort();
    let mut reports = Vec::new();
    for case_dir in cases {
        let case = case_dir.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
        let start = Instant::now();
        let expected = read_json(&case_dir.join("expected.json"))?;
        let model = case_dir.join("model");
        let mut ex = open_model(&model.to_string_lossy(), options, plugins).map_err(|e| format!("{case}: {e}"))?;
        let info = ex.describe().map_err(|e| format!("{case}: describe: {e}"))?;
        let dims: Vec<usize> =
            serde_json::from_value(expected["dims"].clone()).map_err(|e| format!("{case}: dims: {e}"))?;
        if (info.n_layers, &info.dims) != (dims.len(), &dims) {
            return Err(format!("{case}: {} layers of {:?}, transformers has {dims:?}", info.n_layers, info.dims));
        }
        if info.context.max_tokens != expected["max_position_embeddings"].as_u64() {
            return Err(format!(
                "{case}: context {:?} vs {}",
                info.context.max_tokens, expected["max_position_embeddings"]
            ));
        }
        let (mut worst, mut n_layers) = (0f32, 0);
        for (run_name, run) in &runs {
            let words: Vec<String> =
                serde_json::from_value(run["words"].clone()).map_err(|e| format!("{run_name}: words: {e}"))?;
            let text = run["text"].as_str().ok_or(format!("{run_name}: no text"))?;
            // Every layer of the run, in order, as the host asks for them.
            for (k, (shape, values)) in expected_layers(&case_dir, run_name, dims.len())?.iter().enumerate() {
                let m =
                    ex.extract(&RunText { text, words: &words }, k).map_err(|e| format!("{case} {run_name}: {e}"))?;
                if (m.nrows(), m.ncols()) != (shape[0], shape[1]) {
                    return Err(format!("{case} {run_name} layer {k}: {}x{} vs {shape:?}", m.nrows(), m.ncols()));
                }
                let scale = values.iter().fold(0f32, |a, v| a.max(v.abs()));
                let diff = (0..m.nrows())
                    .flat_map(|i| (0..m.ncols()).map(move |j| (i, j)))
                    .fold(0f32, |a, (i, j)| a.max((m[(i, j)] - values[i * m.ncols() + j]).abs()));
                if diff.is_nan() || diff > layer_bound * scale {
                    return Err(format!("{case} {run_name} layer {k}: max |diff| {diff} vs max |hf| {scale}"));
                }
                worst = worst.max(diff / scale);
                n_layers += 1;
            }
        }
        reports.push(CaseReport { case, worst, n_layers, seconds: start.elapsed().as_secs_f64() });
    }
    Ok(reports)
}
