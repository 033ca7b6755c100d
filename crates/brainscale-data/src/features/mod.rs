//! Features folders (SPEC section 2): per-word vectors of every layer of a model.
//!
//! ```text
//! FEATURES/
//!   meta.json               model, family, plugin, plugin_version, n_params, n_layers, dims,
//!                           dataset, context {max_tokens, step}, dtype, device (+ any other key)
//!   layer-00.safetensors    tensors "run-01", "run-02", ... : F32 [n_words_in_run, dim]
//!   layer-01.safetensors    ...
//! ```
//!
//! [`FeaturesWriter`] writes one layer file at a time, each atomically, and `meta.json` last,
//! so a folder with a `meta.json` is complete. Layers are read one run tensor at a time, so
//! reading never holds more than the returned matrices plus one run's bytes.

mod stream;
mod tensors;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};

use faer::Mat;
use serde::{Deserialize, Deserializer, Serialize};

pub use stream::StreamingWriter;
pub use tensors::write_tensors;
pub use writer::FeaturesWriter;

use crate::dataset::run_label;
use crate::error::{DataError, Result};
use tensors::LayerFile;

/// The file name of layer `k`: `layer-00.safetensors`, `layer-01.safetensors`, ...
pub fn layer_file_name(k: usize) -> String {
    format!("layer-{k:02}.safetensors")
}

/// How the model saw the text (null for baselines).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextMeta {
    /// Window length in tokens (None: unbounded or not applicable).
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// Window step in tokens.
    #[serde(default)]
    pub step: Option<u64>,
}

/// The contents of `meta.json`. Unknown keys (e.g. `hrf`, `revision`) are kept in `extra`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeaturesMeta {
    /// Model name or Hugging Face id (e.g. `gpt2`), or the baseline's name.
    pub model: String,
    /// Model family (e.g. `gpt2`, `opt`, `random-embeddings`).
    pub family: String,
    /// Plugin that extracted the features (null for built-in baselines).
    #[serde(default)]
    pub plugin: Option<String>,
    /// Version of that plugin.
    #[serde(default)]
    pub plugin_version: Option<String>,
    /// Number of model parameters (null when not applicable).
    #[serde(default)]
    pub n_params: Option<u64>,
    /// Number of layers (hidden-state count including the embedding layer).
    pub n_layers: usize,
    /// Dimension of each layer.
    pub dims: Vec<usize>,
    /// Name of the dataset whose words were embedded.
    #[serde(default)]
    pub dataset: Option<String>,
    /// Context windows (fields null for baselines).
    #[serde(default, deserialize_with = "null_as_default")]
    pub context: ContextMeta,
    /// Data type the model ran in (`f32`, `bf16`, `f16`).
    #[serde(default)]
    pub dtype: Option<String>,
    /// Device it ran on (`cpu`, `cuda`).
    #[serde(default)]
    pub device: Option<String>,
    /// Any other key, kept verbatim.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn null_as_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> std::result::Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl FeaturesMeta {
    /// Metadata with the required fields; every optional field null.
    pub fn new(model: impl Into<String>, family: impl Into<String>, dims: Vec<usize>) -> Self {
        Self {
            model: model.into(),
            family: family.into(),
            plugin: None,
            plugin_version: None,
            n_params: None,
            n_layers: dims.len(),
            dims,
            dataset: None,
            context: ContextMeta::default(),
            dtype: None,
            device: None,
            extra: serde_json::Map::new(),
        }
    }

    fn check(&self, path: &Path) -> Result<()> {
        let bad = |reason: String| Err(DataError::Features { path: path.to_path_buf(), reason });
        if self.n_layers == 0 {
            return bad("n_layers is 0: a features folder holds at least layer-00".into());
        }
        if self.dims.len() != self.n_layers {
            return bad(format!(
                "`dims` lists {} dimensions but n_layers is {}: give one per layer",
                self.dims.len(),
                self.n_layers
            ));
        }
        if let Some(k) = self.dims.iter().position(|&d| d == 0) {
            return bad(format!("dims[{k}] is 0"));
        }
        Ok(())
    }
}

/// An opened, validated features folder.
///
/// ```
/// use brainscale_data::{Features, FeaturesMeta, FeaturesWriter};
/// use faer::Mat;
/// # let dir = tempfile::tempdir()?;
/// let mut writer = FeaturesWriter::create(dir.path(), FeaturesMeta::new("random-300", "random", vec![3]))?;
/// let runs = vec![Mat::<f32>::zeros(5, 3), Mat::<f32>::ones(2, 3)]; // one (n_words x dim) per run
/// writer.write_layer(0, &runs)?;
/// let features: Features = writer.finish()?; // meta.json is written last
/// assert_eq!(features.read_layer_checked(0, &[5, 2])?, runs);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Features {
    dir: PathBuf,
    meta: FeaturesMeta,
}

impl Features {
    /// Opens `dir`: parses `meta.json` and checks that every `layer-XX.safetensors` exists.
    pub fn open(dir: &Path) -> Result<Features> {
        let meta_path = dir.join("meta.json");
        let text = std::fs::read_to_string(&meta_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DataError::missing(
                &meta_path,
                "features description",
                "a features folder holds meta.json and layer-XX.safetensors (SPEC section 2); an \
                 extraction that did not finish leaves no meta.json: run it again",
            ),
            _ => DataError::read(&meta_path, e),
        })?;
        let meta: FeaturesMeta = serde_json::from_str(&text).map_err(|e| DataError::Json {
            path: meta_path.clone(),
            line: Some(e.line()).filter(|&l| l > 0),
            message: e.to_string(),
        })?;
        meta.check(&meta_path)?;
        let features = Features { dir: dir.to_path_buf(), meta };
        for k in 0..features.meta.n_layers {
            let path = features.layer_path(k);
            if !path.is_file() {
                return Err(DataError::missing(
                    &path,
                    format!("layer {k} of {}", features.meta.model),
                    "meta.json lists it",
                ));
            }
        }
        Ok(features)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The metadata.
    pub fn meta(&self) -> &FeaturesMeta {
        &self.meta
    }

    /// Number of layers.
    pub fn n_layers(&self) -> usize {
        self.meta.n_layers
    }

    /// Path of layer `k`'s file.
    pub fn layer_path(&self, k: usize) -> PathBuf {
        self.dir.join(layer_file_name(k))
    }

    /// Reads layer `k`: one (n_words x dim) matrix per run, from tensors `run-01`, `run-02`, ...
    /// (numbered without gaps).
    pub fn read_layer(&self, k: usize) -> Result<Vec<Mat<f32>>> {
        self.read_layer_inner(k, None)
    }

    /// Reads layer `k` and checks it against a dataset: one tensor per run, with `n_words[r]`
    /// rows for run r (0-based).
    pub fn read_layer_checked(&self, k: usize, n_words: &[usize]) -> Result<Vec<Mat<f32>>> {
        self.read_layer_inner(k, Some(n_words))
    }

    fn read_layer_inner(&self, k: usize, n_words: Option<&[usize]>) -> Result<Vec<Mat<f32>>> {
        if k >= self.meta.n_layers {
            return Err(DataError::Features {
                path: self.dir.clone(),
                reason: format!(
                    "layer {k} asked for, but the model has {} layers (0..{})",
                    self.meta.n_layers, self.meta.n_layers
                ),
            });
        }
        let path = self.layer_path(k);
        let mut file = LayerFile::open(&path)?;
        let mut numbers: Vec<usize> = Vec::new();
        for name in file.metadata.tensors().keys() {
            match name.strip_prefix("run-").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => numbers.push(n),
                None => log::warn!("{}: ignoring tensor {name:?} (not run-XX)", path.display()),
            }
        }
        numbers.sort_unstable();
        let expected = n_words.map(<[usize]>::len).unwrap_or(numbers.len());
        for r in 1..=expected.max(1) {
            if !numbers.contains(&r) {
                return Err(DataError::Tensor {
                    path: path.clone(),
                    tensor: run_label(r),
                    reason: format!("missing: expected one tensor per run, run-01 to {}", run_label(expected.max(1))),
                });
            }
        }
        if numbers.len() != expected {
            return Err(DataError::Tensor {
                path: path.clone(),
                tensor: run_label(expected + 1),
                reason: format!(
                    "unexpected: the dataset has {expected} runs, the file holds {} run tensors",
                    numbers.len()
                ),
            });
        }
        (0..expected).map(|r| file.read(&run_label(r + 1), self.meta.dims[k], n_words.map(|n| n[r]))).collect()
    }
}
