//! What `brainscale datasets` prints.

use std::fmt;

use crate::error::Result;
use crate::fetch::{FetchReport, VerifyReport, status};
use crate::registry::Registry;
use crate::root::DataRoot;

/// The `datasets list` table: name, version, what is fetched and prepared here, description.
pub fn list_text(registry: &Registry, root: &DataRoot) -> Result<String> {
    let mut rows =
        vec![["NAME".to_owned(), "VERSION".into(), "FETCHED".into(), "PREPARED".into(), "DESCRIPTION".into()]];
    for e in registry.entries() {
        let st = status(e, root)?;
        let version: String = e.version.chars().take(12).collect();
        let prepared = if st.prepared { "yes" } else { "-" };
        rows.push([e.name.clone(), version, st.fetched_text(), prepared.into(), e.description.clone()]);
    }
    let widths: Vec<usize> = (0..4).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut s = format!("data directory: {}\n", root.describe());
    for r in &rows {
        for (c, w) in widths.iter().enumerate() {
            s.push_str(&format!("{:<w$}  ", r[c], w = *w));
        }
        s.push_str(&r[4]);
        s.push('\n');
    }
    Ok(s)
}

impl fmt::Display for FetchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} files in {}", self.entry, self.files, self.dir.display())?;
        write!(f, ": {} downloaded", self.downloaded)?;
        if self.downloaded > 0 {
            write!(f, " ({}", indicatif::HumanBytes(self.bytes))?;
            if self.resumed > 0 {
                write!(f, ", {} resumed after an interruption", self.resumed)?;
            }
            write!(f, ")")?;
        }
        writeln!(f, ", {} already present", self.present)?;
        if let Some(subjects) = &self.subjects {
            writeln!(f, "subjects: {} (the first {} in sorted order)", subjects.join(", "), subjects.len())?;
        }
        if self.unpacked > 0 {
            writeln!(f, "unpacked {} files", self.unpacked)?;
        }
        if !self.recorded.is_empty() {
            writeln!(
                f,
                "note: recorded the sha256 of {} file(s) for the first time in {} (no published checksum); later fetches and `brainscale datasets verify {}` check them",
                self.recorded.len(),
                self.lock.display(),
                self.entry
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.never_fetched {
            return writeln!(f, "{}: nothing fetched in {}", self.entry, self.dir.display());
        }
        writeln!(f, "{}: {} file(s) OK in {}", self.entry, self.ok, self.dir.display())?;
        for m in &self.missing {
            writeln!(f, "missing: {m}")?;
        }
        for c in &self.corrupt {
            writeln!(
                f,
                "corrupt: {} (expected sha256 {}, {} bytes; found {}, {} bytes)",
                c.path, c.expected.0, c.expected.1, c.actual.0, c.actual.1
            )?;
        }
        Ok(())
    }
}
