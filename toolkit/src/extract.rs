//! Feature extraction: a [`FeatureExtractor`] (a plugin, or any Rust type) applied to every
//! run of a dataset, written as a features folder (SPEC section 2).
//!
//! [`extract_features`] streams: for each run, for each layer, one call to
//! [`FeatureExtractor::extract`], whose matrix is written in place in the layer's file at once
//! (the files' headers are written first, from the runs' word counts), so at most one run's
//! features are in memory (a plugin may compute all layers of a run in one pass). `meta.json` is written last, so a folder
//! with a `meta.json` is complete.
//!
//! ```no_run
//! use brainscale::data::Dataset;
//! use brainscale::extract::{extract_features, open_model};
//! use brainscale::plugins::{discover, search_dirs};
//! use brainscale::progress::Progress;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let plugins = discover(&search_dirs(&[]));
//! let options = serde_json::json!({"dim": 1024, "seed": 3});
//! let mut extractor = open_model("random-embeddings", &options, &plugins)?;
//! let ds = Dataset::open("demo".as_ref())?;
//! extract_features(&mut extractor, &ds, "features/random-embeddings".as_ref(), Progress::Quiet)?;
//! # Ok(()) }
//! ```

use std::path::Path;

use brainscale_data::{ContextMeta, Dataset, Features, FeaturesMeta, FeaturesWriter};
use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::hub::{HubModel, HubOptions, resolve_model};
use crate::plugins::{Discovery, LoadedPlugin};
use crate::progress::Progress;

/// One run as an extractor sees it.
#[derive(Clone, Copy, Debug)]
pub struct RunText<'a> {
    /// The run's text (`text/run-XX.txt`, or its words joined by spaces).
    pub text: &'a str,
    /// Its words, in order; the output has one row per word.
    pub words: &'a [String],
}

/// A model's description (the JSON of a plugin's `describe`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Model name (e.g. `gpt2`, `glove.6B.300d`, `random-embeddings-300d-seed0`).
    pub model: String,
    /// Model family (e.g. `gpt2`, `glove`).
    pub family: String,
    /// Number of layers (hidden-state count including the embedding layer; 1 for baselines).
    pub n_layers: usize,
    /// Dimension of each layer.
    pub dims: Vec<usize>,
    /// Number of parameters (null for baselines).
    #[serde(default)]
    pub n_params: Option<u64>,
    /// Context windows (null fields for baselines).
    #[serde(default)]
    pub context: ContextMeta,
    /// The tokenizer, if any.
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// Data type the model runs in.
    #[serde(default)]
    pub dtype: Option<String>,
    /// Device it runs on.
    #[serde(default)]
    pub device: Option<String>,
    /// Things to tell the user (shown as warnings after extraction, kept in `meta.json`).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Any other key.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ModelInfo {
    /// A description with one entry of `dims` per layer and every optional field empty.
    pub fn new(model: impl Into<String>, family: impl Into<String>, dims: Vec<usize>) -> Self {
        ModelInfo {
            model: model.into(),
            family: family.into(),
            n_layers: dims.len(),
            dims,
            n_params: None,
            context: ContextMeta::default(),
            tokenizer: None,
            dtype: None,
            device: None,
            warnings: Vec::new(),
            extra: serde_json::Map::new(),
        }
    }

    /// Checks that the layers and dimensions are consistent (the reason when not).
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.n_layers == 0 || self.dims.len() != self.n_layers {
            return Err(format!(
                "n_layers = {} with {} dims: expected n_layers >= 1 dims",
                self.n_layers,
                self.dims.len()
            ));
        }
        match self.dims.iter().position(|&d| d == 0) {
            Some(k) => Err(format!("dims[{k}] is 0")),
            None => Ok(()),
        }
    }
}

/// Where features came from, for `meta.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct Provenance {
    /// Plugin name.
    pub plugin: String,
    /// Plugin version.
    pub plugin_version: String,
    /// The model spec given (`--model`).
    pub model_spec: String,
    /// The options given (`--option`), a JSON object.
    pub options: serde_json::Value,
    /// The hub repository, revision and commit, for a model fetched from the hub.
    pub hub: Option<HubModel>,
}

/// Turns a run's words into one vector per word, layer by layer. Implemented by plugins
/// ([`LoadedPlugin`]) and by any Rust type (a notebook cell, a test):
///
/// ```
/// use brainscale::extract::{FeatureExtractor, ModelInfo, RunText};
/// use faer::Mat;
///
/// /// Word length, one dimension.
/// struct WordLength;
/// impl FeatureExtractor for WordLength {
///     fn describe(&self) -> brainscale::Result<ModelInfo> {
///         Ok(ModelInfo::new("word-length", "word-length", vec![1]))
///     }
///     fn extract(&mut self, run: &RunText<'_>, _layer: usize) -> brainscale::Result<Mat<f32>> {
///         Ok(Mat::from_fn(run.words.len(), 1, |i, _| run.words[i].len() as f32))
///     }
/// }
/// let words = ["a".to_string(), "cat".to_string()];
/// let m = WordLength.extract(&RunText { text: "a cat", words: &words }, 0)?;
/// assert_eq!(m[(1, 0)], 3.0);
/// # Ok::<(), brainscale::Error>(())
/// ```
pub trait FeatureExtractor {
    /// The model's layers and dimensions (asked before extraction, and after it for warnings).
    fn describe(&self) -> Result<ModelInfo>;

    /// The features of one run at `layer`: `[n_words, dims[layer]]`.
    fn extract(&mut self, run: &RunText<'_>, layer: usize) -> Result<Mat<f32>>;

    /// The plugin and options behind it, if any (`None` for in-process extractors).
    fn provenance(&self) -> Option<Provenance> {
        None
    }
}

/// The model family of a `--model` argument: `config.json`'s `model_type` for a model folder,
/// else the part of the spec before `:` (`glove:/data/glove.6B.300d.txt` -> `glove`).
pub fn model_family(spec: &str) -> Result<String> {
    let path = Path::new(spec);
    if path.is_dir() {
        let config = path.join("config.json");
        let text = std::fs::read_to_string(&config).map_err(|e| Error::io("read", &config, e))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("{}: not valid JSON: {e}", config.display())))?;
        return json["model_type"].as_str().map(str::to_owned).ok_or_else(|| {
            Error::Invalid(format!("{}: no string `model_type`: cannot choose a plugin", config.display()))
        });
    }
    Ok(spec.split_once(':').map_or(spec, |(family, _)| family).to_owned())
}

/// Creates the extractor for `spec` (a model folder, a hub id `owner/name[@revision]` or a
/// baseline spec) with the first plugin that serves its family. Hub models are fetched into
/// the Hugging Face cache as [`crate::hub`] says (settings from the environment).
pub fn open_model(spec: &str, options: &serde_json::Value, plugins: &Discovery) -> Result<LoadedPlugin> {
    open_model_with(spec, options, plugins, &HubOptions::from_env())
}

/// As [`open_model`], with explicit hub settings.
pub fn open_model_with(
    spec: &str,
    options: &serde_json::Value,
    plugins: &Discovery,
    hub: &HubOptions,
) -> Result<LoadedPlugin> {
    let (local, hub_model) = resolve_model(spec, hub)?;
    let family = model_family(&local)?;
    match plugins.find(&family) {
        Some(plugin) => {
            let mut extractor = plugin.create(&local, options)?;
            extractor.set_hub(hub_model);
            Ok(extractor)
        }
        None => Err(Error::NoPlugin {
            family,
            available: plugins.families().join(", "),
            searched: plugins.searched.clone(),
            n_failures: plugins.failures.len(),
        }),
    }
}

/// Extracts the features of every run of `dataset` at every layer and writes them to `out`
/// (SPEC section 2; other files there are left alone). Shapes and values are checked: a
/// matrix of the wrong shape or a non-finite value is an error naming the run and the layer.
pub fn extract_features(
    extractor: &mut dyn FeatureExtractor,
    dataset: &Dataset,
    out: &Path,
    progress: Progress,
) -> Result<Features> {
    let info = extractor.describe()?;
    info.check().map_err(|reason| Error::Invalid(format!("model {}: {reason}", info.model)))?;
    let runs: Vec<(String, &[String])> = (0..dataset.n_runs())
        .map(|r| Ok((dataset.text(r)?, &dataset.runs()[r].words.word[..])))
        .collect::<Result<_>>()?;

    let mut meta = FeaturesMeta::new(&info.model, &info.family, info.dims.clone());
    meta.n_params = info.n_params;
    meta.dataset = Some(dataset.name().to_owned());
    meta.context = info.context.clone();
    meta.dtype = Some(info.dtype.clone().unwrap_or_else(|| "f32".into()));
    meta.device = Some(info.device.clone().unwrap_or_else(|| "cpu".into()));
    if let Some(p) = extractor.provenance() {
        if let Some(hub) = p.hub {
            meta.model = hub.repo;
            meta.extra.insert("revision".into(), hub.revision.into());
            meta.extra.insert("commit".into(), hub.commit.into());
        }
        meta.plugin = Some(p.plugin);
        meta.plugin_version = Some(p.plugin_version);
        meta.extra.insert("model_spec".into(), p.model_spec.into());
        meta.extra.insert("options".into(), p.options);
    }
    let n_words: Vec<usize> = runs.iter().map(|(_, words)| words.len()).collect();
    let mut writer = FeaturesWriter::create(out, meta)?.stream(&n_words)?;

    // Run by run, and every layer of a run before the next run: a transformer plugin runs its
    // model once per run and hands the layers out one by one; each is written in place at once.
    let bar = progress.bar((info.n_layers * runs.len()) as u64, format!("extract {}", info.model));
    for (r, (text, words)) in runs.iter().enumerate() {
        let run_label = &dataset.runs()[r].label;
        for (layer, &dim) in info.dims.iter().enumerate() {
            let at = |reason: String| Error::Extraction { run: run_label.clone(), layer, reason };
            let m = extractor.extract(&RunText { text, words }, layer).map_err(|e| at(e.to_string()))?;
            if (m.nrows(), m.ncols()) != (words.len(), dim) {
                return Err(at(format!(
                    "got a {} x {} matrix, expected {} words x {dim} (dims[{layer}])",
                    m.nrows(),
                    m.ncols(),
                    words.len()
                )));
            }
            if let Some((i, j)) =
                (0..m.ncols()).flat_map(|j| (0..m.nrows()).map(move |i| (i, j))).find(|&(i, j)| !m[(i, j)].is_finite())
            {
                return Err(at(format!("word {} ({:?}), feature {j} is {}", i + 1, words[i], m[(i, j)])));
            }
            writer.write_run(layer, r, m.as_ref())?;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    let after = extractor.describe()?;
    for w in &after.warnings {
        log::warn!("{}: {w}", info.model);
    }
    if !after.warnings.is_empty() {
        writer.insert_extra("warnings", after.warnings.into());
    }
    Ok(writer.finish()?)
}

/// Parses `--option KEY=VALUE`: the value as JSON when it parses (`3`, `true`, `"x"`,
/// `[1,2]`), else as a plain string.
pub fn parse_option(arg: &str) -> std::result::Result<(String, serde_json::Value), String> {
    let (key, value) = arg.split_once('=').ok_or_else(|| format!("{arg:?}: expected KEY=VALUE, e.g. dim=1024"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("{arg:?}: the key before '=' is empty"));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
    Ok((key.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainscale_data::synth::{SynthParams, write_dataset};

    struct Echo {
        dims: Vec<usize>,
        poison: bool,
    }

    impl FeatureExtractor for Echo {
        fn describe(&self) -> Result<ModelInfo> {
            Ok(ModelInfo::new("echo", "echo", self.dims.clone()))
        }
        fn extract(&mut self, run: &RunText<'_>, layer: usize) -> Result<Mat<f32>> {
            let poison = self.poison;
            Ok(Mat::from_fn(run.words.len(), self.dims[layer], |i, j| {
                if poison && i == 1 { f32::NAN } else { (i * 10 + j + layer * 100) as f32 }
            }))
        }
    }

    #[test]
    fn a_rust_extractor_writes_a_features_folder() {
        let dir = tempfile::tempdir().unwrap();
        let ds_dir = dir.path().join("ds");
        write_dataset(&ds_dir, &SynthParams { n_runs: 3, n_scans: 30, ..SynthParams::small(1) }).unwrap();
        let ds = Dataset::open(&ds_dir).unwrap();
        let out = dir.path().join("features");
        let f = extract_features(&mut Echo { dims: vec![2, 3], poison: false }, &ds, &out, Progress::Quiet).unwrap();
        assert_eq!((f.meta().n_layers, f.meta().plugin.as_deref()), (2, None));
        assert_eq!(f.meta().dataset.as_deref(), Some(ds.name()));
        let n_words: Vec<usize> = ds.runs().iter().map(|r| r.words.len()).collect();
        let layer1 = f.read_layer_checked(1, &n_words).unwrap();
        assert_eq!(layer1[0][(1, 2)], 112.0);

        let bad = dir.path().join("bad");
        let e = extract_features(&mut Echo { dims: vec![2], poison: true }, &ds, &bad, Progress::Quiet).unwrap_err();
        assert!(e.to_string().contains("run-01, layer 0: word 2"), "{e}");
        assert!(!bad.join("meta.json").exists());
    }

    #[test]
    fn options_and_families_parse() {
        assert_eq!(parse_option("dim=3").unwrap(), ("dim".into(), serde_json::json!(3)));
        assert_eq!(parse_option("seed=abc").unwrap(), ("seed".into(), serde_json::json!("abc")));
        assert!(parse_option("dim").is_err());
        assert_eq!(model_family("glove:/a:b.txt").unwrap(), "glove");
        assert_eq!(model_family("random-vectors").unwrap(), "random-vectors");
    }
}
