//! # brainscale-lm: the candle building blocks of brainscale's language-model plugins
//!
//! Every transformer plugin is a thin mapping from a Hugging Face `config.json` and weight
//! names onto these blocks:
//!
//! * [`model`]: the [`CausalLm`] trait (a model that returns every hidden state) and the
//!   [`Family`] trait a plugin implements;
//! * [`nn`]: attention with hidden-state taps (multi-head, grouped-query, causal), rotary
//!   embeddings (full, partial, the families' variants), learned positions, norms (LayerNorm,
//!   RMSNorm, Gemma's), MLPs (GELU, ReLU, SwiGLU, GeGLU) and a configurable decoder;
//! * [`text`]: tokenization with character offsets (`tokenizer.json`, or OPT-style
//!   `vocab.json` + `merges.txt`), the SPEC 3 context windows, word alignment and pooling;
//! * [`weights`]: memory-mapped safetensors with or without the causal-LM prefix, dtypes, and
//!   the re-initialisation of `--untrained SEED`;
//! * [`extractor`]: [`LmExtractor`], the plugin SDK's `FeatureExtractor` for any [`Family`];
//! * [`alloc`]: the allocator settings of a CPU forward pass.

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod alloc;
pub mod error;
pub mod extractor;
pub mod model;
pub mod nn;
pub mod text;
pub mod weights;

pub use error::LmError;
pub use extractor::{LmExtractor, LmOptions};
pub use model::{CausalLm, Family, LoadContext};
