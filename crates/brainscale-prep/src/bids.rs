//! Subjects and runs from the derivative file names (BIDS, as OpenNeuro ds003643 lays them out).
//!
//! Subjects are the folders of the derivatives folder whose names start with the spec's
//! prefix (`sub-EN057`, ...), sorted by name (the paper's `np.sort(glob(...))`). A subject's
//! runs are the files matching the spec's pattern with a number in place of `{run}`, ordered
//! by that number: the numbers in the file names need not start at 1 (in ds003643, EN057's
//! first section is `run-15`), only their order matters. A subject with another number of runs
//! than the spec's is an error naming the subject and the runs found.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{PrepError, Result};
use crate::spec::PrepareSpec;

/// One BOLD run file of a subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFile {
    /// The number in the file name (`run-15` is 15).
    pub label: u32,
    /// The file.
    pub path: PathBuf,
}

/// A subject and its runs, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The folder name, e.g. `sub-EN057`.
    pub label: String,
    /// The runs, ordered by their number (`runs[0]` is the dataset's run-01).
    pub runs: Vec<RunFile>,
}

/// Finds the subjects of `spec` under `raw` (the entry's download folder), sorted by label.
///
/// Every subject must have exactly `spec.runs` runs. `entry` names the registry entry in the
/// "fetch it first" hint.
pub fn discover(raw: &Path, spec: &PrepareSpec, entry: &str) -> Result<Vec<Subject>> {
    let dir = raw.join(&spec.derivatives);
    let no_subjects = || PrepError::NoSubjects {
        dir: dir.clone(),
        prefix: spec.subject_prefix.clone(),
        pattern: spec.bold.pattern.clone(),
        entry: entry.to_string(),
    };
    if !dir.is_dir() {
        return Err(no_subjects());
    }
    let mut labels: Vec<String> = read_dir_names(&dir)?
        .into_iter()
        .filter(|n| n.starts_with(&spec.subject_prefix) && dir.join(n).is_dir())
        .collect();
    labels.sort();
    let mut subjects = Vec::with_capacity(labels.len());
    for label in labels {
        let runs = subject_runs(&dir, spec, &label)?;
        if runs.is_empty() {
            // A subject folder without BOLD runs of this task (e.g. anatomy only) is skipped.
            log::warn!("{}: no BOLD run matching {}; subject skipped", dir.join(&label).display(), spec.bold.pattern);
            continue;
        }
        if runs.len() != spec.runs {
            let (run_dir, _, _) = spec.bold.split(&label);
            return Err(PrepError::MissingRun {
                subject: label,
                dir: dir.join(run_dir),
                labels: runs.iter().map(|r| format!("run-{:02}", r.label)).collect::<Vec<_>>().join(", "),
                found: runs.len(),
                expected: spec.runs,
            });
        }
        subjects.push(Subject { label, runs });
    }
    if subjects.is_empty() {
        return Err(no_subjects());
    }
    Ok(subjects)
}

/// The runs of one subject, ordered by number.
fn subject_runs(derivatives: &Path, spec: &PrepareSpec, subject: &str) -> Result<Vec<RunFile>> {
    let (run_dir, prefix, suffix) = spec.bold.split(subject);
    let folder = derivatives.join(run_dir);
    if !folder.is_dir() {
        return Ok(Vec::new());
    }
    let mut found: BTreeMap<u32, PathBuf> = BTreeMap::new();
    for name in read_dir_names(&folder)? {
        let Some(middle) = name.strip_prefix(&prefix).and_then(|r| r.strip_suffix(&suffix)) else {
            continue;
        };
        if middle.is_empty() || !middle.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(label) = middle.parse::<u32>() else { continue };
        let path = folder.join(&name);
        if let Some(first) = found.insert(label, path.clone()) {
            return Err(PrepError::DuplicateRun { subject: subject.to_string(), run: label, first, second: path });
        }
    }
    Ok(found.into_iter().map(|(label, path)| RunFile { label, path }).collect())
}

fn read_dir_names(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| PrepError::read(dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| PrepError::read(dir, e))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

/// Chooses the subjects to prepare: the first `n` (all when `None`), plus every kept subject
/// (which must exist). Order is preserved.
pub fn select(subjects: Vec<Subject>, n: Option<usize>, keep: &[String]) -> Result<Vec<Subject>> {
    if let Some(k) = keep.iter().find(|k| !subjects.iter().any(|s| &s.label == *k)) {
        return Err(PrepError::Subjects {
            reason: format!(
                "subject {k} (to keep as its own dataset) is not among the {} subjects found ({} .. {})",
                subjects.len(),
                subjects.first().map(|s| s.label.as_str()).unwrap_or(""),
                subjects.last().map(|s| s.label.as_str()).unwrap_or("")
            ),
        });
    }
    let Some(n) = n else { return Ok(subjects) };
    if n == 0 {
        return Err(PrepError::Subjects { reason: "--subjects 0: expected at least 1 subject".into() });
    }
    if n > subjects.len() {
        return Err(PrepError::Subjects {
            reason: format!("--subjects {n}: only {} subjects were found", subjects.len()),
        });
    }
    Ok(subjects.into_iter().enumerate().filter(|(i, s)| *i < n || keep.contains(&s.label)).map(|(_, s)| s).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(runs: usize) -> PrepareSpec {
        let table: toml::Table = toml::from_str(&format!(
            "language = \"xx\"\nruns = {runs}\nsubject_prefix = \"sub-XX\"\n\
             bold = \"{{subject}}/func/{{subject}}_task-t_run-{{run}}_bold.nii.gz\"\nannotation = \"a.csv\"\n"
        ))
        .unwrap();
        PrepareSpec::from_table(&table, Path::new("datasets.toml"), "x").unwrap()
    }

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"").unwrap();
    }

    #[test]
    fn runs_are_ordered_by_number_not_by_label_start() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for r in [15, 9, 10] {
            touch(d, &format!("derivatives/sub-XX002/func/sub-XX002_task-t_run-{r}_bold.nii.gz"));
        }
        for r in [1, 2, 3] {
            touch(d, &format!("derivatives/sub-XX001/func/sub-XX001_task-t_run-0{r}_bold.nii.gz"));
        }
        touch(d, "derivatives/sub-XX001/func/sub-XX001_task-t_run-01_bold.json");
        touch(d, "derivatives/sub-XX001/func/sub-XX001_task-other_run-01_bold.nii.gz");
        std::fs::create_dir_all(d.join("derivatives/sub-YY001")).unwrap();
        std::fs::create_dir_all(d.join("derivatives/sub-XX003/anat")).unwrap(); // no runs: skipped
        let subjects = discover(d, &spec(3), "x").unwrap();
        assert_eq!(subjects.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(), ["sub-XX001", "sub-XX002"]);
        assert_eq!(subjects[1].runs.iter().map(|r| r.label).collect::<Vec<_>>(), [9, 10, 15]);
        assert!(subjects[0].runs[0].path.ends_with("sub-XX001_task-t_run-01_bold.nii.gz"));
    }

    #[test]
    fn a_missing_run_names_the_subject_and_the_runs_found() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for r in [1, 2, 3] {
            touch(d, &format!("derivatives/sub-XX001/func/sub-XX001_task-t_run-{r}_bold.nii.gz"));
        }
        for r in [1, 3] {
            touch(d, &format!("derivatives/sub-XX002/func/sub-XX002_task-t_run-{r}_bold.nii.gz"));
        }
        let e = discover(d, &spec(3), "x").unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, PrepError::MissingRun { found: 2, expected: 3, .. }), "{msg}");
        assert!(msg.contains("sub-XX002") && msg.contains("run-01, run-03"), "{msg}");
        let e = discover(&d.join("nothing"), &spec(3), "x").unwrap_err();
        assert!(matches!(e, PrepError::NoSubjects { .. }), "{e}");
        assert!(e.to_string().contains("brainscale datasets fetch x"), "{e}");
    }

    #[test]
    fn duplicate_run_numbers_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        touch(d, "derivatives/sub-XX001/func/sub-XX001_task-t_run-1_bold.nii.gz");
        touch(d, "derivatives/sub-XX001/func/sub-XX001_task-t_run-01_bold.nii.gz");
        let e = discover(d, &spec(3), "x").unwrap_err();
        assert!(matches!(e, PrepError::DuplicateRun { run: 1, .. }), "{e}");
    }

    #[test]
    fn selection_keeps_order_and_kept_subjects() {
        let s = |l: &str| Subject { label: l.into(), runs: vec![] };
        let all = vec![s("sub-A1"), s("sub-A2"), s("sub-A3"), s("sub-A4")];
        let picked = select(all.clone(), Some(2), &["sub-A4".into()]).unwrap();
        assert_eq!(picked.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(), ["sub-A1", "sub-A2", "sub-A4"]);
        assert_eq!(select(all.clone(), None, &[]).unwrap().len(), 4);
        assert!(select(all.clone(), Some(5), &[]).is_err());
        assert!(select(all.clone(), Some(0), &[]).is_err());
        assert!(select(all, None, &["sub-B1".into()]).unwrap_err().to_string().contains("sub-B1"));
    }
}
