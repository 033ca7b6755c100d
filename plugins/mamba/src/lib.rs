//! # brainscale-mamba: Mamba (v1) state-space language models as a brainscale plugin
//!
//! Serves Hugging Face model folders with `"model_type": "mamba"` (`MambaForCausalLM`
//! checkpoints such as `state-spaces/mamba-130m-hf`; weight names with or without the
//! `backbone.` prefix). The model is written on candle in [`model`]; tokenization, windows,
//! word pooling, dtypes, devices and `--untrained SEED` come from `brainscale-lm`.
//!
//! * Layers: HF's `MambaModel(..., output_hidden_states=True).hidden_states`: layer k is the
//!   output of block k (k < `n_layer`), and the last layer is `norm_f` of the last block's
//!   output (`n_layer + 1` layers). HF's Mamba returns no embedding-output state, so here
//!   layer 00 is the first block's output (SPEC 2's "layer 00 is the embedding output" holds
//!   for the transformers only).
//! * Context: unbounded (a state-space model): each run is one forward pass, with the special
//!   tokens the tokenizer adds by default (none for Mamba's GPT-NeoX tokenizer).
//! * The selective scan runs on the CPU in f32 (HF's sequential reference path), parallel over
//!   channels; the projections run on the requested device and dtype.
//! * `--untrained SEED` re-initialises as HF's `MambaPreTrainedModel._init_weights`.
//!
//! In process (tests, benchmarks):
//!
//! ```no_run
//! use brainscale_lm::{LmExtractor, LmOptions};
//! use brainscale_mamba::MambaFamily;
//! let extractor = LmExtractor::<MambaFamily>::open("models/mamba-130m".as_ref(), &LmOptions::default())?;
//! let layers = extractor.extract_all("The cat sat.", &["the".into(), "cat".into(), "sat".into()])?;
//! assert_eq!(layers.len(), extractor.info().n_layers);
//! # Ok::<(), brainscale_lm::LmError>(())
//! ```

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod model;
pub mod scan;

use brainscale_lm::{CausalLm, Family, LmError, LoadContext};
use candle_nn::VarBuilder;

/// The Mamba family: `config.json` → [`model::Mamba`].
pub struct MambaFamily;

impl Family for MambaFamily {
    fn load(ctx: &LoadContext, vb: VarBuilder<'_>) -> Result<Box<dyn CausalLm>, LmError> {
        let config = config::MambaConfig::from_json(&ctx.config, &ctx.dir)?;
        Ok(Box::new(model::Mamba::load(ctx, &config, vb)?))
    }

    fn prefixes() -> &'static [&'static str] {
        &["backbone."]
    }
}

brainscale_plugin_sdk::export_plugin!(
    brainscale_lm::LmExtractor<MambaFamily>,
    "brainscale-mamba",
    env!("CARGO_PKG_VERSION"),
    ["mamba"]
);
