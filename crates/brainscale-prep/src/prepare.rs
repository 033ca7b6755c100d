//! `brainscale prepare`: BIDS derivatives to a dataset in layout v1 (SPEC 1), streaming.
//!
//! The stages, each reading one subject's run at a time so that memory does not grow with the
//! number of subjects:
//!
//! 1. **Words** ([`crate::words_step`]): the word table, its corrections, the run texts and
//!    their alignment check (first, so that a mismatch stops the run before hours of work).
//! 2. **Headers**: every run of every subject is opened (headers only): 4D, the same number of
//!    scans as the same run of the first subject, a grid that can be resampled onto the target
//!    grid, enough scans for the filter and the trims, every word inside its run.
//! 3. **Mask**: for each run of each subject, its mean volume (in source space, streamed),
//!    resampled onto the target grid, feeds the multi-subject EPI mask ([`crate::mask`]; one
//!    image per run, as the paper's `compute_multi_epi_mask(np.concatenate(runs_of_subjects))`);
//!    then the mask is intersected with its left-right mirror. A subject kept as its own
//!    dataset with `subject_mask = "own"` (the default) also gets a mask of its own from its
//!    runs alone, made the same way (the paper's `fit_individual_subject.py`).
//! 4. **Runs**, run-outer and subject-inner: each subject's run is resampled volume by volume
//!    ([`crate::resample`]), clipped, masked, cleaned ([`crate::clean`]: detrend, high-pass,
//!    z-score) and added to the run's sums ([`crate::reliability::HalfSums`]: all subjects, and
//!    half A of each split); a subject kept as its own dataset has its run written, from the
//!    same resampled volumes smoothed first ([`crate::smooth`], `subject_smoothing_fwhm`, 4 mm
//!    by default as the paper's `NiftiMasker(smoothing_fwhm=4)`) and masked with its own mask,
//!    then cleaned. Then the run's average (group mask, no smoothing) is z-scored and written,
//!    and the trimmed half sums go to a scratch folder.
//! 5. **Reliability** ([`crate::reliability`]): split by split from the scratch folder.
//! 6. **Finish**: word files, texts, `dataset.toml` with provenance, every dataset opened and
//!    validated by [`brainscale_data::Dataset::open`]; only then is the staging folder renamed
//!    onto the output, so an interrupted or failed preparation never leaves a dataset that
//!    looks complete.

use std::path::{Path, PathBuf};

use brainscale_core::stats::zscore_columns_f64;
use brainscale_data::nifti_io::read_info;
use brainscale_data::{Dataset, DatasetConfig, Grid, Mask};
use faer::Mat;
use flate2::Compression;

use crate::bids::{Subject, discover, select};
use crate::clean::{CleanParams, Cleaner, Standardize};
use crate::error::{PrepError, Result};
use crate::mask::symmetrize;
use crate::provenance::{self, Provenance};
use crate::reliability::{self, HalfStore, HalfSums, split_halves};
use crate::resample::{Interpolation, Resampler};
use crate::smooth::Smoothing;
use crate::spec::{PrepareSpec, SubjectMask};
use crate::words_step;

mod masks;
mod runs;
pub(crate) mod staging;

pub use masks::MaskStats;
use runs::{KeptRun, load_run};
use staging::Staging;

/// Reports progress; the toolkit draws bars with it.
pub trait Progress {
    /// A stage of `len` steps begins.
    fn start(&mut self, stage: &str, len: u64);
    /// One step is done (`detail`: e.g. the subject and run).
    fn step(&mut self, detail: &str);
    /// The stage is over.
    fn finish(&mut self);
}

/// No progress output.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: &str, _: u64) {}
    fn step(&mut self, _: &str) {}
    fn finish(&mut self) {}
}

/// Where the data come from (recorded in provenance).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Source {
    /// The registry entry (also the dataset's name).
    pub entry: String,
    /// The registry file (`<builtin datasets.toml>` for the embedded one).
    pub registry: PathBuf,
    /// Where the files come from, e.g. `OpenNeuro ds003643`.
    pub origin: String,
    /// Its version (e.g. the snapshot tag `2.0.5`).
    pub version: String,
    /// Licence.
    pub license: String,
    /// Citation.
    pub citation: String,
}

/// Choices made on the command line (each overrides the spec when given).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// Only the first N subjects (sorted by label).
    pub subjects: Option<usize>,
    /// Subjects also written as datasets of their own (replaces the spec's list).
    pub keep_subjects: Option<Vec<String>>,
    /// Resampling interpolation.
    pub interpolation: Option<Interpolation>,
    /// The mask of the kept subjects' datasets (replaces the spec's `subject_mask`).
    pub subject_mask: Option<SubjectMask>,
    /// The kept subjects' smoothing, FWHM in mm, 0 for none (replaces the spec's
    /// `subject_smoothing_fwhm`).
    pub subject_smoothing_fwhm: Option<f64>,
    /// Voxels per ridge batch in the reliability fit (0: the core's default).
    pub voxel_batch: usize,
    /// The command line, for provenance.
    pub command: Option<String>,
}

/// What [`prepare`] produced.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The prepared dataset.
    pub dir: PathBuf,
    /// The subjects averaged.
    pub subjects: Vec<String>,
    /// The single-subject datasets written (`dir/sub-XX`).
    pub kept: Vec<PathBuf>,
    /// Voxels in each single-subject dataset's mask (as `kept`).
    pub kept_voxels: Vec<usize>,
    /// Voxels in the mask.
    pub n_voxels: usize,
    /// Mean reliability over the mask (None with a single subject).
    pub mean_reliability: Option<f32>,
    /// Differences between words and texts that were accepted (text-only text).
    pub text_only: usize,
    /// Warnings (also sent to `log::warn!`).
    pub warnings: Vec<String>,
}

/// Prepares `spec` from the downloads in `raw` into the dataset folder `out` (replaced if it
/// exists). `registry_dir`: the registry file's folder (for relative corrections paths).
pub fn prepare(
    spec: &PrepareSpec,
    source: &Source,
    raw: &Path,
    out: &Path,
    registry_dir: Option<&Path>,
    options: &Options,
    progress: &mut dyn Progress,
) -> Result<Prepared> {
    let started = std::time::Instant::now();
    let interpolation = options.interpolation.unwrap_or(spec.interpolation);
    let keep = options.keep_subjects.clone().unwrap_or_else(|| spec.keep_subjects.clone());
    let subject_mask = options.subject_mask.unwrap_or(spec.subject_mask);
    let smoothing = subject_smoothing(spec, options)?;
    let mut warnings = Vec::new();

    // 1. Words and texts.
    let texts = words_step::read(raw, &spec.words(), registry_dir)?;
    warnings.extend(texts.warnings.iter().cloned());
    texts.stop_on_errors(out)?;

    // 2. Subjects, run files and their headers.
    let subjects = select(discover(raw, spec, &source.entry)?, options.subjects, &keep)?;
    for k in &keep {
        if !subjects.iter().any(|s| &s.label == k) {
            return Err(PrepError::Subjects { reason: format!("subject {k} to keep is not prepared") });
        }
    }
    let plan = check_headers(spec, &subjects, interpolation, &mut warnings, progress)?;
    texts.check_run_ends(&plan.n_scans, spec.tr)?;

    // Staging: everything is written under a hidden sibling folder, renamed onto `out` at the end.
    let staging = Staging::new(out)?;
    let dir = staging.path.clone();

    // 3. The masks.
    let own: Vec<bool> = subjects.iter().map(|s| subject_mask == SubjectMask::Own && keep.contains(&s.label)).collect();
    let masks::Masks { group: mask, group_stats: mask_stats, own: mut own_masks, clip } =
        masks::compute_masks(spec, &subjects, &plan, &own, progress)?;
    mask.write_map(&dir.join("mask.nii.gz"), &vec![1.0; mask.n_voxels()])?;

    // 4. The runs.
    let halves = split_halves(subjects.len(), spec.reliability.splits, spec.reliability.seed);
    let store_dir = dir.join(".scratch");
    let mut store = HalfStore::new(&store_dir, mask.n_voxels())?;
    let offsets = cell_offsets(&mask);
    let mut kept = Vec::new();
    for (s, subject) in subjects.iter().enumerate().filter(|(_, s)| keep.contains(&s.label)) {
        let bold = dir.join(&subject.label).join("bold");
        std::fs::create_dir_all(&bold).map_err(|e| PrepError::write(&bold, e))?;
        let (sub_mask, stats) = own_masks[s].take().unwrap_or_else(|| (mask.clone(), mask_stats.clone()));
        let offsets = cell_offsets(&sub_mask);
        // Its own voxels or smoothed data: a matrix of its own; else the group's run is written.
        let separate = subject_mask == SubjectMask::Own || smoothing.is_some();
        kept.push(Kept { index: s, mask: sub_mask, stats, offsets, separate });
    }
    std::fs::create_dir_all(dir.join("bold")).map_err(|e| PrepError::write(dir.join("bold"), e))?;
    let clean_params = clean_params(spec);
    // nilearn clips each resampled run to its source range, measured in pass 1.
    let run_range = |s: usize, r: usize| clip[s][r];
    progress.start("runs", (spec.runs * subjects.len()) as u64);
    for r in 0..spec.runs {
        let n_scans = plan.n_scans[r];
        let cleaner = Cleaner::new(&clean_params, n_scans).map_err(|e| PrepError::Resample {
            path: subjects[0].runs[r].path.clone(),
            target: "signal cleaning".into(),
            reason: e.to_string(),
        })?;
        let clean = |m: &mut Mat<f32>, file: &Path| {
            cleaner.clean(m.as_mut()).map_err(|e| PrepError::Resample {
                path: file.to_path_buf(),
                target: "signal cleaning".into(),
                reason: e.to_string(),
            })
        };
        let mut sums = HalfSums::new(n_scans, mask.n_voxels(), halves.len());
        let mut run = Mat::<f32>::zeros(n_scans, mask.n_voxels());
        for (s, subject) in subjects.iter().enumerate() {
            let file = &subject.runs[r].path;
            let resampler = plan.resampler(s, r)?;
            let this = kept.iter().find(|k| k.index == s);
            let mut own_run = this.filter(|k| k.separate).map(|k| Mat::<f32>::zeros(n_scans, k.mask.n_voxels()));
            let second = match (this, own_run.as_mut()) {
                (Some(k), Some(out)) => Some(KeptRun { smoothing: smoothing.as_ref(), offsets: &k.offsets, out }),
                _ => None,
            };
            load_run(file, resampler, run_range(s, r), &offsets, &mut run, second)?;
            clean(&mut run, file)?;
            let in_a: Vec<bool> = halves.iter().map(|h| h[s]).collect();
            sums.add(run.as_ref(), &in_a);
            if let Some(k) = this {
                let path = dir.join(&subject.label).join("bold").join(run_file(r));
                match own_run.as_mut() {
                    Some(own) => {
                        clean(own, file)?;
                        k.mask.write_series(&path, own.as_ref(), spec.tr, Compression::fast())?;
                    }
                    None => mask.write_series(&path, run.as_ref(), spec.tr, Compression::fast())?,
                }
            }
            progress.step(&format!("run {} {}", r + 1, subject.label));
        }
        let mut average =
            Mat::<f64>::from_fn(n_scans, mask.n_voxels(), |i, j| sums.total[(i, j)] / subjects.len() as f64);
        zscore_columns_f64(average.as_mut());
        let average = Mat::<f32>::from_fn(n_scans, mask.n_voxels(), |i, j| average[(i, j)] as f32);
        mask.write_series(&dir.join("bold").join(run_file(r)), average.as_ref(), spec.tr, Compression::fast())?;
        if subjects.len() >= 2 {
            store.write_run(r, &sums, spec.trim)?;
        }
    }
    progress.finish();

    // 5. Reliability.
    let mut rel_summary = None;
    if subjects.len() >= 2 {
        progress.start("reliability", halves.len() as u64);
        let batch = match options.voxel_batch {
            0 => brainscale_core::ridge::RidgeCvParams::default().voxel_batch,
            b => b,
        };
        let rel = reliability::fit(&store, &halves, &spec.reliability.alphas, batch, &mut |k| {
            progress.step(&format!("split {k}"))
        })?;
        progress.finish();
        let grid = &spec.reliability.alphas;
        if let (Some(&lo), Some(&hi)) = (grid.first(), grid.last()) {
            let chosen: Vec<f64> = rel.alphas.iter().flatten().copied().collect();
            let edge = chosen.iter().filter(|&&a| grid.len() > 1 && (a == lo || a == hi)).count();
            if edge > 0 {
                warnings.push(format!(
                    "reliability: the chosen alpha is on the edge of the grid [{lo:.1e}, {hi:.1e}] in {edge} of {} \
                     split-folds; consider widening [reliability] alphas",
                    chosen.len()
                ));
            }
        }
        mask.write_map(&dir.join("reliability.nii.gz"), &rel.mean)?;
        let splits = Mat::<f32>::from_fn(rel.splits.len(), mask.n_voxels(), |k, v| rel.splits[k][v]);
        std::fs::create_dir_all(dir.join("provenance")).map_err(|e| PrepError::write(dir.join("provenance"), e))?;
        mask.write_series(
            &dir.join("provenance/reliability-splits.nii.gz"),
            splits.as_ref(),
            1.0,
            Compression::default(),
        )?;
        rel_summary = Some(rel);
    } else {
        warnings.push("a single subject: no split-half reliability (reliability.nii.gz not written)".into());
    }
    std::fs::remove_dir_all(&store_dir).map_err(|e| PrepError::write(&store_dir, e))?;

    // 6. Words, texts, dataset.toml, validation, then the rename.
    texts.write(&dir)?;
    std::fs::create_dir_all(dir.join("provenance")).map_err(|e| PrepError::write(dir.join("provenance"), e))?;
    crate::align::write_report(&dir.join("provenance/alignment.tsv"), &texts.mismatches)?;
    let prov = Provenance {
        spec,
        source,
        options,
        interpolation,
        subjects: &subjects,
        n_scans: &plan.n_scans,
        mask: &mask_stats,
        texts: &texts,
        reliability: rel_summary.as_ref(),
        n_splits_used: if subjects.len() >= 2 { halves.len() } else { 0 },
        seconds: started.elapsed().as_secs_f64(),
    };
    write_config(&dir, &source.entry, spec, provenance::table(&prov, None))?;
    let mut kept_dirs = Vec::new();
    for k in &kept {
        let label = &subjects[k.index].label;
        let sub_dir = dir.join(label);
        k.mask.write_map(&sub_dir.join("mask.nii.gz"), &vec![1.0; k.mask.n_voxels()])?;
        texts.write(&sub_dir)?;
        let single = provenance::Single {
            label,
            mask: subject_mask,
            stats: &k.stats,
            group_voxels: mask.n_voxels(),
            smoothing: smoothing.as_ref(),
        };
        write_config(&sub_dir, &format!("{}/{label}", source.entry), spec, provenance::table(&prov, Some(&single)))?;
        Dataset::open(&sub_dir)?;
        kept_dirs.push(out.join(label));
    }
    Dataset::open(&dir)?;
    staging.commit()?;
    for w in &warnings {
        log::warn!("{w}");
    }
    Ok(Prepared {
        dir: out.to_path_buf(),
        subjects: subjects.iter().map(|s| s.label.clone()).collect(),
        kept: kept_dirs,
        kept_voxels: kept.iter().map(|k| k.mask.n_voxels()).collect(),
        n_voxels: mask.n_voxels(),
        mean_reliability: rel_summary.map(|r| r.mean.iter().sum::<f32>() / r.mean.len().max(1) as f32),
        text_only: texts.mismatches.len() - texts.errors().len(),
        warnings,
    })
}

/// A subject kept as a dataset of its own.
struct Kept {
    /// Its index among the subjects.
    index: usize,
    /// Its dataset's mask (its own, or the group's).
    mask: Mask,
    /// How that mask was made.
    stats: MaskStats,
    /// The mask's voxels as offsets into a target volume.
    offsets: Vec<usize>,
    /// Whether its runs are extracted apart from the group's (own mask or smoothing).
    separate: bool,
}

/// The kept subjects' smoothing: the option, else the spec; `None` for a FWHM of 0.
fn subject_smoothing(spec: &PrepareSpec, options: &Options) -> Result<Option<Smoothing>> {
    let fwhm = options.subject_smoothing_fwhm.unwrap_or(spec.subject_smoothing_fwhm);
    let invalid = |reason: String| PrepError::InvalidOption {
        option: "--subject-smoothing-fwhm",
        value: fwhm.to_string(),
        reason,
    };
    if !(fwhm.is_finite() && fwhm >= 0.0) {
        return Err(invalid("expected millimetres >= 0 (0: no smoothing)".into()));
    }
    if fwhm == 0.0 {
        return Ok(None);
    }
    Smoothing::new(&spec.grid, fwhm).map(Some).map_err(|e| invalid(e.to_string()))
}

/// Each mask voxel's offset into a volume of the mask's grid (Fortran order), in mask order.
fn cell_offsets(mask: &Mask) -> Vec<usize> {
    let [nx, ny, _] = mask.dims();
    mask.ijk().iter().map(|&[i, j, k]| i + nx * (j + ny * k)).collect()
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into())
}

fn run_file(r: usize) -> String {
    format!("{}.nii.gz", brainscale_data::dataset::run_label(r + 1))
}

/// The cleaning of the spec (NiftiMasker's `detrend=True, standardize=True, high_pass, t_r`).
pub fn clean_params(spec: &PrepareSpec) -> CleanParams {
    CleanParams {
        detrend: true,
        standardize: Standardize::ZScore,
        high_pass: Some(spec.high_pass),
        low_pass: None,
        t_r: spec.tr,
    }
}

/// What the header check found: run lengths and one resampler per distinct source grid.
struct Plan {
    n_scans: Vec<usize>,
    /// Distinct source grids and their resamplers.
    resamplers: Vec<(Grid, Resampler)>,
    /// For each subject and run, the index of its resampler.
    grid_of: Vec<Vec<usize>>,
}

impl Plan {
    fn resampler(&self, s: usize, r: usize) -> Result<Resampler> {
        let i = self.grid_of[s][r];
        Ok(self.resamplers[i].1.clone())
    }
}

fn check_headers(
    spec: &PrepareSpec,
    subjects: &[Subject],
    interpolation: Interpolation,
    warnings: &mut Vec<String>,
    progress: &mut dyn Progress,
) -> Result<Plan> {
    let target = &spec.grid;
    // The target grid must be mirror-symmetric (the mask is symmetrised): check it now.
    symmetrize(&vec![true; target.n_cells()], target).map_err(|e| PrepError::Resample {
        path: PathBuf::from("(the spec's target grid)"),
        target: target.to_string(),
        reason: e.to_string(),
    })?;
    let mut plan = Plan { n_scans: Vec::new(), resamplers: Vec::new(), grid_of: Vec::new() };
    let mut reference: Vec<PathBuf> = Vec::new();
    let mut tr_warned = false;
    progress.start("headers", (subjects.len() * spec.runs) as u64);
    for subject in subjects {
        let mut grids = Vec::with_capacity(spec.runs);
        for (r, run) in subject.runs.iter().enumerate() {
            let info = read_info(&run.path)?;
            info.require_4d()?;
            brainscale_data::nifti_io::check_data_type(&info)?;
            let n = info.dims[3];
            if r == plan.n_scans.len() {
                let needed = spec.trim.0 + spec.trim.1 + 3;
                if n < needed {
                    return Err(PrepError::RunLength {
                        path: run.path.clone(),
                        run: r + 1,
                        found: n,
                        reference: run.path.clone(),
                        expected: needed,
                    });
                }
                Cleaner::new(&clean_params(spec), n).map_err(|e| PrepError::Resample {
                    path: run.path.clone(),
                    target: "signal cleaning".into(),
                    reason: e.to_string(),
                })?;
                plan.n_scans.push(n);
                reference.push(run.path.clone());
            } else if n != plan.n_scans[r] {
                return Err(PrepError::RunLength {
                    path: run.path.clone(),
                    run: r + 1,
                    found: n,
                    reference: reference[r].clone(),
                    expected: plan.n_scans[r],
                });
            }
            let header_tr = info.header.pixdim[4] as f64;
            if !tr_warned && header_tr > 0.0 && (header_tr - spec.tr).abs() > 1e-3 {
                warnings.push(format!(
                    "{}: the header's repetition time is {header_tr} s, the registry's {} s (used)",
                    run.path.display(),
                    spec.tr
                ));
                tr_warned = true;
            }
            let i = match plan.resamplers.iter().position(|(g, _)| g.matches(&info.grid, 1e-6)) {
                Some(i) => i,
                None => {
                    let resampler =
                        Resampler::new(&info.grid, target, interpolation).map_err(|e| PrepError::Resample {
                            path: run.path.clone(),
                            target: target.to_string(),
                            reason: e.to_string(),
                        })?;
                    plan.resamplers.push((info.grid.clone(), resampler));
                    plan.resamplers.len() - 1
                }
            };
            grids.push(i);
            progress.step(&format!("{} run {}", subject.label, r + 1));
        }
        plan.grid_of.push(grids);
    }
    progress.finish();
    Ok(plan)
}

fn write_config(dir: &Path, name: &str, spec: &PrepareSpec, provenance: toml::Table) -> Result<()> {
    write_dataset_toml(dir, name, spec.tr, spec.trim, &spec.language, provenance)
}

/// Writes `dir/dataset.toml`: name, TR, trims, language and the `[provenance]` table.
pub(crate) fn write_dataset_toml(
    dir: &Path,
    name: &str,
    tr: f64,
    trim: (usize, usize),
    language: &str,
    provenance: toml::Table,
) -> Result<()> {
    let mut config = DatasetConfig::new(name, tr);
    config.trim_start = trim.0;
    config.trim_end = trim.1;
    config.language = Some(language.to_string());
    config.extra.insert("provenance".into(), toml::Value::Table(provenance));
    brainscale_data::write_bytes_atomic(&dir.join("dataset.toml"), config.to_toml().as_bytes())?;
    Ok(())
}
