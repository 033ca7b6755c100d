//! Writing a study's outputs: tables (parquet + csv), statistics (JSON), voxelwise maps.
//! Figures and `report.html` are added by [`crate::figures`] when available.

use std::path::Path;

use polars::prelude::*;
use serde_json::json;

use crate::analysis::{Analysis, analyze};
use crate::error::{Error, Result};
use crate::study::Study;
use crate::tables::write_table;

/// Settings of an analysis.
#[derive(Clone, Debug)]
pub struct AnalyzeParams {
    /// The baseline for "r minus baseline" maps (the paper: 1024-d random embeddings).
    pub baseline: Option<String>,
    /// Permutations of the lateralization test.
    pub permutations: usize,
    /// Seed of the resampling.
    pub seed: u64,
}

impl Default for AnalyzeParams {
    fn default() -> Self {
        AnalyzeParams { baseline: None, permutations: 10_000, seed: 0 }
    }
}

/// Writes the study's tables (`models`, `layers`, `voxels`, `rois`), its statistics
/// (`analysis.json`, `stats_*` tables) and the voxelwise maps into `out`; returns the
/// analysis (None when there are fewer than 3 sized models, with a warning).
pub fn write_study(study: &Study, params: &AnalyzeParams, out: &Path) -> Result<Option<Analysis>> {
    let tables = out.join("tables");
    std::fs::create_dir_all(&tables).map_err(|e| Error::io("create", &tables, e))?;
    write_table(&mut study.models_frame()?, &tables.join("models"))?;
    write_table(&mut study.layers_frame()?, &tables.join("layers"))?;
    let baseline = params.baseline.as_deref().filter(|b| study.model(b).is_some());
    if let Some(b) = &params.baseline
        && baseline.is_none()
    {
        log::warn!("baseline `{b}` is not among the study's models: no `r minus baseline` column");
    }
    write_table(&mut study.voxels_frame(baseline)?, &tables.join("voxels"))?;
    write_table(&mut study.rois_frame()?, &tables.join("rois"))?;
    let analysis = match analyze(study, params.permutations, params.seed) {
        Ok(a) => a,
        Err(e) => {
            log::warn!("no scaling statistics: {e}");
            return Ok(None);
        }
    };
    let maps = out.join("maps");
    std::fs::create_dir_all(&maps).map_err(|e| Error::io("create", &maps, e))?;
    let mask = &study.regions.mask;
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    mask.write_map(&maps.join("slope_log10_params.nii.gz"), &f32s(&analysis.voxelwise.slope))?;
    mask.write_map(&maps.join("slope_t.nii.gz"), &f32s(&analysis.voxelwise.t))?;
    mask.write_map(&maps.join("slope_p.nii.gz"), &f32s(&analysis.voxelwise.p))?;
    write_table(&mut rois_stats_frame(&analysis)?, &tables.join("stats_rois"))?;
    let json = analysis_json(&analysis);
    let text = serde_json::to_string_pretty(&json).map_err(|e| Error::Invalid(format!("analysis.json: {e}")))?;
    brainscale_data::write_bytes_atomic(&out.join("analysis.json"), text.as_bytes())?;
    Ok(Some(analysis))
}

fn est(e: &brainscale_stats::Estimate) -> serde_json::Value {
    json!({"value": e.value, "se": e.se, "t": e.t, "df": e.df, "p": e.p, "ci": [e.ci.lo, e.ci.hi], "level": e.ci.level})
}

/// The statistics as JSON.
pub fn analysis_json(a: &Analysis) -> serde_json::Value {
    let l = &a.lateralization;
    json!({
        "models": a.models,
        "log10_params": a.log10_params,
        "scaling": {"slope": est(&a.scaling.slope), "intercept": est(&a.scaling.intercept), "r": a.scaling.r, "p": a.scaling_p},
        "lateralization": {
            "left_slope": est(&l.left.slope), "right_slope": est(&l.right.slope), "lr_slope": est(&l.difference.slope),
            "lr_r": l.difference.r,
            "permutation": {"p": a.lateralization_permutation.p, "n": a.lateralization_permutation.n_resamples,
                            "within_family": a.stratified, "units": "models"},
        },
        "multiple_regression": a.multiple.as_ref().map(|m| json!({
            "r2": m.r2, "r2_adjusted": m.r2_adjusted, "f": m.f, "f_p": m.f_p,
            "coefficients": m.names.iter().zip(&m.coefficients).map(|(n, e)| json!({"name": n, "estimate": est(e)})).collect::<Vec<_>>(),
        })),
        "rois": a.rois.iter().map(|r| json!({"roi": r.name, "left_slope": est(&r.slopes.left.slope),
            "right_slope": est(&r.slopes.right.slope), "lr_slope": est(&r.slopes.difference.slope)})).collect::<Vec<_>>(),
        "baselines_lr": a.baselines.iter().map(|(n, d)| json!({"model": n, "lr": d})).collect::<Vec<_>>(),
        "left_lateralised_scaling": a.left_lateralised_scaling(),
    })
}

fn rois_stats_frame(a: &Analysis) -> Result<DataFrame> {
    let rows = &a.rois;
    let col = |f: &dyn Fn(&crate::analysis::RoiSlopes) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let columns = vec![
        Column::new("roi".into(), rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>()),
        Column::new("left_slope".into(), col(&|r| r.slopes.left.slope.value)),
        Column::new("left_ci_lo".into(), col(&|r| r.slopes.left.slope.ci.lo)),
        Column::new("left_ci_hi".into(), col(&|r| r.slopes.left.slope.ci.hi)),
        Column::new("left_p".into(), col(&|r| r.slopes.left.slope.p)),
        Column::new("right_slope".into(), col(&|r| r.slopes.right.slope.value)),
        Column::new("right_ci_lo".into(), col(&|r| r.slopes.right.slope.ci.lo)),
        Column::new("right_ci_hi".into(), col(&|r| r.slopes.right.slope.ci.hi)),
        Column::new("right_p".into(), col(&|r| r.slopes.right.slope.p)),
        Column::new("lr_slope".into(), col(&|r| r.slopes.difference.slope.value)),
        Column::new("lr_p".into(), col(&|r| r.slopes.difference.slope.p)),
    ];
    DataFrame::new(rows.len(), columns).map_err(|e| Error::Table { path: "stats_rois".into(), message: e.to_string() })
}
