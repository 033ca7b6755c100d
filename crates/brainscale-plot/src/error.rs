//! The crate's error type.

use brainscale_data::DataError;

/// Everything that can go wrong while making a figure or a report.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The input cannot be drawn (empty, wrong length, not finite where numbers are needed).
    #[error("{figure}: {what}: expected {expected}, got {got}")]
    Input {
        /// The figure being made.
        figure: &'static str,
        /// Which input is wrong.
        what: String,
        /// What was expected.
        expected: String,
        /// What was given.
        got: String,
    },
    /// plotters failed while drawing (a bug or an unsupported size; please report it).
    #[error("drawing figure {figure} failed: {message}")]
    Draw {
        /// The figure being drawn.
        figure: String,
        /// plotters' message.
        message: String,
    },
    /// Writing a file failed.
    #[error(transparent)]
    Write(#[from] DataError),
}

impl PlotError {
    pub(crate) fn input(
        figure: &'static str,
        what: impl Into<String>,
        expected: impl Into<String>,
        got: impl ToString,
    ) -> PlotError {
        PlotError::Input { figure, what: what.into(), expected: expected.into(), got: got.to_string() }
    }
}

/// `Result` with [`PlotError`].
pub type Result<T, E = PlotError> = std::result::Result<T, E>;
