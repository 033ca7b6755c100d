//! A synthetic dataset in layout v1 with a planted, known signal.
//!
//! [`write_dataset`] writes, deterministically from a seed:
//!
//! * a symmetric brain-shaped mask on the LPP grid (or a smaller or given one);
//! * word streams of pseudo-words with Zipf frequencies and realistic timing (~2.5 words/s,
//!   words of 0.15-0.5 s, pauses between sentences) and the punctuated text of each run;
//! * BOLD runs whose signal is the HRF regressors of latent word features (a per-type vector
//!   plus a slowly varying context component) times per-voxel weights, planted in spheres at
//!   the paper's seven left-hemisphere ROIs (full amplitude) and their right homologues
//!   (weaker), scaled per voxel to a signal-to-noise ratio, plus Gaussian noise whose level
//!   varies across voxels; no signal elsewhere;
//! * `reliability.nii.gz`: a split-half reliability map estimated the way real ones are, as the
//!   correlation between two replications of the experiment (the BOLD written, and a second
//!   draw with the same planted signal and independent noise); it is about `expected_r²` where
//!   signal was planted and sampling noise around 0 elsewhere, so the "25% most reliable"
//!   voxels mix planted voxels with noise, as on real data;
//! * the seven ROI masks, and the ground truth in `truth/`: the latent features as a features
//!   folder, the weights, the expected r map (`expected_r.nii.gz`, exactly 0 where nothing was
//!   planted) and `truth.json`.
//!
//! One run is generated and written at a time, so memory stays at about two runs of BOLD.

pub(crate) mod brain;
mod signal;
mod text;

use std::io::Write;
use std::path::{Path, PathBuf};

use brainscale_core::design::RegressorParams;
use brainscale_core::hrf::Hrf;
use faer::Mat;
use flate2::Compression;
use serde_json::json;

pub use crate::rois::{PAPER_ROIS, ROI_RADIUS_MM};

use crate::atomic::write_bytes_atomic;
use crate::dataset::{DEFAULT_TRIM, DatasetConfig, MIN_RUNS, run_label};
use crate::error::{DataError, Result};
use crate::features::{FeaturesMeta, FeaturesWriter};
use crate::mask::Mask;
use crate::nifti_io::Affine;
use signal::Stream;

/// The grid (and mask) of a synthetic dataset.
#[derive(Clone, Debug, PartialEq)]
pub enum SynthGrid {
    /// The LPP grid: 37 x 46 x 38 voxels of 4 mm, origin (-72, -106, -64).
    Lpp,
    /// A coarse grid for tests: 19 x 23 x 19 voxels of 8 mm, same origin.
    Small,
    /// An existing mask file (e.g. the real LPP mask); its grid and voxels are used as is.
    Mask(PathBuf),
}

/// Parameters of the synthetic dataset. `SynthParams::default()` is the full-size study.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthParams {
    /// Random seed: equal seeds give identical datasets.
    pub seed: u64,
    /// Number of runs (at least 3).
    pub n_runs: usize,
    /// Scans per run.
    pub n_scans: usize,
    /// Repetition time in seconds.
    pub tr: f64,
    /// Grid and mask.
    pub grid: SynthGrid,
    /// Dimension of the latent word features.
    pub n_latent: usize,
    /// Number of word types in the vocabulary.
    pub n_word_types: usize,
    /// Weight of the context component in the latent features (0 = word type only, 1 =
    /// context only).
    pub context_weight: f64,
    /// Signal-to-noise ratio (std of signal / std of noise) at the centre of the left regions.
    pub snr: f64,
    /// Amplitude of the right homologues relative to the left regions.
    pub right_ratio: f64,
    /// Radius (mm) of the planted spheres.
    pub signal_radius_mm: f64,
    /// Spread of the noise level across voxels (std of its logarithm).
    pub noise_spread: f64,
    /// HRF used to plant the signal.
    pub hrf: Hrf,
    /// Trims written to dataset.toml (scans at the start / end of each run).
    pub trim_start: usize,
    /// See `trim_start`.
    pub trim_end: usize,
}

impl Default for SynthParams {
    fn default() -> Self {
        Self {
            seed: 0,
            n_runs: 9,
            n_scans: 300,
            tr: 2.0,
            grid: SynthGrid::Lpp,
            n_latent: 32,
            n_word_types: 400,
            context_weight: 0.5,
            snr: 1.0,
            right_ratio: 0.5,
            signal_radius_mm: 12.0,
            noise_spread: 0.3,
            hrf: Hrf::Glover,
            trim_start: DEFAULT_TRIM,
            trim_end: DEFAULT_TRIM,
        }
    }
}

impl SynthParams {
    /// A small, fast dataset for tests: Small grid, 4 runs of 80 scans.
    pub fn small(seed: u64) -> Self {
        Self { seed, n_runs: 4, n_scans: 80, grid: SynthGrid::Small, ..Self::default() }
    }

    fn check(&self) -> Result<()> {
        let bad = |reason: String| Err(DataError::SynthParams { reason });
        if self.n_runs < MIN_RUNS {
            return bad(format!("n_runs = {}: at least {MIN_RUNS} runs are needed", self.n_runs));
        }
        if self.n_scans <= self.trim_start + self.trim_end + 2 {
            return bad(format!(
                "n_scans = {} must exceed trim_start + trim_end + 2 = {}",
                self.n_scans,
                self.trim_start + self.trim_end + 2
            ));
        }
        if !(self.tr.is_finite() && self.tr > 0.0) || (self.n_scans as f64 * self.tr) < 10.0 {
            return bad(format!("tr = {} s with {} scans: runs must last at least 10 s", self.tr, self.n_scans));
        }
        if self.n_latent == 0 || self.n_word_types < 10 {
            return bad(format!(
                "n_latent = {} (>= 1) and n_word_types = {} (>= 10)",
                self.n_latent, self.n_word_types
            ));
        }
        let finite_non_negative = [self.snr, self.right_ratio, self.signal_radius_mm, self.noise_spread];
        if finite_non_negative.iter().any(|x| !(x.is_finite() && *x >= 0.0))
            || !(0.0..=1.0).contains(&self.context_weight)
        {
            return bad(
                "snr, right_ratio, signal_radius_mm, noise_spread must be finite and >= 0, context_weight in [0, 1]"
                    .into(),
            );
        }
        Ok(())
    }

    fn to_json(&self) -> serde_json::Value {
        let grid = match &self.grid {
            SynthGrid::Lpp => "lpp".to_string(),
            SynthGrid::Small => "small".to_string(),
            SynthGrid::Mask(p) => format!("mask:{}", p.display()),
        };
        json!({
            "seed": self.seed, "n_runs": self.n_runs, "n_scans": self.n_scans, "tr": self.tr, "grid": grid,
            "n_latent": self.n_latent, "n_word_types": self.n_word_types, "context_weight": self.context_weight,
            "snr": self.snr, "right_ratio": self.right_ratio, "signal_radius_mm": self.signal_radius_mm,
            "noise_spread": self.noise_spread, "hrf": self.hrf.name(),
            "trim_start": self.trim_start, "trim_end": self.trim_end,
        })
    }
}

/// What [`write_dataset`] wrote.
#[derive(Clone, Debug)]
pub struct SynthSummary {
    /// The dataset folder.
    pub out: PathBuf,
    /// Voxels in the mask.
    pub n_voxels: usize,
    /// Voxels with planted signal (left regions and right homologues).
    pub n_planted: usize,
    /// Words in each run.
    pub n_words: Vec<usize>,
    /// Voxels of each ROI written to `rois/`.
    pub roi_voxels: Vec<(String, usize)>,
}

impl std::fmt::Display for SynthSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words: usize = self.n_words.iter().sum();
        write!(
            f,
            "synthetic dataset: {} runs, {words} words, {} voxels in the mask, {} with planted signal",
            self.n_words.len(),
            self.n_voxels,
            self.n_planted
        )?;
        if !self.roi_voxels.is_empty() {
            let rois: Vec<String> = self.roi_voxels.iter().map(|(n, c)| format!("{n} {c}")).collect();
            write!(f, "; ROIs: {}", rois.join(", "))?;
        }
        Ok(())
    }
}

/// Revision of the generator's output: bumped whenever the same parameters would give
/// different files (recorded in `truth.json` and `dataset.toml`, and part of the key under
/// which `brainscale run` caches its demo dataset). 2: reliability.nii.gz is a split-half
/// estimate (it was the expected r map).
pub const GENERATOR_REVISION: u32 = 2;

const LPP_AFFINE: Affine =
    [[4.0, 0.0, 0.0, -72.0], [0.0, 4.0, 0.0, -106.0], [0.0, 0.0, 4.0, -64.0], [0.0, 0.0, 0.0, 1.0]];
const SMALL_AFFINE: Affine =
    [[8.0, 0.0, 0.0, -72.0], [0.0, 8.0, 0.0, -106.0], [0.0, 0.0, 8.0, -64.0], [0.0, 0.0, 0.0, 1.0]];

/// Writes a synthetic dataset in layout v1 to `out` (created if needed; existing files with
/// the same names are replaced, each atomically).
///
/// ```
/// use brainscale_data::synth::{write_dataset, SynthParams};
/// # let dir = tempfile::tempdir()?;
/// let summary = write_dataset(dir.path(), &SynthParams { n_runs: 3, n_scans: 40, ..SynthParams::small(7) })?;
/// assert!(summary.n_planted > 0 && summary.n_planted < summary.n_voxels);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_dataset(out: &Path, params: &SynthParams) -> Result<SynthSummary> {
    params.check()?;
    let mask = match &params.grid {
        SynthGrid::Lpp => brain::brain_mask([37, 46, 38], LPP_AFFINE)?,
        SynthGrid::Small => brain::brain_mask([19, 23, 19], SMALL_AFFINE)?,
        SynthGrid::Mask(path) => Mask::load(path)?,
    };
    for sub in ["bold", "words", "text", "rois", "truth"] {
        let dir = out.join(sub);
        std::fs::create_dir_all(&dir).map_err(|e| DataError::write(&dir, e))?;
    }
    mask.write_map(&out.join("mask.nii.gz"), &vec![1.0; mask.n_voxels()])?;
    let seed = params.seed;
    let (n_runs, n_scans, dim) = (params.n_runs, params.n_scans, params.n_latent);

    // Words, latent features and regressors of every run (small: words x dim per run).
    let vocab = text::Vocabulary::new(&mut signal::rng(seed, Stream::Vocabulary, 0), params.n_word_types);
    let types = signal::type_vectors(&mut signal::rng(seed, Stream::TypeVectors, 0), params.n_word_types, dim);
    let reg_params = RegressorParams::new(params.tr, n_scans, params.hrf);
    let mut latents = Vec::with_capacity(n_runs);
    let mut regressors = Vec::with_capacity(n_runs);
    let mut n_words = Vec::with_capacity(n_runs);
    for r in 0..n_runs {
        let speech = text::speech(&mut signal::rng(seed, Stream::Speech, r as u64), &vocab, n_scans as f64 * params.tr);
        let label = run_label(r + 1);
        speech.words.write_tsv(&out.join(format!("words/{label}.tsv")))?;
        write_bytes_atomic(&out.join(format!("text/{label}.txt")), speech.text.as_bytes())?;
        let mut context_rng = signal::rng(seed, Stream::Context, r as u64);
        let latent = signal::latent_features(&speech.types, &types, params.context_weight, &mut context_rng);
        regressors.push(signal::regressors(&speech.words, &latent, &reg_params)?);
        n_words.push(speech.words.len());
        latents.push(latent);
    }

    // Where the signal goes and how strong it is.
    let planting = brain::planting(&mask, params.signal_radius_mm, params.right_ratio);
    let covariance = signal::pooled_covariance(&regressors, params.trim_start, params.trim_end);
    let model = signal::voxel_model(
        &mut signal::rng(seed, Stream::Voxels, 0),
        &planting,
        PAPER_ROIS.len(),
        &covariance,
        params.snr,
        params.noise_spread,
    );

    // BOLD, one run at a time, and its replication for the reliability map.
    let mut split_half = signal::SplitHalf::new(mask.n_voxels());
    let kept = params.trim_start..n_scans - params.trim_end;
    for (r, x) in regressors.iter().enumerate() {
        let bold = signal::bold_run(x, &model, &mut signal::rng(seed, Stream::Noise, r as u64));
        let path = out.join(format!("bold/{}.nii.gz", run_label(r + 1)));
        mask.write_series(&path, bold.as_ref(), params.tr, Compression::fast())?;
        let replication = signal::bold_run(x, &model, &mut signal::rng(seed, Stream::Replication, r as u64));
        split_half.add_run(&bold, &replication, kept.clone());
    }

    // Maps, ROIs and ground truth.
    let reliability: Vec<f32> = split_half.finish().iter().map(|&r| r as f32).collect();
    mask.write_map(&out.join("reliability.nii.gz"), &reliability)?;
    let expected_r: Vec<f32> = model.expected_r.iter().map(|&r| r as f32).collect();
    mask.write_map(&out.join("truth/expected_r.nii.gz"), &expected_r)?;
    let mut roi_voxels = Vec::new();
    for (name, values) in brain::roi_maps(&mask) {
        mask.write_map(&out.join(format!("rois/{name}.nii.gz")), &values)?;
        roi_voxels.push((name.clone(), values.iter().filter(|&&v| v > 0.0).count()));
    }
    write_truth(out, params, &mask, &latents, &model, &planting, &n_words, &roi_voxels)?;
    write_config(out, params)?;
    Ok(SynthSummary {
        out: out.to_path_buf(),
        n_voxels: mask.n_voxels(),
        n_planted: model.planted.len(),
        n_words,
        roi_voxels,
    })
}

fn dataset_name(params: &SynthParams) -> String {
    format!("synth-seed{}", params.seed)
}

#[allow(clippy::too_many_arguments)]
fn write_truth(
    out: &Path,
    params: &SynthParams,
    mask: &Mask,
    latents: &[Mat<f64>],
    model: &signal::VoxelModel,
    planting: &brain::Planting,
    n_words: &[usize],
    roi_voxels: &[(String, usize)],
) -> Result<()> {
    let mut meta = FeaturesMeta::new("synth-truth", "truth", vec![params.n_latent]);
    meta.dataset = Some(dataset_name(params));
    meta.dtype = Some("f32".into());
    meta.extra.insert("hrf".into(), params.hrf.name().into());
    meta.extra.insert("seed".into(), params.seed.into());
    let mut writer = FeaturesWriter::create(&out.join("truth/features"), meta)?;
    let layer: Vec<Mat<f32>> =
        latents.iter().map(|l| Mat::from_fn(l.nrows(), l.ncols(), |i, j| l[(i, j)] as f32)).collect();
    writer.write_layer(0, layer)?;
    writer.finish()?;

    let w = &model.weights;
    let weights = Mat::<f32>::from_fn(w.nrows(), w.ncols(), |i, j| w[(i, j)] as f32);
    let noise = Mat::<f32>::from_fn(1, model.noise_std.len(), |_, v| model.noise_std[v] as f32);
    crate::features::write_tensors(
        &out.join("truth/weights.safetensors"),
        &[
            ("W", weights.as_ref(), vec![w.nrows(), w.ncols()]),
            ("noise_std", noise.as_ref(), vec![model.noise_std.len()]),
        ],
    )?;

    let n = PAPER_ROIS.len();
    let regions: Vec<serde_json::Value> = (0..2 * n)
        .map(|i| {
            let (name, c) = PAPER_ROIS[i % n];
            let left = i < n;
            json!({
                "name": name,
                "hemisphere": if left { "left" } else { "right" },
                "centre_mm": if left { c.to_vec() } else { vec![-c[0], c[1], c[2]] },
                "radius_mm": params.signal_radius_mm,
                "peak_snr": params.snr * if left { 1.0 } else { params.right_ratio },
                "n_planted_voxels": planting.counts[i],
                "n_roi_voxels": if left { roi_voxels.get(i).map(|r| r.1) } else { None },
            })
        })
        .collect();
    let truth = json!({
        "generator": "brainscale-data synth",
        "version": env!("CARGO_PKG_VERSION"),
        "revision": GENERATOR_REVISION,
        "seed": params.seed,
        "parameters": params.to_json(),
        "n_voxels": mask.n_voxels(),
        "n_planted_voxels": model.planted.len(),
        "n_words_per_run": n_words,
        "regions": regions,
        "planted_voxels": model.planted,
        "files": {
            "features": "truth/features (layer-00: the latent word features the signal was built from)",
            "weights": "truth/weights.safetensors: W [n_latent, n_voxels] (BOLD = regressors(latent) . W + noise), noise_std [n_voxels]",
            "expected_r": "truth/expected_r.nii.gz: expected Pearson r between BOLD and planted signal (reliability.nii.gz estimates its square from a replication)",
        },
    });
    let path = out.join("truth/truth.json");
    let text = serde_json::to_string_pretty(&truth).map_err(|e| DataError::Json {
        path: path.clone(),
        line: None,
        message: e.to_string(),
    })?;
    write_bytes_atomic(&path, format!("{text}\n").as_bytes())
}

fn write_config(out: &Path, params: &SynthParams) -> Result<()> {
    let mut config = DatasetConfig::new(dataset_name(params), params.tr);
    config.trim_start = params.trim_start;
    config.trim_end = params.trim_end;
    config.language = Some("synthetic".into());
    let mut provenance = toml::Table::new();
    provenance.insert("generator".into(), "brainscale-data synth".into());
    provenance.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    provenance.insert("revision".into(), i64::from(GENERATOR_REVISION).into());
    // TOML integers are signed 64-bit; larger seeds are kept as strings.
    let seed = i64::try_from(params.seed).map(toml::Value::from).unwrap_or_else(|_| params.seed.to_string().into());
    provenance.insert("seed".into(), seed);
    let json = params.to_json();
    let parameters: toml::Table = json
        .as_object()
        .map(|o| o.iter().filter_map(|(k, v)| json_to_toml(v).map(|v| (k.clone(), v))).collect())
        .unwrap_or_default();
    provenance.insert("parameters".into(), toml::Value::Table(parameters));
    config.extra.insert("provenance".into(), toml::Value::Table(provenance));
    let path = out.join("dataset.toml");
    let mut text = Vec::new();
    let _ =
        writeln!(text, "# Synthetic dataset written by `brainscale synth`: the signal is known; see truth/truth.json.");
    text.extend_from_slice(config.to_toml().as_bytes());
    write_bytes_atomic(&path, &text)
}

fn json_to_toml(v: &serde_json::Value) -> Option<toml::Value> {
    match v {
        serde_json::Value::String(s) => Some(s.clone().into()),
        serde_json::Value::Bool(b) => Some((*b).into()),
        serde_json::Value::Number(n) => n.as_i64().map(toml::Value::from).or_else(|| n.as_f64().map(toml::Value::from)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
