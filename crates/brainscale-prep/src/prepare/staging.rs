//! The staging folder of [`super::prepare`]: everything is written under a hidden sibling of
//! the output and renamed onto it only when complete.

use std::path::{Path, PathBuf};

use super::file_name;
use crate::error::{PrepError, Result};

/// A hidden sibling folder of the output, removed unless committed.
pub(crate) struct Staging {
    /// The staging folder.
    pub path: PathBuf,
    out: PathBuf,
    committed: bool,
}

impl Staging {
    /// Creates (empty) the hidden staging folder beside `out`.
    pub fn new(out: &Path) -> Result<Staging> {
        let parent = out.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| PrepError::write(parent, e))?;
        if out.exists() && !out.is_dir() {
            return Err(PrepError::Output { path: out.into(), reason: "exists and is not a folder".into() });
        }
        let path = parent.join(format!(".{}.partial-{}", file_name(out), std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|e| PrepError::write(&path, e))?;
        }
        std::fs::create_dir_all(&path).map_err(|e| PrepError::write(&path, e))?;
        Ok(Staging { path, out: out.to_path_buf(), committed: false })
    }

    /// Renames the staging folder onto the output (the old output, if any, is removed after).
    pub fn commit(mut self) -> Result<()> {
        let old = self.out.with_file_name(format!(".{}.old-{}", file_name(&self.out), std::process::id()));
        let had_old = self.out.exists();
        if had_old {
            std::fs::rename(&self.out, &old).map_err(|e| PrepError::write(&self.out, e))?;
        }
        if let Err(e) = std::fs::rename(&self.path, &self.out) {
            if had_old {
                let _ = std::fs::rename(&old, &self.out);
            }
            return Err(PrepError::write(&self.out, e));
        }
        self.committed = true;
        if had_old {
            std::fs::remove_dir_all(&old).map_err(|e| PrepError::write(&old, e))?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
