//! The error type of `brainscale prepare`.
//!
//! Every variant names the file (or the registry entry and field) it is about, and its message
//! says what was expected, what was found and what to do.

use std::path::PathBuf;

use brainscale_core::CoreError;
use brainscale_data::DataError;

/// Result alias for this crate's preparation code.
pub type Result<T, E = PrepError> = std::result::Result<T, E>;

/// Everything that can go wrong while preparing a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepError {
    /// Reading or writing brainscale data (NIfTI, word files, atomic writes).
    #[error(transparent)]
    Data(#[from] DataError),

    /// The numeric core (cleaning, ridge) refused its input.
    #[error("{context}: {source}")]
    Core {
        /// What was being computed (e.g. "reliability, split 3").
        context: String,
        /// The core's error.
        #[source]
        source: CoreError,
    },

    /// An operating-system error on a file or folder.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What we were doing ("cannot read", "cannot create", ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A published input (the paper's average subject, its ISC, its ROIs) is not what the
    /// dataset needs.
    #[error("{}: {reason}", path.display())]
    Published {
        /// The file (or folder).
        path: PathBuf,
        /// What is wrong and what is expected.
        reason: String,
    },

    /// The `prepare` table of a registry entry is malformed.
    #[error("{} [{entry}.prepare] {field}: {reason}", registry.display())]
    Spec {
        /// The registry file (`<builtin datasets.toml>` for the embedded one).
        registry: PathBuf,
        /// The registry entry.
        entry: String,
        /// The field (dotted path) that is wrong.
        field: String,
        /// What is wrong and what is expected.
        reason: String,
    },

    /// The registry entry has no `prepare` table.
    #[error(
        "dataset {entry:?} cannot be prepared: its registry entry ({}) has no [{entry}.prepare] table",
        registry.display()
    )]
    NotPreparable {
        /// The registry file.
        registry: PathBuf,
        /// The registry entry.
        entry: String,
    },

    /// No subject folder matches the spec.
    #[error(
        "no subject in {}: expected folders named {prefix}* with BOLD runs ({pattern}); \
         fetch the data first (`brainscale datasets fetch {entry}`)",
        dir.display()
    )]
    NoSubjects {
        /// The derivatives folder searched.
        dir: PathBuf,
        /// The subject-folder prefix.
        prefix: String,
        /// The BOLD file pattern.
        pattern: String,
        /// The registry entry.
        entry: String,
    },

    /// `--subjects N` or a kept subject asks for what is not there.
    #[error("{reason}")]
    Subjects {
        /// What is wrong.
        reason: String,
    },

    /// A subject does not have the expected number of runs.
    #[error(
        "{subject}: {found} BOLD run(s) in {} ({labels}), expected {expected}: a run is missing \
         (fetch it again with `brainscale datasets fetch`, or leave the subject out with --subjects)",
        dir.display()
    )]
    MissingRun {
        /// The subject label (e.g. `sub-EN057`).
        subject: String,
        /// The folder holding the subject's runs.
        dir: PathBuf,
        /// The run labels found, comma-separated.
        labels: String,
        /// How many were found.
        found: usize,
        /// How many the spec expects.
        expected: usize,
    },

    /// Two files of one subject carry the same run number.
    #[error("{subject}: run number {run} appears twice: {} and {}", first.display(), second.display())]
    DuplicateRun {
        /// The subject label.
        subject: String,
        /// The run number in the file names.
        run: u32,
        /// The first file.
        first: PathBuf,
        /// The second file.
        second: PathBuf,
    },

    /// A run has a different number of scans than the same run of the first subject.
    #[error(
        "{}: run {run} has {found} scans, but {} (the same run of the first subject) has {expected}; \
         the runs of all subjects must have the same length to be averaged",
        path.display(), reference.display()
    )]
    RunLength {
        /// The file.
        path: PathBuf,
        /// The run (1-based, in order).
        run: usize,
        /// Its number of scans.
        found: usize,
        /// The reference file.
        reference: PathBuf,
        /// The reference number of scans.
        expected: usize,
    },

    /// A BOLD image cannot be resampled onto the target grid.
    #[error("{}: cannot resample onto the target grid ({target}): {reason}", path.display())]
    Resample {
        /// The file.
        path: PathBuf,
        /// The target grid, in words.
        target: String,
        /// Why.
        reason: String,
    },

    /// The annotation (word table) is unusable.
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Annotation {
        /// The annotation file.
        path: PathBuf,
        /// 1-based line, where it applies.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },

    /// The corrections file is unusable.
    #[error("{}: {reason}", path.display())]
    Corrections {
        /// The corrections file (or `builtin:NAME`).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The annotation's words and the run texts disagree.
    #[error(
        "{n} mismatch(es) between the annotation's words and the run texts (all listed in {}):\n{shown}\n\
         record corrections (dropped rows, word or text replacements) in the corrections file{}",
        report.display(),
        corrections.as_ref().map(|p| format!(" ({})", p.display())).unwrap_or_default()
    )]
    Alignment {
        /// How many mismatches.
        n: usize,
        /// The first few, one per line.
        shown: String,
        /// The full report (TSV).
        report: PathBuf,
        /// The corrections file in use, if any.
        corrections: Option<PathBuf>,
    },

    /// A brain mask cannot be computed from the runs' mean images.
    #[error("{}: cannot compute {what}: {source}", path.display())]
    Mask {
        /// The run whose mean image failed, or a description of the images.
        path: PathBuf,
        /// Which mask (the group mask, or a subject's own mask and how to avoid it).
        what: String,
        /// The mask code's error.
        #[source]
        source: crate::mask::MaskError,
    },

    /// A choice of [`crate::prepare::Options`] (a command-line option) is invalid.
    #[error("{option} {value}: {reason}")]
    InvalidOption {
        /// The option, as on the command line (e.g. `--subject-smoothing-fwhm`).
        option: &'static str,
        /// Its value.
        value: String,
        /// What is expected.
        reason: String,
    },

    /// The output folder cannot be used.
    #[error("{}: {reason}", path.display())]
    Output {
        /// The folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl PrepError {
    pub(crate) fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PrepError::Io { action: "cannot read", path: path.into(), source }
    }

    pub(crate) fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PrepError::Io { action: "cannot write", path: path.into(), source }
    }

    pub(crate) fn core(context: impl Into<String>) -> impl FnOnce(CoreError) -> PrepError {
        let context = context.into();
        move |source| PrepError::Core { context, source }
    }
}
