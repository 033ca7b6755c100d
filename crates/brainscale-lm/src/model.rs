//! The contract between the shared extraction code and a model family.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::LmError;

/// A loaded causal language model that exposes every hidden state, as Hugging Face's
/// `model(input_ids, output_hidden_states=True).hidden_states` does.
pub trait CausalLm: Send {
    /// Number of hidden states: HF's `len(hidden_states)` (embedding output included).
    fn n_layers(&self) -> usize;

    /// The dimension of each hidden state (`n_layers` entries; they may differ, e.g. OPT-350m's
    /// last one after `project_out`).
    fn dims(&self) -> Vec<usize>;

    /// `max_position_embeddings` (C of SPEC 3), `None` when unbounded (state-space models).
    fn max_positions(&self) -> Option<usize>;

    /// Number of parameters (as `sum(p.numel() for p in model.parameters())` of the HF base
    /// model, tied weights counted once).
    fn n_params(&self) -> u64;

    /// The hidden states of one window: `input_ids` include the special tokens; returns
    /// `n_layers` tensors `[n_tokens, dims[k]]` (on the model's device, in its dtype).
    fn forward(&self, input_ids: &[u32]) -> Result<Vec<Tensor>, LmError>;

    /// Like [`CausalLm::forward`] but returns only the rows `keep_from..n_tokens` of each hidden
    /// state (`[n_tokens - keep_from, dims[k]]`). The whole window is still the context; a model
    /// may skip the work that only the dropped rows need (the last layer's outputs for them),
    /// which saves about `1 / n_layers` of a SPEC 3 window whose first tokens were already taken
    /// from an earlier window. The default runs `forward` and slices.
    fn forward_from(&self, input_ids: &[u32], keep_from: usize) -> Result<Vec<Tensor>, LmError> {
        let n = input_ids.len();
        if keep_from > n {
            return Err(LmError::Invalid(format!("keep_from {keep_from} is past the window's {n} tokens")));
        }
        let states = self.forward(input_ids)?;
        Ok(states.into_iter().map(|s| s.narrow(0, keep_from, n - keep_from)).collect::<Result<_, _>>()?)
    }
}

/// How a model is being built: from weights on disk, or re-initialised (`--untrained SEED`).
#[derive(Clone, Debug)]
pub struct LoadContext {
    /// The model folder (with `config.json`).
    pub dir: std::path::PathBuf,
    /// `config.json`, parsed.
    pub config: serde_json::Value,
    /// The dtype the model runs in.
    pub dtype: DType,
    /// The device it runs on.
    pub device: Device,
    /// `Some(seed)`: weights re-initialised the way HF initialises the architecture.
    pub untrained: Option<u64>,
}

impl LoadContext {
    /// An error about `config.json` (e.g. a field out of range).
    pub fn malformed(&self, reason: impl Into<String>) -> LmError {
        LmError::Malformed { path: self.dir.join("config.json"), reason: reason.into() }
    }

    /// `config.json` as a family's typed config (HF defaults for absent fields, via serde).
    pub fn config<T: serde::de::DeserializeOwned>(&self) -> Result<T, LmError> {
        serde_json::from_value(self.config.clone()).map_err(|e| self.malformed(e.to_string()))
    }
}

/// A model family: maps a `config.json` and its weight names onto the shared blocks.
/// A plugin implements this for a unit struct and exports `LmExtractor<ThatFamily>`.
pub trait Family: Send + 'static {
    /// Builds the model. `vb` reads the checkpoint's tensors (the causal-LM prefix, e.g.
    /// `transformer.`, already resolved) or, when `ctx.untrained` is set, creates them from the
    /// init hints given to `get_with_hints` (HF's `_init_weights` for that architecture).
    fn load(ctx: &LoadContext, vb: VarBuilder<'_>) -> Result<Box<dyn CausalLm>, LmError>;

    /// The weight-name prefixes a checkpoint of this family may carry (SPEC 3.4), e.g.
    /// `["transformer."]`; names are tried with and without them.
    fn prefixes() -> &'static [&'static str];
}
