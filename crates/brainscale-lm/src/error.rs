//! The crate's error type.

use std::path::PathBuf;

use brainscale_plugin_sdk::PluginError;
use thiserror::Error;

/// Everything that can go wrong while loading a model or extracting features.
#[derive(Debug, Error)]
pub enum LmError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A model, config or tokenizer file is malformed or unsupported.
    #[error("{}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// A bad option or argument.
    #[error("{0}")]
    Invalid(String),
    /// A word of the run cannot be located in its text (SPEC 3.3).
    #[error("{0}")]
    Alignment(String),
    /// A valid request that this build does not support (e.g. `cuda` without the feature).
    #[error("{0}")]
    Unsupported(String),
    /// candle failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

impl From<LmError> for PluginError {
    fn from(e: LmError) -> Self {
        match e {
            LmError::Io { path, source } => PluginError::Io { path, source },
            LmError::Malformed { path, reason } => PluginError::Malformed { path, line: None, reason },
            LmError::Invalid(m) => PluginError::InvalidArgument(m),
            LmError::Unsupported(m) => PluginError::Unsupported(m),
            e @ (LmError::Alignment(_) | LmError::Candle(_) | LmError::Tokenizer(_)) => {
                PluginError::Model(e.to_string())
            }
        }
    }
}
