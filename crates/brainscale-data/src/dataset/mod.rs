//! Dataset folders in layout v1 (SPEC section 1).
//!
//! ```text
//! DATASET/
//!   dataset.toml          name, tr, trim_start, trim_end, language (+ any other tables)
//!   mask.nii.gz           3D; nonzero = voxel analysed
//!   bold/run-01.nii.gz    4D float on the mask's grid, one per run, numbered from 01
//!   words/run-01.tsv      word<TAB>onset<TAB>offset
//!   text/run-01.txt       optional punctuated text of the run
//!   reliability.nii.gz    optional 3D map (higher = more reliable)
//!   rois/NAME.nii.gz      optional 3D binary masks
//! ```
//!
//! [`Dataset::open`] checks everything that can be checked without reading the BOLD data (a
//! few kilobytes per file), so a run fails before it writes anything: files present and paired,
//! runs numbered without gaps, at least 3 runs, every image on the mask's grid, enough scans
//! for the trims, and every word inside its run.

mod config;
mod discover;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use brainscale_core::design::Trim;
use faer::Mat;

pub use config::{DEFAULT_TRIM, DatasetConfig};
pub use discover::run_label;

use crate::error::{DataError, Result};
use crate::mask::Mask;
use crate::nifti_io;
use crate::words::Words;

/// Cross-validation over runs needs a test, a validation and a training run.
pub const MIN_RUNS: usize = 3;

/// One run of a dataset: its files, its length and its words.
#[derive(Clone, Debug)]
pub struct Run {
    /// Run number, 1-based (`run-01` is 1).
    pub index: usize,
    /// Label, e.g. `run-01`.
    pub label: String,
    /// The 4D BOLD file.
    pub bold_path: PathBuf,
    /// The TSV word file.
    pub words_path: PathBuf,
    /// The punctuated text, when the dataset has one for this run.
    pub text_path: Option<PathBuf>,
    /// Number of scans (from the BOLD header).
    pub n_scans: usize,
    /// The words and their timings.
    pub words: Words,
}

/// A masked BOLD run.
#[derive(Clone, Debug)]
pub struct BoldRun {
    /// (n_scans x n_voxels), columns in mask order.
    pub data: Mat<f32>,
    /// Voxels whose time series is constant (they z-score to 0 and score r = 0).
    pub n_constant_voxels: usize,
}

/// A region of interest: mask voxels inside one of the `rois/*.nii.gz` images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roi {
    /// The file name without extension (e.g. `pSTS`).
    pub name: String,
    /// Indices of its voxels in mask order, increasing.
    pub voxels: Vec<usize>,
}

impl Roi {
    /// The mirror image of this ROI (e.g. the right homologue of a left ROI), from
    /// [`Mask::mirror_index`]; voxels whose mirror is outside the mask are dropped.
    pub fn mirrored(&self, mirror_index: &[Option<usize>]) -> Roi {
        let mut voxels: Vec<usize> =
            self.voxels.iter().filter_map(|&v| mirror_index.get(v).copied().flatten()).collect();
        voxels.sort_unstable();
        Roi { name: self.name.clone(), voxels }
    }
}

/// An opened and validated dataset folder.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # brainscale_data::synth::write_dataset(dir.path(), &brainscale_data::SynthParams::small(1))?;
/// use brainscale_data::Dataset;
/// let ds = Dataset::open(dir.path())?;
/// for (r, run) in ds.runs().iter().enumerate() {
///     let bold = ds.load_bold(r)?; // (n_scans x n_voxels)
///     assert_eq!(bold.data.nrows(), run.n_scans);
///     assert!(!run.words.is_empty());
/// }
/// let rois = ds.rois()?;
/// let right_pSTS = rois.iter().find(|r| r.name == "pSTS").unwrap().mirrored(&ds.mask().mirror_index());
/// # assert!(!right_pSTS.voxels.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Dataset {
    root: PathBuf,
    config: DatasetConfig,
    mask: Mask,
    runs: Vec<Run>,
    reliability_path: Option<PathBuf>,
    roi_paths: Vec<(String, PathBuf)>,
}

impl Dataset {
    /// Opens the dataset folder `dir` and validates it (see the module docs). Reads the mask,
    /// the word files and the NIfTI headers; BOLD data are read later by [`Dataset::load_bold`].
    pub fn open(dir: &Path) -> Result<Dataset> {
        if !dir.is_dir() {
            return Err(DataError::missing(dir, "dataset folder", "give a folder in layout v1 (SPEC section 1)"));
        }
        let default_name =
            dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into());
        let config = DatasetConfig::read(&dir.join("dataset.toml"), &default_name)?;

        let mask_path = dir.join("mask.nii.gz");
        let mask_path =
            if !mask_path.exists() && dir.join("mask.nii").exists() { dir.join("mask.nii") } else { mask_path };
        if !mask_path.exists() {
            return Err(DataError::missing(&mask_path, "brain mask (3D NIfTI, nonzero = analysed voxel)", ""));
        }
        let mask = Mask::load(&mask_path)?;

        let bold_dir = dir.join("bold");
        let words_dir = dir.join("words");
        for (sub, what) in [
            (&bold_dir, "folder of BOLD runs (bold/run-01.nii.gz, ...)"),
            (&words_dir, "folder of word files (words/run-01.tsv, ...)"),
        ] {
            if !sub.is_dir() {
                return Err(DataError::missing(sub, what, ""));
            }
        }
        let bold = discover::run_files(&bold_dir, &[".nii.gz", ".nii"])?;
        let words = discover::run_files(&words_dir, &[".tsv"])?;
        let numbers = discover::pair_runs(dir, &bold, &words)?;
        if numbers.len() < MIN_RUNS {
            return Err(DataError::TooFewRuns { dir: dir.to_path_buf(), found: numbers.len(), min: MIN_RUNS });
        }
        let text_dir = dir.join("text");
        let texts = if text_dir.is_dir() { discover::run_files(&text_dir, &[".txt"])? } else { Default::default() };
        for (n, path) in &texts {
            if !bold.contains_key(n) {
                log::warn!("ignoring {}: the dataset has no {}", path.display(), run_label(*n));
            }
        }

        let mut runs = Vec::with_capacity(numbers.len());
        for n in numbers {
            let (Some(bold_path), Some(words_path)) = (bold.get(&n), words.get(&n)) else {
                continue; // unreachable: pair_runs checked both exist
            };
            let info = nifti_io::read_info(bold_path)?;
            info.require_4d()?;
            info.require_grid(mask.grid())?;
            nifti_io::check_data_type(&info)?;
            let n_scans = info.dims[3];
            if n_scans <= config.trim_start + config.trim_end + 2 {
                return Err(DataError::TooFewScans {
                    path: bold_path.clone(),
                    n_scans,
                    trim_start: config.trim_start,
                    trim_end: config.trim_end,
                });
            }
            let text = std::fs::read_to_string(words_path).map_err(|e| DataError::read(words_path, e))?;
            let words = Words::parse_tsv(words_path, &text, Some((n_scans, config.tr)))?;
            runs.push(Run {
                index: n,
                label: run_label(n),
                bold_path: bold_path.clone(),
                words_path: words_path.clone(),
                text_path: texts.get(&n).cloned(),
                n_scans,
                words,
            });
        }

        let reliability_path =
            [dir.join("reliability.nii.gz"), dir.join("reliability.nii")].into_iter().find(|p| p.exists());
        if let Some(path) = &reliability_path {
            check_map(path, &mask)?;
        }
        let rois_dir = dir.join("rois");
        let roi_paths = if rois_dir.is_dir() { discover::nifti_files(&rois_dir)? } else { Vec::new() };
        for (_, path) in &roi_paths {
            check_map(path, &mask)?;
        }
        Ok(Dataset { root: dir.to_path_buf(), config, mask, runs, reliability_path, roi_paths })
    }

    /// The dataset folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The contents of `dataset.toml`.
    pub fn config(&self) -> &DatasetConfig {
        &self.config
    }

    /// The dataset's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Repetition time in seconds.
    pub fn tr(&self) -> f64 {
        self.config.tr
    }

    /// Scans trimmed at each end of every run.
    pub fn trim(&self) -> Trim {
        Trim { start: self.config.trim_start, end: self.config.trim_end }
    }

    /// The brain mask.
    pub fn mask(&self) -> &Mask {
        &self.mask
    }

    /// The runs, in order (`runs()[0]` is run-01).
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// Number of runs.
    pub fn n_runs(&self) -> usize {
        self.runs.len()
    }

    /// The run at 0-based position `run` (0 is run-01).
    pub fn run(&self, run: usize) -> Result<&Run> {
        self.runs.get(run).ok_or(DataError::RunIndex { index: run, n_runs: self.runs.len() })
    }

    /// Reads and masks the BOLD data of the run at 0-based position `run` (0 is run-01):
    /// (n_scans x n_voxels). A NaN or infinite value inside the mask is an error naming the
    /// file, the scan and the voxel; constant voxels are counted, not rejected.
    pub fn load_bold(&self, run: usize) -> Result<BoldRun> {
        let r = self.run(run)?;
        let data = self.mask.mask_file(&r.bold_path)?;
        if data.nrows() != r.n_scans {
            return Err(DataError::shape(
                format!("scans in {}", r.bold_path.display()),
                format!("{} (as when the dataset was opened)", r.n_scans),
                data.nrows(),
            ));
        }
        let n_constant_voxels = (0..data.ncols())
            .filter(|&v| {
                let col = data.col(v);
                let first = col[0];
                col.iter().all(|&x| x == first)
            })
            .count();
        Ok(BoldRun { data, n_constant_voxels })
    }

    /// The text heard in the run at 0-based position `run`: `text/run-XX.txt` when present,
    /// else the words joined by spaces.
    pub fn text(&self, run: usize) -> Result<String> {
        let r = self.run(run)?;
        match &r.text_path {
            Some(path) => std::fs::read_to_string(path).map_err(|e| DataError::read(path, e)),
            None => Ok(r.words.joined()),
        }
    }

    /// The path of `reliability.nii.gz`, if the dataset has one.
    pub fn reliability_path(&self) -> Option<&Path> {
        self.reliability_path.as_deref()
    }

    /// The reliability map in mask order, if the dataset has one.
    pub fn reliability(&self) -> Result<Option<Vec<f32>>> {
        match &self.reliability_path {
            Some(path) => self.mask.load_map(path).map(Some),
            None => Ok(None),
        }
    }

    /// Names of the ROIs in `rois/`, sorted.
    pub fn roi_names(&self) -> Vec<&str> {
        self.roi_paths.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The ROIs in `rois/` (sorted by name), as mask-voxel indices.
    pub fn rois(&self) -> Result<Vec<Roi>> {
        let mut out = Vec::with_capacity(self.roi_paths.len());
        for (name, path) in &self.roi_paths {
            let values = self.mask.load_map(path)?;
            let voxels: Vec<usize> = values.iter().enumerate().filter(|(_, v)| **v != 0.0).map(|(i, _)| i).collect();
            if voxels.is_empty() {
                log::warn!("{}: no voxel of this ROI is inside the mask", path.display());
            }
            out.push(Roi { name: name.clone(), voxels });
        }
        Ok(out)
    }
}

fn check_map(path: &Path, mask: &Mask) -> Result<()> {
    let info = nifti_io::read_info(path)?;
    info.require_3d()?;
    info.require_grid(mask.grid())?;
    nifti_io::check_data_type(&info)
}
