//! The error type of the numeric core.

use thiserror::Error;

/// Everything that can go wrong in the numeric core.
///
/// Messages say what was expected, what was found and, where it helps, what to do.
#[derive(Debug, Error)]
pub enum CoreError {
    /// Two arrays that must agree in shape do not.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// What was being combined.
        what: String,
        /// The expected shape, in words.
        expected: String,
        /// The shape found.
        got: String,
    },
    /// Cross-validation over runs needs at least three runs (test, validation, training).
    #[error("cross-validation needs at least {min} runs, got {got}")]
    TooFewRuns {
        /// The minimum.
        min: usize,
        /// The number of runs given.
        got: usize,
    },
    /// The alpha grid is empty or holds a value that is not a positive finite number.
    #[error("invalid alpha grid: {reason}")]
    InvalidAlphas {
        /// Why.
        reason: String,
    },
    /// An event (word) cannot be turned into a regressor.
    #[error("invalid event {index}: {reason}")]
    InvalidEvent {
        /// 0-based index of the event in its run.
        index: usize,
        /// Why.
        reason: String,
    },
    /// Invalid timing parameters (TR, number of scans, trims).
    #[error("invalid timing: {reason}")]
    InvalidTiming {
        /// Why.
        reason: String,
    },
    /// A value is NaN or infinite where finite numbers are required.
    #[error("non-finite value in {what}")]
    NonFinite {
        /// Where.
        what: String,
    },
    /// The small eigendecomposition failed (the matrix is not finite, or did not converge).
    #[error("eigendecomposition of the {n} x {n} {what} matrix failed: {reason}")]
    Eigen {
        /// Which matrix.
        what: String,
        /// Its order.
        n: usize,
        /// Why.
        reason: String,
    },
    /// A compute backend failed (device memory, driver, ...).
    #[error("backend {backend}: {message}")]
    Backend {
        /// The backend's name.
        backend: String,
        /// What went wrong.
        message: String,
    },
}

/// Result alias of the numeric core.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

pub(crate) fn shape_err(what: &str, expected: impl ToString, got: impl ToString) -> CoreError {
    CoreError::ShapeMismatch { what: what.to_string(), expected: expected.to_string(), got: got.to_string() }
}
