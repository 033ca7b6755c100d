//! brainscale's integration tests: one binary (`cargo test --test it`).

mod backend;
mod cli;
mod datasets;
mod fixtures;
#[path = "../common/hf_parity.rs"]
mod hf_parity;
mod http;
mod hub;
mod lm_plugins;
mod paper;
mod parity_regressors;
mod parity_ridge;
mod planted;
mod plugins;
mod prepare;
mod real_words;
mod study;
