//! # brainscale-gpt2: GPT-2 for brainscale
//!
//! Maps Hugging Face's GPT-2 ([`modeling_gpt2.py`]) onto [`brainscale_lm::nn::Decoder`]:
//! learned absolute positions, pre-LayerNorm blocks, `Conv1D` (`[in, out]`) weights with a
//! fused `c_attn`, GELU (`gelu_new` by default), a final `ln_f`. Weights load with or without
//! the `transformer.` prefix of `GPT2LMHeadModel`.
//!
//! [`modeling_gpt2.py`]: https://github.com/huggingface/transformers/blob/main/src/transformers/models/gpt2/modeling_gpt2.py

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use brainscale_lm::nn::{
    Activation, AttentionSpec, Decoder, DecoderConfig, MlpKind, MlpSpec, NormKind, Positions, QkvWeights, Residual,
    WeightLayout,
};
use brainscale_lm::{CausalLm, Family, LmError, LoadContext};
use candle_nn::VarBuilder;
use serde::Deserialize;

/// The fields of GPT-2's `config.json` this plugin reads (defaults as `GPT2Config`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Gpt2Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Context length.
    pub n_positions: usize,
    /// Model dimension.
    pub n_embd: usize,
    /// Layers.
    pub n_layer: usize,
    /// Heads.
    pub n_head: usize,
    /// MLP inner dimension (`4 n_embd` when absent).
    pub n_inner: Option<usize>,
    /// MLP activation.
    pub activation_function: String,
    /// LayerNorm epsilon.
    pub layer_norm_epsilon: f64,
    /// Init std.
    pub initializer_range: f64,
    /// Scale scores by `1/sqrt(head_dim)`.
    pub scale_attn_weights: bool,
    /// Also scale by `1/(layer + 1)` (unsupported).
    pub scale_attn_by_inverse_layer_idx: bool,
}

impl Default for Gpt2Config {
    fn default() -> Self {
        Self {
            vocab_size: 50257,
            n_positions: 1024,
            n_embd: 768,
            n_layer: 12,
            n_head: 12,
            n_inner: None,
            activation_function: "gelu_new".into(),
            layer_norm_epsilon: 1e-5,
            initializer_range: 0.02,
            scale_attn_weights: true,
            scale_attn_by_inverse_layer_idx: false,
        }
    }
}

impl Gpt2Config {
    /// The decoder this config describes (names relative to `transformer.`).
    pub fn decoder(&self) -> Result<DecoderConfig, String> {
        if self.scale_attn_by_inverse_layer_idx {
            return Err("scale_attn_by_inverse_layer_idx = true is not supported".into());
        }
        if self.n_head == 0 || self.n_embd % self.n_head != 0 {
            return Err(format!("n_embd {} is not a multiple of n_head {}", self.n_embd, self.n_head));
        }
        let act = Activation::from_hf(&self.activation_function)
            .ok_or_else(|| format!("unsupported activation_function {:?}", self.activation_function))?;
        let head_dim = self.n_embd / self.n_head;
        let std = self.initializer_range;
        // GPT-2's scaled init of the residual projections: std / sqrt(2 n_layer)
        let residual_std = std / (2.0 * self.n_layer as f64).sqrt();
        Ok(DecoderConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.n_embd,
            n_layers: self.n_layer,
            max_positions: self.n_positions,
            embed_tokens: "wte",
            embed_dim: self.n_embd,
            embed_scale: None,
            projections: None,
            positions: Positions::Learned { name: "wpe", offset: 0 },
            layers: "h",
            residual: Residual::PreNorm,
            norm: NormKind::LayerNorm { bias: true },
            norm_eps: self.layer_norm_epsilon,
            attn_norm: "ln_1",
            mlp_norm: "ln_2",
            attn_prefix: "attn",
            mlp_prefix: "mlp",
            attention: AttentionSpec {
                hidden_size: self.n_embd,
                n_heads: self.n_head,
                n_kv_heads: self.n_head,
                head_dim,
                qkv: QkvWeights::Fused("c_attn"),
                qkv_bias: true,
                out: "c_proj",
                out_bias: true,
                layout: WeightLayout::Conv1d,
                init_std: std,
                out_init_std: residual_std,
                qk_norm: None,
                scale: if self.scale_attn_weights { (head_dim as f64).powf(-0.5) } else { 1.0 },
                sliding_window: None,
            },
            mlp: MlpSpec {
                kind: MlpKind::Plain { up: "c_fc", down: "c_proj" },
                act,
                hidden_size: self.n_embd,
                intermediate_size: self.n_inner.unwrap_or(4 * self.n_embd),
                bias: true,
                layout: WeightLayout::Conv1d,
                init_std: std,
                down_init_std: residual_std,
            },
            final_norm: Some("ln_f"),
            init_std: std,
        })
    }
}

/// The GPT-2 family.
pub struct Gpt2;

impl Family for Gpt2 {
    fn load(ctx: &LoadContext, vb: VarBuilder<'_>) -> Result<Box<dyn CausalLm>, LmError> {
        let config: Gpt2Config = ctx.config()?;
        let decoder = config.decoder().map_err(|reason| ctx.malformed(reason))?;
        Ok(Box::new(Decoder::load(&decoder, vb)?))
    }

    fn prefixes() -> &'static [&'static str] {
        &["transformer."]
    }
}

brainscale_plugin_sdk::export_plugin!(
    brainscale_lm::extractor::LmExtractor<Gpt2>,
    "brainscale-gpt2",
    env!("CARGO_PKG_VERSION"),
    ["gpt2"]
);
