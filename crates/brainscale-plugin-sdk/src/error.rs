//! The error a plugin returns; the SDK turns it into a [`Status`] plus the thread's
//! last-error message when it crosses the boundary.

use std::path::PathBuf;

use brainscale_plugin_abi::Status;
use thiserror::Error;

/// Everything a plugin can report. Messages should say what was expected, what was found,
/// and what to do; the host shows them to the user as they are.
#[derive(Debug, Error)]
pub enum PluginError {
    /// A bad option or model spec, a layer out of range, malformed input from the host.
    /// Crosses the boundary as [`Status::INVALID_ARGUMENT`].
    #[error("{0}")]
    InvalidArgument(String),
    /// A file could not be read. Crosses as [`Status::IO`].
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A model or vocabulary file is malformed. Crosses as [`Status::MODEL`].
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The 1-based line, for text files.
        line: Option<usize>,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// The model failed on this input. Crosses as [`Status::MODEL`].
    #[error("{0}")]
    Model(String),
    /// A valid request this plugin does not support. Crosses as [`Status::UNSUPPORTED`].
    #[error("{0}")]
    Unsupported(String),
    /// A bug (e.g. an output of the wrong shape). Crosses as [`Status::INTERNAL`].
    #[error("{0}")]
    Internal(String),
}

impl PluginError {
    /// A [`PluginError::InvalidArgument`].
    pub fn invalid(message: impl Into<String>) -> Self {
        PluginError::InvalidArgument(message.into())
    }

    /// The status this error crosses the boundary with.
    pub fn status(&self) -> Status {
        match self {
            PluginError::InvalidArgument(_) => Status::INVALID_ARGUMENT,
            PluginError::Io { .. } => Status::IO,
            PluginError::Malformed { .. } | PluginError::Model(_) => Status::MODEL,
            PluginError::Unsupported(_) => Status::UNSUPPORTED,
            PluginError::Internal(_) => Status::INTERNAL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_names_the_line() {
        let e = PluginError::Malformed { path: "g.txt".into(), line: Some(3), reason: "bad".into() };
        assert_eq!(e.to_string(), "g.txt line 3: bad");
        assert_eq!(e.status(), Status::MODEL);
    }
}
