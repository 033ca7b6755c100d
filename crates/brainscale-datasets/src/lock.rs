//! The lock file: the sha256 and size of every file of an entry, recorded at first download.
//!
//! `ROOT/raw/<entry>/brainscale.lock.toml`:
//!
//! ```toml
//! # Written by brainscale ...
//! format = 1
//! entry = "lpp-en"
//! version = "2.0.5"
//!
//! [files."annotation/EN/lppEN_word_information.csv"]
//! sha256 = "..."
//! size = 1234567
//! url = "https://..."
//! ```
//!
//! Checksums pinned in `datasets.toml` are copied here too, so the lock lists everything that
//! was downloaded. Later fetches and `brainscale datasets verify` check the files against it.
//! The lock is rewritten (to a temporary file, then renamed) after every completed download,
//! so an interrupted fetch keeps what it recorded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The lock file's name inside `ROOT/raw/<entry>/`.
pub const LOCK_FILE: &str = "brainscale.lock.toml";

const FORMAT: u32 = 1;

/// One recorded file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedFile {
    /// sha256 of its bytes (lowercase hex).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Where it was downloaded from (informative).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockText {
    format: u32,
    entry: String,
    version: String,
    #[serde(default)]
    files: BTreeMap<String, LockedFile>,
}

/// The lock file of one entry, in memory.
#[derive(Clone, Debug)]
pub struct Lock {
    path: PathBuf,
    entry: String,
    version: String,
    files: BTreeMap<String, LockedFile>,
}

impl Lock {
    /// Reads `dir/brainscale.lock.toml`, or an empty lock for `entry` at `version` when there is
    /// none. A lock written for another version of the entry is an error that says what to do.
    pub fn open(dir: &Path, entry: &str, version: &str) -> Result<Lock> {
        let path = dir.join(LOCK_FILE);
        let lock = match Lock::read(&path)? {
            Some(lock) => lock,
            None => {
                return Ok(Lock { path, entry: entry.to_owned(), version: version.to_owned(), files: BTreeMap::new() });
            }
        };
        if lock.entry != entry || lock.version != version {
            return Err(Error::Lock {
                path,
                message: format!(
                    "it records {} version {}, but datasets.toml asks for {entry} version {version} (move {} away to fetch the new version)",
                    lock.entry,
                    lock.version,
                    dir.display()
                ),
            });
        }
        Ok(lock)
    }

    /// Reads a lock file; `None` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<Lock>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("cannot read", path, e)),
        };
        let bad = |message: String| Error::Lock { path: path.to_path_buf(), message };
        let t: LockText = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if t.format != FORMAT {
            return Err(bad(format!("format {} (this brainscale reads format {FORMAT})", t.format)));
        }
        for (name, f) in &t.files {
            if f.sha256.len() != 64 || !f.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad(format!("file {name:?}: sha256 {:?} is not 64 hexadecimal digits", f.sha256)));
            }
        }
        Ok(Some(Lock { path: path.to_path_buf(), entry: t.entry, version: t.version, files: t.files }))
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entry's version it records.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The record of `file` (a path relative to the entry's folder).
    pub fn get(&self, file: &str) -> Option<&LockedFile> {
        self.files.get(file)
    }

    /// Every recorded file, by path.
    pub fn files(&self) -> impl Iterator<Item = (&str, &LockedFile)> {
        self.files.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of recorded files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Records (or replaces) a file.
    pub fn insert(&mut self, file: &str, record: LockedFile) {
        self.files.insert(file.to_owned(), record);
    }

    /// Writes the lock atomically (a temporary file renamed into place).
    pub fn save(&self) -> Result<()> {
        let text = LockText {
            format: FORMAT,
            entry: self.entry.clone(),
            version: self.version.clone(),
            files: self.files.clone(),
        };
        let body =
            toml::to_string(&text).map_err(|e| Error::Lock { path: self.path.clone(), message: e.to_string() })?;
        let header = "# Written by brainscale: the sha256 and size of every file of this dataset entry, recorded\n\
                      # when first downloaded (or pinned in datasets.toml). `brainscale datasets fetch` and\n\
                      # `brainscale datasets verify` check the files against it. Do not edit.\n";
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        }
        let tmp = self.path.with_extension("toml.tmp");
        std::fs::write(&tmp, format!("{header}{body}")).map_err(|e| Error::io("cannot write", &tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io("cannot rename into place", &self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_round_trips_and_refuses_another_version() {
        let tmp = tempfile::tempdir().unwrap();
        let mut lock = Lock::open(tmp.path(), "e", "1").unwrap();
        assert!(lock.is_empty());
        lock.insert("a/b.nii.gz", LockedFile { sha256: "ab".repeat(32), size: 3, url: "http://h/a".into() });
        lock.save().unwrap();
        let again = Lock::open(tmp.path(), "e", "1").unwrap();
        assert_eq!(again.get("a/b.nii.gz").unwrap().size, 3);
        let e = Lock::open(tmp.path(), "e", "2").unwrap_err().to_string();
        assert!(e.contains(LOCK_FILE) && e.contains("version 1") && e.contains("version 2"), "{e}");
        std::fs::write(
            tmp.path().join(LOCK_FILE),
            "format = 1\nentry='e'\nversion='1'\n[files.x]\nsha256='zz'\nsize=1\n",
        )
        .unwrap();
        let e = Lock::open(tmp.path(), "e", "1").unwrap_err().to_string();
        assert!(e.contains("bad lock file") && e.contains("\"x\""), "{e}");
    }
}
