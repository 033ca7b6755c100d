//! Finding the per-run files of a dataset folder (`bold/run-XX.nii.gz`, `words/run-XX.tsv`,
//! `text/run-XX.txt`) and the ROI masks (`rois/NAME.nii.gz`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// The per-run files of one kind, by run number.
pub(crate) type RunFiles = BTreeMap<usize, PathBuf>;

/// Files `sub/run-<digits><suffix>` for each suffix (the first matching suffix wins).
///
/// Other entries are ignored with a warning, except names that start with `run-` and end
/// with a suffix but do not hold a number, and two files for the same run: those are errors.
pub(crate) fn run_files(sub: &Path, suffixes: &[&str]) -> Result<RunFiles> {
    let mut found = RunFiles::new();
    for name in sorted_names(sub)? {
        let Some(suffix) = suffixes.iter().find(|s| name.ends_with(*s)) else {
            warn_ignored(sub, &name);
            continue;
        };
        let Some(stem) = name.strip_prefix("run-").and_then(|n| n.strip_suffix(suffix)) else {
            warn_ignored(sub, &name);
            continue;
        };
        let number = stem.parse::<usize>().ok().filter(|_| stem.bytes().all(|b| b.is_ascii_digit()));
        let Some(number) = number else {
            return Err(DataError::RunNumbering {
                dir: sub.to_path_buf(),
                reason: format!("{name}: expected a name like run-01{suffix} (run number in digits)"),
            });
        };
        let path = sub.join(&name);
        if let Some(previous) = found.insert(number, path.clone()) {
            return Err(DataError::RunNumbering {
                dir: sub.to_path_buf(),
                reason: format!(
                    "two files for run {number}: {} and {}; keep one",
                    file_name(&previous),
                    file_name(&path)
                ),
            });
        }
    }
    Ok(found)
}

/// NIfTI files in `dir` as (name without extension, path), sorted by name.
pub(crate) fn nifti_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for name in sorted_names(dir)? {
        let stem = name.strip_suffix(".nii.gz").or_else(|| name.strip_suffix(".nii"));
        match stem {
            Some(stem) if !stem.is_empty() => out.push((stem.to_string(), dir.join(&name))),
            _ => warn_ignored(dir, &name),
        }
    }
    Ok(out)
}

/// Standard run label: `run-01`, ..., `run-09`, `run-10`, ...
pub fn run_label(number: usize) -> String {
    format!("run-{number:02}")
}

fn sorted_names(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::read(dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::read(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        names.push(name);
    }
    names.sort();
    Ok(names)
}

fn warn_ignored(dir: &Path, name: &str) {
    log::warn!("ignoring {}: not a file name this folder should hold", dir.join(name).display());
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Checks that bold and word files pair up and that runs are numbered 1..=n.
pub(crate) fn pair_runs(root: &Path, bold: &RunFiles, words: &RunFiles) -> Result<Vec<usize>> {
    let mut problems = Vec::new();
    for (&n, path) in bold {
        if !words.contains_key(&n) {
            problems.push(format!("{}: bold/{} has no words/{}.tsv", run_label(n), file_name(path), run_label(n)));
        }
    }
    for (&n, path) in words {
        if !bold.contains_key(&n) {
            problems.push(format!("{}: words/{} has no bold/{}.nii.gz", run_label(n), file_name(path), run_label(n)));
        }
    }
    if !problems.is_empty() {
        return Err(DataError::RunFilesMismatch { dir: root.to_path_buf(), problems });
    }
    let numbers: Vec<usize> = bold.keys().copied().collect();
    if numbers.iter().enumerate().any(|(i, &n)| n != i + 1) {
        let listed: Vec<String> = numbers.iter().map(|&n| run_label(n)).collect();
        return Err(DataError::RunNumbering {
            dir: root.join("bold"),
            reason: format!("runs must be numbered from run-01 without gaps; found {}", listed.join(", ")),
        });
    }
    Ok(numbers)
}
