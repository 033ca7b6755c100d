//! # brainscale-llama: Llama-like decoders for brainscale
//!
//! One plugin for the rotary, gated-MLP decoders that differ only in details, all mapped onto
//! [`brainscale_lm::nn::Decoder`]:
//!
//! | `model_type` | HF reference | differences from Llama |
//! | --- | --- | --- |
//! | `llama` | [`modeling_llama.py`] | (GQA via `num_key_value_heads`, optional `attention_bias`, `mlp_bias`) |
//! | `mistral` | [`modeling_mistral.py`] | sliding-window attention (`sliding_window`) |
//! | `qwen2` | [`modeling_qwen2.py`] | q/k/v biases |
//! | `gemma` | [`modeling_gemma.py`] | `(1 + w)` RMSNorm, GeGLU (tanh), embeddings times `sqrt(hidden_size)`, explicit `head_dim` |
//! | `stablelm` | [`modeling_stablelm.py`] | LayerNorm, partial rotary (`partial_rotary_factor`), `use_qkv_bias`, `qk_layernorm` per head, `use_parallel_residual` |
//!
//! Weights load with or without the `model.` prefix of `*ForCausalLM`.
//!
//! [`modeling_llama.py`]: https://github.com/huggingface/transformers/blob/main/src/transformers/models/llama/modeling_llama.py
//! [`modeling_mistral.py`]: https://github.com/huggingface/transformers/blob/main/src/transformers/models/mistral/modeling_mistral.py
//! [`modeling_qwen2.py`]: https://github.com/huggingface/transformers/blob/main/src/transformers/models/qwen2/modeling_qwen2.py
//! [`modeling_gemma.py`]: https://github.com/huggingface/transformers/blob/main/src/transformers/models/gemma/modeling_gemma.py
//! [`modeling_stablelm.py`]: https://github.com/huggingface/transformers/blob/main/src/transformers/models/stablelm/modeling_stablelm.py

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use brainscale_lm::nn::{
    Activation, AttentionSpec, Decoder, DecoderConfig, MlpKind, MlpSpec, NormKind, Positions, QkvWeights, Residual,
    RotarySpec, WeightLayout,
};
use brainscale_lm::{CausalLm, Family, LmError, LoadContext};
use candle_nn::VarBuilder;
use serde::Deserialize;

/// The `model_type`s this plugin reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// Llama.
    Llama,
    /// Mistral.
    Mistral,
    /// Qwen2.
    Qwen2,
    /// Gemma (v1).
    Gemma,
    /// StableLM (StableLM 2, StableLM 3B 4E1T).
    Stablelm,
}

/// The fields of a Llama-like `config.json` this plugin reads (the rotary parameters are read
/// by [`RotarySpec::from_hf_config`]); absent fields take the HF config class's default.
#[derive(Clone, Debug, Deserialize)]
pub struct LlamaLikeConfig {
    /// Which family.
    pub model_type: Variant,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model dimension.
    pub hidden_size: usize,
    /// MLP inner dimension.
    pub intermediate_size: usize,
    /// Layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (default: `num_attention_heads`).
    pub num_key_value_heads: Option<usize>,
    /// Features per head (default: `hidden_size / num_attention_heads`).
    pub head_dim: Option<usize>,
    /// MLP activation.
    pub hidden_act: Option<String>,
    /// Gemma's older name for the activation.
    pub hidden_activation: Option<String>,
    /// Context length.
    pub max_position_embeddings: Option<usize>,
    /// Init std.
    #[serde(default = "default_std")]
    pub initializer_range: f64,
    /// RMSNorm epsilon.
    #[serde(default = "default_rms_eps")]
    pub rms_norm_eps: f64,
    /// LayerNorm epsilon (StableLM).
    #[serde(default = "default_ln_eps")]
    pub layer_norm_eps: f64,
    /// Biases on q/k/v/o (Llama, Gemma).
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases on the MLP (Llama).
    #[serde(default)]
    pub mlp_bias: bool,
    /// Biases on q/k/v (StableLM).
    #[serde(default)]
    pub use_qkv_bias: bool,
    /// Per-head LayerNorm of q and k (StableLM).
    #[serde(default)]
    pub qk_layernorm: bool,
    /// Parallel attention and MLP (StableLM).
    #[serde(default)]
    pub use_parallel_residual: bool,
    /// Sliding attention window (Mistral; Qwen2 only with `use_sliding_window`).
    pub sliding_window: Option<usize>,
    /// Qwen2's switch for `sliding_window`.
    #[serde(default)]
    pub use_sliding_window: bool,
}

fn default_std() -> f64 {
    0.02
}
fn default_rms_eps() -> f64 {
    1e-6
}
fn default_ln_eps() -> f64 {
    1e-5
}

impl LlamaLikeConfig {
    /// The decoder this config describes (names relative to `model.`); `config` is the whole
    /// `config.json` (for the rotary parameters).
    pub fn decoder(&self, config: &serde_json::Value) -> Result<DecoderConfig, String> {
        let v = self.model_type;
        let n_heads = self.num_attention_heads;
        if n_heads == 0 {
            return Err("num_attention_heads must be positive".into());
        }
        let n_kv_heads = self.num_key_value_heads.unwrap_or(n_heads);
        if n_kv_heads == 0 || n_heads % n_kv_heads != 0 {
            return Err(format!("num_attention_heads {n_heads} is not a multiple of num_key_value_heads {n_kv_heads}"));
        }
        let head_dim = self.head_dim.unwrap_or(self.hidden_size / n_heads);
        let act_name = match v {
            Variant::Gemma => {
                self.hidden_activation.clone().or(self.hidden_act.clone()).unwrap_or("gelu_pytorch_tanh".into())
            }
            _ => self.hidden_act.clone().unwrap_or("silu".into()),
        };
        let act = match (v, act_name.as_str()) {
            // GemmaConfig turns the legacy "gelu" into the tanh approximation
            (Variant::Gemma, "gelu") => Activation::GeluTanh,
            (_, name) => Activation::from_hf(name).ok_or_else(|| format!("unsupported activation {name:?}"))?,
        };
        let default_factor = if v == Variant::Stablelm { 0.25 } else { 1.0 };
        let rotary = RotarySpec::from_hf_config(config, head_dim, default_factor)?;
        let (norm, norm_eps) = match v {
            Variant::Gemma => (NormKind::GemmaRmsNorm, self.rms_norm_eps),
            Variant::Stablelm => (NormKind::LayerNorm { bias: true }, self.layer_norm_eps),
            _ => (NormKind::RmsNorm, self.rms_norm_eps),
        };
        let (qkv_bias, out_bias) = match v {
            Variant::Llama | Variant::Gemma => (self.attention_bias, self.attention_bias),
            Variant::Mistral => (false, false),
            Variant::Qwen2 => (true, false),
            Variant::Stablelm => (self.use_qkv_bias, false),
        };
        let sliding_window = match v {
            Variant::Mistral => self.sliding_window,
            Variant::Qwen2 if self.use_sliding_window => {
                return Err("Qwen2 with use_sliding_window = true is not supported".into());
            }
            _ => None,
        };
        let stablelm = v == Variant::Stablelm;
        let max_positions = self.max_position_embeddings.unwrap_or(match v {
            Variant::Llama => 2048,
            Variant::Mistral => 4096 * 32,
            Variant::Qwen2 => 32768,
            Variant::Gemma => 8192,
            Variant::Stablelm => 4096,
        });
        let std = self.initializer_range;
        Ok(DecoderConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            n_layers: self.num_hidden_layers,
            max_positions,
            embed_tokens: "embed_tokens",
            embed_dim: self.hidden_size,
            embed_scale: (v == Variant::Gemma).then(|| (self.hidden_size as f64).sqrt()),
            projections: None,
            positions: Positions::Rotary(rotary),
            layers: "layers",
            residual: if stablelm && self.use_parallel_residual {
                Residual::Parallel { shared_norm: true }
            } else {
                Residual::PreNorm
            },
            norm,
            norm_eps,
            attn_norm: "input_layernorm",
            mlp_norm: "post_attention_layernorm",
            attn_prefix: "self_attn",
            mlp_prefix: "mlp",
            attention: AttentionSpec {
                hidden_size: self.hidden_size,
                n_heads,
                n_kv_heads,
                head_dim,
                qkv: QkvWeights::Separate { q: "q_proj", k: "k_proj", v: "v_proj" },
                qkv_bias,
                out: "o_proj",
                out_bias,
                layout: WeightLayout::Linear,
                init_std: std,
                out_init_std: std,
                qk_norm: (stablelm && self.qk_layernorm).then_some(("q_layernorm", "k_layernorm", self.layer_norm_eps)),
                scale: (head_dim as f64).powf(-0.5),
                sliding_window,
            },
            mlp: MlpSpec {
                kind: MlpKind::Gated { gate: "gate_proj", up: "up_proj", down: "down_proj" },
                act,
                hidden_size: self.hidden_size,
                intermediate_size: self.intermediate_size,
                bias: v == Variant::Llama && self.mlp_bias,
                layout: WeightLayout::Linear,
                init_std: std,
                down_init_std: std,
            },
            final_norm: Some("norm"),
            init_std: std,
        })
    }
}

/// The Llama-like families (the variant comes from `config.json`'s `model_type`).
pub struct LlamaLike;

impl Family for LlamaLike {
    fn load(ctx: &LoadContext, vb: VarBuilder<'_>) -> Result<Box<dyn CausalLm>, LmError> {
        let config: LlamaLikeConfig = ctx.config()?;
        let decoder = config.decoder(&ctx.config).map_err(|reason| ctx.malformed(reason))?;
        Ok(Box::new(Decoder::load(&decoder, vb)?))
    }

    fn prefixes() -> &'static [&'static str] {
        &["model."]
    }
}

brainscale_plugin_sdk::export_plugin!(
    brainscale_lm::LmExtractor<LlamaLike>,
    "brainscale-llama",
    env!("CARGO_PKG_VERSION"),
    ["llama", "mistral", "qwen2", "gemma", "stablelm"]
);
