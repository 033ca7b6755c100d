//! # brainscale-datasets
//!
//! The dataset registry (`datasets.toml`), the data directory, and checksummed, resumable
//! downloads. `fetch` touches the network; everything else reads the disk.
//!
//! * [`Registry`]: every entry of `datasets.toml`, typed ([`Entry`], [`Source`]).
//! * [`DataRoot`]: where downloads (`ROOT/raw/<entry>`) and prepared datasets
//!   (`ROOT/datasets/<name>`) live, resolved from `--data-dir`, `$BRAINSCALE_DATA` or the OS
//!   cache directory.
//!
//! ```
//! use brainscale_datasets::{DataRoot, Registry};
//! # fn main() -> Result<(), brainscale_datasets::Error> {
//! let registry = Registry::builtin()?;
//! let entry = registry.get("lpp-en-masks")?;
//! let root = DataRoot::at("/data/brainscale");
//! let files = entry.source.files();
//! println!("{} files into {}", files.len(), root.raw(&entry.name).display());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]
// Library code never unwraps: errors are typed and returned (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod download;
pub mod error;
pub mod fetch;
pub mod lock;
pub mod openneuro;
pub mod registry;
pub mod resolve;
pub mod root;
#[cfg(test)]
mod testserver;
mod text;
mod unpack;

pub use download::hash_file as sha256_file;
pub use error::{Error, Result};
pub use fetch::{Corrupt, FetchOptions, FetchReport, LocalStatus, VerifyReport, fetch, status, verify};
pub use lock::{LOCK_FILE, Lock, LockedFile};
pub use openneuro::{OPENNEURO_ENV, OPENNEURO_URL};
pub use registry::{Downloads, Entry, FileSpec, OpenNeuroSpec, Registry, Source};
pub use resolve::resolve_dataset;
pub use root::{DATA_ENV, DataRoot, RootOrigin};
pub use text::list_text;
