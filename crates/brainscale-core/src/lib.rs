//! # brainscale-core: the numeric core of brainscale
//!
//! Everything here is pure computation on in-memory matrices: no files, no plotting, no
//! plugins. The pieces, in the order the study uses them:
//!
//! * [`hrf`]: nilearn's Glover HRF (0.10's undershoot ratio 0.35 by default, 0.11's 0.48).
//! * [`design`]: word-event regressors as one linear operator per run (nilearn
//!   `compute_regressor`-exact), trimming and z-scoring.
//! * [`ridge`]: ridge regression without intercept and its cross-validation over runs
//!   (the paper's procedure and a voxelwise extension), batched over voxels.
//! * [`backend`]: the few large-matrix operations the solver needs; [`Cpu`] (faer) here, a GPU
//!   backend as a separately loaded library.
//! * [`stats`]: z-scoring and Pearson r with the project's conventions.
//! * [`simulate`]: seeded random encoding problems (benchmarks, examples).
//!
//! ## Quickstart
//!
//! ```
//! use brainscale_core::{Cpu, ridge::{RidgeCv, RidgeCvParams, RunData}};
//! use faer::Mat;
//! // Three runs of 30 samples, 2 features; 5 voxels that follow feature 0.
//! let x: Vec<Mat<f32>> = (0..3).map(|r| Mat::from_fn(30, 2, |i, j| ((i + 7 * r) as f32 * (0.3 + j as f32)).sin())).collect();
//! let y: Vec<Mat<f32>> = x.iter().map(|x| Mat::from_fn(30, 5, |i, _| x[(i, 0)])).collect();
//! let data = RunData::new(x.iter().map(|m| m.as_ref()).collect(), y.iter().map(|m| m.as_ref()).collect())?;
//! let fit = RidgeCv::new(RidgeCvParams { alphas: vec![1e-3, 1.0, 10.0], ..Default::default() })?.fit(&Cpu, &data)?;
//! assert!(fit.r.iter().all(|&r| r > 0.9));
//! # Ok::<(), brainscale_core::CoreError>(())
//! ```

#![warn(missing_docs)]
// Library code never unwraps: errors are typed and returned (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod backend;
pub mod design;
pub mod error;
pub mod hrf;
pub mod ridge;
pub mod simulate;
pub mod stats;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use backend::{Backend, Cpu, DeviceMemory, StageTimes, Timed};
pub use error::{CoreError, Result};
pub use hrf::Hrf;
