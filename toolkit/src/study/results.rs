//! One model's results folder (`brainscale fit --out`), read layer by layer.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::regions::{RegionScores, Regions, mean_over};
use crate::error::{Error, Result};

/// The parts of `fit.json` a study reads.
#[derive(Clone, Debug, Deserialize)]
struct FitJson {
    dataset: String,
    model: String,
    family: String,
    n_params: Option<u64>,
    n_voxels: usize,
    #[serde(default)]
    n_layers: Option<usize>,
    #[serde(default)]
    dims: Option<Vec<usize>>,
    #[serde(default)]
    features: Option<String>,
    layers: Vec<FitLayer>,
}

#[derive(Clone, Debug, Deserialize)]
struct FitLayer {
    layer: usize,
    r_map: String,
}

/// The scores of one fitted layer.
#[derive(Clone, Debug)]
pub struct LayerScores {
    /// Layer index.
    pub layer: usize,
    /// Relative depth: layer / (n_layers − 1), 0 for single-layer features.
    pub rel_depth: f64,
    /// Its numbers.
    pub scores: RegionScores,
}

/// One model's results: per-layer numbers and, per voxel, the best layer's r. Only these are
/// kept: the r maps are read one layer at a time.
#[derive(Clone, Debug)]
pub struct ModelResults {
    /// The results folder.
    pub dir: PathBuf,
    /// Model name (hub id or folder name).
    pub model: String,
    /// Model family (`config.json`'s `model_type`, or the baseline's name).
    pub family: String,
    /// Parameter count (None for baselines).
    pub n_params: Option<u64>,
    /// Layer count of the features (hidden states, embeddings included).
    pub n_layers: usize,
    /// Largest layer dimension.
    pub hidden: Option<usize>,
    /// The dataset it was fitted on.
    pub dataset: String,
    /// One entry per fitted layer.
    pub layers: Vec<LayerScores>,
    /// Per voxel, the highest r over the fitted layers (the paper's "best layer per voxel").
    pub best_r: Vec<f32>,
    /// Per voxel, the layer that gave it.
    pub best_r_layer: Vec<u32>,
    /// Numbers of `best_r`.
    pub best: RegionScores,
    /// The layer with the highest mean r over reliable voxels.
    pub best_layer: usize,
    /// Mean of `best_r` in each ROI of the regions (same order).
    pub roi_scores: Vec<f64>,
}

impl ModelResults {
    /// Reads a results folder against a dataset's regions: the grid must match.
    pub fn open(dir: &Path, regions: &Regions) -> Result<ModelResults> {
        let fit_path = dir.join("fit.json");
        let text = std::fs::read_to_string(&fit_path).map_err(|e| {
            Error::Invalid(format!(
                "{}: {e}: not a results folder (`brainscale fit --out` writes fit.json there)",
                fit_path.display()
            ))
        })?;
        let fit: FitJson = serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("{}: not a brainscale fit.json: {e}", fit_path.display())))?;
        let n = regions.mask.n_voxels();
        if fit.n_voxels != n {
            return Err(Error::Invalid(format!(
                "{}: fitted on {} voxels of dataset `{}`, but this analysis's mask has {n}: results from \
                 different datasets or grids cannot be mixed",
                dir.display(),
                fit.n_voxels,
                fit.dataset
            )));
        }
        if fit.layers.is_empty() {
            return Err(Error::Invalid(format!("{}: no fitted layer", fit_path.display())));
        }
        let features_meta = fit
            .features
            .as_deref()
            .map(Path::new)
            .filter(|p| p.join("meta.json").is_file())
            .and_then(|p| brainscale_data::Features::open(p).ok())
            .map(|f| f.meta().clone());
        let n_layers = fit
            .n_layers
            .or(features_meta.as_ref().map(|m| m.n_layers))
            .unwrap_or_else(|| fit.layers.iter().map(|l| l.layer + 1).max().unwrap_or(1));
        let hidden =
            fit.dims.as_ref().or(features_meta.as_ref().map(|m| &m.dims)).and_then(|d| d.iter().max().copied());

        let mut best_r = vec![f32::NEG_INFINITY; n];
        let mut best_r_layer = vec![0u32; n];
        let mut layers = Vec::with_capacity(fit.layers.len());
        for l in &fit.layers {
            let path = dir.join(&l.r_map);
            let r = regions.mask.load_map(&path)?;
            for (v, &x) in r.iter().enumerate() {
                if x > best_r[v] {
                    best_r[v] = x;
                    best_r_layer[v] = l.layer as u32;
                }
            }
            let rel_depth = if n_layers > 1 { l.layer as f64 / (n_layers - 1) as f64 } else { 0.0 };
            layers.push(LayerScores { layer: l.layer, rel_depth, scores: regions.scores(&r) });
        }
        let best_layer = layers
            .iter()
            .max_by(|a, b| a.scores.mean_r_reliable.total_cmp(&b.scores.mean_r_reliable))
            .map_or(0, |l| l.layer);
        let roi_scores = regions.rois.iter().map(|roi| mean_over(&best_r, &roi.voxels)).collect();
        // a plugin that could not count its parameters: the models table may know them
        let n_params = fit
            .n_params
            .or_else(|| brainscale_data::models::ModelsFile::builtin().ok()?.get(&fit.model).map(|m| m.n_params));
        Ok(ModelResults {
            dir: dir.to_path_buf(),
            model: fit.model,
            family: fit.family,
            n_params,
            n_layers,
            hidden,
            dataset: fit.dataset,
            best: regions.scores(&best_r),
            layers,
            best_r,
            best_r_layer,
            best_layer,
            roi_scores,
        })
    }
}
