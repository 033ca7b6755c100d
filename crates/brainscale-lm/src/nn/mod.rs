//! Neural-network blocks (written on candle-nn) and the one configurable [`Decoder`] that the
//! transformer families map onto.
//!
//! * [`linear`]: weight loading with Hugging Face init hints and parameter counting
//!   ([`Weights`]), the affine layer in `nn.Linear` or GPT-2 `Conv1D` layout;
//! * [`norm`]: LayerNorm (with or without bias/affine), RMSNorm, Gemma's `(1 + w)` RMSNorm;
//! * [`rotary`]: rotary embeddings over the full head or its first `rotary_dim` features;
//! * [`attention`]: causal multi-head / grouped-query / multi-query attention;
//! * [`mlp`]: plain and gated (SwiGLU, GeGLU) feed-forward blocks;
//! * [`decoder`]: [`DecoderConfig`] and [`Decoder`], which returns every hidden state;
//! * [`kernels`]: fused float32 CPU kernels (norms, activations, causal softmax);
//! * `cpu`: float32 CPU fast paths for the affine layers (bias, activation and residual fused)
//!   and attention.

pub mod attention;
mod cpu;
pub mod decoder;
pub mod kernels;
pub mod linear;
pub mod mlp;
pub mod norm;
pub mod rotary;

pub use attention::{Attention, AttentionSpec, QkvWeights};
pub use decoder::{Decoder, DecoderConfig, Positions, Residual};
pub use kernels::Activation;
pub use linear::{Linear, LinearSpec, WeightLayout, Weights};
pub use mlp::{Mlp, MlpKind, MlpSpec};
pub use norm::{Norm, NormKind};
pub use rotary::{RotarySpec, RotaryTables};
