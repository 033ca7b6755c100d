//! # brainscale-gpt-neox: GPT-NeoX / Pythia for brainscale
//!
//! Maps Hugging Face's GPT-NeoX ([`modeling_gpt_neox.py`]) onto
//! [`brainscale_lm::nn::Decoder`]: partial rotary embeddings (`rotary_pct`, default 0.25),
//! a fused `query_key_value` projection laid out head after head (`[q_h | k_h | v_h]`),
//! LayerNorms, exact GELU, parallel residual by default (`use_parallel_residual`). Weights
//! load with or without the `gpt_neox.` prefix of `GPTNeoXForCausalLM`.
//!
//! [`modeling_gpt_neox.py`]: https://github.com/huggingface/transformers/blob/main/src/transformers/models/gpt_neox/modeling_gpt_neox.py

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use brainscale_lm::nn::{
    Activation, AttentionSpec, Decoder, DecoderConfig, MlpKind, MlpSpec, NormKind, Positions, QkvWeights, Residual,
    RotarySpec, WeightLayout,
};
use brainscale_lm::{CausalLm, Family, LmError, LoadContext};
use candle_nn::VarBuilder;
use serde::Deserialize;

/// The fields of GPT-NeoX's `config.json` this plugin reads (defaults as `GPTNeoXConfig`; the
/// rotary parameters are read by [`RotarySpec::from_hf_config`]).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct GptNeoxConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model dimension.
    pub hidden_size: usize,
    /// Layers.
    pub num_hidden_layers: usize,
    /// Heads.
    pub num_attention_heads: usize,
    /// MLP inner dimension.
    pub intermediate_size: usize,
    /// MLP activation.
    pub hidden_act: String,
    /// Context length.
    pub max_position_embeddings: usize,
    /// Init std.
    pub initializer_range: f64,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// `x + attn(ln1(x)) + mlp(ln2(x))` instead of the sequential form.
    pub use_parallel_residual: bool,
    /// Biases on the attention projections.
    pub attention_bias: bool,
}

impl Default for GptNeoxConfig {
    fn default() -> Self {
        Self {
            vocab_size: 50432,
            hidden_size: 6144,
            num_hidden_layers: 44,
            num_attention_heads: 64,
            intermediate_size: 24576,
            hidden_act: "gelu".into(),
            max_position_embeddings: 2048,
            initializer_range: 0.02,
            layer_norm_eps: 1e-5,
            use_parallel_residual: true,
            attention_bias: true,
        }
    }
}

impl GptNeoxConfig {
    /// The decoder this config describes (names relative to `gpt_neox.`); `config` is the whole
    /// `config.json` (for the rotary parameters).
    pub fn decoder(&self, config: &serde_json::Value) -> Result<DecoderConfig, String> {
        let n_heads = self.num_attention_heads;
        if n_heads == 0 || self.hidden_size % n_heads != 0 {
            return Err(format!("hidden_size {} is not a multiple of num_attention_heads {n_heads}", self.hidden_size));
        }
        let head_dim = self.hidden_size / n_heads;
        let act = Activation::from_hf(&self.hidden_act)
            .ok_or_else(|| format!("unsupported hidden_act {:?}", self.hidden_act))?;
        let std = self.initializer_range;
        Ok(DecoderConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            n_layers: self.num_hidden_layers,
            max_positions: self.max_position_embeddings,
            embed_tokens: "embed_in",
            embed_dim: self.hidden_size,
            embed_scale: None,
            projections: None,
            positions: Positions::Rotary(RotarySpec::from_hf_config(config, head_dim, 0.25)?),
            layers: "layers",
            residual: if self.use_parallel_residual {
                Residual::Parallel { shared_norm: false }
            } else {
                Residual::PreNorm
            },
            norm: NormKind::LayerNorm { bias: true },
            norm_eps: self.layer_norm_eps,
            attn_norm: "input_layernorm",
            mlp_norm: "post_attention_layernorm",
            attn_prefix: "attention",
            mlp_prefix: "mlp",
            attention: AttentionSpec {
                hidden_size: self.hidden_size,
                n_heads,
                n_kv_heads: n_heads,
                head_dim,
                qkv: QkvWeights::FusedPerHead("query_key_value"),
                qkv_bias: self.attention_bias,
                out: "dense",
                out_bias: self.attention_bias,
                layout: WeightLayout::Linear,
                init_std: std,
                out_init_std: std,
                qk_norm: None,
                scale: (head_dim as f64).powf(-0.5),
                sliding_window: None,
            },
            mlp: MlpSpec {
                kind: MlpKind::Plain { up: "dense_h_to_4h", down: "dense_4h_to_h" },
                act,
                hidden_size: self.hidden_size,
                intermediate_size: self.intermediate_size,
                bias: true,
                layout: WeightLayout::Linear,
                init_std: std,
                down_init_std: std,
            },
            final_norm: Some("final_layer_norm"),
            init_std: std,
        })
    }
}

/// The GPT-NeoX family.
pub struct GptNeox;

impl Family for GptNeox {
    fn load(ctx: &LoadContext, vb: VarBuilder<'_>) -> Result<Box<dyn CausalLm>, LmError> {
        let config: GptNeoxConfig = ctx.config()?;
        let decoder = config.decoder(&ctx.config).map_err(|reason| ctx.malformed(reason))?;
        Ok(Box::new(Decoder::load(&decoder, vb)?))
    }

    fn prefixes() -> &'static [&'static str] {
        &["gpt_neox."]
    }
}

brainscale_plugin_sdk::export_plugin!(
    brainscale_lm::LmExtractor<GptNeox>,
    "brainscale-gpt-neox",
    env!("CARGO_PKG_VERSION"),
    ["gpt_neox"]
);
