//! Normalisation layers: LayerNorm (with or without bias or affine weights), RMSNorm and
//! Gemma's `(1 + w)` RMSNorm.

use candle_core::{DType, Result, Tensor};
use candle_nn::Init;

use super::kernels::{NormOp, is_cpu_f32};
use super::linear::Weights;

/// Which normalisation, as the Hugging Face modules define it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormKind {
    /// `nn.LayerNorm(bias=...)`: weight (init 1) and optional bias (init 0).
    LayerNorm {
        /// Whether it has a bias.
        bias: bool,
    },
    /// `nn.LayerNorm(elementwise_affine=False)`: no parameters.
    LayerNormNoAffine,
    /// Llama's RMSNorm: `x / rms(x) * w`, weight init 1.
    RmsNorm,
    /// Gemma's RMSNorm: `x / rms(x) * (1 + w)`, weight init 0.
    GemmaRmsNorm,
}

/// A loaded normalisation over the last dimension.
#[derive(Clone, Debug)]
pub struct Norm {
    center: bool,
    eps: f64,
    /// The effective scale (`1 + w` for Gemma), if any.
    weight: Option<Tensor>,
    bias: Option<Tensor>,
    /// The same as `f32` host vectors for the CPU kernel.
    host_weight: Option<Vec<f32>>,
    host_bias: Option<Vec<f32>>,
}

impl Norm {
    /// Loads `weight` / `bias` (`[dim]`) under `w`.
    pub fn load(w: &Weights<'_>, kind: NormKind, dim: usize, eps: f64) -> Result<Self> {
        let (weight, bias) = match kind {
            NormKind::LayerNorm { bias } => {
                let b = if bias { Some(w.get(dim, "bias", candle_nn::init::ZERO)?) } else { None };
                (Some(w.get(dim, "weight", candle_nn::init::ONE)?), b)
            }
            NormKind::LayerNormNoAffine => (None, None),
            NormKind::RmsNorm => (Some(w.get(dim, "weight", candle_nn::init::ONE)?), None),
            NormKind::GemmaRmsNorm => (Some((w.get(dim, "weight", Init::Const(0.0))? + 1.0)?), None),
        };
        let center = matches!(kind, NormKind::LayerNorm { .. } | NormKind::LayerNormNoAffine);
        Self::from_parts(center, eps, weight, bias)
    }

    /// Builds one from its parts (`center`: LayerNorm, else RMSNorm).
    pub fn from_parts(center: bool, eps: f64, weight: Option<Tensor>, bias: Option<Tensor>) -> Result<Self> {
        let host = |t: &Option<Tensor>| -> Result<Option<Vec<f32>>> {
            match t {
                Some(t) if t.device().is_cpu() => Ok(Some(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?)),
                _ => Ok(None),
            }
        };
        Ok(Self { center, eps, host_weight: host(&weight)?, host_bias: host(&bias)?, weight, bias })
    }

    /// Multiplies the scale (and shift) by `factor`: folds a constant that follows the norm.
    pub fn scaled(&self, factor: f64) -> Result<Self> {
        let weight = match &self.weight {
            Some(w) => (w * factor)?,
            None => return Err(candle_core::Error::Msg("cannot scale a norm without weights".into())),
        };
        let bias = self.bias.as_ref().map(|b| b * factor).transpose()?;
        Self::from_parts(self.center, self.eps, Some(weight), bias)
    }

    /// Normalises `x` over its last dimension.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dim = x.dims().last().copied().unwrap_or(0);
        let per_row = |v: &Option<Vec<f32>>| v.as_ref().is_none_or(|v| v.len() == dim);
        if is_cpu_f32(x) && per_row(&self.host_weight) && per_row(&self.host_bias) {
            let op = NormOp {
                center: self.center,
                eps: self.eps as f32,
                weight: self.host_weight.clone(),
                bias: self.host_bias.clone(),
            };
            return x.contiguous()?.apply_op1_no_bwd(&op);
        }
        // Generic path (other devices and dtypes; per-head weights), computed in f32.
        let dtype = x.dtype();
        let x = x.to_dtype(DType::F32)?;
        let x = if self.center { x.broadcast_sub(&x.mean_keepdim(candle_core::D::Minus1)?)? } else { x };
        let var = x.sqr()?.mean_keepdim(candle_core::D::Minus1)?;
        let mut y = x.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        if let Some(w) = &self.weight {
            y = y.broadcast_mul(&w.to_dtype(DType::F32)?)?;
        }
        if let Some(b) = &self.bias {
            y = y.broadcast_add(&b.to_dtype(DType::F32)?)?;
        }
        y.to_dtype(dtype)
    }
}
