//! The crate's single error type.
//!
//! Every variant names the file it is about and, for downloads, the URL; messages say what was
//! expected, what was found and what to do.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong with the registry, the data directory or a download.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
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

    /// The registry file (datasets.toml) is malformed.
    #[error("{}: {message}", path.display())]
    Registry {
        /// The registry file (`<builtin datasets.toml>` for the embedded one).
        path: PathBuf,
        /// What is wrong, naming the entry and field.
        message: String,
    },

    /// A dataset name that the registry does not know.
    #[error("unknown dataset {name:?}; known datasets: {known}")]
    UnknownDataset {
        /// The name asked for.
        name: String,
        /// The registry's names, comma-separated.
        known: String,
    },

    /// No data directory could be chosen.
    #[error("no data directory: give --data-dir DIR or set BRAINSCALE_DATA (this system has no user cache directory)")]
    NoDataDir,

    /// A `--dataset` argument that is neither a folder nor a prepared dataset.
    #[error("dataset {arg:?}: {message}")]
    NoDataset {
        /// The argument.
        arg: String,
        /// What was looked for and what to do.
        message: String,
    },

    /// The entry is not downloaded (e.g. `demo`, generated locally).
    #[error("dataset {name:?} is not downloaded: it is generated locally with `{command}`")]
    Generated {
        /// The entry.
        name: String,
        /// The command that makes it.
        command: String,
    },

    /// `--subjects` was given for an entry that is not organised by subject.
    #[error("dataset {name:?} has no subjects: --subjects applies to OpenNeuro entries (lpp-en, lpp-fr, lpp-cn)")]
    NoSubjects {
        /// The entry.
        name: String,
    },

    /// The server answered with an HTTP error status.
    #[error("{url}: HTTP {status}{} (while fetching {})", status_hint(*status), file.display())]
    HttpStatus {
        /// The URL requested.
        url: String,
        /// The file it was meant for.
        file: PathBuf,
        /// The HTTP status code.
        status: u16,
    },

    /// A connect or read timeout.
    #[error("{url}: timed out ({what}) while fetching {}; run the fetch again, it resumes", file.display())]
    Timeout {
        /// The URL requested.
        url: String,
        /// The file it was meant for.
        file: PathBuf,
        /// Which timeout fired.
        what: String,
    },

    /// Another network or protocol error.
    #[error("{url}: {message} (while fetching {})", file.display())]
    Network {
        /// The URL requested.
        url: String,
        /// The file it was meant for.
        file: PathBuf,
        /// The error.
        message: String,
    },

    /// The downloaded bytes do not have a pinned checksum other than sha256 (an OpenNeuro
    /// annex key's MD5, a git object id); the bad file was deleted.
    #[error("{0}")]
    Digest(Box<DigestMismatch>),

    /// The downloaded bytes do not have the expected sha256; the bad file was deleted.
    #[error(
        "{}: checksum mismatch: expected sha256 {expected}, got {actual} (downloaded from {url}); the file was deleted, nothing corrupt is left. If the source changed on purpose, delete the entry from {} and fetch again",
        file.display(), lock.display()
    )]
    Checksum {
        /// The URL downloaded.
        url: String,
        /// The destination file (deleted).
        file: PathBuf,
        /// Expected sha256 (hex).
        expected: String,
        /// sha256 of what arrived (hex).
        actual: String,
        /// Where the expectation comes from (datasets.toml or the lock file).
        lock: PathBuf,
    },

    /// The downloaded size differs from the expected size; the bad file was deleted.
    #[error(
        "{}: size mismatch: expected {expected} bytes, got {actual} (downloaded from {url}); the file was deleted",
        file.display()
    )]
    Size {
        /// The URL downloaded.
        url: String,
        /// The destination file (deleted).
        file: PathBuf,
        /// Expected size in bytes.
        expected: u64,
        /// Size received.
        actual: u64,
    },

    /// The disk is full; the partial download is kept and resumes on the next fetch.
    #[error(
        "{}: disk full while downloading {url}; free some space (or choose another --data-dir) and fetch again: the download resumes",
        path.display()
    )]
    DiskFull {
        /// The file being written.
        path: PathBuf,
        /// The URL downloaded.
        url: String,
    },

    /// Writing a downloaded file failed.
    #[error("{}: cannot write (downloading {url}): {source}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The URL downloaded.
        url: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The OpenNeuro listing failed or was not understood.
    #[error("OpenNeuro listing of {dataset} {version} ({url}): {message}")]
    Listing {
        /// The GraphQL endpoint.
        url: String,
        /// The OpenNeuro dataset id.
        dataset: String,
        /// The snapshot tag.
        version: String,
        /// What went wrong.
        message: String,
    },

    /// The lock file is malformed.
    #[error("{}: bad lock file: {message}; delete it to record the checksums again", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// An archive could not be unpacked.
    #[error("{}: cannot unpack: {message}", path.display())]
    Unpack {
        /// The archive.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },

    /// Several downloads failed; each error is listed.
    #[error("{} of {total} downloads failed:\n{}", errors.len(), list(errors))]
    Downloads {
        /// How many files were to be fetched.
        total: usize,
        /// The failures.
        errors: Vec<Error>,
    },
}

fn status_hint(status: u16) -> &'static str {
    match status {
        404 => " not found",
        403 => " forbidden",
        416 => " range not satisfiable",
        500..=599 => " server error, try again later",
        _ => "",
    }
}

fn list(errors: &[Error]) -> String {
    errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}

/// A pinned checksum other than sha256 that a download did not have (boxed in [`Error::Digest`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "{}: checksum mismatch: expected {algorithm} {expected} ({from}), got {actual} (downloaded from {url}); the file was deleted, nothing corrupt is left",
    file.display()
)]
pub struct DigestMismatch {
    /// The URL downloaded.
    pub url: String,
    /// The destination file (deleted).
    pub file: PathBuf,
    /// Which digest (`md5`, `git object id (sha1)`).
    pub algorithm: &'static str,
    /// Expected value (hex).
    pub expected: String,
    /// What arrived (hex).
    pub actual: String,
    /// Where the expectation comes from.
    pub from: String,
}
