//! `brainscale run`: extract -> fit -> analyze for a list of models on one dataset, skipping
//! work already done.
//!
//! Every model's features and results go to `OUT/features/NAME` and `OUT/results/NAME`, each
//! with a `key.json` that records what produced it (model spec, options, dataset and
//! settings): a folder whose key matches, and that is complete (`meta.json`, `fit.json`), is
//! reused; anything else is redone. The study's tables and statistics then go to
//! `OUT/tables` (and the report, see `brainscale analyze`).

use std::path::{Path, PathBuf};

use brainscale_data::synth::{SynthParams, write_dataset};
use brainscale_data::{Dataset, Features};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::demo::{DEMO_LADDER, OracleLadder};
use crate::encoding::{Encoding, FitParams};
use crate::error::{Error, Result};
use crate::extract::{FeatureExtractor, extract_features, open_model};
use crate::plugins::Discovery;
use crate::progress::Progress;

/// A model of a study.
#[derive(Clone, Debug, PartialEq)]
pub enum StudyModel {
    /// A simulated model of the embedded demo (see [`crate::demo`]).
    Simulated {
        /// Parameters.
        n_params: u64,
        /// Layers.
        n_layers: usize,
        /// Dimension.
        dim: usize,
    },
    /// A model served by a plugin: a folder, a hub id or a baseline spec, with options.
    Plugin {
        /// `--model` spec.
        spec: String,
        /// Plugin options.
        options: Value,
    },
}

impl StudyModel {
    /// The folder name of its outputs.
    pub fn key_name(&self) -> String {
        match self {
            StudyModel::Simulated { n_params, .. } => format!("simulated-{}", crate::demo::human_size(*n_params)),
            StudyModel::Plugin { spec, options } => {
                let mut name: String = spec
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
                    .collect();
                if let Some(map) = options.as_object() {
                    for (k, v) in map {
                        name.push_str(&format!("_{k}-{}", v.to_string().trim_matches('"')));
                    }
                }
                name
            }
        }
    }

    fn key(&self) -> Value {
        match self {
            StudyModel::Simulated { n_params, n_layers, dim } => {
                json!({"simulated": {"n_params": n_params, "n_layers": n_layers, "dim": dim}})
            }
            StudyModel::Plugin { spec, options } if options.get("step").is_some() => {
                json!({"spec": spec, "options": options})
            }
            // Without a `step` option a windowed model's step is SPEC 3.2's rule, 64 minus the
            // tokenizer's special tokens (it was a flat 64 before): the rule is part of the key,
            // so features made under the old default (wrong for OPT, Llama, ...) are redone.
            StudyModel::Plugin { spec, options } => {
                json!({"spec": spec, "options": options, "default_step": "64 - n_special"})
            }
        }
    }
}

/// The embedded demo's models: the simulated ladder and the random baselines (when the
/// baselines plugin is found).
pub fn demo_models(plugins: &Discovery) -> Vec<StudyModel> {
    let mut models: Vec<StudyModel> = DEMO_LADDER
        .iter()
        .map(|&(n_params, n_layers, dim)| StudyModel::Simulated { n_params, n_layers, dim })
        .collect();
    if plugins.find("random-embeddings").is_some() {
        models.push(StudyModel::Plugin { spec: "random-embeddings".into(), options: json!({"dim": 1024, "seed": 0}) });
        models.push(StudyModel::Plugin { spec: "random-vectors".into(), options: json!({"dim": 300, "seed": 0}) });
    } else {
        log::warn!("no baselines plugin found (`brainscale plugins list`): the demo runs without the random baselines");
    }
    models
}

/// The embedded demo's synthetic dataset: the real 4 mm grid, 6 runs of 200 scans.
pub fn demo_dataset_params() -> SynthParams {
    SynthParams { seed: 0, n_runs: 6, n_scans: 200, ..SynthParams::default() }
}

/// Writes the demo dataset into `dir` unless it is already there (same parameters).
pub fn ensure_demo_dataset(dir: &Path) -> Result<Dataset> {
    let params = demo_dataset_params();
    let key = json!({"synth": format!("{params:?}"), "revision": brainscale_data::synth::GENERATOR_REVISION});
    if !(dir.join("dataset.toml").is_file() && key_matches(dir, &key)) {
        write_dataset(dir, &params)?;
        write_key(dir, &key)?;
    }
    Ok(Dataset::open(dir)?)
}

/// A fingerprint of the dataset files at `entries` (files or folders under `root`): SHA-256 of
/// each file's relative path, size and modification time, so that a dataset rewritten in place
/// (re-prepared, or a demo of another generator revision) is not mistaken for the one the
/// cached features and fits came from. The words and texts key the features; BOLD, mask,
/// reliability and ROIs key the fits.
fn fingerprint(root: &Path, entries: &[&str]) -> Result<String> {
    fn visit(root: &Path, path: &Path, out: &mut Vec<(String, u64, u128)>) -> Result<()> {
        let io = |e: std::io::Error| Error::io("read", path, e);
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).map_err(io)? {
                visit(root, &entry.map_err(io)?.path(), out)?;
            }
        } else {
            let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            let relative = path.strip_prefix(root).unwrap_or(path).to_string_lossy().into_owned();
            out.push((relative, meta.len(), modified.map_or(0, |d| d.as_nanos())));
        }
        Ok(())
    }
    let mut files = Vec::new();
    for entry in entries {
        let path = root.join(entry);
        if path.exists() {
            visit(root, &path, &mut files)?;
        }
    }
    files.sort();
    let mut hash = Sha256::new();
    for (path, len, modified) in &files {
        hash.update(format!("{path}\0{len}\0{modified}\n").as_bytes());
    }
    Ok(format!("{:x}", hash.finalize()))
}

fn key_matches(dir: &Path, key: &Value) -> bool {
    std::fs::read_to_string(dir.join("key.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .is_some_and(|k| &k == key)
}

fn write_key(dir: &Path, key: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(key).map_err(|e| Error::Invalid(format!("key.json: {e}")))?;
    Ok(brainscale_data::write_bytes_atomic(&dir.join("key.json"), text.as_bytes())?)
}

/// What [`run_models`] did for one model.
#[derive(Clone, Debug)]
pub struct ModelOutcome {
    /// The output folder name.
    pub name: String,
    /// Its results folder.
    pub results: PathBuf,
    /// Whether the features and the fit were reused.
    pub reused: (bool, bool),
}

/// Extracts and fits every model (reusing what is done), with one progress bar over the study.
pub fn run_models(
    dataset: &Dataset,
    models: &[StudyModel],
    fit: &FitParams,
    plugins: &Discovery,
    out: &Path,
    progress: Progress,
) -> Result<Vec<ModelOutcome>> {
    let words_print = fingerprint(dataset.root(), &["dataset.toml", "words", "text", "truth"])?;
    let data_print = fingerprint(
        dataset.root(),
        &["mask.nii.gz", "mask.nii", "reliability.nii.gz", "reliability.nii", "bold", "rois"],
    )?;
    let bar = progress.bar(2 * models.len() as u64, "study");
    let mut outcomes = Vec::with_capacity(models.len());
    // Loaded once, at the first fit: the responses (on the GPU with --device cuda) serve every
    // model.
    let mut encoding: Option<Encoding<'_>> = None;
    for model in models {
        let name = model.key_name();
        let features_dir = out.join("features").join(&name);
        let results_dir = out.join("results").join(&name);
        let features_key = json!({
            "model": model.key(),
            "dataset": dataset.name(),
            "dataset_root": dataset.root(),
            "dataset_words": words_print,
        });
        bar.set_message(format!("extract {name}"));
        let reuse_features = features_dir.join("meta.json").is_file() && key_matches(&features_dir, &features_key);
        if !reuse_features {
            let mut extractor: Box<dyn FeatureExtractor> = match model {
                StudyModel::Simulated { n_params, n_layers, dim } => {
                    Box::new(OracleLadder::new(dataset, *n_params, *n_layers, *dim, 0)?)
                }
                StudyModel::Plugin { spec, options } => Box::new(open_model(spec, options, plugins)?),
            };
            extract_features(extractor.as_mut(), dataset, &features_dir, Progress::Quiet)?;
            write_key(&features_dir, &features_key)?;
        }
        bar.inc(1);
        bar.set_message(format!("fit {name}"));
        let fit_key = json!({"features": features_key, "fit": format!("{fit:?}"), "dataset_data": data_print});
        let reuse_fit = reuse_features && results_dir.join("fit.json").is_file() && key_matches(&results_dir, &fit_key);
        if !reuse_fit {
            let features = Features::open(&features_dir)?;
            if encoding.is_none() {
                encoding = Some(Encoding::new(dataset, fit.clone(), Progress::Quiet)?);
            }
            if let Some(encoding) = &encoding {
                encoding.fit_features(&features, Some(&results_dir), Progress::Quiet)?;
            }
            write_key(&results_dir, &fit_key)?;
        }
        bar.inc(1);
        outcomes.push(ModelOutcome { name, results: results_dir, reused: (reuse_features, reuse_fit) });
    }
    bar.finish_and_clear();
    Ok(outcomes)
}
