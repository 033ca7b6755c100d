//! `--dataset NAME|DIR`: a folder when it exists, else a prepared dataset of the data
//! directory, with an error that says how to get it.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::registry::{Registry, Source};
use crate::root::{DataRoot, RootOrigin};

/// Resolves a `--dataset` argument: an existing path is returned as is; otherwise `arg` is a
/// dataset name (`lpp-en`, or `lpp-en/sub-EN057` for one subject) looked up as
/// `ROOT/datasets/<arg>` (ROOT from `data_dir`, `$BRAINSCALE_DATA` or the cache directory).
///
/// ```
/// # let tmp = tempfile::tempdir().unwrap();
/// let e = brainscale_datasets::resolve_dataset("lpp-en", Some(tmp.path())).unwrap_err().to_string();
/// assert!(e.contains("brainscale datasets fetch lpp-en"));
/// ```
pub fn resolve_dataset(arg: &str, data_dir: Option<&Path>) -> Result<PathBuf> {
    let path = Path::new(arg);
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    if !is_name(arg) {
        return Err(Error::NoDataset { arg: arg.to_owned(), message: "no such folder".into() });
    }
    let root = DataRoot::resolve(data_dir)?;
    let dir = root.prepared(arg);
    if dir.is_dir() {
        return Ok(dir);
    }
    let registry = Registry::builtin()?;
    let base = arg.split('/').next().unwrap_or(arg);
    let flag = match root.origin() {
        RootOrigin::Flag => format!(" --data-dir {}", root.path().display()),
        _ => String::new(),
    };
    let message = match registry.get(base) {
        Err(_) => format!(
            "no such folder, and no dataset of that name (known: {}); give a folder in layout v1 (e.g. one written by `brainscale synth`) or a name from `brainscale datasets list`",
            registry.entries().iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
        Ok(entry) => match &entry.source {
            Source::Generated { command } => format!(
                "not prepared in {} (data directory {}). The demo is generated locally: `{command}` and then --dataset DIR, or `brainscale run`, which writes it to OUT/dataset",
                dir.display(),
                root.describe()
            ),
            _ if !entry.is_preparable() => format!(
                "{base} is a registry entry of supporting files, not a dataset: `brainscale datasets fetch {base}{flag}` puts them in {}",
                root.raw(base).display()
            ),
            _ => format!(
                "not prepared: {} does not exist (data directory {}). Fetch and prepare it:\n  brainscale datasets fetch {base}{flag} && brainscale prepare {base}{flag}{}",
                dir.display(),
                root.describe(),
                if arg.contains('/') { "\n(prepare writes every subject as NAME/sub-XX too)" } else { "" }
            ),
        },
    };
    Err(Error::NoDataset { arg: arg.to_owned(), message })
}

/// A dataset name: `name` or `name/sub-XX`, letters, digits, `-`, `_`, `.`, not a path.
fn is_name(arg: &str) -> bool {
    let parts: Vec<&str> = arg.split('/').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty() && !p.starts_with('.') && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_in_the_data_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let root = DataRoot::at(tmp.path());
        std::fs::create_dir_all(root.prepared("lpp-en/sub-EN057")).unwrap();
        assert_eq!(resolve_dataset("lpp-en", Some(tmp.path())).unwrap(), root.prepared("lpp-en"));
        assert_eq!(resolve_dataset("lpp-en/sub-EN057", Some(tmp.path())).unwrap(), root.prepared("lpp-en/sub-EN057"));
        // An existing folder wins.
        let here = tmp.path().join("mine");
        std::fs::create_dir(&here).unwrap();
        assert_eq!(resolve_dataset(here.to_str().unwrap(), Some(tmp.path())).unwrap(), here);
    }

    #[test]
    fn missing_datasets_say_how_to_get_them() {
        let tmp = tempfile::tempdir().unwrap();
        let d = Some(tmp.path());
        let e = resolve_dataset("lpp-fr", d).unwrap_err().to_string();
        assert!(
            e.contains("datasets fetch lpp-fr --data-dir") && e.contains("&& brainscale prepare lpp-fr --data-dir"),
            "{e}"
        );
        assert!(e.contains("--data-dir"), "the flag is repeated in the commands: {e}");
        let e = resolve_dataset("demo", d).unwrap_err().to_string();
        assert!(e.contains("brainscale synth") && e.contains("brainscale run"), "{e}");
        let e = resolve_dataset("lpp-xx", d).unwrap_err().to_string();
        assert!(e.contains("no dataset of that name") && e.contains("lpp-en"), "{e}");
        let e = resolve_dataset("./nowhere/at/all", d).unwrap_err().to_string();
        assert!(e.contains("no such folder") && !e.contains("known"), "{e}");
        let e = resolve_dataset("glove-6b", d).unwrap_err().to_string();
        assert!(e.contains("not a dataset"), "{e}");
    }
}
