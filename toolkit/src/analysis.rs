//! The study's statistics: the scaling law, lateralization, ROIs, voxelwise slopes.
//!
//! [`analyze`] computes, over the models that have a parameter count (baselines have none):
//!
//! * the scaling law: OLS of the brain score on log10(parameters), with Pearson r and p;
//! * lateralization: OLS of left and right scores (reliable voxels, paper rule) on
//!   log10(parameters) and of L − R (whose slope is the difference of the slopes; its t-test is
//!   the paired test), plus a permutation test of the L − R slope whose resampling units are
//!   the models (voxels are spatially correlated and cannot be resampled), within family when
//!   the study has several families with two or more models each;
//! * the paper's multiple regression of the brain score on log10(parameters), n_layers, hidden;
//! * per ROI: left and right slopes with 95% CIs and the L vs R test;
//! * voxelwise slopes of best-layer r on log10(parameters), with t and p per voxel;
//! * the baselines' L − R (which should be near zero).

use std::collections::BTreeMap;

use brainscale_stats::{
    Exchangeability, MultipleOls, Ols, PermutationParams, PermutationTest, SlopeDifference, VoxelSlopes,
    lateralization_test, ols, ols_multiple, pearson, slope_difference, slopes_voxelwise,
};

use brainscale_plot::style::Family;

use crate::error::{Error, Result};
use crate::study::{ModelResults, Study};

/// Confidence level of every interval.
pub const LEVEL: f64 = 0.95;

/// One ROI's slopes.
#[derive(Clone, Debug)]
pub struct RoiSlopes {
    /// ROI name.
    pub name: String,
    /// Left vs right slopes and their difference.
    pub slopes: SlopeDifference,
}

/// Everything [`analyze`] computes.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// Names of the models with a parameter count, in the study's order.
    pub models: Vec<String>,
    /// Their families.
    pub families: Vec<String>,
    /// log10(parameters) of those models.
    pub log10_params: Vec<f64>,
    /// Their brain scores.
    pub brain_scores: Vec<f64>,
    /// Their left and right scores (reliable voxels, paper rule).
    pub left: Vec<f64>,
    /// See `left`.
    pub right: Vec<f64>,
    /// Brain score on log10(parameters).
    pub scaling: Ols,
    /// Pearson p of the scaling law (equals the slope's t-test p).
    pub scaling_p: f64,
    /// Left, right, L − R on log10(parameters).
    pub lateralization: SlopeDifference,
    /// Permutation test of the L − R slope.
    pub lateralization_permutation: PermutationTest,
    /// Whether the permutation was stratified by family.
    pub stratified: bool,
    /// Brain score on log10(parameters), n_layers, hidden (None when it cannot be fitted, e.g.
    /// fewer models than 5).
    pub multiple: Option<MultipleOls>,
    /// Per ROI (left ROI name), the slopes.
    pub rois: Vec<RoiSlopes>,
    /// Voxelwise slopes of best-layer r on log10(parameters).
    pub voxelwise: VoxelSlopes,
    /// Baselines (no parameter count): name and L − R.
    pub baselines: Vec<(String, f64)>,
}

fn sized(study: &Study) -> Vec<&ModelResults> {
    study.models.iter().filter(|m| m.n_params.is_some()).collect()
}

/// Computes the study's statistics (see the module docs). Needs at least three models with a
/// parameter count.
pub fn analyze(study: &Study, permutations: usize, seed: u64) -> Result<Analysis> {
    let models = sized(study);
    if models.len() < 3 {
        let unsized_models: Vec<&str> = study
            .models
            .iter()
            .filter(|m| m.n_params.is_none() && Family::parse(&m.family) != Family::Baseline)
            .map(|m| m.model.as_str())
            .collect();
        let hint = if unsized_models.is_empty() {
            String::new()
        } else {
            format!(
                "; without a parameter count (not in models.toml, none in fit.json or the features' meta.json): {} \
                 (add them to models.toml)",
                unsized_models.join(", ")
            )
        };
        return Err(Error::Invalid(format!(
            "the scaling analysis needs at least 3 models with a parameter count, got {} ({}); baselines have none{hint}",
            models.len(),
            models.iter().map(|m| m.model.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    let x: Vec<f64> = models.iter().map(|m| (m.n_params.unwrap_or(1) as f64).log10()).collect();
    let col = |f: &dyn Fn(&ModelResults) -> f64| models.iter().map(|m| f(m)).collect::<Vec<f64>>();
    let brain_scores = col(&|m| m.best.mean_r_reliable);
    let left = col(&|m| m.best.left_paper_reliable);
    let right = col(&|m| m.best.right_paper_reliable);
    let scaling = ols(&x, &brain_scores, LEVEL)?;
    let scaling_p = pearson(&x, &brain_scores, LEVEL)?.p;
    let lateralization = slope_difference(&x, &left, &right, LEVEL)?;

    let families: Vec<String> = models.iter().map(|m| m.family.clone()).collect();
    let mut per_family: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &families {
        *per_family.entry(f).or_default() += 1;
    }
    let stratified = per_family.len() > 1 && per_family.values().all(|&n| n >= 2);
    let exchangeability = if stratified { Exchangeability::within(&families) } else { Exchangeability::All };
    let params = PermutationParams { n_resamples: permutations, seed, exchangeability };
    let lateralization_permutation = lateralization_test(&x, &left, &right, &params)?;

    let multiple = if models.len() >= 5 {
        let layers = col(&|m| m.n_layers as f64);
        let hidden = col(&|m| m.hidden.unwrap_or(0) as f64);
        ols_multiple(&[("log10_params", &x), ("n_layers", &layers), ("hidden", &hidden)], &brain_scores, LEVEL).ok()
    } else {
        None
    };

    let mut rois = Vec::new();
    let regions = &study.regions.rois;
    for (i, roi) in regions.iter().enumerate() {
        if roi.hemisphere != brainscale_data::Hemisphere::Left {
            continue;
        }
        let Some(j) = regions.iter().position(|o| o.name == roi.name && o.hemisphere != roi.hemisphere) else {
            continue;
        };
        let l: Vec<f64> = models.iter().map(|m| m.roi_scores[i]).collect();
        let r: Vec<f64> = models.iter().map(|m| m.roi_scores[j]).collect();
        if l.iter().chain(&r).all(|v| v.is_finite()) {
            rois.push(RoiSlopes { name: roi.name.clone(), slopes: slope_difference(&x, &l, &r, LEVEL)? });
        }
    }
    let maps: Vec<&[f32]> = models.iter().map(|m| m.best_r.as_slice()).collect();
    let voxelwise = slopes_voxelwise(&x, &maps)?;
    let baselines = study
        .models
        .iter()
        .filter(|m| m.n_params.is_none())
        .map(|m| (m.model.clone(), m.best.left_paper_reliable - m.best.right_paper_reliable))
        .collect();
    Ok(Analysis {
        models: models.iter().map(|m| m.model.clone()).collect(),
        families,
        log10_params: x,
        brain_scores,
        left,
        right,
        scaling,
        scaling_p,
        lateralization,
        lateralization_permutation,
        stratified,
        multiple,
        rois,
        voxelwise,
        baselines,
    })
}

impl Analysis {
    /// Whether the study shows the paper's effect: the brain score and the L − R difference
    /// both grow with log(parameters) (positive slopes, p < 0.05 for the slope t-tests and the
    /// permutation test).
    pub fn left_lateralised_scaling(&self) -> bool {
        self.scaling.slope.value > 0.0
            && self.scaling.slope.p < 0.05
            && self.lateralization.difference.slope.value > 0.0
            && self.lateralization.difference.slope.p < 0.05
            && self.lateralization_permutation.p < 0.05
    }

    /// The headline numbers, as text.
    pub fn headline(&self) -> String {
        let s = &self.scaling;
        let d = &self.lateralization.difference.slope;
        let perm = &self.lateralization_permutation;
        let mut out = format!(
            "scaling law ({} models): brain score = {:.4} + {:.4} x log10(params) (95% CI {:.4} to {:.4}), r = {:.3}, p = {:.2e}\n",
            self.models.len(),
            s.intercept.value,
            s.slope.value,
            s.slope.ci.lo,
            s.slope.ci.hi,
            s.r,
            self.scaling_p
        );
        out += &format!(
            "lateralization: L - R slope = {:.4} per decade (95% CI {:.4} to {:.4}), t = {:.2}, p = {:.2e}; \
             permutation p = {:.4} ({} permutations of the models{})\n",
            d.value,
            d.ci.lo,
            d.ci.hi,
            d.t,
            d.p,
            perm.p,
            perm.n_resamples,
            if self.stratified { ", within family" } else { "" }
        );
        out += &format!(
            "left slope {:.4}, right slope {:.4}\n",
            self.lateralization.left.slope.value, self.lateralization.right.slope.value
        );
        for r in &self.rois {
            out += &format!(
                "ROI {:<8} left slope {:+.4} [{:+.4}, {:+.4}]  right {:+.4} [{:+.4}, {:+.4}]  L-R p = {:.3}\n",
                r.name,
                r.slopes.left.slope.value,
                r.slopes.left.slope.ci.lo,
                r.slopes.left.slope.ci.hi,
                r.slopes.right.slope.value,
                r.slopes.right.slope.ci.lo,
                r.slopes.right.slope.ci.hi,
                r.slopes.difference.slope.p
            );
        }
        for (name, lr) in &self.baselines {
            out += &format!("baseline {name}: L - R = {lr:+.4}\n");
        }
        out
    }
}
