//! Preparing real data: from BIDS derivatives to dataset layout v1 (SPEC 1).
//!
//! The numerics follow nilearn (resampling, signal cleaning, multi-subject EPI mask) and are
//! checked against it on committed fixtures.

pub mod clean;
pub mod mask;
pub mod resample;
