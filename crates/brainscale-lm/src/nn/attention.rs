//! Causal self-attention: multi-head, grouped-query or multi-query; separate or fused
//! (GPT-2's `[q|k|v]`, GPT-NeoX's per-head interleaved) projections with optional biases;
//! optional per-head q/k LayerNorm (StableLM 2); optional rotary embedding and sliding window.
//!
//! Whatever the checkpoint's layout, q, k and v come from ONE matmul with a
//! `[hidden, (n_heads + 2 n_kv_heads) head_dim]` matrix whose q columns already carry the
//! `1/sqrt(head_dim)` scale. Scores are computed blockwise over the queries: a block of queries only meets the
//! keys at or before its last position (about half the work of a dense masked product) and
//! the mask is applied inside the softmax kernel.

use candle_core::{Result, Tensor};

use super::cpu::{CausalAttention, Heads, HostSlice};
use super::kernels::{CausalSoftmax, is_cpu_f32};
use super::linear::{Linear, LinearSpec, WeightLayout, Weights};
use super::norm::Norm;
use super::rotary::RotaryTables;

/// Queries per block of the blockwise causal attention (candle path).
const QUERY_BLOCK: usize = 128;

/// Where the checkpoint keeps the q, k and v projections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QkvWeights {
    /// Three layers, e.g. `q_proj`, `k_proj`, `v_proj`.
    Separate {
        /// Query projection.
        q: &'static str,
        /// Key projection.
        k: &'static str,
        /// Value projection.
        v: &'static str,
    },
    /// One layer whose outputs are `[q | k | v]` (GPT-2's `c_attn`).
    Fused(&'static str),
    /// One layer whose outputs are, head after head, `[q_h | k_h | v_h]` (GPT-NeoX's
    /// `query_key_value`).
    FusedPerHead(&'static str),
}

/// The shape and weight names of an attention block.
#[derive(Clone, Copy, Debug)]
pub struct AttentionSpec {
    /// Model dimension (input and output).
    pub hidden_size: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (`n_heads` for multi-head, 1 for multi-query).
    pub n_kv_heads: usize,
    /// Features per head.
    pub head_dim: usize,
    /// The q/k/v projection(s).
    pub qkv: QkvWeights,
    /// Whether q/k/v have biases.
    pub qkv_bias: bool,
    /// The output projection's name.
    pub out: &'static str,
    /// Whether the output projection has a bias.
    pub out_bias: bool,
    /// Storage layout of the matrices.
    pub layout: WeightLayout,
    /// Init std of q/k/v.
    pub init_std: f64,
    /// Init std of the output projection (GPT-2 scales it by `1/sqrt(2 n_layer)`).
    pub out_init_std: f64,
    /// Per-head LayerNorm (no bias) of q and k, as `(q name, k name, eps)`, with one
    /// `norms.{h}` per head (StableLM's `qk_layernorm`).
    pub qk_norm: Option<(&'static str, &'static str, f64)>,
    /// The factor applied to the scores (`head_dim^-0.5` for every supported family).
    pub scale: f64,
    /// A query at position `i` attends to keys `j` with `i - j < window` only.
    pub sliding_window: Option<usize>,
}

/// A loaded attention block.
#[derive(Clone, Debug)]
pub struct Attention {
    qkv: Linear,
    out: Linear,
    qk_norm: Option<(Norm, Norm, Tensor, Tensor)>,
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
    window: Option<usize>,
}

/// Per-head LayerNorm weights `{name}.norms.{h}.weight`, stacked to `[n, 1, head_dim]`.
fn per_head_weight(w: &Weights<'_>, name: &str, n: usize, head_dim: usize) -> Result<Tensor> {
    let heads = (0..n)
        .map(|h| w.pp(name).pp("norms").pp(&h.to_string()).get(head_dim, "weight", candle_nn::init::ONE))
        .collect::<Result<Vec<_>>>()?;
    Tensor::stack(&heads, 0)?.unsqueeze(1)
}

impl Attention {
    /// Loads the block under `w` (the attention module's prefix).
    pub fn load(w: &Weights<'_>, s: &AttentionSpec) -> Result<Self> {
        let (q_dim, kv_dim) = (s.n_heads * s.head_dim, s.n_kv_heads * s.head_dim);
        let spec =
            |d_out| LinearSpec { d_in: s.hidden_size, d_out, bias: s.qkv_bias, layout: s.layout, init_std: s.init_std };
        let (mut wq, mut bq, wkv, bkv) = match s.qkv {
            QkvWeights::Separate { q, k, v } => {
                let q = Linear::load(w, q, spec(q_dim))?;
                let kv = Linear::concat(&[Linear::load(w, k, spec(kv_dim))?, Linear::load(w, v, spec(kv_dim))?])?;
                let (wq, bq) = q.parts();
                let (wkv, bkv) = kv.parts();
                (wq.clone(), bq.cloned(), wkv.clone(), bkv.cloned())
            }
            QkvWeights::Fused(name) | QkvWeights::FusedPerHead(name) => {
                let fused = Linear::load(w, name, spec(q_dim + 2 * kv_dim))?;
                let (mut wf, mut bf) = (fused.parts().0.clone(), fused.parts().1.cloned());
                if matches!(s.qkv, QkvWeights::FusedPerHead(_)) {
                    // columns (head, {q,k,v}, d) -> ({q,k,v}, head, d)
                    let (h, d) = (s.n_heads, s.head_dim);
                    wf = wf
                        .reshape((s.hidden_size, h, 3, d))?
                        .permute((0, 2, 1, 3))?
                        .reshape((s.hidden_size, 3 * h * d))?;
                    bf = bf.map(|b| b.reshape((h, 3, d))?.permute((1, 0, 2))?.flatten_all()).transpose()?;
                }
                let wq = wf.narrow(1, 0, q_dim)?;
                let wkv = wf.narrow(1, q_dim, 2 * kv_dim)?;
                let bq = bf.as_ref().map(|b| b.narrow(0, 0, q_dim)).transpose()?;
                let bkv = bf.as_ref().map(|b| b.narrow(0, q_dim, 2 * kv_dim)).transpose()?;
                (wq, bq, wkv, bkv)
            }
        };
        let qk_norm = match s.qk_norm {
            Some((qn, kn, eps)) => {
                let wqn = (per_head_weight(w, qn, s.n_heads, s.head_dim)? * s.scale)?;
                let wkn = per_head_weight(w, kn, s.n_kv_heads, s.head_dim)?;
                let plain = Norm::from_parts(true, eps, None, None)?;
                Some((plain.clone(), plain, wqn, wkn))
            }
            None => {
                wq = (wq * s.scale)?;
                bq = bq.map(|b| b * s.scale).transpose()?;
                None
            }
        };
        let w_all = Tensor::cat(&[&wq, &wkv], 1)?.contiguous()?;
        let b_all = match (bq, bkv) {
            (Some(bq), Some(bkv)) => Some(Tensor::cat(&[&bq, &bkv], 0)?),
            _ => None,
        };
        let out = Linear::load(
            w,
            s.out,
            LinearSpec {
                d_in: q_dim,
                d_out: s.hidden_size,
                bias: s.out_bias,
                layout: s.layout,
                init_std: s.out_init_std,
            },
        )?;
        Ok(Self {
            qkv: Linear::from_parts(w_all, b_all),
            out,
            qk_norm,
            n_heads: s.n_heads,
            n_kv_heads: s.n_kv_heads,
            head_dim: s.head_dim,
            window: s.sliding_window,
        })
    }

    /// Self-attention of `x [n, hidden]` (positions `0..n`), plus `residual [n - from, hidden]`
    /// if given; returns the outputs of the queries `from..n` only, `[n - from, hidden]` (all
    /// keys and values are still used).
    pub fn forward(
        &self,
        x: &Tensor,
        rotary: Option<&RotaryTables>,
        from: usize,
        residual: Option<&Tensor>,
    ) -> Result<Tensor> {
        let qkv = self.qkv.forward(x)?;
        let o = if is_cpu_f32(&qkv) { self.attend_cpu(&qkv, rotary, from)? } else { self.attend(&qkv, rotary, from)? };
        self.out.forward_with(&o, None, residual)
    }

    /// q (positions `from..n`), k and v (positions `0..n`) of `qkv [n, (h + 2 kvh) d]` as
    /// contiguous `[heads, tokens, d]`, with the per-head norms and rotary embedding applied.
    fn split_heads(
        &self,
        qkv: &Tensor,
        rotary: Option<&RotaryTables>,
        from: usize,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let n = qkv.dim(0)?;
        let (h, kvh, d) = (self.n_heads, self.n_kv_heads, self.head_dim);
        // [tokens, heads, d] -> [heads, tokens, d]
        let heads = |rows: &Tensor, offset: usize, count: usize| -> Result<Tensor> {
            rows.narrow(1, offset, count * d)?.reshape((rows.dim(0)?, count, d))?.transpose(0, 1)?.contiguous()
        };
        let mut q = heads(&qkv.narrow(0, from, n - from)?, 0, h)?;
        let mut k = heads(qkv, h * d, kvh)?;
        let v = heads(qkv, (h + kvh) * d, kvh)?;
        if let Some((qn, kn, wq, wk)) = &self.qk_norm {
            q = qn.forward(&q)?.broadcast_mul(wq)?;
            k = kn.forward(&k)?.broadcast_mul(wk)?;
        }
        if let Some(r) = rotary {
            q = r.apply(&q, from)?;
            k = r.apply(&k, 0)?;
        }
        Ok((q, k, v))
    }

    /// The attention of the queries `from..n` before the output projection, `[n - from, h d]`,
    /// with candle ops, blockwise over the queries.
    fn attend(&self, qkv: &Tensor, rotary: Option<&RotaryTables>, from: usize) -> Result<Tensor> {
        let n = qkv.dim(0)?;
        let (h, kvh, d) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let (q, k, v) = self.split_heads(qkv, rotary, from)?;
        let group = h / kvh;
        let mut blocks = Vec::with_capacity((n - from).div_ceil(QUERY_BLOCK));
        let mut qs = from;
        while qs < n {
            let len = QUERY_BLOCK.min(n - qs);
            let k0 = match self.window {
                Some(w) => (qs + 1).saturating_sub(w),
                None => 0,
            };
            let n_keys = qs + len - k0;
            // the query heads sharing key head j are rows j*group..(j+1)*group: fold them as rows
            let qb = q.narrow(1, qs - from, len)?.contiguous()?.reshape((kvh, group * len, d))?;
            let scores = qb.matmul(&k.narrow(1, k0, n_keys)?.t()?)?;
            let probs = CausalSoftmax { rows_per_group: len, first_query: qs, first_key: k0, window: self.window }
                .forward(&scores)?;
            let o = probs.matmul(&v.narrow(1, k0, n_keys)?)?; // [kvh, group*len, d] = [h, len, d]
            blocks.push(o.reshape((h, len, d))?.transpose(0, 1)?.contiguous()?.reshape((len, h * d))?);
            qs += len;
        }
        if blocks.len() == 1 { Ok(blocks.swap_remove(0)) } else { Tensor::cat(&blocks, 0) }
    }

    /// [`Self::attend`] for `f32` on the CPU: reads q, k and v in place from `qkv` when there is
    /// nothing to apply to them, and runs [`CausalAttention`].
    fn attend_cpu(&self, qkv: &Tensor, rotary: Option<&RotaryTables>, from: usize) -> Result<Tensor> {
        let n = qkv.dim(0)?;
        let (h, kvh, d) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let op = CausalAttention { n_heads: h, n_kv_heads: kvh, head_dim: d, window: self.window };
        let y = if self.qk_norm.is_none() && rotary.is_none() {
            let qkv = qkv.contiguous()?;
            let slice = HostSlice::new(&qkv)?;
            let stride = (h + 2 * kvh) * d;
            let at = |offset: usize| Heads {
                data: slice.get().get(offset..).unwrap_or_default(),
                token_stride: stride,
                head_stride: d,
            };
            op.forward(at(from * stride), at(h * d), at((h + kvh) * d), from, n - from, n)?
        } else {
            let (q, k, v) = self.split_heads(qkv, rotary, from)?;
            let (qs, ks, vs) = (HostSlice::new(&q)?, HostSlice::new(&k)?, HostSlice::new(&v)?);
            let (q, k, v) = (
                Heads::head_major(qs.get(), n - from, d),
                Heads::head_major(ks.get(), n, d),
                Heads::head_major(vs.get(), n, d),
            );
            op.forward(q, k, v, from, n - from, n)?
        };
        Tensor::from_vec(y, (n - from, h * d), qkv.device())
    }
}
