//! Datasets assembled from published, already prepared inputs: the paper's average subject.
//!
//! The paper's repository publishes, per language, what its own preparation produced: the
//! average subject's cleaned runs (`average_subject_run-{0..8}.gz`, joblib files holding one
//! float array [n_scans, n_voxels] each, voxels in the mask's order), the mask, the 10
//! split-half ISC estimates (`isc_10trials_{lang}.gz`, [10, n_voxels]), the ROI masks and the
//! run texts. A registry entry whose `[NAME.prepare]` table says `kind = "published"` names
//! those files; [`assemble`] turns them into a layout-v1 dataset without touching a BOLD file
//! of OpenNeuro:
//!
//! ```toml
//! [lpp-en-paper.prepare]
//! kind = "published"
//! language = "en"
//! tr = 2.0
//! runs = 9
//! mask = "mask_lpp_en.nii.gz"
//! bold = "lpp_en_average_subject/average_subject_run-{run0}.gz"   # {run0} = 0, 1, ...; {run} = 1, 2, ...
//! isc = "isc_10trials_en.gz"                  # optional: reliability = the mean over its rows
//! rois = "roi_masks"                          # optional: a folder of NAME.nii.gz on the mask's grid
//! annotation = "annotation/EN/lppEN_word_information.csv"
//! text = "lpp_en_text/text_en_run{run}.txt"
//! corrections = "builtin:lpp-en"
//! trim = [10, 10]
//! ```
//!
//! The words go through the same table reading, corrections and alignment check as
//! `brainscale prepare` ([`crate::words_step`]). The joblib files are read by
//! [`brainscale_data::joblib`], which walks the pickle's opcodes and accepts only a plain
//! float array: nothing of a pickle is ever executed. Everything is written into a hidden
//! staging folder and renamed into place once the dataset opens.

use std::path::{Path, PathBuf};

use brainscale_data::joblib::{self, NpyArray};
use brainscale_data::{Dataset, Mask};
use faer::Mat;
use flate2::Compression;
use serde::Deserialize;
use toml::Value;

use crate::error::{PrepError, Result};
use crate::prepare::staging::Staging;
use crate::prepare::{Progress, Source, write_dataset_toml};
use crate::provenance::{tbl, words_step};
use crate::words_step::{self as words, WordsSpec};

/// The typed `[NAME.prepare]` table of a published dataset (`kind = "published"`).
#[derive(Clone, Debug, PartialEq)]
pub struct PublishedSpec {
    /// Stimulus language.
    pub language: String,
    /// Repetition time in seconds.
    pub tr: f64,
    /// The mask, relative to the download folder.
    pub mask: PathBuf,
    /// The runs' joblib files, with `{run0}` (0-based) or `{run}` (1-based).
    pub bold: String,
    /// The split-half estimates ([n_splits, n_voxels]), when published.
    pub isc: Option<PathBuf>,
    /// A folder of ROI masks on the mask's grid, when published.
    pub rois: Option<PathBuf>,
    /// Words and texts.
    pub words: WordsSpec,
    /// `dataset.toml`'s trims.
    pub trim: (usize, usize),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublished {
    kind: String,
    language: String,
    tr: f64,
    #[serde(default = "nine")]
    runs: usize,
    mask: String,
    bold: String,
    isc: Option<String>,
    rois: Option<String>,
    annotation: String,
    text: Option<String>,
    corrections: Option<String>,
    #[serde(default = "ten_ten")]
    trim: [usize; 2],
}

fn nine() -> usize {
    9
}

fn ten_ten() -> [usize; 2] {
    [10, 10]
}

impl PublishedSpec {
    /// Parses the `[entry.prepare]` table of `registry`.
    pub fn from_table(table: &toml::Table, registry: &Path, entry: &str) -> Result<PublishedSpec> {
        let bad = |field: &str, reason: String| PrepError::Spec {
            registry: registry.to_path_buf(),
            entry: entry.to_string(),
            field: field.to_string(),
            reason,
        };
        let raw: RawPublished = Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| bad("prepare", e.message().trim().to_string()))?;
        if raw.kind != "published" {
            return Err(bad("kind", format!("{:?}: expected \"published\"", raw.kind)));
        }
        if !(raw.tr.is_finite() && raw.tr > 0.0) {
            return Err(bad("tr", format!("{}: expected seconds > 0", raw.tr)));
        }
        if raw.runs == 0 {
            return Err(bad("runs", "expected at least one run".into()));
        }
        if !raw.bold.contains("{run0}") && !raw.bold.contains("{run}") {
            return Err(bad(
                "bold",
                format!("{:?} names no run: write {{run0}} (0, 1, ...) or {{run}} (1, 2, ...) in it", raw.bold),
            ));
        }
        Ok(PublishedSpec {
            language: raw.language,
            tr: raw.tr,
            mask: PathBuf::from(raw.mask),
            bold: raw.bold,
            isc: raw.isc.map(PathBuf::from),
            rois: raw.rois.map(PathBuf::from),
            words: WordsSpec {
                runs: raw.runs,
                annotation: PathBuf::from(raw.annotation),
                text: raw.text,
                corrections: raw.corrections,
            },
            trim: (raw.trim[0], raw.trim[1]),
        })
    }

    /// The joblib file of run `r` (0-based), relative to the download folder.
    pub fn bold_file(&self, r: usize) -> PathBuf {
        PathBuf::from(self.bold.replace("{run0}", &r.to_string()).replace("{run}", &(r + 1).to_string()))
    }
}

/// What [`assemble`] produced.
#[derive(Clone, Debug)]
pub struct Assembled {
    /// The dataset folder.
    pub dir: PathBuf,
    /// Voxels in the mask.
    pub n_voxels: usize,
    /// Scans per run.
    pub n_scans: Vec<usize>,
    /// Words per run.
    pub n_words: Vec<usize>,
    /// Mean reliability over the mask, when an ISC file was given.
    pub mean_reliability: Option<f32>,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// Assembles the published inputs of `spec` under `raw` into the dataset folder `out`
/// (replaced if it exists). `registry_dir`: the registry file's folder (for relative
/// corrections paths).
pub fn assemble(
    spec: &PublishedSpec,
    source: &Source,
    raw: &Path,
    out: &Path,
    registry_dir: Option<&Path>,
    command: Option<&str>,
    progress: &mut dyn Progress,
) -> Result<Assembled> {
    let started = std::time::Instant::now();
    // 1. Words and texts, checked before anything is written.
    let texts = words::read(raw, &spec.words, registry_dir)?;
    let mut warnings = texts.warnings.clone();
    texts.stop_on_errors(out)?;

    // 2. The mask, and every run's array checked against it.
    let mask_path = raw.join(&spec.mask);
    let mask = Mask::load(&mask_path)?;
    let n_voxels = mask.n_voxels();
    let staging = Staging::new(out)?;
    let dir = staging.path.clone();
    for sub in ["bold", "provenance"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| PrepError::write(dir.join(sub), e))?;
    }
    mask.write_map(&dir.join("mask.nii.gz"), &vec![1.0; n_voxels])?;
    let mut n_scans = Vec::with_capacity(spec.words.runs);
    progress.start("runs", spec.words.runs as u64);
    for r in 0..spec.words.runs {
        let file = raw.join(spec.bold_file(r));
        let array = joblib::read_joblib_array(&file)?;
        let series = matrix(&file, &array, n_voxels, "[n_scans, n_voxels]")?;
        if let Some((scan, voxel)) = first_non_finite(&series) {
            return Err(PrepError::Published {
                path: file,
                reason: format!("non-finite value at scan {scan}, voxel {voxel} (mask order)"),
            });
        }
        let min_scans = spec.trim.0 + spec.trim.1 + 2;
        if series.nrows() < min_scans {
            return Err(PrepError::Published {
                path: file,
                reason: format!(
                    "{} scans: fewer than the trims ({} + {}) leave room for",
                    series.nrows(),
                    spec.trim.0,
                    spec.trim.1
                ),
            });
        }
        n_scans.push(series.nrows());
        let path = dir.join("bold").join(format!("{}.nii.gz", brainscale_data::dataset::run_label(r + 1)));
        let series = Mat::<f32>::from_fn(series.nrows(), series.ncols(), |i, j| series[(i, j)] as f32);
        mask.write_series(&path, series.as_ref(), spec.tr, Compression::fast())?;
        progress.step(&format!("run {}", r + 1));
    }
    progress.finish();
    texts.check_run_ends(&n_scans, spec.tr)?;

    // 3. Reliability: the mean of the published split-half estimates.
    let mut mean_reliability = None;
    let mut n_splits = 0;
    if let Some(isc) = &spec.isc {
        let file = raw.join(isc);
        let array = joblib::read_joblib_array(&file)?;
        let splits = matrix(&file, &array, n_voxels, "[n_splits, n_voxels]")?;
        n_splits = splits.nrows();
        let mean: Vec<f32> = (0..n_voxels)
            .map(|v| ((0..n_splits).map(|k| splits[(k, v)]).sum::<f64>() / n_splits as f64) as f32)
            .collect();
        if let Some(v) = mean.iter().position(|x| !x.is_finite()) {
            return Err(PrepError::Published {
                path: file,
                reason: format!("non-finite mean at voxel {v} (mask order)"),
            });
        }
        mask.write_map(&dir.join("reliability.nii.gz"), &mean)?;
        let splits = Mat::<f32>::from_fn(n_splits, n_voxels, |k, v| splits[(k, v)] as f32);
        mask.write_series(
            &dir.join("provenance/reliability-splits.nii.gz"),
            splits.as_ref(),
            1.0,
            Compression::default(),
        )?;
        mean_reliability = Some(mean.iter().sum::<f32>() / n_voxels.max(1) as f32);
    } else {
        warnings.push("no split-half estimates published: reliability.nii.gz not written".into());
    }

    // 4. ROIs, checked on the mask's grid.
    let mut rois = Vec::new();
    if let Some(folder) = &spec.rois {
        let from = raw.join(folder);
        let mut names: Vec<PathBuf> = std::fs::read_dir(&from)
            .map_err(|e| PrepError::read(&from, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".nii.gz"))
            .collect();
        names.sort();
        if names.is_empty() {
            return Err(PrepError::Published { path: from, reason: "no ROI mask (NAME.nii.gz) in the folder".into() });
        }
        std::fs::create_dir_all(dir.join("rois")).map_err(|e| PrepError::write(dir.join("rois"), e))?;
        for path in names {
            let roi = Mask::load(&path)?;
            if roi.dims() != mask.dims() || roi.affine() != mask.affine() {
                return Err(PrepError::Published {
                    path,
                    reason: format!("its grid {:?} differs from the mask's {:?}", roi.dims(), mask.dims()),
                });
            }
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            std::fs::copy(&path, dir.join("rois").join(&name)).map_err(|e| PrepError::write(dir.join("rois"), e))?;
            rois.push(name.trim_end_matches(".nii.gz").to_string());
        }
    }

    // 5. Words, texts, dataset.toml, validation, then the rename.
    texts.write(&dir)?;
    crate::align::write_report(&dir.join("provenance/alignment.tsv"), &texts.mismatches)?;
    let provenance =
        provenance(spec, source, &texts, &mask_path, n_voxels, &n_scans, n_splits, &rois, command, started);
    write_dataset_toml(&dir, &source.entry, spec.tr, spec.trim, &spec.language, provenance)?;
    Dataset::open(&dir)?;
    staging.commit()?;
    for w in &warnings {
        log::warn!("{w}");
    }
    Ok(Assembled {
        dir: out.to_path_buf(),
        n_voxels,
        n_scans,
        n_words: texts.words.iter().map(|w| w.len()).collect(),
        mean_reliability,
        warnings,
    })
}

/// A 2-D array with one column per mask voxel, as f64.
fn matrix(file: &Path, array: &NpyArray, n_voxels: usize, expected: &str) -> Result<Mat<f64>> {
    let bad = |reason: String| PrepError::Published { path: file.to_path_buf(), reason };
    let Some([rows, cols]) = array.dims_2d() else {
        return Err(bad(format!("an array of shape {:?}: expected {expected}", array.shape)));
    };
    if cols != n_voxels || rows == 0 {
        return Err(bad(format!("shape [{rows}, {cols}]: expected {expected} with the mask's {n_voxels} voxels")));
    }
    Ok(array.to_mat_f64()?)
}

/// The first (scan, voxel) whose value is NaN or infinite.
fn first_non_finite(m: &Mat<f64>) -> Option<(usize, usize)> {
    (0..m.nrows()).find_map(|i| (0..m.ncols()).find(|&j| !m[(i, j)].is_finite()).map(|j| (i, j)))
}

#[allow(clippy::too_many_arguments)]
fn provenance(
    spec: &PublishedSpec,
    source: &Source,
    texts: &words::RunTexts,
    mask: &Path,
    n_voxels: usize,
    n_scans: &[usize],
    n_splits: usize,
    rois: &[String],
    command: Option<&str>,
    started: std::time::Instant,
) -> toml::Table {
    let s = |v: &str| Value::String(v.to_string());
    let ints = |v: &[usize]| Value::Array(v.iter().map(|&x| Value::Integer(x as i64)).collect());
    let mut t = toml::Table::new();
    t.insert("software".into(), s(&format!("brainscale {}", env!("CARGO_PKG_VERSION"))));
    t.insert("date".into(), s(&humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()));
    if let Some(c) = command {
        t.insert("command".into(), s(c));
    }
    t.insert("seconds".into(), Value::Float((started.elapsed().as_secs_f64() * 10.0).round() / 10.0));
    t.insert(
        "source".into(),
        tbl(vec![
            ("entry", s(&source.entry)),
            ("registry", s(&source.registry.display().to_string())),
            ("origin", s(&source.origin)),
            ("version", s(&source.version)),
            ("license", s(&source.license)),
            ("citation", s(&source.citation)),
        ]),
    );
    let steps = vec![
        words_step(texts),
        tbl(vec![
            ("name", s("published")),
            (
                "what",
                s("the paper's average subject, as published: runs already masked, cleaned (detrend, high-pass \
                   1/128 Hz, z-score) and averaged over subjects; written unchanged"),
            ),
            ("mask", s(&mask.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())),
            ("n_voxels", Value::Integer(n_voxels as i64)),
            ("bold", s(&spec.bold)),
            ("n_scans", ints(n_scans)),
            ("reader", s("brainscale_data::joblib (pickle opcodes walked, never executed)")),
        ]),
        tbl(vec![
            ("name", s("reliability")),
            ("isc", s(&spec.isc.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "absent".into()))),
            ("splits", Value::Integer(n_splits as i64)),
            ("reliability", s("the mean over the published split-half estimates")),
            ("splits_file", s(if n_splits > 0 { "provenance/reliability-splits.nii.gz" } else { "" })),
        ]),
        tbl(vec![
            ("name", s("rois")),
            ("folder", s(&spec.rois.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "absent".into()))),
            ("names", Value::Array(rois.iter().map(|r| s(r)).collect())),
        ]),
    ];
    t.insert("steps".into(), Value::Array(steps));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = r#"
kind = "published"
language = "en"
tr = 2.0
mask = "mask.nii.gz"
bold = "avg/average_subject_run-{run0}.gz"
annotation = "annotation/EN/words.csv"
"#;

    #[test]
    fn the_table_parses_with_defaults_and_names_bad_fields() {
        let t: toml::Table = toml::from_str(TABLE).unwrap();
        let s = PublishedSpec::from_table(&t, Path::new("reg.toml"), "x").unwrap();
        assert_eq!((s.words.runs, s.trim), (9, (10, 10)));
        assert_eq!(s.bold_file(0), Path::new("avg/average_subject_run-0.gz"));
        assert_eq!(s.bold_file(8), Path::new("avg/average_subject_run-8.gz"));
        let t: toml::Table = toml::from_str(&TABLE.replace("{run0}", "x")).unwrap();
        let e = PublishedSpec::from_table(&t, Path::new("reg.toml"), "x").unwrap_err().to_string();
        assert!(e.contains("reg.toml") && e.contains("bold"), "{e}");
        let t: toml::Table = toml::from_str(&format!("{TABLE}\nsubjects = 3\n")).unwrap();
        let e = PublishedSpec::from_table(&t, Path::new("reg.toml"), "x").unwrap_err().to_string();
        assert!(e.contains("subjects"), "{e}");
    }
}
