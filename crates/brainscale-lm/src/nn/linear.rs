//! Weight loading with init hints and parameter counting, and the affine layer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::{Result, Shape, Tensor};
use candle_nn::{Init, VarBuilder};

use super::cpu::{self, Epilogue, HostSlice};
use super::kernels::{Activation, is_cpu_f32};

/// A [`VarBuilder`] that counts the parameters it hands out (HF's `num_parameters()`).
#[derive(Clone)]
pub struct Weights<'a> {
    vb: VarBuilder<'a>,
    count: Arc<AtomicU64>,
}

impl<'a> Weights<'a> {
    /// Wraps `vb` with a fresh count.
    pub fn new(vb: VarBuilder<'a>) -> Self {
        Self { vb, count: Arc::new(AtomicU64::new(0)) }
    }

    /// The same weights under `prefix.` (no-op for an empty prefix).
    pub fn pp(&self, prefix: &str) -> Self {
        if prefix.is_empty() {
            return self.clone();
        }
        Self { vb: self.vb.pp(prefix), count: self.count.clone() }
    }

    /// The tensor `name` of shape `shape`; `init` is how Hugging Face initialises it (used by the
    /// `--untrained` backend).
    pub fn get(&self, shape: impl Into<Shape>, name: &str, init: Init) -> Result<Tensor> {
        let t = self.vb.get_with_hints(shape, name, init)?;
        self.count.fetch_add(t.elem_count() as u64, Ordering::Relaxed);
        Ok(t)
    }

    /// Parameters handed out so far.
    pub fn n_params(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// How a checkpoint stores an affine map's matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightLayout {
    /// `torch.nn.Linear`: `[out, in]`.
    Linear,
    /// GPT-2's `Conv1D`: `[in, out]`.
    Conv1d,
}

/// `y = x W + b`, with `W` kept as a contiguous `[in, out]` matrix whatever the checkpoint's
/// layout, so that fused projections are one column-concatenation away.
#[derive(Clone, Debug)]
pub struct Linear {
    w: Tensor,
    b: Option<Tensor>,
}

/// Init hints of one affine layer: HF's `normal_(std)` weight, zero bias.
#[derive(Clone, Copy, Debug)]
pub struct LinearSpec {
    /// Input features.
    pub d_in: usize,
    /// Output features.
    pub d_out: usize,
    /// Whether there is a bias.
    pub bias: bool,
    /// Storage layout.
    pub layout: WeightLayout,
    /// Standard deviation of the weight's normal init.
    pub init_std: f64,
}

impl Linear {
    /// Loads `{name}.weight` (and `{name}.bias`).
    pub fn load(w: &Weights<'_>, name: &str, spec: LinearSpec) -> Result<Self> {
        let w = w.pp(name);
        let init = Init::Randn { mean: 0.0, stdev: spec.init_std };
        let weight = match spec.layout {
            WeightLayout::Linear => w.get((spec.d_out, spec.d_in), "weight", init)?.t()?.contiguous()?,
            WeightLayout::Conv1d => w.get((spec.d_in, spec.d_out), "weight", init)?,
        };
        let b = if spec.bias { Some(w.get(spec.d_out, "bias", candle_nn::init::ZERO)?) } else { None };
        Ok(Self { w: weight, b })
    }

    /// Concatenates the outputs of several layers with the same input (a fused projection).
    /// Either all or none have a bias.
    pub fn concat(parts: &[Linear]) -> Result<Self> {
        let ws: Vec<&Tensor> = parts.iter().map(|p| &p.w).collect();
        let w = Tensor::cat(&ws, 1)?;
        let bs: Option<Vec<&Tensor>> = parts.iter().map(|p| p.b.as_ref()).collect();
        let b = match bs {
            Some(bs) => Some(Tensor::cat(&bs, 0)?),
            None => None,
        };
        Ok(Self { w, b })
    }

    /// Builds one from an `[in, out]` matrix and an optional `[out]` bias.
    pub fn from_parts(w: Tensor, b: Option<Tensor>) -> Self {
        Self { w, b }
    }

    /// The `[in, out]` matrix and the bias.
    pub fn parts(&self) -> (&Tensor, Option<&Tensor>) {
        (&self.w, self.b.as_ref())
    }

    /// Output features.
    pub fn d_out(&self) -> usize {
        self.w.dims().last().copied().unwrap_or(0)
    }

    /// `x [n, in] -> [n, out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, None, None)
    }

    /// `act(x W + b) + residual` for `x [n, in]` and `residual [n, out]`: one fused pass on
    /// the CPU in `f32`, candle ops otherwise.
    pub fn forward_with(&self, x: &Tensor, act: Option<Activation>, residual: Option<&Tensor>) -> Result<Tensor> {
        let fast = is_cpu_f32(x)
            && is_cpu_f32(&self.w)
            && self.w.rank() == 2
            && self.b.as_ref().is_none_or(|b| is_cpu_f32(b) && b.rank() == 1)
            && residual.is_none_or(is_cpu_f32);
        if !fast {
            let mut y = x.matmul(&self.w)?;
            if let Some(b) = &self.b {
                y = y.broadcast_add(b)?;
            }
            if let Some(act) = act {
                y = act.forward(&y)?;
            }
            return match residual {
                Some(r) => y + r,
                None => Ok(y),
            };
        }
        let (x, w) = (x.contiguous()?, self.w.contiguous()?);
        let (b, r) =
            (self.b.as_ref().map(Tensor::contiguous).transpose()?, residual.map(Tensor::contiguous).transpose()?);
        let d_out = self.d_out();
        let mut shape = x.dims().to_vec();
        if let Some(last) = shape.last_mut() {
            *last = d_out;
        }
        if r.as_ref().is_some_and(|r| r.dims() != shape.as_slice()) {
            candle_core::bail!(
                "linear: residual {:?} does not match the output {shape:?}",
                r.as_ref().map(Tensor::dims)
            )
        }
        let (xs, ws) = (HostSlice::new(&x)?, HostSlice::new(&w)?);
        let bs = b.as_ref().map(HostSlice::new).transpose()?;
        let rs = r.as_ref().map(HostSlice::new).transpose()?;
        let epilogue =
            Epilogue { bias: bs.as_ref().map(HostSlice::get), act, residual: rs.as_ref().map(HostSlice::get) };
        let y = cpu::linear(xs.get(), ws.get(), d_out, epilogue)?;
        Tensor::from_vec(y, shape, x.device())
    }
}
