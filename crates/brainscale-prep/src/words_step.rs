//! The word files and run texts of a prepared dataset: the word table, its corrections, the
//! optional punctuated texts, and their alignment check.

use std::path::{Path, PathBuf};

use brainscale_data::Words;

use crate::align::{Mismatch, align_run};
use crate::annotation::{Corrections, RunWords, group_runs, read_table};
use crate::error::{PrepError, Result};
use crate::spec::PrepareSpec;

/// The words (and texts) of every run, ready to write.
#[derive(Clone, Debug)]
pub struct RunTexts {
    /// Words per run (run-01 first).
    pub words: Vec<Words>,
    /// The corrected run texts, when the dataset has them.
    pub texts: Option<Vec<String>>,
    /// Every difference between words and texts (text-only ones included).
    pub mismatches: Vec<Mismatch>,
    /// The word table.
    pub annotation: PathBuf,
    /// The word table relative to the download folder (as the spec names it).
    pub table: PathBuf,
    /// For each run, the 1-based line in the table of each word (for messages).
    pub lines: Vec<Vec<usize>>,
    /// Rows of the table in total.
    pub n_rows: usize,
    /// Rows skipped for an empty word.
    pub empty_rows: Vec<usize>,
    /// The corrections used.
    pub corrections: Option<Corrections>,
    /// The text pattern, when texts were found.
    pub text_pattern: Option<String>,
    /// Warnings (absent texts, optional corrections that did not apply).
    pub warnings: Vec<String>,
}

/// Where a dataset's words and texts come from (part of a [`PrepareSpec`] or of a published
/// dataset's spec).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WordsSpec {
    /// Runs.
    pub runs: usize,
    /// The word table, relative to the download folder.
    pub annotation: PathBuf,
    /// The run texts, relative to the download folder, `{run}` = 1, 2, ...
    pub text: Option<String>,
    /// The corrections: `builtin:NAME` or a path (relative to the registry file's folder).
    pub corrections: Option<String>,
}

impl PrepareSpec {
    /// Its words and texts.
    pub fn words(&self) -> WordsSpec {
        WordsSpec {
            runs: self.runs,
            annotation: self.annotation.clone(),
            text: self.text.clone(),
            corrections: self.corrections.clone(),
        }
    }
}

/// Reads the word table and the texts of `spec` under `raw`, applies the corrections, and
/// diffs words against texts. `registry_dir` resolves a relative corrections path.
pub fn read(raw: &Path, spec: &WordsSpec, registry_dir: Option<&Path>) -> Result<RunTexts> {
    let annotation = raw.join(&spec.annotation);
    let mut rows = read_table(&annotation)?;
    let n_rows = rows.len();
    let corrections = spec.corrections.as_deref().map(|c| Corrections::load(c, registry_dir)).transpose()?;
    if let Some(c) = &corrections {
        c.apply_to_rows(&mut rows)?;
    }
    let line_of: std::collections::HashMap<usize, usize> = rows.iter().map(|r| (r.row, r.line)).collect();
    let RunWords { runs, rows: run_rows, empty_rows } = group_runs(&annotation, &rows, spec.runs)?;
    let lines: Vec<Vec<usize>> =
        run_rows.iter().map(|rs| rs.iter().map(|r| line_of.get(r).copied().unwrap_or(0)).collect()).collect();
    let mut warnings = Vec::new();
    if !empty_rows.is_empty() {
        warnings.push(format!(
            "{}: {} row(s) with an empty word skipped (as the paper skips pandas' NaN words): rows {:?}",
            annotation.display(),
            empty_rows.len(),
            &empty_rows[..empty_rows.len().min(10)]
        ));
    }
    let mut texts = None;
    let mut text_pattern = None;
    let mut mismatches = Vec::new();
    if let Some(pattern) = &spec.text {
        let paths: Vec<PathBuf> = (1..=spec.runs).map(|r| raw.join(pattern.replace("{run}", &r.to_string()))).collect();
        let present: Vec<bool> = paths.iter().map(|p| p.is_file()).collect();
        if present.iter().all(|p| !p) {
            warnings.push(format!(
                "no run texts ({}): the words joined by spaces will be the text of each run; put the punctuated \
                 texts there (e.g. the paper's text_english_run1..9.txt) and prepare again to use them",
                raw.join(pattern).display()
            ));
        } else if let Some(r) = present.iter().position(|p| !p) {
            return Err(PrepError::Annotation {
                path: paths[r].clone(),
                line: None,
                reason: format!("the text of run {} is missing, but other runs have one", r + 1),
            });
        } else {
            let mut all = Vec::with_capacity(spec.runs);
            for (r, path) in paths.iter().enumerate() {
                let text = std::fs::read_to_string(path).map_err(|e| PrepError::read(path, e))?;
                let text = match &corrections {
                    Some(c) => {
                        let (t, w) = c.apply_to_text(r + 1, &text)?;
                        warnings.extend(w);
                        t
                    }
                    None => text,
                };
                mismatches.extend(align_run(r + 1, &runs[r].word, &run_rows[r], &text));
                all.push(text);
            }
            texts = Some(all);
            text_pattern = Some(pattern.clone());
        }
    }
    Ok(RunTexts {
        words: runs,
        texts,
        mismatches,
        annotation,
        table: spec.annotation.clone(),
        lines,
        n_rows,
        empty_rows,
        corrections,
        text_pattern,
        warnings,
    })
}

impl RunTexts {
    /// The mismatches that stop the preparation.
    pub fn errors(&self) -> Vec<&Mismatch> {
        self.mismatches.iter().filter(|m| m.kind.is_error()).collect()
    }

    /// Fails with the first mismatches when any stops the preparation of `out`, after writing
    /// them all to `<out>.alignment.tsv` beside it.
    pub fn stop_on_errors(&self, out: &Path) -> Result<()> {
        let errors = self.errors();
        if errors.is_empty() {
            return Ok(());
        }
        let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into());
        let report = out.with_file_name(format!("{name}.alignment.tsv"));
        if let Some(parent) = report.parent() {
            std::fs::create_dir_all(parent).map_err(|e| PrepError::write(parent, e))?;
        }
        crate::align::write_report(&report, &self.mismatches)?;
        let shown: Vec<String> = errors.iter().take(10).map(|m| format!("  {m}")).collect();
        let more = if errors.len() > 10 { format!("\n  ... and {} more", errors.len() - 10) } else { String::new() };
        Err(PrepError::Alignment {
            n: errors.len(),
            shown: format!("{}{more}", shown.join("\n")),
            report,
            corrections: self.corrections.as_ref().map(|c| c.source.clone()),
        })
    }

    /// Errors when a word starts after the end of its run (`n_scans[r]` scans of `tr` s).
    pub fn check_run_ends(&self, n_scans: &[usize], tr: f64) -> Result<()> {
        for (r, (words, &n)) in self.words.iter().zip(n_scans).enumerate() {
            let end = n as f64 * tr;
            if let Some(w) = words.onset.iter().position(|&on| on >= end) {
                return Err(PrepError::Annotation {
                    path: self.annotation.clone(),
                    line: self.lines[r].get(w).copied(),
                    reason: format!(
                        "word {:?} of section {} starts at {} s, after the end of the run ({n} scans x {tr} s = {end} s)",
                        words.word[w],
                        r + 1,
                        words.onset[w]
                    ),
                });
            }
        }
        Ok(())
    }

    /// Writes `words/run-XX.tsv` and (when present) `text/run-XX.txt` under `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        for sub in ["words", "text"] {
            if sub == "text" && self.texts.is_none() {
                continue;
            }
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| PrepError::write(&d, e))?;
        }
        for (r, words) in self.words.iter().enumerate() {
            let label = brainscale_data::dataset::run_label(r + 1);
            words.write_tsv(&dir.join("words").join(format!("{label}.tsv")))?;
            if let Some(texts) = &self.texts {
                brainscale_data::write_bytes_atomic(
                    &dir.join("text").join(format!("{label}.txt")),
                    texts[r].as_bytes(),
                )?;
            }
        }
        Ok(())
    }
}
