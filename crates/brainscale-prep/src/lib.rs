//! Preparing real data: from BIDS derivatives to dataset layout v1 (SPEC 1).
//!
//! The numerics follow nilearn (resampling, signal cleaning, multi-subject EPI mask, Gaussian
//! smoothing) and are checked against it on committed fixtures.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod clean;
pub mod mask;
pub mod resample;
pub mod smooth;

pub mod align;
pub mod annotation;
pub mod bids;
pub mod error;
pub mod prepare;
mod provenance;
pub mod published;
pub mod reliability;
pub mod spec;
pub mod synth_bids;
pub mod words_step;

pub use error::{PrepError, Result};
