//! The encoding pipeline: a dataset and a features folder in, per-layer r maps and tables out.
//!
//! 1. [`Responses::load`]: every run's BOLD, masked, trimmed and z-scored per voxel (held once
//!    for all layers).
//! 2. [`Design::new`]: one regressor operator per run from the word timings (SPEC 4); a layer's
//!    regressors are one matrix product per run ([`Design::layer`]).
//! 3. [`Encoding::fit_layer`]: cross-validated ridge (SPEC 5) on the chosen backend.
//! 4. [`fit_features`]: all layers, streaming one layer at a time, writing `layer-XX_r.nii.gz`
//!    as each layer finishes and the tables at the end.

use std::path::Path;

use brainscale_core::Backend;
use brainscale_core::design::{RegressorParams, Trim, design_run, regressor_operator};
use brainscale_core::ridge::{CvMode, FoldAlpha, Resident, RidgeCv, RidgeCvFit, RidgeCvParams, RunData, logspace};
use brainscale_core::stats::zscore_columns;
use brainscale_core::{Cpu, Hrf};
use brainscale_data::{Dataset, Features, FeaturesMeta, Mask};
use faer::Mat;
use serde_json::json;

use crate::error::{Error, Result};
use crate::plugins::backend::{CANDLE_BACKEND, LoadedBackend, find_backend};
use crate::progress::Progress;

/// Where the encoding core runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// The host's CPU cores.
    #[default]
    Cpu,
    /// CUDA GPU N, through the separately loaded backend library.
    Cuda(usize),
}

impl Device {
    /// Parses `cpu`, `cuda` (GPU 0) or `cuda:N`.
    pub fn from_name(name: &str) -> Option<Device> {
        match name {
            "cpu" => Some(Device::Cpu),
            "cuda" => Some(Device::Cuda(0)),
            _ => name.strip_prefix("cuda:").and_then(|n| n.parse().ok()).map(Device::Cuda),
        }
    }

    /// `cpu` or `cuda:N`.
    pub fn name(self) -> String {
        match self {
            Device::Cpu => "cpu".into(),
            Device::Cuda(n) => format!("cuda:{n}"),
        }
    }
}

/// Which implementation of the encoding core's operations runs the fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreBackend {
    /// faer in the host binary (CPU only; the default on `cpu`).
    Faer,
    /// The candle backend library, loaded at run time (the only one on `cuda`; on `cpu` it
    /// runs candle's CPU device: slower, for parity checks).
    Candle,
}

impl CoreBackend {
    /// Parses `faer` or `candle`.
    pub fn from_name(name: &str) -> Option<CoreBackend> {
        match name {
            "faer" => Some(CoreBackend::Faer),
            "candle" => Some(CoreBackend::Candle),
            _ => None,
        }
    }

    /// `faer` or `candle`.
    pub fn name(self) -> &'static str {
        match self {
            CoreBackend::Faer => "faer",
            CoreBackend::Candle => "candle",
        }
    }
}

/// Settings of an encoding fit (SPEC 5-6 defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct FitParams {
    /// Cross-validation scheme (`paper` by default).
    pub cv: CvMode,
    /// Alpha grid (default `logspace(2, 7, 16)`).
    pub alphas: Vec<f64>,
    /// HRF (default nilearn 0.10's glover).
    pub hrf: Hrf,
    /// Voxels per solver batch; None: 4,096 on the CPU, as many as the device's free memory
    /// holds on a GPU.
    pub voxel_batch: Option<usize>,
    /// Device.
    pub device: Device,
    /// Backend; None: faer on `cpu`, candle on `cuda`.
    pub backend: Option<CoreBackend>,
    /// Where the backend library is looked for first (then the plugin search path).
    pub plugin_dirs: Vec<std::path::PathBuf>,
    /// Layers to fit (all when None).
    pub layers: Option<Vec<usize>>,
}

impl Default for FitParams {
    fn default() -> Self {
        Self {
            cv: CvMode::Paper,
            alphas: logspace(2.0, 7.0, 16),
            hrf: Hrf::Glover,
            voxel_batch: None,
            device: Device::Cpu,
            backend: None,
            plugin_dirs: Vec::new(),
            layers: None,
        }
    }
}

impl FitParams {
    /// The backend that runs: the one asked for, else faer on `cpu` and candle on `cuda`.
    pub fn resolved_backend(&self) -> Result<CoreBackend> {
        match (self.device, self.backend) {
            (Device::Cuda(_), Some(CoreBackend::Faer)) => Err(Error::Invalid(
                "--backend faer runs on the CPU only: use --device cpu, or --backend candle (the default on cuda)"
                    .into(),
            )),
            (_, Some(b)) => Ok(b),
            (Device::Cpu, None) => Ok(CoreBackend::Faer),
            (Device::Cuda(_), None) => Ok(CoreBackend::Candle),
        }
    }

    fn solver_batch(&self) -> usize {
        match (self.voxel_batch, self.resolved_backend()) {
            (Some(b), _) => b,
            (None, Ok(CoreBackend::Candle)) if self.device != Device::Cpu => usize::MAX,
            (None, _) => 4096,
        }
    }
}

/// The backend of an [`Encoding`]: faer in process, or a loaded library with the responses
/// resident on its device.
enum Engine {
    Faer,
    Loaded { backend: LoadedBackend, resident: Resident<LoadedBackend> },
}

/// The BOLD responses of every run: masked, trimmed, z-scored per voxel within the run.
#[derive(Clone, Debug)]
pub struct Responses {
    /// Per run, (n_scans - trims) x n_voxels.
    pub runs: Vec<Mat<f32>>,
    /// Per run, the number of constant voxels (they z-score to 0 and score r = 0).
    pub n_constant: Vec<usize>,
}

impl Responses {
    /// Loads every run of `dataset` (one at a time; only the trimmed, z-scored data are kept).
    pub fn load(dataset: &Dataset, progress: Progress) -> Result<Responses> {
        let trim = dataset.trim();
        let bar = progress.bar(dataset.n_runs() as u64, "loading BOLD");
        let mut runs = Vec::with_capacity(dataset.n_runs());
        let mut n_constant = Vec::with_capacity(dataset.n_runs());
        for r in 0..dataset.n_runs() {
            let bold = dataset.load_bold(r)?;
            let kept = trim.kept(bold.data.nrows())?;
            let mut y = bold.data.subrows(trim.start, kept).to_owned();
            n_constant.push(zscore_columns(y.as_mut()));
            runs.push(y);
            bar.inc(1);
        }
        bar.finish_and_clear();
        let total: usize = n_constant.iter().sum();
        if total > 0 {
            log::warn!(
                "{total} voxel-runs of {} are constant after trimming: they are set to 0 and score r = 0",
                dataset.name()
            );
        }
        Ok(Responses { runs, n_constant })
    }
}

/// One regressor operator per run (n_scans x n_words), built once from the word timings.
#[derive(Clone, Debug)]
pub struct Design {
    operators: Vec<Mat<f64>>,
    trim: Trim,
    hrf: Hrf,
}

impl Design {
    /// Builds the operators of every run of `dataset`.
    pub fn new(dataset: &Dataset, hrf: Hrf) -> Result<Design> {
        let operators = dataset
            .runs()
            .iter()
            .map(|run| {
                let params = RegressorParams::new(dataset.tr(), run.n_scans, hrf);
                regressor_operator(&run.words.onset, &run.words.durations(), &params).map_err(Error::from)
            })
            .collect::<Result<_>>()?;
        Ok(Design { operators, trim: dataset.trim(), hrf })
    }

    /// The HRF used.
    pub fn hrf(&self) -> Hrf {
        self.hrf
    }

    /// Number of words per run (rows the features must have).
    pub fn n_words(&self) -> Vec<usize> {
        self.operators.iter().map(|o| o.ncols()).collect()
    }

    /// The trimmed, z-scored regressors of one layer: per run (n_scans - trims) x dim.
    pub fn layer(&self, features: &[Mat<f32>]) -> Result<Vec<Mat<f32>>> {
        if features.len() != self.operators.len() {
            return Err(Error::Invalid(format!(
                "{} runs of features for a dataset of {} runs",
                features.len(),
                self.operators.len()
            )));
        }
        self.operators
            .iter()
            .zip(features)
            .map(|(op, f)| design_run(op.as_ref(), f.as_ref(), self.trim).map_err(Error::from))
            .collect()
    }
}

/// A dataset's responses and design, ready to fit any number of layers.
pub struct Encoding<'a> {
    dataset: &'a Dataset,
    responses: Responses,
    design: Design,
    params: FitParams,
    engine: Engine,
}

impl<'a> Encoding<'a> {
    /// Loads the responses and builds the design of `dataset`.
    /// With `--device cuda` (or `--backend candle`) this loads the backend library and keeps
    /// the responses on its device for every layer fitted through this value.
    pub fn new(dataset: &'a Dataset, params: FitParams, progress: Progress) -> Result<Self> {
        // Validate the parameters and open the device before the (slow) loading.
        RidgeCv::new(Self::cv_params(&params))?;
        let backend = match params.resolved_backend()? {
            CoreBackend::Faer => None,
            CoreBackend::Candle => {
                let dirs = crate::plugins::search_dirs(&params.plugin_dirs);
                let library = find_backend(CANDLE_BACKEND, &dirs).map_err(|f| Error::Invalid(f.to_string()))?;
                Some(library.create(&params.device.name(), serde_json::json!({}))?)
            }
        };
        let design = Design::new(dataset, params.hrf)?;
        let responses = Responses::load(dataset, progress)?;
        let engine = match backend {
            None => Engine::Faer,
            Some(backend) => {
                let y: Vec<_> = responses.runs.iter().map(|m| m.as_ref()).collect();
                let resident = Resident::upload(&backend, &y)?;
                log::info!(
                    "{}: {} MB of responses resident on {}",
                    dataset.name(),
                    resident.bytes() >> 20,
                    backend.name()
                );
                Engine::Loaded { backend, resident }
            }
        };
        Ok(Self { dataset, responses, design, params, engine })
    }

    fn cv_params(params: &FitParams) -> RidgeCvParams {
        RidgeCvParams {
            alphas: params.alphas.clone(),
            mode: params.cv,
            voxel_batch: params.solver_batch(),
            ..Default::default()
        }
    }

    /// The settings.
    pub fn params(&self) -> &FitParams {
        &self.params
    }

    /// What ran the fits, for `fit.json`: device, backend and the library's description.
    pub fn backend_info(&self) -> serde_json::Value {
        match &self.engine {
            Engine::Faer => json!({"device": "cpu", "backend": "faer"}),
            Engine::Loaded { backend, .. } => json!({
                "device": self.params.device.name(),
                "backend": "candle",
                "library": backend.library().path.display().to_string(),
                "info": backend.info(),
            }),
        }
    }

    /// The dataset.
    pub fn dataset(&self) -> &Dataset {
        self.dataset
    }

    /// The design (regressor operators).
    pub fn design(&self) -> &Design {
        &self.design
    }

    /// The responses.
    pub fn responses(&self) -> &Responses {
        &self.responses
    }

    /// Fits one layer given its word features (one matrix per run).
    pub fn fit_layer(&self, features: &[Mat<f32>], progress: &mut dyn FnMut(usize, usize)) -> Result<RidgeCvFit> {
        let x = self.design.layer(features)?;
        let data = RunData::new(
            x.iter().map(|m| m.as_ref()).collect(),
            self.responses.runs.iter().map(|m| m.as_ref()).collect(),
        )?;
        let cv = RidgeCv::new(Self::cv_params(&self.params))?;
        Ok(match &self.engine {
            Engine::Faer => cv.fit_with_progress(&Cpu, &data, progress)?,
            Engine::Loaded { backend, resident } => cv.fit_resident(backend, &data, resident, progress)?,
        })
    }
}

/// One warning line per model instead of one per layer and fold (the solver's warnings are
/// all kept in `fit.json` and the per-layer counts of grid-edge alphas in `summary.csv`).
fn summarise_warnings(model: &str, layers: &[LayerResult]) {
    let affected: Vec<&LayerResult> = layers.iter().filter(|l| !l.warnings.is_empty()).collect();
    let Some(first) = affected.first() else { return };
    let n: usize = affected.iter().map(|l| l.warnings.len()).sum();
    log::warn!(
        "{model}: {n} solver warning(s) in {} of {} layers (all in fit.json); layer {}: {}",
        affected.len(),
        layers.len(),
        first.layer,
        first.warnings[0]
    );
}

/// The scores of one layer.
#[derive(Clone, Debug)]
pub struct LayerResult {
    /// Layer index.
    pub layer: usize,
    /// Per-voxel r (mean over test runs).
    pub r: Vec<f32>,
    /// Per fold (test run, 0-based), the chosen alpha(s).
    pub alphas: Vec<FoldAlpha>,
    /// Solver warnings (alphas on the grid edge).
    pub warnings: Vec<String>,
}

/// Everything a fit produced, for tables, figures and notebooks.
#[derive(Clone, Debug)]
pub struct FitResult {
    /// The features' metadata.
    pub features: FeaturesMeta,
    /// Dataset name.
    pub dataset: String,
    /// The mask (voxel order, coordinates, hemispheres).
    pub mask: Mask,
    /// The dataset's reliability map (masked), when it has one.
    pub reliability: Option<Vec<f32>>,
    /// The settings.
    pub params: FitParams,
    /// One entry per fitted layer.
    pub layers: Vec<LayerResult>,
}

impl FitResult {
    /// The layer with the highest mean r.
    pub fn best_layer(&self) -> Option<&LayerResult> {
        self.layers.iter().max_by(|a, b| mean(&a.r).total_cmp(&mean(&b.r)))
    }
}

pub(crate) fn mean(v: &[f32]) -> f64 {
    if v.is_empty() { 0.0 } else { v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64 }
}

/// File name of a layer's r map.
pub fn r_map_name(layer: usize) -> String {
    format!("layer-{layer:02}_r.nii.gz")
}

/// Fits every requested layer of `features` on `dataset`. With `out`, writes each layer's r map
/// as soon as it is done, then `scores.{parquet,csv}`, `summary.{parquet,csv}` and `fit.json`.
/// All inputs are validated (layer 0 read and matched against the dataset's words) before
/// anything is written.
pub fn fit_features(
    dataset: &Dataset,
    features: &Features,
    params: &FitParams,
    out: Option<&Path>,
    progress: Progress,
) -> Result<FitResult> {
    check_layers(features, params)?;
    let encoding = Encoding::new(dataset, params.clone(), progress)?;
    encoding.fit_features(features, out, progress)
}

fn check_layers(features: &Features, params: &FitParams) -> Result<Vec<usize>> {
    let meta = features.meta();
    let layers: Vec<usize> = match &params.layers {
        Some(l) => l.clone(),
        None => (0..meta.n_layers).collect(),
    };
    if let Some(&bad) = layers.iter().find(|&&l| l >= meta.n_layers) {
        return Err(Error::FeaturesMismatch {
            features: features.dir().to_path_buf(),
            reason: format!(
                "layer {bad} asked for, but the features have {} layers (0..{})",
                meta.n_layers, meta.n_layers
            ),
        });
    }
    Ok(layers)
}

impl Encoding<'_> {
    /// [`fit_features`] with this encoding's responses (and device): fit many models' features
    /// without loading the responses again.
    pub fn fit_features(&self, features: &Features, out: Option<&Path>, progress: Progress) -> Result<FitResult> {
        let dataset = self.dataset;
        let params = &self.params;
        let meta = features.meta().clone();
        let layers = check_layers(features, params)?;
        let n_words = self.design().n_words();
        // Validate the first layer against the dataset before writing anything.
        let first = read_layer(features, layers.first().copied().unwrap_or(0), &n_words)?;
        if let Some(name) = &meta.dataset
            && name != dataset.name()
        {
            log::warn!(
                "{}: features were extracted from dataset `{name}`, fitting on `{}` (word counts match)",
                features.dir().display(),
                dataset.name()
            );
        }
        let reliability = dataset.reliability()?;
        if let Some(out) = out {
            std::fs::create_dir_all(out).map_err(|e| Error::io("creating", out, e))?;
        }
        let mut results = Vec::with_capacity(layers.len());
        let bar = progress.bar(layers.len() as u64, format!("fitting {}", meta.model));
        let mut first = Some(first);
        for &layer in &layers {
            let x = match first.take() {
                Some(x) => x,
                None => read_layer(features, layer, &n_words)?,
            };
            bar.set_message(format!("{} layer {layer}", meta.model));
            let fit = self.fit_layer(&x, &mut |_, _| {})?;
            drop(x);
            if let Some(out) = out {
                dataset.mask().write_map(&out.join(r_map_name(layer)), &fit.r)?;
            }
            results.push(LayerResult {
                layer,
                r: fit.r,
                alphas: fit.folds.into_iter().map(|f| f.alpha).collect(),
                warnings: fit.warnings,
            });
            bar.inc(1);
        }
        bar.finish_and_clear();
        summarise_warnings(&meta.model, &results);
        let result = FitResult {
            features: meta,
            dataset: dataset.name().to_string(),
            mask: dataset.mask().clone(),
            reliability,
            params: params.clone(),
            layers: results,
        };
        if let Some(out) = out {
            write_outputs(&result, &self.backend_info(), features.dir(), out)?;
        }
        Ok(result)
    }
}

fn read_layer(features: &Features, layer: usize, n_words: &[usize]) -> Result<Vec<Mat<f32>>> {
    features.read_layer_checked(layer, n_words).map_err(|e| Error::FeaturesMismatch {
        features: features.dir().to_path_buf(),
        reason: format!("layer {layer} does not fit the dataset: {e}"),
    })
}

fn write_outputs(result: &FitResult, backend: &serde_json::Value, features_dir: &Path, out: &Path) -> Result<()> {
    let mut scores = crate::tables::scores_frame(result)?;
    let mut summary = crate::tables::summary_frame(result)?;
    crate::tables::write_table(&mut scores, &out.join("scores"))?;
    crate::tables::write_table(&mut summary, &out.join("summary"))?;
    let layers: Vec<serde_json::Value> = result
        .layers
        .iter()
        .map(|l| {
            json!({
                "layer": l.layer,
                "r_map": r_map_name(l.layer),
                "alphas": l.alphas.iter().map(|a| match a {
                    FoldAlpha::Global(a) => json!(a),
                    FoldAlpha::PerVoxel(v) => json!({"median": crate::tables::median(v)}),
                }).collect::<Vec<_>>(),
                "warnings": l.warnings,
            })
        })
        .collect();
    let doc = json!({
        "software": {"name": "brainscale", "version": env!("CARGO_PKG_VERSION")},
        "dataset": result.dataset,
        "features": features_dir.display().to_string(),
        "model": result.features.model,
        "family": result.features.family,
        "n_params": result.features.n_params,
        "n_layers": result.features.n_layers,
        "dims": result.features.dims,
        "plugin": result.features.plugin,
        "hrf": result.params.hrf.name(),
        "cv": result.params.cv.name(),
        "alphas": result.params.alphas,
        "device": result.params.device.name(),
        "backend": backend,
        "n_voxels": result.mask.n_voxels(),
        "layers": layers,
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| Error::Invalid(format!("fit.json: {e}")))?;
    brainscale_data::write_bytes_atomic(&out.join("fit.json"), text.as_bytes())?;
    Ok(())
}

/// Writes the regressors of one layer (SPEC 6 `design`): tensors `run-01`.. F32
/// [n_scans - trims, dim] into a safetensors file (atomically).
pub fn write_design(dataset: &Dataset, features: &Features, layer: usize, hrf: Hrf, out: &Path) -> Result<()> {
    let design = Design::new(dataset, hrf)?;
    let x = read_layer(features, layer, &design.n_words())?;
    let regressors = design.layer(&x)?;
    let names: Vec<String> = dataset.runs().iter().map(|r| r.label.clone()).collect();
    let bytes: Vec<Vec<u8>> = regressors
        .iter()
        .map(|m| {
            let mut b = Vec::with_capacity(m.nrows() * m.ncols() * 4);
            for i in 0..m.nrows() {
                for j in 0..m.ncols() {
                    b.extend_from_slice(&m[(i, j)].to_le_bytes());
                }
            }
            b
        })
        .collect();
    let mut views = Vec::new();
    for ((name, m), b) in names.iter().zip(&regressors).zip(&bytes) {
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![m.nrows(), m.ncols()], b)
            .map_err(|e| Error::Invalid(format!("{}: {e}", out.display())))?;
        views.push((name.clone(), view));
    }
    let metadata = std::collections::HashMap::from([
        ("hrf".to_string(), hrf.name().to_string()),
        ("layer".to_string(), layer.to_string()),
        ("dataset".to_string(), dataset.name().to_string()),
        ("model".to_string(), features.meta().model.clone()),
    ]);
    let data =
        safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Invalid(format!("{}: {e}", out.display())))?;
    brainscale_data::write_bytes_atomic(out, &data)?;
    Ok(())
}
