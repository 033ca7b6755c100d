//! The data directory: where downloads and prepared datasets live.
//!
//! ```text
//! ROOT/
//!   raw/<entry>/...                 downloads of one registry entry, as laid out at the source
//!   raw/<entry>/brainscale.lock.toml sha256 and size of every file downloaded (see `lock`)
//!   datasets/<name>/                prepared datasets in layout v1 (`brainscale prepare`)
//!   datasets/<name>/sub-XX/         one subject of it, also in layout v1
//! ```

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Environment variable that chooses the data directory (after `--data-dir`).
pub const DATA_ENV: &str = "BRAINSCALE_DATA";

/// Where the chosen data directory came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootOrigin {
    /// The `--data-dir` flag.
    Flag,
    /// `$BRAINSCALE_DATA`.
    Env,
    /// The operating system's user cache directory + `brainscale`.
    Cache,
}

/// The data directory, resolved once.
///
/// ```
/// use brainscale_datasets::DataRoot;
/// let root = DataRoot::resolve(Some(std::path::Path::new("/data/brainscale"))).unwrap();
/// assert_eq!(root.raw("lpp-en"), std::path::Path::new("/data/brainscale/raw/lpp-en"));
/// assert_eq!(root.prepared("lpp-en/sub-EN057"), std::path::Path::new("/data/brainscale/datasets/lpp-en/sub-EN057"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataRoot {
    path: PathBuf,
    origin: RootOrigin,
}

impl DataRoot {
    /// Resolves the data directory in this order: `flag` (`--data-dir`), `$BRAINSCALE_DATA`
    /// (when set and not empty), the OS cache directory + `brainscale` (`~/.cache/brainscale`
    /// on Linux, `~/Library/Caches/brainscale` on macOS, `%LOCALAPPDATA%\brainscale` on
    /// Windows). The folder is not created here.
    pub fn resolve(flag: Option<&Path>) -> Result<DataRoot> {
        if let Some(p) = flag {
            return Ok(DataRoot { path: p.to_path_buf(), origin: RootOrigin::Flag });
        }
        if let Some(v) = std::env::var_os(DATA_ENV).filter(|v| !v.is_empty()) {
            return Ok(DataRoot { path: PathBuf::from(v), origin: RootOrigin::Env });
        }
        let cache = dirs::cache_dir().ok_or(Error::NoDataDir)?;
        Ok(DataRoot { path: cache.join("brainscale"), origin: RootOrigin::Cache })
    }

    /// A data directory at `path` (as if given with `--data-dir`).
    pub fn at(path: impl Into<PathBuf>) -> DataRoot {
        DataRoot { path: path.into(), origin: RootOrigin::Flag }
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where it came from.
    pub fn origin(&self) -> RootOrigin {
        self.origin
    }

    /// `ROOT/raw/<entry>`: the downloads of a registry entry.
    pub fn raw(&self, entry: &str) -> PathBuf {
        self.path.join("raw").join(entry)
    }

    /// `ROOT/datasets/<name>`: a prepared dataset (layout v1). `name` may hold one slash for a
    /// single subject (`lpp-en/sub-EN057`), a layout-v1 folder nested in the average one.
    pub fn prepared(&self, name: &str) -> PathBuf {
        name.split('/').filter(|s| !s.is_empty()).fold(self.path.join("datasets"), |p, s| p.join(s))
    }

    /// A one-line description for messages: the path and how it was chosen.
    pub fn describe(&self) -> String {
        let how = match self.origin {
            RootOrigin::Flag => "--data-dir",
            RootOrigin::Env => DATA_ENV,
            RootOrigin::Cache => "the user cache directory; change it with --data-dir or BRAINSCALE_DATA",
        };
        format!("{} ({how})", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_and_paths_nest() {
        let root = DataRoot::resolve(Some(Path::new("/x"))).unwrap();
        assert_eq!(root.origin(), RootOrigin::Flag);
        assert_eq!(root.raw("glove-6b"), Path::new("/x/raw/glove-6b"));
        assert_eq!(root.prepared("lpp-en"), Path::new("/x/datasets/lpp-en"));
        assert_eq!(root.prepared("lpp-en/sub-EN057"), Path::new("/x/datasets/lpp-en/sub-EN057"));
    }
}
