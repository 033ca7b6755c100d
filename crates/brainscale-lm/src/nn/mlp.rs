//! Feed-forward blocks: `down(act(up(x)))` (GPT-2, OPT, GPT-NeoX) and the gated
//! `down(act(gate(x)) * up(x))` (SwiGLU for Llama-likes, GeGLU for Gemma), with the gate and
//! up projections fused into one matmul.

use candle_core::{Result, Tensor};

use super::kernels::Activation;
use super::linear::{Linear, LinearSpec, WeightLayout, Weights};

/// The MLP's form and weight names.
#[derive(Clone, Copy, Debug)]
pub enum MlpKind {
    /// `down(act(up(x)))`.
    Plain {
        /// Up projection, e.g. `c_fc`, `fc1`, `dense_h_to_4h`.
        up: &'static str,
        /// Down projection, e.g. `c_proj`, `fc2`, `dense_4h_to_h`.
        down: &'static str,
    },
    /// `down(act(gate(x)) * up(x))`.
    Gated {
        /// Gate projection (`gate_proj`).
        gate: &'static str,
        /// Up projection (`up_proj`).
        up: &'static str,
        /// Down projection (`down_proj`).
        down: &'static str,
    },
}

/// The shape of an MLP.
#[derive(Clone, Copy, Debug)]
pub struct MlpSpec {
    /// Form and names.
    pub kind: MlpKind,
    /// The activation.
    pub act: Activation,
    /// Model dimension.
    pub hidden_size: usize,
    /// Inner dimension.
    pub intermediate_size: usize,
    /// Whether the projections have biases.
    pub bias: bool,
    /// Storage layout of the matrices.
    pub layout: WeightLayout,
    /// Init std of the up (and gate) projection.
    pub init_std: f64,
    /// Init std of the down projection.
    pub down_init_std: f64,
}

/// A loaded MLP.
#[derive(Clone, Debug)]
pub struct Mlp {
    /// `[up]` or `[gate | up]`.
    up: Linear,
    down: Linear,
    act: Activation,
    gated: bool,
}

impl Mlp {
    /// Loads it under `w` (the MLP module's prefix, or the layer's for OPT).
    pub fn load(w: &Weights<'_>, s: &MlpSpec) -> Result<Self> {
        let spec = |d_in, d_out, init_std| LinearSpec { d_in, d_out, bias: s.bias, layout: s.layout, init_std };
        let (hid, inner) = (s.hidden_size, s.intermediate_size);
        let (up, down, gated) = match s.kind {
            MlpKind::Plain { up, down } => (Linear::load(w, up, spec(hid, inner, s.init_std))?, down, false),
            MlpKind::Gated { gate, up, down } => {
                let g = Linear::load(w, gate, spec(hid, inner, s.init_std))?;
                let u = Linear::load(w, up, spec(hid, inner, s.init_std))?;
                (Linear::concat(&[g, u])?, down, true)
            }
        };
        let down = Linear::load(w, down, spec(inner, hid, s.down_init_std))?;
        Ok(Self { up, down, act: s.act, gated })
    }

    /// `x [n, hidden] -> [n, hidden]`, plus `residual [n, hidden]` if given.
    pub fn forward(&self, x: &Tensor, residual: Option<&Tensor>) -> Result<Tensor> {
        let a = if self.gated {
            self.act.forward_gated(&self.up.forward(x)?)?
        } else {
            self.up.forward_with(x, Some(self.act), None)?
        };
        self.down.forward_with(&a, None, residual)
    }
}
