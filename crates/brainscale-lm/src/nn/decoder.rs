//! One configurable decoder-only transformer covering GPT-2, OPT (pre- and post-norm, with
//! `project_in`/`project_out`), GPT-NeoX, Llama, Mistral, Qwen2, Gemma and StableLM.
//!
//! Hidden states are Hugging Face's `output_hidden_states=True` (transformers 5.x
//! `capture_outputs`): the input of the first layer (token embeddings, scaled, projected and
//! plus learned positions where the family does so), the output of every layer but the last,
//! then the model's `last_hidden_state` (the last layer's output after the final norm and
//! `project_out` where the family has them): `n_layers + 1` states.

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::Init;

use super::attention::{Attention, AttentionSpec};
use super::linear::{Linear, LinearSpec, WeightLayout, Weights};
use super::mlp::{Mlp, MlpSpec};
use super::norm::{Norm, NormKind};
use super::rotary::{RotarySpec, RotaryTables};
use crate::{CausalLm, LmError};

/// How positions enter the model.
#[derive(Clone, Copy, Debug)]
pub enum Positions {
    /// A learned table `name` `[max_positions + offset, hidden]` added to the embeddings;
    /// position `p` reads row `p + offset` (OPT's offset is 2).
    Learned {
        /// The table's name.
        name: &'static str,
        /// Row of position 0.
        offset: usize,
    },
    /// Rotary embeddings on q and k.
    Rotary(RotarySpec),
}

/// How a layer combines its attention, MLP, norms and residual stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Residual {
    /// `h = x + attn(n1(x)); y = h + mlp(n2(h))` (GPT-2, OPT-125m, Llama...).
    PreNorm,
    /// `h = n1(x + attn(x)); y = n2(h + mlp(h))` (OPT-350m, `do_layer_norm_before=False`).
    PostNorm,
    /// `y = x + attn(n1(x)) + mlp(n2(x))` (GPT-NeoX); with `shared_norm`, `mlp(n1(x))`
    /// (StableLM's `use_parallel_residual`).
    Parallel {
        /// The MLP reads the attention's norm (there is no second norm).
        shared_norm: bool,
    },
}

/// Everything that defines a decoder: dimensions, variants and weight names (relative to the
/// base model, the causal-LM prefix already stripped).
#[derive(Clone, Debug)]
pub struct DecoderConfig {
    /// Token vocabulary.
    pub vocab_size: usize,
    /// Model dimension.
    pub hidden_size: usize,
    /// Decoder layers.
    pub n_layers: usize,
    /// Longest window (C of SPEC 3).
    pub max_positions: usize,
    /// Token embedding table name, e.g. `wte`, `embed_tokens`, `embed_in`.
    pub embed_tokens: &'static str,
    /// Token embedding width (OPT's `word_embed_proj_dim`; else `hidden_size`).
    pub embed_dim: usize,
    /// Factor applied to the token embeddings (Gemma: `sqrt(hidden_size)`).
    pub embed_scale: Option<f64>,
    /// OPT's `(project_in, project_out)` between `embed_dim` and `hidden_size`.
    pub projections: Option<(&'static str, &'static str)>,
    /// Position encoding.
    pub positions: Positions,
    /// The layer list, e.g. `h` or `layers`: layer `i` lives under `{layers}.{i}`.
    pub layers: &'static str,
    /// Layer form.
    pub residual: Residual,
    /// Norm kind of the layers and the final norm.
    pub norm: NormKind,
    /// Norm epsilon.
    pub norm_eps: f64,
    /// The norm before (pre-norm) or after (post-norm) attention, e.g. `ln_1`.
    pub attn_norm: &'static str,
    /// The norm around the MLP, e.g. `ln_2` (unused with `Parallel { shared_norm: true }`).
    pub mlp_norm: &'static str,
    /// The attention module inside a layer, e.g. `attn`, `self_attn`.
    pub attn_prefix: &'static str,
    /// The MLP module inside a layer, e.g. `mlp` (empty: the layer itself, as in OPT).
    pub mlp_prefix: &'static str,
    /// The attention block.
    pub attention: AttentionSpec,
    /// The MLP.
    pub mlp: MlpSpec,
    /// The final norm's name, if the model has one.
    pub final_norm: Option<&'static str>,
    /// Std of the normal init of embeddings and projections (`initializer_range`, `init_std`).
    pub init_std: f64,
}

struct Layer {
    attn_norm: Norm,
    mlp_norm: Option<Norm>,
    attn: Attention,
    mlp: Mlp,
    residual: Residual,
}

impl Layer {
    fn load(w: &Weights<'_>, c: &DecoderConfig) -> Result<Self> {
        let attn_norm = Norm::load(&w.pp(c.attn_norm), c.norm, c.hidden_size, c.norm_eps)?;
        let mlp_norm = match c.residual {
            Residual::Parallel { shared_norm: true } => None,
            _ => Some(Norm::load(&w.pp(c.mlp_norm), c.norm, c.hidden_size, c.norm_eps)?),
        };
        let attn = Attention::load(&w.pp(c.attn_prefix), &c.attention)?;
        let mlp = Mlp::load(&w.pp(c.mlp_prefix), &c.mlp)?;
        Ok(Self { attn_norm, mlp_norm, attn, mlp, residual: c.residual })
    }

    /// `x [n, hidden]` -> the outputs of rows `from..n`.
    fn forward(&self, x: &Tensor, rotary: Option<&RotaryTables>, from: usize) -> Result<Tensor> {
        let n = x.dim(0)?;
        let tail = |t: &Tensor| if from == 0 { Ok(t.clone()) } else { t.narrow(0, from, n - from) };
        let mlp_norm = |h: &Tensor| match &self.mlp_norm {
            Some(norm) => norm.forward(h),
            None => Ok(h.clone()),
        };
        match self.residual {
            Residual::PreNorm => {
                let h = self.attn.forward(&self.attn_norm.forward(x)?, rotary, from, Some(&tail(x)?))?;
                self.mlp.forward(&mlp_norm(&h)?, Some(&h))
            }
            Residual::PostNorm => {
                let h = self.attn_norm.forward(&self.attn.forward(x, rotary, from, Some(&tail(x)?))?)?;
                mlp_norm(&self.mlp.forward(&h, Some(&h))?)
            }
            Residual::Parallel { shared_norm } => {
                let normed = self.attn_norm.forward(x)?;
                let a = self.attn.forward(&normed, rotary, from, Some(&tail(x)?))?;
                if shared_norm {
                    self.mlp.forward(&tail(&normed)?, Some(&a))
                } else {
                    self.mlp.forward(&mlp_norm(&tail(x)?)?, Some(&a))
                }
            }
        }
    }
}

/// A loaded decoder; implements [`CausalLm`].
pub struct Decoder {
    embed: Tensor,
    embed_scale: Option<f64>,
    project_in: Option<Linear>,
    project_out: Option<Linear>,
    positions: Option<(Tensor, usize)>,
    rotary: Option<RotarySpec>,
    layers: Vec<Layer>,
    final_norm: Option<Norm>,
    hidden_size: usize,
    out_dim: usize,
    max_positions: usize,
    n_params: u64,
    dtype: DType,
    device: Device,
}

impl Decoder {
    /// Loads a decoder described by `c` from `vb` (the base model's weights).
    pub fn load(c: &DecoderConfig, vb: candle_nn::VarBuilder<'_>) -> Result<Self> {
        let (dtype, device) = (vb.dtype(), vb.device().clone());
        let w = Weights::new(vb);
        let normal = Init::Randn { mean: 0.0, stdev: c.init_std };
        let embed = w.pp(c.embed_tokens).get((c.vocab_size, c.embed_dim), "weight", normal)?;
        let proj = |name: &str, d_in, d_out| {
            let spec = LinearSpec { d_in, d_out, bias: false, layout: WeightLayout::Linear, init_std: c.init_std };
            Linear::load(&w, name, spec)
        };
        let (project_in, project_out) = match c.projections {
            Some((pin, pout)) if c.embed_dim != c.hidden_size => {
                (Some(proj(pin, c.embed_dim, c.hidden_size)?), Some(proj(pout, c.hidden_size, c.embed_dim)?))
            }
            _ => (None, None),
        };
        let (positions, rotary) = match c.positions {
            Positions::Learned { name, offset } => {
                let table = w.pp(name).get((c.max_positions + offset, c.hidden_size), "weight", normal)?;
                (Some((table, offset)), None)
            }
            Positions::Rotary(spec) => (None, Some(spec)),
        };
        let layers =
            (0..c.n_layers).map(|i| Layer::load(&w.pp(c.layers).pp(&i.to_string()), c)).collect::<Result<Vec<_>>>()?;
        let final_norm =
            c.final_norm.map(|name| Norm::load(&w.pp(name), c.norm, c.hidden_size, c.norm_eps)).transpose()?;
        let out_dim = project_out.as_ref().map_or(c.hidden_size, Linear::d_out);
        Ok(Self {
            embed,
            embed_scale: c.embed_scale,
            project_in,
            project_out,
            positions,
            rotary,
            layers,
            final_norm,
            hidden_size: c.hidden_size,
            out_dim,
            max_positions: c.max_positions,
            n_params: w.n_params(),
            dtype,
            device,
        })
    }

    fn run(&self, input_ids: &[u32], keep_from: usize) -> Result<Vec<Tensor>> {
        let n = input_ids.len();
        if n == 0 || n > self.max_positions || keep_from > n {
            candle_core::bail!(
                "a window must hold 1 to {} tokens (got {n} tokens, keeping rows from {keep_from})",
                self.max_positions
            )
        }
        if keep_from == n {
            // nothing kept: zero-row states
            return self.run(input_ids, n - 1)?.into_iter().map(|s| s.narrow(0, 1, 0)).collect();
        }
        let ids = Tensor::new(input_ids, &self.device)?;
        let mut x = self.embed.index_select(&ids, 0)?;
        if let Some(s) = self.embed_scale {
            // HF multiplies by the scale cast to the weights' dtype
            x = x.broadcast_mul(&Tensor::new(s as f32, &self.device)?.to_dtype(self.dtype)?)?;
        }
        if let Some(p) = &self.project_in {
            x = p.forward(&x)?;
        }
        if let Some((table, offset)) = &self.positions {
            x = (x + table.narrow(0, *offset, n)?)?;
        }
        let rotary = self.rotary.map(|r| RotaryTables::new(r, n, self.dtype, &self.device)).transpose()?;
        let tail = |t: &Tensor| if keep_from == 0 { Ok(t.clone()) } else { t.narrow(0, keep_from, n - keep_from) };
        let mut states = Vec::with_capacity(self.layers.len() + 1);
        let last = self.layers.len().saturating_sub(1);
        for (i, layer) in self.layers.iter().enumerate() {
            states.push(tail(&x)?);
            x = layer.forward(&x, rotary.as_ref(), if i == last { keep_from } else { 0 })?;
        }
        if self.layers.is_empty() {
            x = tail(&x)?;
        }
        if let Some(norm) = &self.final_norm {
            x = norm.forward(&x)?;
        }
        if let Some(p) = &self.project_out {
            x = p.forward(&x)?;
        }
        states.push(x);
        Ok(states)
    }
}

impl CausalLm for Decoder {
    fn n_layers(&self) -> usize {
        self.layers.len() + 1
    }

    fn dims(&self) -> Vec<usize> {
        let mut dims = vec![self.hidden_size; self.layers.len()];
        dims.push(self.out_dim);
        dims
    }

    fn max_positions(&self) -> Option<usize> {
        Some(self.max_positions)
    }

    fn n_params(&self) -> u64 {
        self.n_params
    }

    fn forward(&self, input_ids: &[u32]) -> std::result::Result<Vec<Tensor>, LmError> {
        Ok(self.run(input_ids, 0)?)
    }

    fn forward_from(&self, input_ids: &[u32], keep_from: usize) -> std::result::Result<Vec<Tensor>, LmError> {
        Ok(self.run(input_ids, keep_from)?)
    }
}
