//! The study's figures (`brainscale-plot`) and its `report.html`, from a [`Study`] and its
//! [`Analysis`].

use std::path::{Path, PathBuf};

use brainscale_core::stats::percentile;
use brainscale_plot::{
    Band, ColorScale, Estimate, Family, Figure, GlassBrain, HemispherePoint, Hemispheres, LayerCurve, LayerCurves,
    LineFit, LogBase, ModelPoint, Reference, ReliabilityHistogram, Report, RoiPanel, RoiScaling, RoiSlope, RoiSlopes,
    Scaling, ScoreDistributions, ScoreGroup, format_p, glass_brain, hemispheres, layer_curves, reliability_histogram,
    roi_scaling, roi_slopes, scaling, scaling_by_family, score_distributions,
};
use brainscale_stats::{BootstrapParams, Ols, bootstrap_line};

use crate::analysis::Analysis;
use crate::error::{Error, Result};
use crate::study::{ModelResults, Study};
use crate::tables::RELIABLE_PERCENTILE;

fn family(m: &ModelResults) -> Family {
    if m.n_params.is_none() { Family::Baseline } else { Family::parse(&m.family) }
}

fn line(ols: &Ols, p: f64, band: Option<Band>) -> LineFit {
    LineFit { slope: ols.slope.value, intercept: ols.intercept.value, log_base: LogBase::Ten, r: ols.r, p, band }
}

/// A bootstrap band (over models) around the OLS of `y` on `x` = log10(parameters).
fn band(x: &[f64], y: &[f64]) -> Option<Band> {
    let (lo, hi) = x.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let at: Vec<f64> = (0..=40).map(|i| lo + (hi - lo) * i as f64 / 40.0).collect();
    let b = bootstrap_line(x, y, &at, &BootstrapParams { n_resamples: 2000, ..BootstrapParams::default() }).ok()?;
    Some(Band {
        n_params: b.band.iter().map(|(x, _, _)| 10f64.powf(*x)).collect(),
        lower: b.band.iter().map(|(_, _, i)| i.lo).collect(),
        upper: b.band.iter().map(|(_, _, i)| i.hi).collect(),
    })
}

fn sized(study: &Study) -> Vec<&ModelResults> {
    study.models.iter().filter(|m| m.n_params.is_some()).collect()
}

/// Draws every figure of the study into `out/figures/` (SVG + PNG) and returns them with a
/// file stem each.
pub fn study_figures(
    study: &Study,
    analysis: Option<&Analysis>,
    baseline: Option<&str>,
) -> Result<Vec<(String, Figure)>> {
    let mut figures = Vec::new();
    let regions = &study.regions;
    if let Some(rel) = &regions.reliability {
        let threshold = percentile(rel, RELIABLE_PERCENTILE).unwrap_or(0.0);
        figures.push(("reliability".into(), reliability_histogram(&ReliabilityHistogram::new(rel, threshold))?));
        figures.push((
            "reliability_map".into(),
            glass_brain(&GlassBrain {
                colorbar_label: "inter-subject reliability (r)".into(),
                ..GlassBrain::new(&regions.mask, rel, "Reliability (ISC) of the voxels")
            })?,
        ));
    }
    let groups: Vec<ScoreGroup<'_>> = study
        .models
        .iter()
        .map(|m| ScoreGroup { label: m.model.clone(), family: family(m), values: &m.best_r })
        .collect();
    figures.push(("score_distributions".into(), score_distributions(&ScoreDistributions::new(groups))?));

    let models = sized(study);
    let references: Vec<Reference> = study
        .models
        .iter()
        .filter(|m| m.n_params.is_none())
        .map(|m| Reference { label: m.model.clone(), value: m.best.mean_r_reliable })
        .collect();
    let curves: Vec<LayerCurve> = models
        .iter()
        .map(|m| LayerCurve {
            label: m.model.clone(),
            family: family(m),
            n_params: m.n_params.unwrap_or(0) as f64,
            depth: m.layers.iter().map(|l| l.rel_depth).collect(),
            score: m.layers.iter().map(|l| l.scores.mean_r_reliable).collect(),
        })
        .collect();
    if !curves.is_empty() {
        figures.push(("layers".into(), layer_curves(&LayerCurves::new(curves))?));
    }
    let Some(a) = analysis else { return Ok(figures) };

    let points: Vec<ModelPoint> = models
        .iter()
        .map(|m| ModelPoint {
            label: m.model.clone(),
            family: family(m),
            n_params: m.n_params.unwrap_or(0) as f64,
            value: m.best.mean_r_reliable,
        })
        .collect();
    let fit = line(&a.scaling, a.scaling_p, band(&a.log10_params, &a.brain_scores));
    let mut family_fits = Vec::new();
    for f in a.families.iter().collect::<std::collections::BTreeSet<_>>() {
        let idx: Vec<usize> = (0..a.families.len()).filter(|&i| &a.families[i] == f).collect();
        if idx.len() >= 3 {
            let x: Vec<f64> = idx.iter().map(|&i| a.log10_params[i]).collect();
            let y: Vec<f64> = idx.iter().map(|&i| a.brain_scores[i]).collect();
            if let Ok(o) = brainscale_stats::ols(&x, &y, crate::analysis::LEVEL) {
                family_fits.push((Family::parse(f), line(&o, o.slope.p, None)));
            }
        }
    }
    let input = Scaling { fit: Some(fit), family_fits, references, ..Scaling::new(points) };
    figures.push(("scaling".into(), scaling(&input)?));
    figures.push(("scaling_by_family".into(), scaling_by_family(&input)?));

    let hemi_points: Vec<HemispherePoint> = models
        .iter()
        .map(|m| HemispherePoint {
            label: m.model.clone(),
            family: family(m),
            n_params: m.n_params.unwrap_or(0) as f64,
            left: m.best.left_paper_reliable,
            right: m.best.right_paper_reliable,
        })
        .collect();
    let l = &a.lateralization;
    let diff: Vec<f64> = a.left.iter().zip(&a.right).map(|(l, r)| l - r).collect();
    figures.push((
        "hemispheres".into(),
        hemispheres(&Hemispheres {
            fit_left: Some(line(&l.left, l.left.slope.p, None)),
            fit_right: Some(line(&l.right, l.right.slope.p, None)),
            fit_difference: Some(line(&l.difference, l.difference.slope.p, band(&a.log10_params, &diff))),
            ..Hemispheres::new(hemi_points)
        })?,
    ));

    if !a.rois.is_empty() {
        let est =
            |e: &brainscale_stats::Estimate| Estimate { value: e.value, ci_low: e.ci.lo, ci_high: e.ci.hi, p: e.p };
        let slopes: Vec<RoiSlope> = a
            .rois
            .iter()
            .map(|r| RoiSlope {
                name: r.name.clone(),
                left: est(&r.slopes.left.slope),
                right: est(&r.slopes.right.slope),
                difference_p: Some(r.slopes.difference.slope.p),
            })
            .collect();
        figures.push(("roi_slopes".into(), roi_slopes(&RoiSlopes::new(slopes))?));
        let rois = &study.regions.rois;
        let panels: Vec<RoiPanel> = a
            .rois
            .iter()
            .filter_map(|r| {
                let li =
                    rois.iter().position(|x| x.name == r.name && x.hemisphere == brainscale_data::Hemisphere::Left)?;
                let ri =
                    rois.iter().position(|x| x.name == r.name && x.hemisphere == brainscale_data::Hemisphere::Right)?;
                Some(RoiPanel {
                    name: r.name.clone(),
                    points: models
                        .iter()
                        .map(|m| HemispherePoint {
                            label: m.model.clone(),
                            family: family(m),
                            n_params: m.n_params.unwrap_or(0) as f64,
                            left: m.roi_scores[li],
                            right: m.roi_scores[ri],
                        })
                        .collect(),
                    fit_left: Some(line(&r.slopes.left, r.slopes.left.slope.p, None)),
                    fit_right: Some(line(&r.slopes.right, r.slopes.right.slope.p, None)),
                })
            })
            .collect();
        figures.push(("roi_scaling".into(), roi_scaling(&RoiScaling::new(panels))?));
    }

    let t: Vec<f32> = a.voxelwise.t.iter().map(|&v| v as f32).collect();
    figures.push((
        "slope_t_map".into(),
        glass_brain(&GlassBrain {
            colorbar_label: "t of the slope of r on log10(parameters)".into(),
            scale: ColorScale::Auto,
            ..GlassBrain::new(&regions.mask, &t, "Voxelwise scaling: t-map")
        })?,
    ));
    let largest = models.iter().max_by_key(|m| m.n_params.unwrap_or(0));
    let smallest = models.iter().min_by_key(|m| m.n_params.unwrap_or(0));
    if let Some(base) = baseline.and_then(|b| study.model(b)) {
        for (stem, m) in [("largest_minus_baseline", largest), ("smallest_minus_baseline", smallest)] {
            let Some(m) = m else { continue };
            let d: Vec<f32> = m.best_r.iter().zip(&base.best_r).map(|(a, b)| a - b).collect();
            let title = format!("{} minus {}", m.model, base.model);
            figures.push((
                stem.into(),
                glass_brain(&GlassBrain {
                    colorbar_label: "r difference".into(),
                    scale: ColorScale::Auto,
                    ..GlassBrain::new(&regions.mask, &d, &title)
                })?,
            ));
        }
    }
    Ok(figures)
}

/// Writes the figures into `out/figures/` and a self-contained `out/report.html`.
pub fn write_report(
    study: &Study,
    analysis: Option<&Analysis>,
    baseline: Option<&str>,
    simulation: bool,
    out: &Path,
) -> Result<PathBuf> {
    let figures = study_figures(study, analysis, baseline)?;
    let dir = out.join("figures");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
    for (stem, f) in &figures {
        f.save(dir.join(stem))?;
    }
    let mut report = Report::new(format!("brainscale study: {}", study.dataset));
    report.subtitle(format!("{} models and baselines, {} voxels", study.models.len(), study.regions.mask.n_voxels()));
    if simulation {
        report.note(
            "THIS IS A SIMULATION. The dataset and the models of this demo are synthetic: the BOLD signal was \
             generated from latent word features, more strongly in the left hemisphere, and each simulated model \
             sees those features with a fidelity that grows with log(parameters). The expected answer is a \
             left-lateralised scaling effect. The real study: `brainscale run --dataset lpp-en --models paper`.",
        );
    }
    if let Some(a) = analysis {
        let s = &a.scaling;
        let d = &a.lateralization.difference.slope;
        report.headline(
            "scaling slope (brain score per 10x parameters)",
            format!(
                "{:+.4} [{:+.4}, {:+.4}], r = {:.2}, p = {}",
                s.slope.value,
                s.slope.ci.lo,
                s.slope.ci.hi,
                s.r,
                format_p(a.scaling_p)
            ),
        );
        report.headline(
            "L − R slope per 10x parameters",
            format!("{:+.4} [{:+.4}, {:+.4}], p = {}", d.value, d.ci.lo, d.ci.hi, format_p(d.p)),
        );
        report.headline(
            "permutation test of the L − R slope",
            format!(
                "p = {} ({} permutations of the models{})",
                format_p(a.lateralization_permutation.p),
                a.lateralization_permutation.n_resamples,
                if a.stratified { ", within family" } else { "" }
            ),
        );
        if simulation {
            report.headline(
                "planted effect recovered",
                if a.left_lateralised_scaling() { "yes" } else { "no" }.to_string(),
            );
        }
        let rows: Vec<Vec<String>> = a
            .rois
            .iter()
            .map(|r| {
                let e = |x: &brainscale_stats::Estimate| format!("{:+.4} [{:+.4}, {:+.4}]", x.value, x.ci.lo, x.ci.hi);
                vec![
                    r.name.clone(),
                    e(&r.slopes.left.slope),
                    e(&r.slopes.right.slope),
                    format_p(r.slopes.difference.slope.p),
                ]
            })
            .collect();
        if !rows.is_empty() {
            report.table(
                "Per-ROI slopes of r on log10(parameters), 95% CI",
                &["ROI", "left", "right", "L vs R p"],
                rows,
            );
        }
    }
    let model_rows: Vec<Vec<String>> = study
        .models
        .iter()
        .map(|m| {
            vec![
                m.model.clone(),
                m.family.clone(),
                m.n_params.map_or("-".into(), |p| brainscale_plot::format_params(p as f64)),
                format!("{:.4}", m.best.mean_r_reliable),
                format!("{:+.4}", m.best.left_paper_reliable - m.best.right_paper_reliable),
                m.best_layer.to_string(),
            ]
        })
        .collect();
    report.table("Models", &["model", "family", "parameters", "brain score", "L − R", "best layer"], model_rows);
    for (stem, f) in &figures {
        report.figure(f, stem.replace('_', " "));
    }
    let path = out.join("report.html");
    report.save(&path)?;
    Ok(path)
}
