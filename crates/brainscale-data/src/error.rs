//! The crate's single error type.
//!
//! Every variant carries the file (and where it applies the run, line, tensor or voxel) it is
//! about, and its message says what was expected, what was found and what to do about it.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::nifti_io::Grid;

/// Result alias for this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading or writing brainscale data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// An operating-system error on a file or folder.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What we were doing ("cannot read", "cannot write", ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A required file or folder does not exist.
    #[error("missing {what}: {} does not exist{}", path.display(), hint_suffix(hint))]
    MissingFile {
        /// The path that was looked for.
        path: PathBuf,
        /// What the file is for (e.g. "brain mask").
        what: String,
        /// What to do about it (may be empty).
        hint: String,
    },

    /// A file that should be NIfTI-1 is not, or holds an unsupported data type, or is truncated.
    #[error("{}: not a readable NIfTI-1 image: {reason}", path.display())]
    Nifti {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A NIfTI image has the wrong number of dimensions.
    #[error("{}: expected a {expected} image, found dimensions {found:?}", path.display())]
    WrongDimensionality {
        /// The file.
        path: PathBuf,
        /// What was expected ("3D", "4D", "3D or 4D").
        expected: &'static str,
        /// The dimensions found in the header.
        found: Vec<usize>,
    },

    /// A NIfTI image is not on the mask's grid (dimensions or affine differ).
    #[error(
        "{}: not on the mask's grid\n  expected (mask): {expected}\n  found:           {found}\n  \
         resample the image onto the mask's grid (e.g. nilearn.image.resample_to_img)",
        path.display()
    )]
    GridMismatch {
        /// The file.
        path: PathBuf,
        /// The mask's grid.
        expected: Box<Grid>,
        /// The file's grid.
        found: Box<Grid>,
    },

    /// A NaN or infinite value inside the mask.
    #[error(
        "{}: value {value} at scan {scan} (0-based), voxel (i, j, k) = ({}, {}, {}); every value \
         inside the mask must be finite: fix the preprocessing or remove the voxel from the mask",
        path.display(), voxel[0], voxel[1], voxel[2]
    )]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// Scan index (0-based; 0 for a 3D image).
        scan: usize,
        /// Voxel indices (i, j, k).
        voxel: [usize; 3],
        /// The offending value.
        value: f32,
    },

    /// A TOML file does not parse or does not hold the expected fields.
    #[error("{}{}: {message}", path.display(), line_suffix(*line))]
    Toml {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },

    /// A JSON file does not parse or does not hold the expected fields.
    #[error("{}{}: {message}", path.display(), line_suffix(*line))]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },

    /// A configuration value is out of range (e.g. `tr = 0`).
    #[error("{}: field `{field}`: {reason}", path.display())]
    InvalidConfig {
        /// The file.
        path: PathBuf,
        /// The field.
        field: String,
        /// What is wrong and what is expected.
        reason: String,
    },

    /// A malformed line in a word file (TSV or CSV): header, field count, number syntax.
    #[error("{}, line {line}: {reason}", path.display())]
    WordFile {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },

    /// A word whose timing is impossible (negative or non-finite onset, offset before onset).
    #[error("{}, line {line}: word {word:?}: {reason}", path.display())]
    WordTiming {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The word.
        word: String,
        /// What was wrong.
        reason: String,
    },

    /// A word starts after the end of its run.
    #[error(
        "{}, line {line}: word {word:?} starts at {onset} s, after the end of the run \
         ({n_scans} scans x tr {tr} s = {duration} s); check that the word file and the BOLD \
         run belong together and that `tr` in dataset.toml is right",
        path.display(), duration = *n_scans as f64 * tr
    )]
    WordOutsideRun {
        /// The word file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The word.
        word: String,
        /// Its onset in seconds.
        onset: f64,
        /// Scans in the run.
        n_scans: usize,
        /// Repetition time in seconds.
        tr: f64,
    },

    /// Runs are not numbered 01, 02, ... without gaps, or a file name is not `run-XX.*`.
    #[error("{}: {reason}", dir.display())]
    RunNumbering {
        /// The folder.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// Some runs have a BOLD file but no word file, or the reverse.
    #[error(
        "{}: every run needs both bold/run-XX.nii.gz and words/run-XX.tsv:\n  {}",
        dir.display(), problems.join("\n  ")
    )]
    RunFilesMismatch {
        /// The dataset folder.
        dir: PathBuf,
        /// One line per run lacking a file.
        problems: Vec<String>,
    },

    /// Cross-validation needs at least three runs.
    #[error(
        "{}: found {found} run(s), at least {min} are needed (leave-one-run-out with a \
         validation run)",
        dir.display()
    )]
    TooFewRuns {
        /// The dataset folder.
        dir: PathBuf,
        /// Runs found.
        found: usize,
        /// Runs needed.
        min: usize,
    },

    /// A run is too short for its trims.
    #[error(
        "{}: {n_scans} scans, but trimming {trim_start} + {trim_end} scans needs more than {} \
         scans; lower trim_start / trim_end in dataset.toml or check the file",
        path.display(), trim_start + trim_end + 2
    )]
    TooFewScans {
        /// The BOLD file.
        path: PathBuf,
        /// Scans in the file.
        n_scans: usize,
        /// Scans trimmed at the start.
        trim_start: usize,
        /// Scans trimmed at the end.
        trim_end: usize,
    },

    /// A run index outside the dataset.
    #[error("run index {index} is out of range: the dataset has {n_runs} runs (indices 0..{n_runs})")]
    RunIndex {
        /// The index asked for (0-based).
        index: usize,
        /// Runs in the dataset.
        n_runs: usize,
    },

    /// Data of the wrong shape passed to a function.
    #[error("{what}: expected {expected}, found {found}")]
    Shape {
        /// What was being checked.
        what: String,
        /// Expected shape.
        expected: String,
        /// Shape found.
        found: String,
    },

    /// A features folder whose meta.json is inconsistent or whose layer files are missing.
    #[error("{}: {reason}", path.display())]
    Features {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A safetensors tensor that is missing or has the wrong dtype or shape.
    #[error("{}: tensor {tensor:?}: {reason}", path.display())]
    Tensor {
        /// The safetensors file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
        /// What is wrong.
        reason: String,
    },

    /// A safetensors file that cannot be parsed or written.
    #[error("{}: invalid safetensors file: {reason}", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A joblib file that is not one float32/float64 numpy array, or is damaged. Its pickle is
    /// never executed; `problem` says what was found (see [`crate::joblib`]).
    #[error("{}: {problem}", path.display())]
    Joblib {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: crate::joblib::JoblibProblem,
    },

    /// Invalid parameters for the synthetic dataset.
    #[error("invalid synthetic-dataset parameters: {reason}")]
    SynthParams {
        /// What is wrong.
        reason: String,
    },

    /// An error from the numeric core (HRF regressors).
    #[error(transparent)]
    Core(#[from] brainscale_core::CoreError),
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() { String::new() } else { format!("; {hint}") }
}

impl DataError {
    /// An I/O error while reading `path`.
    pub(crate) fn read(path: &Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            return DataError::MissingFile { path: path.to_path_buf(), what: "file".into(), hint: String::new() };
        }
        DataError::Io { action: "cannot read", path: path.to_path_buf(), source }
    }

    /// An I/O error while writing `path`.
    pub(crate) fn write(path: &Path, source: std::io::Error) -> Self {
        DataError::Io { action: "cannot write", path: path.to_path_buf(), source }
    }

    /// A missing required file.
    pub(crate) fn missing(path: &Path, what: impl Into<String>, hint: impl Into<String>) -> Self {
        DataError::MissingFile { path: path.to_path_buf(), what: what.into(), hint: hint.into() }
    }

    /// A NIfTI format problem.
    pub(crate) fn nifti(path: &Path, reason: impl Into<String>) -> Self {
        DataError::Nifti { path: path.to_path_buf(), reason: reason.into() }
    }

    /// A shape mismatch.
    pub(crate) fn shape(what: impl Into<String>, expected: impl fmt::Display, found: impl fmt::Display) -> Self {
        DataError::Shape { what: what.into(), expected: expected.to_string(), found: found.to_string() }
    }
}

/// 1-based line number of a byte offset in `text`.
pub(crate) fn line_of_offset(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_of_offset_counts_newlines() {
        let text = "a = 1\nb = 2\nc = x\n";
        assert_eq!(line_of_offset(text, 0), 1);
        assert_eq!(line_of_offset(text, 6), 2);
        assert_eq!(line_of_offset(text, 14), 3);
        assert_eq!(line_of_offset(text, 1000), 4);
    }

    #[test]
    fn errors_can_cross_threads() {
        fn check<T: Send + Sync + 'static>() {}
        check::<DataError>();
    }

    #[test]
    fn messages_name_the_file() {
        let e = DataError::WordOutsideRun {
            path: "words/run-02.tsv".into(),
            line: 7,
            word: "fox".into(),
            onset: 700.0,
            n_scans: 300,
            tr: 2.0,
        };
        let msg = e.to_string();
        assert!(msg.contains("words/run-02.tsv, line 7"), "{msg}");
        assert!(msg.contains("600 s"), "{msg}");
    }
}
