//! The dataset registry: `datasets.toml` parsed once into typed entries.
//!
//! Each top-level table is one entry, with exactly one source:
//!
//! ```toml
//! [demo]
//! version = "1"
//! description = "..."
//! license = "CC0-1.0"
//! citation = "..."
//! generated = "brainscale synth --out DIR --seed 0"   # made locally, never downloaded
//!
//! [lpp-en-masks]
//! # ... same four fields ...
//! [[lpp-en-masks.files]]                  # plain files
//! url = "https://..."
//! path = "mask_lpp_en.nii.gz"             # where it goes under ROOT/raw/<entry>/
//! size = 3454                             # optional, bytes
//! sha256 = "8087..."                      # optional; unknown ones are recorded in the lock file
//! unpack = false                          # optional; true: a zip unpacked beside it
//!
//! [lpp-en.openneuro]                      # files of an OpenNeuro snapshot
//! dataset = "ds003643"
//! version = "2.0.5"                       # the snapshot tag
//! prefixes = ["derivatives/sub-EN", "annotation/EN/"]
//! patterns = ["derivatives/sub-EN*/func/*_bold.nii.gz", "annotation/EN/**"]
//!
//! [lpp-en.prepare]                        # optional, free-form: read by `brainscale prepare`
//! ```

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The registry embedded at build time (the repository's `datasets.toml`).
const BUILTIN: &str = include_str!("../../../datasets.toml");

/// The name shown for the embedded registry in messages.
pub const BUILTIN_NAME: &str = "<builtin datasets.toml>";

/// All entries of a registry file, in file order.
#[derive(Clone, Debug)]
pub struct Registry {
    path: PathBuf,
    entries: Vec<Entry>,
}

/// One dataset of the registry.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Its name (`lpp-en`): letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// The version of the data (an OpenNeuro snapshot tag, a commit, ...).
    pub version: String,
    /// One line.
    pub description: String,
    /// SPDX identifier or a short licence text.
    pub license: String,
    /// How to cite it.
    pub citation: String,
    /// Where the files come from.
    pub source: Source,
    /// Settings for `brainscale prepare` (opaque here; parsed by brainscale-prep).
    pub prepare: Option<toml::Table>,
}

/// Where an entry's files come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Made locally by a command (the `demo`); nothing to download.
    Generated {
        /// The command that writes it.
        command: String,
    },
    /// Plain files at fixed URLs.
    Files(Vec<FileSpec>),
    /// Files of an OpenNeuro snapshot, chosen by prefix and glob.
    OpenNeuro(OpenNeuroSpec),
}

/// A file at a fixed URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    /// Where to download it from.
    pub url: String,
    /// Its path under `ROOT/raw/<entry>/` (relative, `/`-separated).
    pub path: String,
    /// Its size in bytes, when known.
    pub size: Option<u64>,
    /// Its sha256 (lowercase hex), when known; otherwise the first download records it in the
    /// lock file.
    pub sha256: Option<String>,
    /// Whether it is a zip archive to unpack into the same folder after download.
    pub unpack: bool,
}

/// Files of one OpenNeuro snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenNeuroSpec {
    /// The OpenNeuro accession number (`ds003643`).
    pub dataset: String,
    /// The snapshot tag (`2.0.5`): the listing and every file URL are those of this snapshot.
    pub version: String,
    /// A file is taken only if its path starts with one of these.
    pub prefixes: Vec<String>,
    /// ... and matches one of these globs (`*` and `?` within a path segment, `**` across
    /// segments). Empty: every file under the prefixes.
    pub patterns: Vec<String>,
}

impl OpenNeuroSpec {
    /// Whether a snapshot file (its path in the dataset) is part of this entry.
    pub fn selects(&self, path: &str) -> bool {
        let options =
            glob::MatchOptions { case_sensitive: true, require_literal_separator: true, ..Default::default() };
        self.prefixes.iter().any(|p| path.starts_with(p.as_str()))
            && (self.patterns.is_empty()
                || self
                    .patterns
                    .iter()
                    .filter_map(|p| glob::Pattern::new(p).ok())
                    .any(|p| p.matches_with(path, options)))
    }
}

impl Entry {
    /// Whether the entry is downloaded (`false` for generated ones such as `demo`).
    pub fn is_downloadable(&self) -> bool {
        !matches!(self.source, Source::Generated { .. })
    }

    /// Whether `brainscale prepare` makes a dataset of it (OpenNeuro entries, or any entry with
    /// a `[NAME.prepare]` table); masks and word vectors are supporting files.
    pub fn is_preparable(&self) -> bool {
        matches!(self.source, Source::OpenNeuro(_)) || self.prepare.is_some()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    version: String,
    description: String,
    license: String,
    #[serde(default)]
    citation: String,
    generated: Option<String>,
    files: Option<Vec<RawFile>>,
    openneuro: Option<RawOpenNeuro>,
    prepare: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    url: String,
    path: String,
    size: Option<u64>,
    sha256: Option<String>,
    #[serde(default)]
    unpack: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOpenNeuro {
    dataset: String,
    version: String,
    prefixes: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
}

impl Registry {
    /// The registry embedded in the binary (the repository's `datasets.toml`).
    pub fn builtin() -> Result<Registry> {
        Registry::parse(BUILTIN, Path::new(BUILTIN_NAME))
    }

    /// Reads a registry file.
    pub fn load(path: &Path) -> Result<Registry> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
        Registry::parse(&text, path)
    }

    /// Parses registry text; `path` names it in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Registry> {
        let bad = |message: String| Error::Registry { path: path.to_path_buf(), message };
        let raw: BTreeMap<String, toml::Spanned<RawEntry>> = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut raw: Vec<(String, toml::Spanned<RawEntry>)> = raw.into_iter().collect();
        raw.sort_by_key(|(_, e)| e.span().start);
        let entries =
            raw.into_iter().map(|(name, e)| entry(name, e.into_inner()).map_err(&bad)).collect::<Result<Vec<_>>>()?;
        Ok(Registry { path: path.to_path_buf(), entries })
    }

    /// Where the registry was read from (or [`BUILTIN_NAME`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry called `name`; an unknown name is an error that lists the known ones.
    pub fn get(&self, name: &str) -> Result<&Entry> {
        self.entries.iter().find(|e| e.name == name).ok_or_else(|| Error::UnknownDataset {
            name: name.to_owned(),
            known: self.entries.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }
}

fn entry(name: String, raw: RawEntry) -> std::result::Result<Entry, String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) || name.starts_with('.')
    {
        return Err(format!("entry [{name}]: a name may hold only letters, digits, `-`, `_` and `.`"));
    }
    let sources = [raw.generated.is_some(), raw.files.is_some(), raw.openneuro.is_some()];
    let source = match (raw.generated, raw.files, raw.openneuro) {
        _ if sources.iter().filter(|s| **s).count() != 1 => {
            return Err(format!(
                "entry [{name}]: give exactly one source: `generated = \"COMMAND\"`, `[[{name}.files]]` or `[{name}.openneuro]`"
            ));
        }
        (Some(command), _, _) => Source::Generated { command },
        (_, Some(files), _) => Source::Files(files_spec(&name, files)?),
        (_, _, Some(o)) => Source::OpenNeuro(openneuro_spec(&name, o)?),
        _ => unreachable!("exactly one source was checked above"),
    };
    Ok(Entry {
        name,
        version: raw.version,
        description: raw.description,
        license: raw.license,
        citation: raw.citation,
        source,
        prepare: raw.prepare,
    })
}

fn files_spec(name: &str, files: Vec<RawFile>) -> std::result::Result<Vec<FileSpec>, String> {
    if files.is_empty() {
        return Err(format!("entry [{name}]: `files` is empty"));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let what = format!("entry [{name}], file {:?}", f.path);
        check_relative(&f.path).map_err(|m| format!("{what}: {m}"))?;
        if !seen.insert(f.path.clone()) {
            return Err(format!("{what}: listed twice"));
        }
        if !(f.url.starts_with("https://") || f.url.starts_with("http://")) {
            return Err(format!("{what}: url {:?} must start with https:// or http://", f.url));
        }
        let sha256 = match f.sha256 {
            Some(s) if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) => Some(s.to_ascii_lowercase()),
            Some(s) => return Err(format!("{what}: sha256 {s:?} is not 64 hexadecimal digits")),
            None => None,
        };
        out.push(FileSpec { url: f.url, path: f.path, size: f.size, sha256, unpack: f.unpack });
    }
    Ok(out)
}

fn openneuro_spec(name: &str, o: RawOpenNeuro) -> std::result::Result<OpenNeuroSpec, String> {
    let what = format!("entry [{name}.openneuro]");
    if o.dataset.is_empty() || !o.dataset.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("{what}: dataset {:?} must be an accession number like ds003643", o.dataset));
    }
    if o.version.is_empty() || o.version.contains(['"', '\\', ' ']) {
        return Err(format!("{what}: version {:?} must be a snapshot tag like 2.0.5", o.version));
    }
    if o.prefixes.is_empty() {
        return Err(format!("{what}: `prefixes` is empty"));
    }
    for p in &o.patterns {
        glob::Pattern::new(p).map_err(|e| format!("{what}: pattern {p:?}: {e}"))?;
    }
    Ok(OpenNeuroSpec { dataset: o.dataset, version: o.version, prefixes: o.prefixes, patterns: o.patterns })
}

/// A relative `/`-separated path with no `..`, `.`, root or empty segment.
pub(crate) fn check_relative(path: &str) -> std::result::Result<(), String> {
    let ok = !path.is_empty()
        && !path.contains('\\')
        && path.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
        && Path::new(path).components().all(|c| matches!(c, Component::Normal(_)));
    if ok { Ok(()) } else { Err("a path must be relative, `/`-separated, without `.`, `..` or empty parts".into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_registry_parses_with_every_documented_entry() {
        let r = Registry::builtin().unwrap();
        let names: Vec<&str> = r.entries().iter().map(|e| e.name.as_str()).collect();
        for n in ["demo", "lpp-en", "lpp-fr", "lpp-cn", "lpp-en-masks", "glove-6b"] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        assert_eq!(names[0], "demo", "file order is kept");
        assert!(!r.get("demo").unwrap().is_downloadable());
        let Source::Files(masks) = &r.get("lpp-en-masks").unwrap().source else { panic!("files") };
        assert_eq!(masks.len(), 8);
        assert!(masks.iter().all(|f| f.sha256.is_some() && f.size.is_some()));
        let Source::OpenNeuro(en) = &r.get("lpp-en").unwrap().source else { panic!("openneuro") };
        assert_eq!(en.dataset, "ds003643");
        assert!(en.selects("annotation/EN/lppEN_word_information.csv"));
        assert!(en.selects(
            "derivatives/sub-EN057/func/sub-EN057_task-lppEN_run-15_space-MNIColin27_desc-preproc_bold.nii.gz"
        ));
        assert!(!en.selects(
            "derivatives/sub-FR001/func/sub-FR001_task-lppFR_run-1_space-MNIColin27_desc-preproc_bold.nii.gz"
        ));
        assert!(!en.selects("sub-EN057/func/sub-EN057_task-lppEN_run-15_bold.nii.gz"), "raw BIDS is not taken");
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let r = Registry::builtin().unwrap();
        let e = r.get("lpp-de").unwrap_err().to_string();
        assert!(e.contains("lpp-de") && e.contains("lpp-en") && e.contains("glove-6b"), "{e}");
    }

    #[test]
    fn prepare_tables_are_kept_opaque() {
        let text = r#"
[x]
version = "1"
description = "d"
license = "CC0-1.0"
generated = "make it"
[x.prepare]
grid = "lpp"
interpolation = "continuous"
[x.prepare.subjects]
exclude = ["sub-01"]
"#;
        let r = Registry::parse(text, Path::new("t.toml")).unwrap();
        let p = r.get("x").unwrap().prepare.as_ref().unwrap();
        assert_eq!(p["grid"].as_str(), Some("lpp"));
        assert!(p["subjects"].is_table());
    }

    #[test]
    fn malformed_entries_are_errors_naming_the_file_and_entry() {
        let cases = [
            ("[a]\nversion='1'\ndescription='d'\nlicense='l'\n", "exactly one source"),
            (
                "[a]\nversion='1'\ndescription='d'\nlicense='l'\ngenerated='x'\n[[a.files]]\nurl='https://h/f'\npath='f'\n",
                "exactly one source",
            ),
            (
                "[a]\nversion='1'\ndescription='d'\nlicense='l'\n[[a.files]]\nurl='https://h/f'\npath='../f'\n",
                "relative",
            ),
            (
                "[a]\nversion='1'\ndescription='d'\nlicense='l'\n[[a.files]]\nurl='https://h/f'\npath='f'\nsha256='abc'\n",
                "64 hexadecimal",
            ),
            ("[a]\nversion='1'\ndescription='d'\nlicense='l'\n[[a.files]]\nurl='ftp://h/f'\npath='f'\n", "https://"),
            (
                "[a]\nversion='1'\ndescription='d'\nlicense='l'\n[a.openneuro]\ndataset='ds1'\nversion='1'\nprefixes=[]\n",
                "prefixes",
            ),
            ("[a]\nversion='1'\ndescription='d'\nlicense='l'\ngenerated='x'\nsize=3\n", "unknown field"),
            ("[a]\nversion='1'\ndescription='d'\ngenerated='x'\n", "license"),
        ];
        for (text, needle) in cases {
            let e = Registry::parse(text, Path::new("reg.toml")).unwrap_err().to_string();
            assert!(e.contains("reg.toml") && e.contains(needle), "{needle}: {e}");
        }
    }
}
