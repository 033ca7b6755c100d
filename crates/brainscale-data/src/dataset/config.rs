//! `dataset.toml`: the dataset's name, repetition time, trims and language.

use std::path::Path;

use serde::Deserialize;

use crate::error::{DataError, Result, line_of_offset};

/// Default number of scans trimmed at each end of a run (the paper's 10).
pub const DEFAULT_TRIM: usize = 10;

/// The contents of `dataset.toml`.
///
/// ```toml
/// name = "lpp-en"
/// tr = 2.0            # seconds
/// trim_start = 10     # scans dropped at the start of each run (default 10)
/// trim_end = 10       # scans dropped at the end of each run (default 10)
/// language = "en"
///
/// [provenance]        # any other table or key is kept as is
/// source = "OpenNeuro ds003643"
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetConfig {
    /// Dataset name (defaults to the folder name).
    pub name: String,
    /// Repetition time in seconds.
    pub tr: f64,
    /// Scans trimmed at the start of each run.
    pub trim_start: usize,
    /// Scans trimmed at the end of each run.
    pub trim_end: usize,
    /// Language of the stimulus (e.g. "en"), if given.
    pub language: Option<String>,
    /// Every other key and table (e.g. `[provenance]`), kept verbatim.
    pub extra: toml::Table,
}

#[derive(Deserialize)]
struct RawConfig {
    name: Option<String>,
    tr: f64,
    #[serde(default = "default_trim")]
    trim_start: usize,
    #[serde(default = "default_trim")]
    trim_end: usize,
    language: Option<String>,
    #[serde(flatten)]
    extra: toml::Table,
}

fn default_trim() -> usize {
    DEFAULT_TRIM
}

impl DatasetConfig {
    /// A configuration with the default trims and no extra table.
    pub fn new(name: impl Into<String>, tr: f64) -> Self {
        Self {
            name: name.into(),
            tr,
            trim_start: DEFAULT_TRIM,
            trim_end: DEFAULT_TRIM,
            language: None,
            extra: toml::Table::new(),
        }
    }

    /// Reads and checks `dataset.toml`; `default_name` is used when it has no `name`.
    pub fn read(path: &Path, default_name: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DataError::missing(
                path,
                "dataset description",
                "create it with at least `tr = <seconds>` (and `name`, `language`; see SPEC section 1)",
            ),
            _ => DataError::read(path, e),
        })?;
        Self::parse(path, &text, default_name)
    }

    /// Parses the text of a `dataset.toml`; `path` is only used in error messages.
    pub fn parse(path: &Path, text: &str, default_name: &str) -> Result<Self> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| DataError::Toml {
            path: path.to_path_buf(),
            line: e.span().map(|s| line_of_offset(text, s.start)),
            message: e.message().trim().to_string(),
        })?;
        let invalid = |field: &str, reason: String| DataError::InvalidConfig {
            path: path.to_path_buf(),
            field: field.to_string(),
            reason,
        };
        if !(raw.tr.is_finite() && raw.tr > 0.0) {
            return Err(invalid("tr", format!("expected the repetition time in seconds (> 0), found {}", raw.tr)));
        }
        let name = raw.name.unwrap_or_else(|| default_name.to_string());
        if name.trim().is_empty() {
            return Err(invalid("name", "expected a non-empty dataset name".into()));
        }
        Ok(Self {
            name,
            tr: raw.tr,
            trim_start: raw.trim_start,
            trim_end: raw.trim_end,
            language: raw.language,
            extra: raw.extra,
        })
    }

    /// The TOML text of this configuration (known keys first, then the extra ones).
    pub fn to_toml(&self) -> String {
        let mut table = toml::Table::new();
        table.insert("name".into(), self.name.clone().into());
        table.insert("tr".into(), self.tr.into());
        table.insert("trim_start".into(), (self.trim_start as i64).into());
        table.insert("trim_end".into(), (self.trim_end as i64).into());
        if let Some(language) = &self.language {
            table.insert("language".into(), language.clone().into());
        }
        for (k, v) in &self.extra {
            table.insert(k.clone(), v.clone());
        }
        table.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_extra_tables() {
        let c = DatasetConfig::parse(Path::new("d.toml"), "tr = 2\n[provenance]\nseed = 3\n", "folder").unwrap();
        assert_eq!(c.name, "folder");
        assert_eq!((c.trim_start, c.trim_end), (10, 10));
        assert_eq!(c.extra["provenance"]["seed"].as_integer(), Some(3));
        let again = DatasetConfig::parse(Path::new("d.toml"), &c.to_toml(), "other").unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn errors_name_the_line() {
        let e = DatasetConfig::parse(Path::new("d.toml"), "name = \"x\"\ntr = 2\ntrim_start = -1\n", "f").unwrap_err();
        assert!(matches!(e, DataError::Toml { line: Some(3), .. }), "{e}");
        assert!(e.to_string().starts_with("d.toml, line 3:"), "{e}");
        let e = DatasetConfig::parse(Path::new("d.toml"), "name = \"x\"\ntr = \n", "f").unwrap_err();
        assert!(matches!(e, DataError::Toml { line: Some(2), .. }), "{e}");
        let e = DatasetConfig::parse(Path::new("d.toml"), "name = \"x\"\n", "f").unwrap_err();
        assert!(e.to_string().contains("tr"), "{e}");
        let e = DatasetConfig::parse(Path::new("d.toml"), "tr = 0.0\n", "f").unwrap_err();
        assert!(matches!(e, DataError::InvalidConfig { ref field, .. } if field == "tr"), "{e}");
    }
}
