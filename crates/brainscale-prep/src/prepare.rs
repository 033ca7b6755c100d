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
//!    then the mask is intersected with its left-right mirror.
//! 4. **Runs**, run-outer and subject-inner: each subject's run is resampled volume by volume
//!    ([`crate::resample`]), clipped, masked, cleaned ([`crate::clean`]: detrend, high-pass,
//!    z-score) and added to the run's sums ([`crate::reliability::HalfSums`]: all subjects, and
//!    half A of each split); a subject kept as its own dataset has its cleaned run written.
//!    Then the run's average is z-scored and written, and the trimmed half sums go to a scratch
//!    folder.
//! 5. **Reliability** ([`crate::reliability`]): split by split from the scratch folder.
//! 6. **Finish**: word files, texts, `dataset.toml` with provenance, every dataset opened and
//!    validated by [`brainscale_data::Dataset::open`]; only then is the staging folder renamed
//!    onto the output, so an interrupted or failed preparation never leaves a dataset that
//!    looks complete.

use std::path::{Path, PathBuf};

use brainscale_core::stats::zscore_columns_f64;
use brainscale_data::nifti_io::{VolumeReader, read_info};
use brainscale_data::{Dataset, DatasetConfig, Grid, Mask};
use faer::Mat;
use flate2::Compression;

use crate::bids::{Subject, discover, select};
use crate::clean::{CleanParams, Cleaner, Standardize};
use crate::error::{PrepError, Result};
use crate::mask::{EpiMaskParams, MeanVolume, MultiEpiMask, symmetrize};
use crate::provenance::{self, Provenance};
use crate::reliability::{self, HalfStore, HalfSums, split_halves};
use crate::resample::{ClipRange, Interpolation, Resampler};
use crate::spec::PrepareSpec;
use crate::words_step;

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
    let mut warnings = Vec::new();

    // 1. Words and texts.
    let texts = words_step::read(raw, spec, registry_dir)?;
    warnings.extend(texts.warnings.iter().cloned());
    if !texts.errors().is_empty() {
        let report = out.with_file_name(format!("{}.alignment.tsv", file_name(out)));
        if let Some(parent) = report.parent() {
            std::fs::create_dir_all(parent).map_err(|e| PrepError::write(parent, e))?;
        }
        crate::align::write_report(&report, &texts.mismatches)?;
        let errors = texts.errors();
        let shown: Vec<String> = errors.iter().take(10).map(|m| format!("  {m}")).collect();
        let more = if errors.len() > 10 { format!("\n  ... and {} more", errors.len() - 10) } else { String::new() };
        return Err(PrepError::Alignment {
            n: errors.len(),
            shown: format!("{}{more}", shown.join("\n")),
            report,
            corrections: texts.corrections.as_ref().map(|c| c.source.clone()),
        });
    }

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

    // 3. The mask.
    let (mask, mask_stats) = compute_mask(spec, &subjects, &plan, progress)?;
    mask.write_map(&dir.join("mask.nii.gz"), &vec![1.0; mask.n_voxels()])?;

    // 4. The runs.
    let halves = split_halves(subjects.len(), spec.reliability.splits, spec.reliability.seed);
    let store_dir = dir.join(".scratch");
    let mut store = HalfStore::new(&store_dir, mask.n_voxels())?;
    let kept: Vec<usize> =
        subjects.iter().enumerate().filter(|(_, s)| keep.contains(&s.label)).map(|(i, _)| i).collect();
    for &s in &kept {
        let bold = dir.join(&subjects[s].label).join("bold");
        std::fs::create_dir_all(&bold).map_err(|e| PrepError::write(&bold, e))?;
    }
    std::fs::create_dir_all(dir.join("bold")).map_err(|e| PrepError::write(dir.join("bold"), e))?;
    let offsets: Vec<usize> = {
        let [nx, ny, _] = spec.grid.dims;
        mask.ijk().iter().map(|&[i, j, k]| i + nx * (j + ny * k)).collect()
    };
    let clean_params = clean_params(spec);
    progress.start("runs", (spec.runs * subjects.len()) as u64);
    for r in 0..spec.runs {
        let n_scans = plan.n_scans[r];
        let cleaner = Cleaner::new(&clean_params, n_scans).map_err(|e| PrepError::Resample {
            path: subjects[0].runs[r].path.clone(),
            target: "signal cleaning".into(),
            reason: e.to_string(),
        })?;
        let mut sums = HalfSums::new(n_scans, mask.n_voxels(), halves.len());
        let mut run = Mat::<f32>::zeros(n_scans, mask.n_voxels());
        for (s, subject) in subjects.iter().enumerate() {
            let file = &subject.runs[r].path;
            let resampler = plan.resampler(s, r)?;
            load_run(file, resampler, &offsets, &mut run)?;
            cleaner.clean(run.as_mut()).map_err(|e| PrepError::Resample {
                path: file.clone(),
                target: "signal cleaning".into(),
                reason: e.to_string(),
            })?;
            let in_a: Vec<bool> = halves.iter().map(|h| h[s]).collect();
            sums.add(run.as_ref(), &in_a);
            if kept.contains(&s) {
                let path = dir.join(&subject.label).join("bold").join(run_file(r));
                mask.write_series(&path, run.as_ref(), spec.tr, Compression::fast())?;
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
    for &s in &kept {
        let label = &subjects[s].label;
        let sub_dir = dir.join(label);
        mask.write_map(&sub_dir.join("mask.nii.gz"), &vec![1.0; mask.n_voxels()])?;
        texts.write(&sub_dir)?;
        write_config(&sub_dir, &format!("{}/{label}", source.entry), spec, provenance::table(&prov, Some(label)))?;
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
        n_voxels: mask.n_voxels(),
        mean_reliability: rel_summary.map(|r| r.mean.iter().sum::<f32>() / r.mean.len().max(1) as f32),
        text_only: texts.mismatches.len() - texts.errors().len(),
        warnings,
    })
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

/// What the mask step found (for provenance).
#[derive(Clone, Debug)]
pub struct MaskStats {
    /// Images (runs) that voted.
    pub n_images: usize,
    /// Voxels of the multi-subject mask before symmetrisation.
    pub n_before_symmetry: usize,
    /// Voxels of the symmetric mask.
    pub n_voxels: usize,
}

fn compute_mask(
    spec: &PrepareSpec,
    subjects: &[Subject],
    plan: &Plan,
    progress: &mut dyn Progress,
) -> Result<(Mask, MaskStats)> {
    let grid = &spec.grid;
    let mask_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: crate::mask::MaskError| PrepError::Resample {
            path,
            target: "the multi-subject EPI mask".into(),
            reason: e.to_string(),
        }
    };
    let mut multi = MultiEpiMask::new(grid, EpiMaskParams::default(), spec.mask_threshold)
        .map_err(mask_err(Path::new("(mask settings)")))?;
    let mut resampled = vec![0f32; grid.n_cells()];
    progress.start("mask", (subjects.len() * spec.runs) as u64);
    for (s, subject) in subjects.iter().enumerate() {
        for (r, run) in subject.runs.iter().enumerate() {
            let mut reader = VolumeReader::open(&run.path)?;
            let mut mean = MeanVolume::new(reader.info().grid.n_cells());
            let mut volume = vec![0f32; reader.info().grid.n_cells()];
            while reader.read_next(&mut volume)?.is_some() {
                mean.add(&volume).map_err(mask_err(&run.path))?;
            }
            let mean = mean.finish();
            let mut resampler = plan.resampler(s, r)?;
            resampler.resample(&mean, &mut resampled).map_err(|e| PrepError::Resample {
                path: run.path.clone(),
                target: grid.to_string(),
                reason: e.to_string(),
            })?;
            ClipRange::of(&mean).clip(&mut resampled);
            multi.add(&resampled).map_err(mask_err(&run.path))?;
            progress.step(&format!("{} run {}", subject.label, r + 1));
        }
    }
    progress.finish();
    let n_images = multi.n_subjects();
    let group = multi.finish().map_err(mask_err(Path::new("(all runs)")))?;
    let n_before_symmetry = group.iter().filter(|&&m| m).count();
    let sym = symmetrize(&group, grid).map_err(mask_err(Path::new("(all runs)")))?;
    let [nx, ny, _] = grid.dims;
    let mask = Mask::from_fn(grid.dims, grid.affine, |[i, j, k]| sym[i + nx * (j + ny * k)])?;
    let stats = MaskStats { n_images, n_before_symmetry, n_voxels: mask.n_voxels() };
    Ok((mask, stats))
}

/// Reads one run, resamples each volume, keeps the mask voxels (`offsets` into the target
/// volume), and clips with the run's range as nilearn does: `out` is n_scans x n_voxels.
///
/// Reading (gzip decompression) runs on its own thread, one or two volumes ahead of the
/// resampling, so the two overlap on a two-core machine.
fn load_run(path: &Path, mut resampler: Resampler, offsets: &[usize], out: &mut Mat<f32>) -> Result<()> {
    let mut reader = VolumeReader::open(path)?;
    let n_cells = reader.info().grid.n_cells();
    let mut resampled = vec![0f32; resampler.target().n_cells()];
    let mut range = ClipRange::default();
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(usize, Vec<f32>)>(2);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<f32>>();
    for _ in 0..3 {
        let _ = empty_tx.send(vec![0f32; n_cells]);
    }
    std::thread::scope(|scope| -> Result<()> {
        let read = scope.spawn(move || -> Result<()> {
            while let Ok(mut volume) = empty_rx.recv() {
                match reader.read_next(&mut volume)? {
                    Some(t) => {
                        if full_tx.send((t, volume)).is_err() {
                            break; // the consumer stopped on an error
                        }
                    }
                    None => break,
                }
            }
            Ok(())
        });
        let mut outcome = Ok(());
        for (t, volume) in full_rx.iter() {
            match resampler.resample(&volume, &mut resampled) {
                Ok(r) => range.merge(r),
                Err(e) => {
                    outcome = Err(PrepError::Resample {
                        path: path.to_path_buf(),
                        target: resampler.target().to_string(),
                        reason: e.to_string(),
                    });
                    break;
                }
            }
            for (v, &o) in offsets.iter().enumerate() {
                out[(t, v)] = resampled[o];
            }
            let _ = empty_tx.send(volume);
        }
        drop(full_rx);
        drop(empty_tx);
        let read_outcome = read.join().unwrap_or_else(|_| {
            Err(PrepError::Output { path: path.to_path_buf(), reason: "the reading thread panicked".into() })
        });
        outcome.and(read_outcome)
    })?;
    for j in 0..out.ncols() {
        for t in 0..out.nrows() {
            let mut x = [out[(t, j)]];
            range.clip(&mut x);
            out[(t, j)] = x[0];
        }
    }
    Ok(())
}

fn write_config(dir: &Path, name: &str, spec: &PrepareSpec, provenance: toml::Table) -> Result<()> {
    let mut config = DatasetConfig::new(name, spec.tr);
    config.trim_start = spec.trim.0;
    config.trim_end = spec.trim.1;
    config.language = Some(spec.language.clone());
    config.extra.insert("provenance".into(), toml::Value::Table(provenance));
    brainscale_data::write_bytes_atomic(&dir.join("dataset.toml"), config.to_toml().as_bytes())?;
    Ok(())
}

/// A hidden sibling folder of the output, removed unless committed.
struct Staging {
    path: PathBuf,
    out: PathBuf,
    committed: bool,
}

impl Staging {
    fn new(out: &Path) -> Result<Staging> {
        let parent = out.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| PrepError::write(parent, e))?;
        if out.exists() && !out.is_dir() {
            return Err(PrepError::Output { path: out.into(), reason: "exists and is not a folder".into() });
        }
        let path = parent.join(format!(".{}.partial-{}", file_name(out), std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|e| PrepError::write(&path, e))?;
        }
        std::fs::create_dir_all(&path).map_err(|e| PrepError::write(&path, e))?;
        Ok(Staging { path, out: out.to_path_buf(), committed: false })
    }

    /// Renames the staging folder onto the output (the old output, if any, is removed after).
    fn commit(mut self) -> Result<()> {
        let old = self.out.with_file_name(format!(".{}.old-{}", file_name(&self.out), std::process::id()));
        let had_old = self.out.exists();
        if had_old {
            std::fs::rename(&self.out, &old).map_err(|e| PrepError::write(&self.out, e))?;
        }
        if let Err(e) = std::fs::rename(&self.path, &self.out) {
            if had_old {
                let _ = std::fs::rename(&old, &self.out);
            }
            return Err(PrepError::write(&self.out, e));
        }
        self.committed = true;
        if had_old {
            std::fs::remove_dir_all(&old).map_err(|e| PrepError::write(&old, e))?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
