//! Result tables as polars DataFrames, and writing them as parquet + csv.

use std::path::Path;

use brainscale_core::ridge::FoldAlpha;
use brainscale_core::stats::above_percentile;
use brainscale_data::{Hemisphere, HemisphereRule};
use polars::prelude::*;

use crate::columns as col;
use crate::encoding::{FitResult, mean};
use crate::error::{Error, Result};

/// Percentile above which a voxel counts as reliable (the paper's top 25%).
pub const RELIABLE_PERCENTILE: f64 = 75.0;

fn hemi_label(h: Hemisphere) -> &'static str {
    match h {
        Hemisphere::Left => "L",
        Hemisphere::Right => "R",
        Hemisphere::Midline => "M",
    }
}

fn table_err(e: PolarsError) -> Error {
    Error::Table { path: "<memory>".into(), message: e.to_string() }
}

/// The reliable-voxel mask of a fit (None without a reliability map).
pub fn reliable_mask(result: &FitResult) -> Option<Vec<bool>> {
    result.reliability.as_ref().map(|rel| above_percentile(rel, RELIABLE_PERCENTILE).0)
}

/// One row per (layer, voxel): voxel index, i/j/k, world x/y/z, hemispheres by both rules,
/// reliability (when present), and r.
pub fn scores_frame(result: &FitResult) -> Result<DataFrame> {
    let mask = &result.mask;
    let n = mask.n_voxels();
    let n_rows = n * result.layers.len();
    let hemi_paper = mask.hemispheres(HemisphereRule::Paper);
    let hemi_world = mask.hemispheres(HemisphereRule::World);
    let reliable = reliable_mask(result);
    let rep = |f: &dyn Fn(usize) -> u32| -> Vec<u32> { (0..n_rows).map(|row| f(row % n)).collect() };
    let repf = |f: &dyn Fn(usize) -> f32| -> Vec<f32> { (0..n_rows).map(|row| f(row % n)).collect() };
    let mut columns = vec![
        Column::new(
            col::LAYER.into(),
            result.layers.iter().flat_map(|l| std::iter::repeat_n(l.layer as u32, n)).collect::<Vec<u32>>(),
        ),
        Column::new(col::VOXEL.into(), rep(&|v| v as u32)),
        Column::new(col::I.into(), rep(&|v| mask.ijk()[v][0] as u32)),
        Column::new(col::J.into(), rep(&|v| mask.ijk()[v][1] as u32)),
        Column::new(col::K.into(), rep(&|v| mask.ijk()[v][2] as u32)),
        Column::new(col::X.into(), repf(&|v| mask.xyz()[v][0] as f32)),
        Column::new(col::Y.into(), repf(&|v| mask.xyz()[v][1] as f32)),
        Column::new(col::Z.into(), repf(&|v| mask.xyz()[v][2] as f32)),
        Column::new(
            col::HEMI_PAPER.into(),
            (0..n_rows).map(|row| hemi_label(hemi_paper[row % n])).collect::<Vec<&str>>(),
        ),
        Column::new(
            col::HEMI_WORLD.into(),
            (0..n_rows).map(|row| hemi_label(hemi_world[row % n])).collect::<Vec<&str>>(),
        ),
    ];
    if let (Some(rel), Some(reliable)) = (&result.reliability, &reliable) {
        columns.push(Column::new(col::RELIABILITY.into(), repf(&|v| rel[v])));
        columns
            .push(Column::new(col::RELIABLE.into(), (0..n_rows).map(|row| reliable[row % n]).collect::<Vec<bool>>()));
    }
    columns
        .push(Column::new(col::R.into(), result.layers.iter().flat_map(|l| l.r.iter().copied()).collect::<Vec<f32>>()));
    DataFrame::new(n_rows, columns).map_err(table_err)
}

fn mean_where(r: &[f32], keep: impl Fn(usize) -> bool) -> Option<f64> {
    let (mut s, mut c) = (0.0f64, 0usize);
    for (v, &x) in r.iter().enumerate() {
        if keep(v) {
            s += x as f64;
            c += 1;
        }
    }
    (c > 0).then(|| s / c as f64)
}

/// Median of a slice (0 when empty).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 0 { (s[m - 1] + s[m]) / 2.0 } else { s[m] }
}

/// The per-layer summary numbers (one [`summary_frame`] row).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSummary {
    /// Layer index.
    pub layer: usize,
    /// Mean r over all voxels.
    pub mean_r: f64,
    /// Mean r over the 25% most reliable voxels (None without a reliability map).
    pub mean_r_reliable: Option<f64>,
    /// Left / right means, paper rule.
    pub left_paper: Option<f64>,
    /// Right mean, paper rule.
    pub right_paper: Option<f64>,
    /// Left / right means, world rule.
    pub left_world: Option<f64>,
    /// Right mean, world rule.
    pub right_world: Option<f64>,
    /// Left minus right over reliable voxels, paper rule.
    pub lr_reliable_paper: Option<f64>,
    /// Chosen alpha per fold (median per-voxel alpha in voxelwise mode).
    pub fold_alphas: Vec<f64>,
    /// Folds whose alpha is on the edge of the grid.
    pub n_edge_alphas: usize,
}

fn diff(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    a.zip(b).map(|(a, b)| a - b)
}

/// The summary numbers of every layer.
pub fn layer_summaries(result: &FitResult) -> Vec<LayerSummary> {
    let mask = &result.mask;
    let hp = mask.hemispheres(HemisphereRule::Paper);
    let hw = mask.hemispheres(HemisphereRule::World);
    let reliable = reliable_mask(result);
    let lo = result.params.alphas.first().copied().unwrap_or(0.0);
    let hi = result.params.alphas.last().copied().unwrap_or(0.0);
    result
        .layers
        .iter()
        .map(|l| {
            let r = &l.r;
            let side = |h: &[Hemisphere], want: Hemisphere| mean_where(r, |v| h[v] == want);
            let (mean_r_reliable, lr_reliable_paper) = match &reliable {
                Some(m) => (
                    mean_where(r, |v| m[v]),
                    diff(
                        mean_where(r, |v| m[v] && hp[v] == Hemisphere::Left),
                        mean_where(r, |v| m[v] && hp[v] == Hemisphere::Right),
                    ),
                ),
                None => (None, None),
            };
            let fold_alphas: Vec<f64> = l
                .alphas
                .iter()
                .map(|a| match a {
                    FoldAlpha::Global(a) => *a,
                    FoldAlpha::PerVoxel(v) => median(v),
                })
                .collect();
            LayerSummary {
                layer: l.layer,
                mean_r: mean(r),
                mean_r_reliable,
                left_paper: side(&hp, Hemisphere::Left),
                right_paper: side(&hp, Hemisphere::Right),
                left_world: side(&hw, Hemisphere::Left),
                right_world: side(&hw, Hemisphere::Right),
                lr_reliable_paper,
                n_edge_alphas: fold_alphas.iter().filter(|&&a| a == lo || a == hi).count(),
                fold_alphas,
            }
        })
        .collect()
}

/// One row per layer: mean r over all voxels, over the reliable voxels, left / right / L - R by
/// both hemisphere rules, the chosen alphas.
pub fn summary_frame(result: &FitResult) -> Result<DataFrame> {
    let rows = layer_summaries(result);
    let n_layers = rows.len();
    let n_rel = reliable_mask(result).map(|m| m.iter().filter(|&&b| b).count() as u32);
    let f = |g: &dyn Fn(&LayerSummary) -> Option<f64>| rows.iter().map(g).collect::<Vec<Option<f64>>>();
    let columns = vec![
        Column::new(col::LAYER.into(), rows.iter().map(|l| l.layer as u32).collect::<Vec<u32>>()),
        Column::new(col::N_VOXELS.into(), vec![result.mask.n_voxels() as u32; n_layers]),
        Column::new(col::N_RELIABLE.into(), vec![n_rel; n_layers]),
        Column::new(col::MEAN_R.into(), f(&|l| Some(l.mean_r))),
        Column::new(col::MEAN_R_RELIABLE.into(), f(&|l| l.mean_r_reliable)),
        Column::new(col::MEAN_R_LEFT_PAPER.into(), f(&|l| l.left_paper)),
        Column::new(col::MEAN_R_RIGHT_PAPER.into(), f(&|l| l.right_paper)),
        Column::new(col::LR_PAPER.into(), f(&|l| diff(l.left_paper, l.right_paper))),
        Column::new(col::MEAN_R_LEFT_WORLD.into(), f(&|l| l.left_world)),
        Column::new(col::MEAN_R_RIGHT_WORLD.into(), f(&|l| l.right_world)),
        Column::new(col::LR_WORLD.into(), f(&|l| diff(l.left_world, l.right_world))),
        Column::new(col::LR_RELIABLE_PAPER.into(), f(&|l| l.lr_reliable_paper)),
        Column::new(
            col::ALPHAS.into(),
            rows.iter()
                .map(|l| l.fold_alphas.iter().map(|a| format!("{a:.4e}")).collect::<Vec<_>>().join(";"))
                .collect::<Vec<String>>(),
        ),
        Column::new(col::N_EDGE_ALPHAS.into(), rows.iter().map(|l| l.n_edge_alphas as u32).collect::<Vec<u32>>()),
    ];
    DataFrame::new(n_layers, columns).map_err(table_err)
}

/// Writes `stem.parquet` and `stem.csv` atomically (temporary name, then rename).
pub fn write_table(df: &mut DataFrame, stem: &Path) -> Result<()> {
    let parquet = stem.with_extension("parquet");
    let csv = stem.with_extension("csv");
    brainscale_data::write_atomic(&parquet, |file: &mut std::io::BufWriter<std::fs::File>| {
        ParquetWriter::new(file)
            .finish(df)
            .map(|_| ())
            .map_err(|e| Error::Table { path: parquet.clone(), message: e.to_string() })
    })?;
    brainscale_data::write_atomic(&csv, |file: &mut std::io::BufWriter<std::fs::File>| {
        CsvWriter::new(file).finish(df).map_err(|e| Error::Table { path: csv.clone(), message: e.to_string() })
    })?;
    Ok(())
}

/// A short plain-text summary of a fit: one line per layer (mean r, reliable-voxel mean r,
/// L - R by the paper rule) and the best layer.
pub fn summary_text(result: &FitResult) -> String {
    use std::fmt::Write;
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.4}"));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} on {} ({} voxels, cv {}, hrf {})",
        result.features.model,
        result.dataset,
        result.mask.n_voxels(),
        result.params.cv.name(),
        result.params.hrf.name()
    );
    let _ = writeln!(s, "{:>6}  {:>8}  {:>12}  {:>10}", "layer", "mean r", "reliable r", "L - R");
    for l in layer_summaries(result) {
        let lr = diff(l.left_paper, l.right_paper);
        let _ = writeln!(s, "{:>6}  {:>8.4}  {:>12}  {:>10}", l.layer, l.mean_r, fmt(l.mean_r_reliable), fmt(lr));
    }
    if let Some(best) = result.best_layer() {
        let _ = writeln!(s, "best layer: {} (mean r {:.4})", best.layer, mean(&best.r));
    }
    s
}
