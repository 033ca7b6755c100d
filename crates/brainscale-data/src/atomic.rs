//! Atomic file writes: write to a temporary name in the destination folder, then rename.
//!
//! A reader never sees a half-written file: either the old file (or none) or the complete new
//! one. If writing fails (an error or a panic in the writer), the temporary file is removed and
//! the destination is left untouched.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::DataError;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Removes the temporary file unless the write was committed.
pub(crate) struct TempGuard {
    pub(crate) path: PathBuf,
    pub(crate) committed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A temporary path next to `path`: `.NAME.tmp-PID-N` (hidden, same folder, same file system).
pub(crate) fn temp_path(path: &Path) -> Result<PathBuf, DataError> {
    let name = path.file_name().ok_or_else(|| DataError::Io {
        action: "cannot write",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path has no file name"),
    })?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = format!(".{}.tmp-{}-{n}", name.to_string_lossy(), std::process::id());
    Ok(path.with_file_name(tmp))
}

/// Writes `path` atomically through a buffered writer.
///
/// `write` receives a buffered writer on a temporary file in the same folder; when it returns
/// `Ok`, the data are flushed and synced and the file is renamed onto `path` (replacing any
/// existing file). When it returns `Err` or panics, the temporary file is removed. Errors of
/// your own type work as long as they convert from [`DataError`].
///
/// ```
/// use std::io::Write;
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("hello.txt");
/// brainscale_data::write_atomic(&path, |w| {
///     w.write_all(b"hello").map_err(|e| brainscale_data::DataError::Io {
///         action: "cannot write", path: path.clone(), source: e })
/// })?;
/// assert_eq!(std::fs::read_to_string(&path)?, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomic<T, E, F>(path: &Path, write: F) -> Result<T, E>
where
    E: From<DataError>,
    F: FnOnce(&mut BufWriter<File>) -> Result<T, E>,
{
    write_atomic_path(path, |tmp| {
        let file = File::create(tmp).map_err(|e| DataError::write(path, e))?;
        let mut w = BufWriter::with_capacity(1 << 16, file);
        let value = write(&mut w)?;
        let file = w.into_inner().map_err(|e| DataError::write(path, e.into_error()))?;
        file.sync_all().map_err(|e| DataError::write(path, e))?;
        Ok(value)
    })
}

/// Writes `path` atomically through a callback that writes a whole file at the given
/// temporary path (for libraries that only write to paths, e.g. safetensors).
///
/// The temporary path is in the same folder as `path`; it is renamed onto `path` when
/// `write` returns `Ok` and removed otherwise.
pub fn write_atomic_path<T, E, F>(path: &Path, write: F) -> Result<T, E>
where
    E: From<DataError>,
    F: FnOnce(&Path) -> Result<T, E>,
{
    let tmp = temp_path(path)?;
    let mut guard = TempGuard { path: tmp, committed: false };
    let value = write(&guard.path)?;
    std::fs::rename(&guard.path, path).map_err(|e| DataError::write(path, e))?;
    guard.committed = true;
    Ok(value)
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    write_atomic(path, |w| w.write_all(bytes).map_err(|e| DataError::write(path, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "old").unwrap();
        write_bytes_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(entries(dir.path()), vec!["a.txt"]);
    }

    #[test]
    fn failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "old").unwrap();
        let r: Result<(), DataError> = write_atomic(&path, |w| {
            w.write_all(b"half").unwrap();
            Err(DataError::SynthParams { reason: "stop".into() })
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(entries(dir.path()), vec!["a.txt"]);
    }

    #[test]
    fn panicking_writer_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.txt");
        let result = std::panic::catch_unwind(|| {
            let _: Result<(), DataError> = write_atomic(&path, |_| panic!("writer failed"));
        });
        assert!(result.is_err());
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn missing_folder_is_an_io_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/c.txt");
        let err = write_bytes_atomic(&path, b"x").unwrap_err();
        assert!(err.to_string().contains("c.txt"), "{err}");
    }
}
