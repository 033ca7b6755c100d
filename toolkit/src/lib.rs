//! # brainscale
//!
//! How well do language models predict brain activity, and how does that change with model
//! size? brainscale reproduces Bonnasse-Gahot & Pallier (NeurIPS 2024), "fMRI predictors based
//! on language models of increasing complexity recover brain left lateralization", and lets
//! you go further.
//!
//! ## A guided tour
//!
//! The crates, from the bottom up (this crate re-exports the first two):
//!
//! | crate | what | depends on |
//! | --- | --- | --- |
//! | [`core`] (`brainscale-core`) | HRF regressors, ridge + cross-validation, scoring, backends | faer |
//! | [`data`] (`brainscale-data`) | NIfTI, dataset layout v1, features folders, the synthetic dataset | core, nifti, safetensors |
//! | `brainscale` (this crate) | the encoding pipeline, feature extraction, the plugin loader, polars tables, the `brainscale` binary | all above, polars, libloading |
//! | `brainscale-plugin-abi` | the C boundary with plugins: one entry symbol, one `#[repr(C)]` table | nothing |
//! | `brainscale-plugin-sdk` | what plugin authors use: one trait, one export macro | abi, serde_json |
//!
//! * [`encoding`]: dataset + features -> per-layer cross-validated r ([`encoding::fit_features`]).
//! * [`extract`]: a [`extract::FeatureExtractor`] (a plugin or any Rust type) applied to every
//!   run of a dataset, written as a features folder ([`extract::extract_features`]).
//! * [`plugins`]: finding and loading plugin libraries (`libbrainscale_*.so`), with errors
//!   that name the failing stage.
//! * [`tables`]: results as polars DataFrames (one row per layer and voxel, or per layer), and
//!   parquet + csv files. Column names live in [`columns`].
//!
//! ## Quickstart
//!
//! ```no_run
//! use brainscale::data::{Dataset, Features, synth};
//! use brainscale::encoding::{FitParams, fit_features};
//! use brainscale::progress::Progress;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::path::Path::new("demo");
//! synth::write_dataset(dir, &synth::SynthParams::default())?;          // a simulated dataset
//! let ds = Dataset::open(dir)?;
//! let features = Features::open(&dir.join("truth/features"))?;         // its planted features
//! let fit = fit_features(&ds, &features, &FitParams::default(), None, Progress::Quiet)?;
//! println!("{}", brainscale::tables::summary_frame(&fit)?);
//! # Ok(()) }
//! ```
//!
//! ## Features and build time
//!
//! polars (tables) is compiled only in this crate, with the `parquet`, `csv` and `fmt` features;
//! the numeric core has no I/O dependency at all.

#![warn(missing_docs)]
// Library code never unwraps: errors are typed and returned (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub use brainscale_core as core;
pub use brainscale_data as data;
// Re-exported so that one dependency on `brainscale` (an evcxr notebook's one `:dep`) gives
// every type of its API: figures, statistics, matrices, tables, JSON options.
pub use brainscale_plot as plot;
pub use brainscale_stats as stats;
pub use faer;
pub use polars;
pub use serde_json;

pub mod analysis;
pub mod columns;
pub mod demo;
pub mod encoding;
pub mod error;
pub mod extract;
pub mod figures;
pub mod hub;
pub mod plugins;
pub mod progress;
pub mod report;
pub mod run;
pub mod show;
pub mod study;
pub mod tables;

pub use error::{Error, Result};
