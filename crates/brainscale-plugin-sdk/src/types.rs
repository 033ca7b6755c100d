//! What goes in and out of a [`crate::FeatureExtractor`]: the run's text, the feature matrix
//! and the model description.

use serde::{Deserialize, Serialize};

use crate::PluginError;

/// One run as the host sends it: its text and its words, in order. The output of
/// [`crate::FeatureExtractor::extract`] has one row per word.
#[derive(Clone, Copy, Debug)]
pub struct RunText<'a> {
    /// The full text heard in the run (`text/run-XX.txt`, or the words joined by spaces).
    pub text: &'a str,
    /// The run's words (`words/run-XX.tsv`), in order.
    pub words: &'a [String],
}

/// A row-major F32 matrix: one row per word, one column per feature.
///
/// ```
/// use brainscale_plugin_sdk::Matrix;
/// let mut m = Matrix::zeros(2, 3);
/// m.row_mut(1).copy_from_slice(&[1.0, 2.0, 3.0]);
/// assert_eq!(m.row(1)[2], 3.0);
/// assert_eq!((m.n_rows(), m.n_cols()), (2, 3));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    n_rows: usize,
    n_cols: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// A matrix of zeros.
    pub fn zeros(n_rows: usize, n_cols: usize) -> Self {
        Matrix { n_rows, n_cols, data: vec![0.0; n_rows * n_cols] }
    }

    /// A matrix from its values, row after row; `data.len()` must be `n_rows * n_cols`.
    pub fn from_row_major(n_rows: usize, n_cols: usize, data: Vec<f32>) -> Result<Self, PluginError> {
        if n_rows.checked_mul(n_cols) != Some(data.len()) {
            return Err(PluginError::Internal(format!(
                "a {n_rows} x {n_cols} matrix needs {} values, got {}",
                n_rows.saturating_mul(n_cols),
                data.len()
            )));
        }
        Ok(Matrix { n_rows, n_cols, data })
    }

    /// Number of rows (words).
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of columns (features).
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.n_cols..(i + 1) * self.n_cols]
    }

    /// Row `i`, mutable.
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.n_cols..(i + 1) * self.n_cols]
    }

    /// All values, row after row.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// The values, row after row.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }
}

/// How a model sees the text: its window and step in tokens (`None` where not applicable,
/// e.g. baselines, or unbounded, e.g. state-space models).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextInfo {
    /// Window length in tokens.
    pub max_tokens: Option<u64>,
    /// Window step in tokens.
    pub step: Option<u64>,
}

/// What [`crate::FeatureExtractor::describe`] returns; sent to the host as JSON and written
/// into the features folder's `meta.json`.
///
/// ```
/// use brainscale_plugin_sdk::ModelInfo;
/// let info = ModelInfo::new("random-embeddings-300", "random-embeddings", vec![300]);
/// assert_eq!(info.n_layers, 1);
/// assert_eq!((info.dtype.as_str(), info.device.as_str()), ("f32", "cpu"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The model's name (e.g. `gpt2`, `glove.6B.300d`, `random-embeddings-300`).
    pub model: String,
    /// Its family, one of the plugin's families.
    pub family: String,
    /// Number of layers (hidden-state count including the embedding layer; 1 for baselines).
    pub n_layers: usize,
    /// Dimension of each layer.
    pub dims: Vec<usize>,
    /// Number of parameters (`None` where it does not apply, e.g. baselines).
    pub n_params: Option<u64>,
    /// Context windows.
    pub context: ContextInfo,
    /// The tokenizer (e.g. the path of `tokenizer.json`), if any.
    pub tokenizer: Option<String>,
    /// The data type the model runs in (`f32`, `bf16`, `f16`).
    pub dtype: String,
    /// The device it runs on (`cpu`, `cuda`).
    pub device: String,
    /// Things the user should know (e.g. words missing from a vocabulary). The host asks
    /// again after extraction and shows them.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl ModelInfo {
    /// A description with one entry of `dims` per layer; no parameter count, no context, no
    /// tokenizer, `f32` on the `cpu`, no warnings.
    pub fn new(model: impl Into<String>, family: impl Into<String>, dims: Vec<usize>) -> Self {
        ModelInfo {
            model: model.into(),
            family: family.into(),
            n_layers: dims.len(),
            dims,
            n_params: None,
            context: ContextInfo::default(),
            tokenizer: None,
            dtype: "f32".into(),
            device: "cpu".into(),
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_row_major_checks_the_length() {
        assert!(Matrix::from_row_major(2, 2, vec![0.0; 3]).is_err());
        let m = Matrix::from_row_major(2, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m.row(1), [3.0, 4.0]);
    }

    #[test]
    fn model_info_round_trips_through_json() {
        let info = ModelInfo::new("m", "f", vec![3, 4]);
        let json = serde_json::to_string(&info).unwrap();
        assert!(json.contains(r#""context":{"max_tokens":null,"step":null}"#), "{json}");
        assert_eq!(serde_json::from_str::<ModelInfo>(&json).unwrap(), info);
    }
}
