//! brainscale's integration tests: one binary (`cargo test --test it`).

mod fixtures;
mod parity_regressors;
mod parity_ridge;
