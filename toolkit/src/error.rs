//! The toolkit's error type.

use std::path::PathBuf;

use thiserror::Error;

/// Everything the toolkit can report. Messages name the file, run or layer involved.
#[derive(Debug, Error)]
pub enum Error {
    /// From the numeric core.
    #[error(transparent)]
    Core(#[from] brainscale_core::CoreError),
    /// From reading or writing datasets, NIfTI and features.
    #[error(transparent)]
    Data(#[from] brainscale_data::DataError),
    /// A figure could not be drawn or written.
    #[error("figure: {0}")]
    Plot(#[from] brainscale_plot::PlotError),
    /// A statistic could not be computed.
    #[error("statistics: {0}")]
    Stats(#[from] brainscale_stats::StatsError),
    /// A features folder does not fit the dataset it is used with.
    #[error("{}: {reason}", features.display())]
    FeaturesMismatch {
        /// The features folder.
        features: PathBuf,
        /// What does not match, and what to do.
        reason: String,
    },
    /// Building or writing a table failed.
    #[error("table {}: {message}", path.display())]
    Table {
        /// The table file.
        path: PathBuf,
        /// What polars said.
        message: String,
    },
    /// A file system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A plugin call failed; `message` is the plugin's own.
    #[error("plugin {plugin} ({call}): {message}")]
    Plugin {
        /// The plugin's name.
        plugin: String,
        /// The call (`create`, `describe`, `extract`).
        call: String,
        /// The status it returned.
        status: brainscale_plugin_abi::Status,
        /// Its last-error message.
        message: String,
    },
    /// No plugin serves a model's family.
    #[error(
        "no plugin serves the model family `{family}` (families found: {}; searched {}){}",
        if available.is_empty() { "none" } else { available.as_str() },
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        if *n_failures > 0 { format!("; {n_failures} libraries failed to load, see `brainscale plugins list`") } else { String::new() }
    )]
    NoPlugin {
        /// The family asked for.
        family: String,
        /// The families served by the plugins found, comma-separated.
        available: String,
        /// The folders searched.
        searched: Vec<PathBuf>,
        /// How many libraries failed to load.
        n_failures: usize,
    },
    /// Extracting one run at one layer failed.
    #[error("extracting {run}, layer {layer}: {reason}")]
    Extraction {
        /// The run (`run-01`).
        run: String,
        /// The layer.
        layer: usize,
        /// What went wrong.
        reason: String,
    },
    /// A model could not be fetched from (or found in the cache of) the Hugging Face hub.
    #[error("hub model {repo}@{revision}: {reason}")]
    Hub {
        /// The repository id (`owner/name`).
        repo: String,
        /// The revision asked for (`main` by default).
        revision: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// A request the toolkit cannot serve as asked (bad option value, unavailable device).
    #[error("{0}")]
    Invalid(String),
}

/// Result alias of the toolkit.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}
