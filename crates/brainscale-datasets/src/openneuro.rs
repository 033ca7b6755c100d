//! Listing the files of an OpenNeuro snapshot.
//!
//! OpenNeuro's public GraphQL API (`POST https://openneuro.org/crn/graphql`, no account needed
//! for public datasets) answers
//!
//! ```graphql
//! query { snapshot(datasetId: "ds003643", tag: "2.0.5") {
//!     id files(recursive: true) { id filename size directory urls } } }
//! ```
//!
//! with every file of that snapshot: its path in the dataset (`filename`), size and download
//! URLs. The URLs of a snapshot point at versioned objects (`...?versionId=...`), so a fetch
//! gets the snapshot's bytes even after newer versions were published; this is how the
//! registry pins a version. Each file's `id` is, for a file stored in git-annex (every BOLD
//! image), its annex key `MD5E-s<size>--<md5>.<ext>`: the size and MD5 it must have, checked
//! on the first download too (a file whose `id` is no such key, e.g. a small text file kept
//! in git, is checked by size). The sha256 of every file is then recorded in the lock file. (The public S3 bucket `openneuro.org` can also be listed, but it holds the
//! latest version only, which cannot be pinned.)
//!
//! The base URL is `https://openneuro.org`, or `$BRAINSCALE_OPENNEURO_URL` (tests point it at a
//! loopback server).

use serde::Deserialize;

use crate::download::Http;
use crate::error::{Error, Result};
use crate::registry::OpenNeuroSpec;

/// Environment variable that replaces the OpenNeuro base URL.
pub const OPENNEURO_ENV: &str = "BRAINSCALE_OPENNEURO_URL";

/// OpenNeuro's address.
pub const OPENNEURO_URL: &str = "https://openneuro.org";

/// One file of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotFile {
    /// Its path in the dataset (`derivatives/sub-EN057/func/...`).
    pub path: String,
    /// Its size in bytes, when listed.
    pub size: Option<u64>,
    /// Where to download it.
    pub url: String,
    /// The MD5 of its bytes (lowercase hex), from its git-annex key, when it has one.
    pub md5: Option<String>,
    /// Its annex key (for messages), when it has one.
    pub key: Option<String>,
}

/// The size and MD5 in a git-annex `MD5E` (or `MD5`) key: `MD5E-s1041287--e157ef21efb92a887656eeba8004e569.csv`.
///
/// ```
/// use brainscale_datasets::openneuro::annex_md5;
/// let key = "MD5E-s1041287--e157ef21efb92a887656eeba8004e569.csv";
/// assert_eq!(annex_md5(key), Some((1041287, "e157ef21efb92a887656eeba8004e569".to_string())));
/// assert_eq!(annex_md5("b3a1f0c2"), None);
/// ```
pub fn annex_md5(key: &str) -> Option<(u64, String)> {
    let rest = key.strip_prefix("MD5E-").or_else(|| key.strip_prefix("MD5-"))?;
    let (fields, name) = rest.split_once("--")?;
    let size = fields.split('-').find_map(|f| f.strip_prefix('s'))?.parse().ok()?;
    let md5 = name.get(..32)?;
    (md5.chars().all(|c| c.is_ascii_hexdigit()) && name[32..].chars().next().is_none_or(|c| c == '.'))
        .then(|| (size, md5.to_ascii_lowercase()))
}

#[derive(Deserialize)]
struct Reply {
    data: Option<ReplyData>,
    #[serde(default)]
    errors: Vec<ReplyError>,
}

#[derive(Deserialize)]
struct ReplyData {
    snapshot: Option<ReplySnapshot>,
}

#[derive(Deserialize)]
struct ReplySnapshot {
    files: Vec<ReplyFile>,
}

#[derive(Deserialize)]
struct ReplyFile {
    #[serde(default)]
    id: Option<String>,
    filename: String,
    size: Option<u64>,
    #[serde(default)]
    directory: Option<bool>,
    #[serde(default)]
    urls: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct ReplyError {
    message: String,
}

/// The GraphQL endpoint under `base` (`BASE/crn/graphql`).
pub fn graphql_url(base: &str) -> String {
    format!("{}/crn/graphql", base.trim_end_matches('/'))
}

/// The base URL: `explicit`, else `$BRAINSCALE_OPENNEURO_URL`, else [`OPENNEURO_URL`].
pub fn base_url(explicit: Option<&str>) -> String {
    explicit
        .map(str::to_owned)
        .or_else(|| std::env::var(OPENNEURO_ENV).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| OPENNEURO_URL.to_owned())
}

/// Lists the files of `spec`'s snapshot that it selects (prefixes and patterns), sorted by path.
pub(crate) fn list(http: &Http, base: &str, spec: &OpenNeuroSpec) -> Result<Vec<SnapshotFile>> {
    let url = graphql_url(base);
    let bad = |message: String| Error::Listing {
        url: url.clone(),
        dataset: spec.dataset.clone(),
        version: spec.version.clone(),
        message,
    };
    let query = format!(
        "query {{ snapshot(datasetId: \"{}\", tag: \"{}\") {{ id files(recursive: true) {{ id filename size directory urls }} }} }}",
        spec.dataset, spec.version
    );
    let body = serde_json::json!({ "query": query }).to_string();
    let text = http.post_json(&url, &body).map_err(&bad)?;
    let reply: Reply = serde_json::from_str(&text).map_err(|e| bad(format!("unexpected reply ({e})")))?;
    if let Some(e) = reply.errors.first() {
        return Err(bad(format!("the API says: {}", e.message)));
    }
    let files = reply
        .data
        .and_then(|d| d.snapshot)
        .ok_or_else(|| bad("no such snapshot (check the dataset id and version tag)".into()))?
        .files;
    let n_listed = files.len();
    let mut under_prefixes = Vec::new();
    let mut out = Vec::new();
    for f in files.into_iter().filter(|f| f.directory != Some(true)) {
        if spec.prefixes.iter().any(|p| f.filename.starts_with(p.as_str())) {
            under_prefixes.push(f.filename.clone());
        }
        if !spec.selects(&f.filename) {
            continue;
        }
        crate::registry::check_relative(&f.filename).map_err(|m| bad(format!("file {:?}: {m}", f.filename)))?;
        let url = f
            .urls
            .and_then(|u| u.into_iter().next())
            .ok_or_else(|| bad(format!("file {:?} has no download URL", f.filename)))?;
        let annex = f.id.as_deref().and_then(annex_md5);
        if let (Some((key_size, _)), Some(size)) = (&annex, f.size)
            && *key_size != size
        {
            return Err(bad(format!(
                "file {:?}: listed with {size} bytes but its annex key {:?} says {key_size}",
                f.filename,
                f.id.as_deref().unwrap_or("")
            )));
        }
        let size = f.size.or(annex.as_ref().map(|a| a.0));
        let key = annex.as_ref().and(f.id.clone());
        out.push(SnapshotFile { path: f.filename, size, url, md5: annex.map(|a| a.1), key });
    }
    if out.is_empty() {
        under_prefixes.sort();
        let sample: Vec<&str> = under_prefixes.iter().take(5).map(String::as_str).collect();
        return Err(bad(format!(
            "no file matches the patterns {:?} ({n_listed} files listed, {} under the prefixes {:?}{}{})",
            spec.patterns,
            under_prefixes.len(),
            spec.prefixes,
            if sample.is_empty() { "" } else { ", e.g. " },
            sample.join(", ")
        )));
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The BIDS subject of a path: its first segment that starts with `sub-`.
pub fn subject_of(path: &str) -> Option<&str> {
    path.split('/').find(|s| s.starts_with("sub-"))
}

/// Keeps the files of the first `n` subjects in sorted order, and every file that belongs to no
/// subject (annotations). Returns the kept files and the subjects chosen.
pub fn first_subjects(files: Vec<SnapshotFile>, n: usize) -> (Vec<SnapshotFile>, Vec<String>) {
    let mut subjects: Vec<String> = files.iter().filter_map(|f| subject_of(&f.path)).map(str::to_owned).collect();
    subjects.sort();
    subjects.dedup();
    subjects.truncate(n);
    let kept =
        files.into_iter().filter(|f| subject_of(&f.path).is_none_or(|s| subjects.iter().any(|k| k == s))).collect();
    (kept, subjects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> SnapshotFile {
        SnapshotFile { path: path.into(), size: Some(1), url: format!("http://h/{path}"), md5: None, key: None }
    }

    #[test]
    fn subjects_are_taken_in_sorted_order_and_shared_files_are_kept() {
        let files = vec![
            file("derivatives/sub-EN059/func/b.nii.gz"),
            file("annotation/EN/words.csv"),
            file("derivatives/sub-EN057/func/a.nii.gz"),
            file("derivatives/sub-EN058/func/a.nii.gz"),
            file("derivatives/sub-EN057/func/b.nii.gz"),
        ];
        let (kept, subjects) = first_subjects(files, 2);
        assert_eq!(subjects, ["sub-EN057", "sub-EN058"]);
        let paths: Vec<&str> = kept.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "annotation/EN/words.csv",
                "derivatives/sub-EN057/func/a.nii.gz",
                "derivatives/sub-EN058/func/a.nii.gz",
                "derivatives/sub-EN057/func/b.nii.gz"
            ]
        );
    }

    #[test]
    fn annex_keys_give_size_and_md5() {
        assert_eq!(
            annex_md5("MD5E-s12--0123456789abcdef0123456789ABCDEF.nii.gz"),
            Some((12, "0123456789abcdef0123456789abcdef".into()))
        );
        assert_eq!(
            annex_md5("MD5-s3--0123456789abcdef0123456789abcdef"),
            Some((3, "0123456789abcdef0123456789abcdef".into()))
        );
        assert_eq!(annex_md5("SHA256E-s3--abc.txt"), None);
        assert_eq!(annex_md5("MD5E-s3--0123"), None);
        assert_eq!(annex_md5("MD5E-sx--0123456789abcdef0123456789abcdef"), None);
        assert_eq!(annex_md5("MD5E-s3--0123456789abcdef0123456789abcdefX"), None);
    }

    #[test]
    fn the_graphql_endpoint_is_under_crn() {
        assert_eq!(graphql_url("http://127.0.0.1:5/"), "http://127.0.0.1:5/crn/graphql");
        assert_eq!(base_url(Some("http://x")), "http://x");
    }
}
