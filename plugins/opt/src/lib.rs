//! # brainscale-opt: OPT for brainscale
//!
//! Maps Hugging Face's OPT ([`modeling_opt.py`]) onto [`brainscale_lm::nn::Decoder`]:
//! learned positions read at `position + 2`, ReLU MLP held directly in the layer, pre-norm
//! (`do_layer_norm_before`, OPT-125m and most sizes) or post-norm (OPT-350m), and OPT-350m's
//! `project_in` / `project_out` between `word_embed_proj_dim` and `hidden_size` (its last hidden
//! state has `word_embed_proj_dim` features). Weights load with or without the `model.decoder.`
//! prefix of `OPTForCausalLM` (or `decoder.` of `OPTModel`).
//!
//! [`modeling_opt.py`]: https://github.com/huggingface/transformers/blob/main/src/transformers/models/opt/modeling_opt.py

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use brainscale_lm::nn::{
    Activation, AttentionSpec, Decoder, DecoderConfig, MlpKind, MlpSpec, NormKind, Positions, QkvWeights, Residual,
    WeightLayout,
};
use brainscale_lm::{CausalLm, Family, LmError, LoadContext};
use candle_nn::VarBuilder;
use serde::Deserialize;

/// The fields of OPT's `config.json` this plugin reads (defaults as `OPTConfig`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct OptConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model dimension.
    pub hidden_size: usize,
    /// Layers.
    pub num_hidden_layers: usize,
    /// MLP inner dimension.
    pub ffn_dim: usize,
    /// Context length.
    pub max_position_embeddings: usize,
    /// Pre-norm (`true`) or post-norm.
    pub do_layer_norm_before: bool,
    /// Drops the final LayerNorm of a pre-norm model.
    #[serde(rename = "_remove_final_layer_norm")]
    pub remove_final_layer_norm: bool,
    /// Token embedding width (default `hidden_size`).
    pub word_embed_proj_dim: Option<usize>,
    /// Heads.
    pub num_attention_heads: usize,
    /// MLP activation.
    pub activation_function: String,
    /// Init std.
    pub init_std: f64,
    /// Biases on the projections.
    pub enable_bias: bool,
    /// LayerNorms with weight and bias.
    pub layer_norm_elementwise_affine: bool,
}

impl Default for OptConfig {
    fn default() -> Self {
        Self {
            vocab_size: 50272,
            hidden_size: 768,
            num_hidden_layers: 12,
            ffn_dim: 3072,
            max_position_embeddings: 2048,
            do_layer_norm_before: true,
            remove_final_layer_norm: false,
            word_embed_proj_dim: None,
            num_attention_heads: 12,
            activation_function: "relu".into(),
            init_std: 0.02,
            enable_bias: true,
            layer_norm_elementwise_affine: true,
        }
    }
}

impl OptConfig {
    /// The decoder this config describes (names relative to `model.decoder.`).
    pub fn decoder(&self) -> Result<DecoderConfig, String> {
        let n_heads = self.num_attention_heads;
        if n_heads == 0 || self.hidden_size % n_heads != 0 {
            return Err(format!("hidden_size {} is not a multiple of num_attention_heads {n_heads}", self.hidden_size));
        }
        let head_dim = self.hidden_size / n_heads;
        let act = Activation::from_hf(&self.activation_function)
            .ok_or_else(|| format!("unsupported activation_function {:?}", self.activation_function))?;
        let std = self.init_std;
        let bias = self.enable_bias;
        Ok(DecoderConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            n_layers: self.num_hidden_layers,
            max_positions: self.max_position_embeddings,
            embed_tokens: "embed_tokens",
            embed_dim: self.word_embed_proj_dim.unwrap_or(self.hidden_size),
            embed_scale: None,
            projections: Some(("project_in", "project_out")),
            positions: Positions::Learned { name: "embed_positions", offset: 2 },
            layers: "layers",
            residual: if self.do_layer_norm_before { Residual::PreNorm } else { Residual::PostNorm },
            norm: if self.layer_norm_elementwise_affine {
                NormKind::LayerNorm { bias: true }
            } else {
                NormKind::LayerNormNoAffine
            },
            norm_eps: 1e-5,
            attn_norm: "self_attn_layer_norm",
            mlp_norm: "final_layer_norm",
            attn_prefix: "self_attn",
            mlp_prefix: "",
            attention: AttentionSpec {
                hidden_size: self.hidden_size,
                n_heads,
                n_kv_heads: n_heads,
                head_dim,
                qkv: QkvWeights::Separate { q: "q_proj", k: "k_proj", v: "v_proj" },
                qkv_bias: bias,
                out: "out_proj",
                out_bias: bias,
                layout: WeightLayout::Linear,
                init_std: std,
                out_init_std: std,
                qk_norm: None,
                scale: (head_dim as f64).powf(-0.5),
                sliding_window: None,
            },
            mlp: MlpSpec {
                kind: MlpKind::Plain { up: "fc1", down: "fc2" },
                act,
                hidden_size: self.hidden_size,
                intermediate_size: self.ffn_dim,
                bias,
                layout: WeightLayout::Linear,
                init_std: std,
                down_init_std: std,
            },
            final_norm: (self.do_layer_norm_before && !self.remove_final_layer_norm).then_some("final_layer_norm"),
            init_std: std,
        })
    }
}

/// The OPT family.
pub struct Opt;

impl Family for Opt {
    fn load(ctx: &LoadContext, vb: VarBuilder<'_>) -> Result<Box<dyn CausalLm>, LmError> {
        let config: OptConfig = ctx.config()?;
        let decoder = config.decoder().map_err(|reason| ctx.malformed(reason))?;
        Ok(Box::new(Decoder::load(&decoder, vb)?))
    }

    fn prefixes() -> &'static [&'static str] {
        &["model.decoder.", "decoder."]
    }
}

brainscale_plugin_sdk::export_plugin!(
    brainscale_lm::LmExtractor<Opt>,
    "brainscale-opt",
    env!("CARGO_PKG_VERSION"),
    ["opt"]
);
