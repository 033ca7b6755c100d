//! The study's tables as polars DataFrames.

use brainscale_data::Hemisphere;
use polars::prelude::*;

use super::Study;
use crate::columns as col;
use crate::error::{Error, Result};

fn table_err(e: PolarsError) -> Error {
    Error::Table { path: "<memory>".into(), message: e.to_string() }
}

fn side(h: Hemisphere) -> &'static str {
    match h {
        Hemisphere::Left => "L",
        Hemisphere::Right => "R",
        Hemisphere::Midline => "M",
    }
}

/// The entry of `models.toml` for a model name or hub id (what cannot be computed: perplexity,
/// HellaSwag).
fn known(model: &str) -> Option<brainscale_data::models::ModelInfo> {
    let table = brainscale_data::models::ModelsFile::builtin().ok()?;
    table.get(model).cloned()
}

impl Study {
    /// One row per model (see the module docs for the columns).
    pub fn models_frame(&self) -> Result<DataFrame> {
        let m = &self.models;
        let f = |get: &dyn Fn(&super::ModelResults) -> f64| m.iter().map(get).collect::<Vec<f64>>();
        let n_params: Vec<Option<u64>> = m.iter().map(|x| x.n_params).collect();
        let columns = vec![
            Column::new(col::MODEL.into(), m.iter().map(|x| x.model.as_str()).collect::<Vec<_>>()),
            Column::new(col::FAMILY.into(), m.iter().map(|x| x.family.as_str()).collect::<Vec<_>>()),
            Column::new(col::N_PARAMS.into(), n_params.clone()),
            Column::new(
                col::LOG10_PARAMS.into(),
                n_params.iter().map(|p| p.map(|p| (p as f64).log10())).collect::<Vec<Option<f64>>>(),
            ),
            Column::new(col::N_LAYERS.into(), m.iter().map(|x| x.n_layers as u32).collect::<Vec<_>>()),
            Column::new(col::HIDDEN.into(), m.iter().map(|x| x.hidden.map(|h| h as u32)).collect::<Vec<_>>()),
            Column::new(col::BEST_LAYER.into(), m.iter().map(|x| x.best_layer as u32).collect::<Vec<_>>()),
            Column::new(
                col::REL_DEPTH.into(),
                f(&|x| if x.n_layers > 1 { x.best_layer as f64 / (x.n_layers - 1) as f64 } else { 0.0 }),
            ),
            Column::new(col::BRAIN_SCORE.into(), f(&|x| x.best.mean_r_reliable)),
            Column::new(col::BRAIN_SCORE_ALL.into(), f(&|x| x.best.mean_r)),
            Column::new(col::LEFT_RELIABLE.into(), f(&|x| x.best.left_paper_reliable)),
            Column::new(col::RIGHT_RELIABLE.into(), f(&|x| x.best.right_paper_reliable)),
            Column::new(col::LR_RELIABLE.into(), f(&|x| x.best.left_paper_reliable - x.best.right_paper_reliable)),
            Column::new(col::LEFT_PAPER.into(), f(&|x| x.best.left_paper)),
            Column::new(col::RIGHT_PAPER.into(), f(&|x| x.best.right_paper)),
            Column::new(col::LR_PAPER_ALL.into(), f(&|x| x.best.left_paper - x.best.right_paper)),
            Column::new(col::LEFT_WORLD.into(), f(&|x| x.best.left_world)),
            Column::new(col::RIGHT_WORLD.into(), f(&|x| x.best.right_world)),
            Column::new(col::LR_WORLD_ALL.into(), f(&|x| x.best.left_world - x.best.right_world)),
            Column::new(col::ISC_NORMALISED.into(), f(&|x| x.best.isc_normalised)),
            Column::new(col::P90.into(), f(&|x| x.best.p90)),
            Column::new(col::P90_LEFT.into(), f(&|x| x.best.p90_left_paper)),
            Column::new(col::P90_RIGHT.into(), f(&|x| x.best.p90_right_paper)),
            Column::new(
                col::PERPLEXITY.into(),
                m.iter().map(|x| known(&x.model).and_then(|i| i.wikitext2_perplexity)).collect::<Vec<_>>(),
            ),
            Column::new(
                col::HELLASWAG.into(),
                m.iter().map(|x| known(&x.model).and_then(|i| i.hellaswag)).collect::<Vec<_>>(),
            ),
        ];
        DataFrame::new(m.len(), columns).map_err(table_err)
    }

    /// One row per (model, fitted layer): relative depth, mean r (all, reliable), left / right /
    /// L − R over reliable voxels (paper rule) and over all voxels (world rule).
    pub fn layers_frame(&self) -> Result<DataFrame> {
        let rows: Vec<(&super::ModelResults, &super::LayerScores)> =
            self.models.iter().flat_map(|m| m.layers.iter().map(move |l| (m, l))).collect();
        let f = |get: &dyn Fn(&super::LayerScores) -> f64| rows.iter().map(|(_, l)| get(l)).collect::<Vec<f64>>();
        let columns = vec![
            Column::new(col::MODEL.into(), rows.iter().map(|(m, _)| m.model.as_str()).collect::<Vec<_>>()),
            Column::new(col::FAMILY.into(), rows.iter().map(|(m, _)| m.family.as_str()).collect::<Vec<_>>()),
            Column::new(col::N_PARAMS.into(), rows.iter().map(|(m, _)| m.n_params).collect::<Vec<_>>()),
            Column::new(col::LAYER.into(), rows.iter().map(|(_, l)| l.layer as u32).collect::<Vec<_>>()),
            Column::new(col::REL_DEPTH.into(), f(&|l| l.rel_depth)),
            Column::new(col::MEAN_R.into(), f(&|l| l.scores.mean_r)),
            Column::new(col::MEAN_R_RELIABLE.into(), f(&|l| l.scores.mean_r_reliable)),
            Column::new(col::LEFT_RELIABLE.into(), f(&|l| l.scores.left_paper_reliable)),
            Column::new(col::RIGHT_RELIABLE.into(), f(&|l| l.scores.right_paper_reliable)),
            Column::new(col::LR_RELIABLE.into(), f(&|l| l.scores.left_paper_reliable - l.scores.right_paper_reliable)),
            Column::new(col::LR_WORLD_ALL.into(), f(&|l| l.scores.left_world - l.scores.right_world)),
        ];
        DataFrame::new(rows.len(), columns).map_err(table_err)
    }

    /// One row per (model, voxel): best-layer r, its layer, and r minus `baseline`'s best-layer
    /// r (the paper's 1024-d random embeddings) when `baseline` names a model of the study.
    pub fn voxels_frame(&self, baseline: Option<&str>) -> Result<DataFrame> {
        let base = match baseline {
            Some(name) => Some(self.model(name).ok_or_else(|| {
                Error::Invalid(format!(
                    "baseline `{name}` is not among the study's models ({})",
                    self.models.iter().map(|m| m.model.as_str()).collect::<Vec<_>>().join(", ")
                ))
            })?),
            None => None,
        };
        let n = self.regions.mask.n_voxels();
        let n_rows = n * self.models.len();
        let mut columns = vec![
            Column::new(
                col::MODEL.into(),
                self.models.iter().flat_map(|m| std::iter::repeat_n(m.model.as_str(), n)).collect::<Vec<_>>(),
            ),
            Column::new(col::VOXEL.into(), (0..n_rows).map(|i| (i % n) as u32).collect::<Vec<_>>()),
            Column::new(
                col::HEMI_PAPER.into(),
                (0..n_rows).map(|i| side(self.regions.hemi_paper[i % n])).collect::<Vec<_>>(),
            ),
            Column::new(col::RELIABLE.into(), (0..n_rows).map(|i| self.regions.reliable[i % n]).collect::<Vec<_>>()),
            Column::new(
                col::BEST_R.into(),
                self.models.iter().flat_map(|m| m.best_r.iter().copied()).collect::<Vec<f32>>(),
            ),
            Column::new(
                col::BEST_LAYER.into(),
                self.models.iter().flat_map(|m| m.best_r_layer.iter().copied()).collect::<Vec<u32>>(),
            ),
        ];
        if let Some(b) = base {
            columns.push(Column::new(
                col::R_MINUS_BASELINE.into(),
                self.models
                    .iter()
                    .flat_map(|m| m.best_r.iter().zip(&b.best_r).map(|(a, b)| a - b))
                    .collect::<Vec<f32>>(),
            ));
        }
        DataFrame::new(n_rows, columns).map_err(table_err)
    }

    /// One row per (model, ROI, hemisphere): mean best-layer r in the ROI.
    pub fn rois_frame(&self) -> Result<DataFrame> {
        let rois = &self.regions.rois;
        let rows: Vec<(usize, usize)> =
            (0..self.models.len()).flat_map(|m| (0..rois.len()).map(move |r| (m, r))).collect();
        let columns = vec![
            Column::new(
                col::MODEL.into(),
                rows.iter().map(|&(m, _)| self.models[m].model.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                col::FAMILY.into(),
                rows.iter().map(|&(m, _)| self.models[m].family.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(col::N_PARAMS.into(), rows.iter().map(|&(m, _)| self.models[m].n_params).collect::<Vec<_>>()),
            Column::new(col::ROI.into(), rows.iter().map(|&(_, r)| rois[r].name.as_str()).collect::<Vec<_>>()),
            Column::new(
                col::HEMISPHERE.into(),
                rows.iter().map(|&(_, r)| side(rois[r].hemisphere)).collect::<Vec<_>>(),
            ),
            Column::new(
                col::N_ROI_VOXELS.into(),
                rows.iter().map(|&(_, r)| rois[r].voxels.len() as u32).collect::<Vec<_>>(),
            ),
            Column::new(col::R.into(), rows.iter().map(|&(m, r)| self.models[m].roi_scores[r]).collect::<Vec<f64>>()),
        ];
        DataFrame::new(rows.len(), columns).map_err(table_err)
    }
}
