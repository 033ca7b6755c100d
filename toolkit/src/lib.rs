//! brainscale
pub use brainscale_core as core;
pub use brainscale_data as data;
