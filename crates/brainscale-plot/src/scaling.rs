//! Scores against model size: the scaling law overall and per family (figure 3) and the two
//! hemispheres with their difference (figure 4).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::common::{
    LegendEntry, LegendKind, LineFit, ModelPoint, Reference, XAxis, check_finite, check_fit, check_points,
    data_x_range, draw_fit, draw_legend, draw_points, draw_references, family_legend, fit_extent, grid, log_x_chart,
    panel_titled, titled, x_range, y_range,
};
use crate::error::{PlotError, Result};
use crate::figure::{DrawResult, Figure, Paint};
use crate::style::{Family, Marker, Theme, lighten, palette};

/// Input of [`scaling`] and [`scaling_by_family`]: one point per model, the fit over all models
/// and, for the small multiples, one fit per family.
///
/// ```
/// use brainscale_plot::{Family, LineFit, LogBase, ModelPoint, Scaling, scaling};
/// let points: Vec<ModelPoint> = [(1.2e8, 0.10), (3.5e8, 0.12), (1.5e9, 0.15)]
///     .iter()
///     .map(|&(n, v)| ModelPoint { label: format!("{n}"), family: Family::Gpt2, n_params: n, value: v })
///     .collect();
/// let fit = LineFit { slope: 0.0186, intercept: -0.245, log_base: LogBase::E, r: 0.99, p: 0.01, band: None };
/// let fig = scaling(&Scaling { fit: Some(fit), ..Scaling::new(points) })?;
/// # Ok::<(), brainscale_plot::PlotError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Scaling {
    /// One point per model: parameters on x, the score on y.
    pub points: Vec<ModelPoint>,
    /// The fit over all points (drawn in black with its band, summarised in the subtitle).
    pub fit: Option<LineFit>,
    /// Fits per family (only [`scaling_by_family`] uses them); families without one show points only.
    pub family_fits: Vec<(Family, LineFit)>,
    /// Horizontal reference levels (e.g. baseline scores), dashed grey.
    pub references: Vec<Reference>,
    /// The x axis: parameters (default), or another model column on a log or linear axis,
    /// whose values then go in [`ModelPoint::n_params`] (fits must use the matching
    /// [`crate::LogBase`]: `Linear` for a linear axis).
    pub x_axis: XAxis,
    /// Figure title.
    pub title: String,
    /// y-axis label, with units.
    pub y_label: String,
    /// x-axis label.
    pub x_label: String,
}

impl Scaling {
    /// Defaults: titles for the brain score (mean r over the reliable voxels).
    pub fn new(points: Vec<ModelPoint>) -> Scaling {
        Scaling {
            points,
            fit: None,
            family_fits: Vec::new(),
            references: Vec::new(),
            x_axis: XAxis::Parameters,
            title: "Brain score vs model size".into(),
            y_label: "brain score (mean Pearson r)".into(),
            x_label: "number of parameters (log scale)".into(),
        }
    }

    fn fit_summary(&self, fit: &LineFit) -> String {
        fit.summary_per(if self.x_axis == XAxis::Parameters { "params" } else { "" })
    }

    fn check(&self, figure: &'static str) -> Result<()> {
        check_points(figure, &self.points, self.x_axis)?;
        for fit in self.fit.iter().chain(self.family_fits.iter().map(|f| &f.1)) {
            check_fit(figure, fit)?;
        }
        for r in &self.references {
            check_finite(figure, &format!("reference {}", r.label), r.value)?;
        }
        Ok(())
    }
}

/// Figure 3 (overall): score against parameters on a log axis, one marker per model in its
/// family's colour, the OLS line with its confidence band, r, p and the slope per tenfold
/// increase in the subtitle; baselines as dashed reference lines; family legend beside the plot.
pub fn scaling(input: &Scaling) -> Result<Figure> {
    input.check("scaling")?;
    Figure::render("scaling", &ScalingPainter(input))
}

struct ScalingPainter<'a>(&'a Scaling);

impl Paint for ScalingPainter<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 560)
    }

    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, t: &Theme) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let s = self.0;
        let subtitle = match &s.fit {
            Some(f) => format!("OLS fit over {} models: {}", s.points.len(), s.fit_summary(f)),
            None => format!("{} models", s.points.len()),
        };
        let body = titled(root, t, &s.title, &subtitle)?;
        let (plot, legend) = body.split_horizontally(body.dim_in_pixel().0 as i32 - t.px(150.0));
        let x = x_range(s.x_axis, s.points.iter().map(|p| p.n_params));
        let xd = data_x_range(s.x_axis, s.points.iter().map(|p| p.n_params));
        let mut ys: Vec<f64> = s.points.iter().map(|p| p.value).collect();
        ys.extend(s.references.iter().map(|r| r.value));
        if let Some(f) = &s.fit {
            ys.extend(fit_extent(f, s.x_axis, xd.0, xd.1));
        }
        let mut chart = log_x_chart(&plot, t, s.x_axis, x, y_range(ys), &s.x_label, &s.y_label)?;
        draw_references(&mut chart, t, &s.references, x)?;
        if let Some(f) = &s.fit {
            draw_fit(&mut chart, t, s.x_axis, f, palette::BLACK, xd)?;
        }
        draw_points(&chart, t, s.x_axis, &s.points, None, 4.5)?;
        let mut entries = family_legend(s.points.iter().map(|p| p.family));
        if s.fit.is_some() {
            entries.push(LegendEntry { label: "OLS fit".into(), color: palette::BLACK, kind: LegendKind::Line });
            if s.fit.as_ref().is_some_and(|f| f.band.is_some()) {
                entries.push(LegendEntry {
                    label: "95% CI".into(),
                    color: lighten(palette::BLACK, 0.8),
                    kind: LegendKind::Swatch,
                });
            }
        }
        if !s.references.is_empty() {
            entries.push(LegendEntry { label: "baselines".into(), color: palette::GREY, kind: LegendKind::Dashed });
        }
        draw_legend(&legend, t, "family", &entries, 10.0)?;
        Ok(())
    }
}

/// Figure 3 (small multiples): one panel per family present in the points (fixed family
/// order), all on the same axes; each with its family's points, its fit (from
/// [`Scaling::family_fits`]) and r/p, and the overall fit as a thin grey line for comparison.
pub fn scaling_by_family(input: &Scaling) -> Result<Figure> {
    input.check("scaling_by_family")?;
    let mut families: Vec<Family> = input.points.iter().map(|p| p.family).collect();
    families.sort();
    families.dedup();
    Figure::render("scaling_by_family", &FamilyPainter { input, families })
}

struct FamilyPainter<'a> {
    input: &'a Scaling,
    families: Vec<Family>,
}

const FAMILY_COLUMNS: usize = 3;

impl Paint for FamilyPainter<'_> {
    fn size(&self) -> (u32, u32) {
        let columns = self.families.len().clamp(1, FAMILY_COLUMNS) as u32;
        let rows = self.families.len().div_ceil(FAMILY_COLUMNS) as u32;
        ((320 * columns).max(440), 70 + 290 * rows)
    }

    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, t: &Theme) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let s = self.input;
        let subtitle = if s.fit.is_some() {
            "OLS fit per family; thin grey line: fit over all models"
        } else {
            "OLS fit per family"
        };
        let body = titled(root, t, &s.title, subtitle)?;
        let x = x_range(s.x_axis, s.points.iter().map(|p| p.n_params));
        let xd = data_x_range(s.x_axis, s.points.iter().map(|p| p.n_params));
        let mut ys: Vec<f64> = s.points.iter().map(|p| p.value).collect();
        for f in s.family_fits.iter().map(|f| &f.1).chain(&s.fit) {
            ys.extend(fit_extent(f, s.x_axis, xd.0, xd.1));
        }
        let y = y_range(ys);
        let panels = grid(&body, self.families.len(), self.families.len().clamp(1, FAMILY_COLUMNS));
        for (i, (panel, &family)) in panels.iter().zip(&self.families).enumerate() {
            let points: Vec<ModelPoint> = s.points.iter().filter(|p| p.family == family).cloned().collect();
            let fit = s.family_fits.iter().find(|f| f.0 == family).map(|f| &f.1);
            let note = match fit {
                Some(f) => s.fit_summary(f).replace(", slope", "\nslope"),
                None if points.len() < 3 => "too few models for a fit".into(),
                None => String::new(),
            };
            let title = format!("{} ({} model{})", family.display_name(), points.len(), plural(points.len()));
            let area = panel_titled(panel, t, &title, &note)?;
            let y_desc = if i % FAMILY_COLUMNS == 0 { s.y_label.as_str() } else { "" };
            let x_desc = if s.x_axis == XAxis::Parameters { "parameters" } else { s.x_label.as_str() };
            let mut chart = log_x_chart(&area, t, s.x_axis, x, y, x_desc, y_desc)?;
            if let Some(f) = &s.fit {
                let overall = LineFit { band: None, ..f.clone() };
                draw_fit(&mut chart, t, s.x_axis, &overall, lighten(palette::GREY, 0.3), xd)?;
            }
            if let Some(f) = fit {
                let own = data_x_range(s.x_axis, points.iter().map(|p| p.n_params));
                draw_fit(&mut chart, t, s.x_axis, f, family.color(), own)?;
            }
            draw_points(&chart, t, s.x_axis, &points, None, 4.5)?;
        }
        Ok(())
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// One model's left- and right-hemisphere scores (for [`hemispheres`] and ROI figures).
#[derive(Clone, Debug, PartialEq)]
pub struct HemispherePoint {
    /// Model name.
    pub label: String,
    /// Family (marker shape; colour in the L − R panel).
    pub family: Family,
    /// Number of parameters (raw count).
    pub n_params: f64,
    /// Score in the left hemisphere.
    pub left: f64,
    /// Score in the right hemisphere.
    pub right: f64,
}

/// Input of [`hemispheres`].
#[derive(Clone, Debug)]
pub struct Hemispheres {
    /// One point per model.
    pub points: Vec<HemispherePoint>,
    /// Fit of the left scores on log(parameters).
    pub fit_left: Option<LineFit>,
    /// Fit of the right scores.
    pub fit_right: Option<LineFit>,
    /// Fit of left − right (with its band, e.g. bootstrap over models).
    pub fit_difference: Option<LineFit>,
    /// Figure title.
    pub title: String,
    /// y-axis label of the scores, with units.
    pub y_label: String,
    /// x-axis label.
    pub x_label: String,
}

impl Hemispheres {
    /// Defaults: titles for brain scores over the reliable voxels.
    pub fn new(points: Vec<HemispherePoint>) -> Hemispheres {
        Hemispheres {
            points,
            fit_left: None,
            fit_right: None,
            fit_difference: None,
            title: "Left lateralization grows with model size".into(),
            y_label: "brain score (mean Pearson r)".into(),
            x_label: "number of parameters (log scale)".into(),
        }
    }
}

/// Figure 4: left and right hemisphere scores against size (vermillion and blue, marker =
/// family, one fit each) and, beside it, left − right against size in family colours with its
/// fit, confidence band and r/p; a dashed line marks L − R = 0.
pub fn hemispheres(input: &Hemispheres) -> Result<Figure> {
    const NAME: &str = "hemispheres";
    let (left, right, diff) = split_hemispheres(&input.points);
    check_points(NAME, &left, XAxis::Parameters)?;
    check_points(NAME, &right, XAxis::Parameters)?;
    for f in [&input.fit_left, &input.fit_right, &input.fit_difference].into_iter().flatten() {
        check_fit(NAME, f)?;
    }
    if input.points.is_empty() {
        return Err(PlotError::input(NAME, "points", "at least one model", "none"));
    }
    Figure::render(NAME, &HemiPainter { input, left, right, diff })
}

/// Left, right and left − right as model points.
pub(crate) fn split_hemispheres(points: &[HemispherePoint]) -> (Vec<ModelPoint>, Vec<ModelPoint>, Vec<ModelPoint>) {
    let mk = |p: &HemispherePoint, value: f64| ModelPoint {
        label: p.label.clone(),
        family: p.family,
        n_params: p.n_params,
        value,
    };
    (
        points.iter().map(|p| mk(p, p.left)).collect(),
        points.iter().map(|p| mk(p, p.right)).collect(),
        points.iter().map(|p| mk(p, p.left - p.right)).collect(),
    )
}

/// Draws left and right points (hemisphere colours, family markers of `radius` logical pixels)
/// with their fits over `x` (log10 of the data's parameter range).
pub(crate) fn draw_left_right<DB: DrawingBackend>(
    chart: &mut crate::common::LogXChart<'_, DB>,
    t: &Theme,
    (left, right): (&[ModelPoint], &[ModelPoint]),
    (fit_left, fit_right): (Option<&LineFit>, Option<&LineFit>),
    x: (f64, f64),
    radius: f64,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    if let Some(f) = fit_right {
        draw_fit(chart, t, XAxis::Parameters, f, palette::RIGHT, x)?;
    }
    if let Some(f) = fit_left {
        draw_fit(chart, t, XAxis::Parameters, f, palette::LEFT, x)?;
    }
    draw_points(chart, t, XAxis::Parameters, right, Some(palette::RIGHT), radius)?;
    draw_points(chart, t, XAxis::Parameters, left, Some(palette::LEFT), radius)?;
    Ok(())
}

/// Legend entries for the two hemispheres.
pub(crate) fn hemisphere_legend() -> Vec<LegendEntry> {
    vec![
        LegendEntry { label: "left".into(), color: palette::LEFT, kind: LegendKind::Marker(Marker::Circle) },
        LegendEntry { label: "right".into(), color: palette::RIGHT, kind: LegendKind::Marker(Marker::Circle) },
    ]
}

struct HemiPainter<'a> {
    input: &'a Hemispheres,
    left: Vec<ModelPoint>,
    right: Vec<ModelPoint>,
    diff: Vec<ModelPoint>,
}

impl Paint for HemiPainter<'_> {
    fn size(&self) -> (u32, u32) {
        (1100, 520)
    }

    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, t: &Theme) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let s = self.input;
        let body = titled(root, t, &s.title, &format!("{} models; OLS fits on log(parameters)", s.points.len()))?;
        let (plots, legend) = body.split_horizontally(body.dim_in_pixel().0 as i32 - t.px(140.0));
        let panels = plots.split_evenly((1, 2));
        let x = x_range(XAxis::Parameters, s.points.iter().map(|p| p.n_params));
        let xd = data_x_range(XAxis::Parameters, s.points.iter().map(|p| p.n_params));

        // (a) left and right.
        let mut note = String::new();
        for (name, f) in [("left", &s.fit_left), ("right", &s.fit_right)] {
            if let Some(f) = f {
                note.push_str(&format!("{name}: {}\n", f.summary()));
            }
        }
        let area = panel_titled(&panels[0], t, "Left and right hemispheres", &note)?;
        let mut ys: Vec<f64> = self.left.iter().chain(&self.right).map(|p| p.value).collect();
        for f in [&s.fit_left, &s.fit_right].into_iter().flatten() {
            ys.extend(fit_extent(f, XAxis::Parameters, xd.0, xd.1));
        }
        let mut chart = log_x_chart(&area, t, XAxis::Parameters, x, y_range(ys), &s.x_label, &s.y_label)?;
        draw_left_right(
            &mut chart,
            t,
            (&self.left, &self.right),
            (s.fit_left.as_ref(), s.fit_right.as_ref()),
            xd,
            4.5,
        )?;

        // (b) left − right.
        let note = s.fit_difference.as_ref().map(|f| f.summary()).unwrap_or_default();
        let area = panel_titled(&panels[1], t, "Left − right", &note)?;
        let mut ys: Vec<f64> = self.diff.iter().map(|p| p.value).collect();
        ys.push(0.0);
        if let Some(f) = &s.fit_difference {
            ys.extend(fit_extent(f, XAxis::Parameters, xd.0, xd.1));
        }
        let mut chart =
            log_x_chart(&area, t, XAxis::Parameters, x, y_range(ys), &s.x_label, "left − right (Pearson r)")?;
        let zero = Reference { label: String::new(), value: 0.0 };
        draw_references(&mut chart, t, std::slice::from_ref(&zero), x)?;
        if let Some(f) = &s.fit_difference {
            draw_fit(&mut chart, t, XAxis::Parameters, f, palette::DIFFERENCE, xd)?;
        }
        draw_points(&chart, t, XAxis::Parameters, &self.diff, None, 4.5)?;

        draw_legend(&legend, t, "hemisphere", &hemisphere_legend(), 30.0)?;
        draw_legend(&legend, t, "family", &family_legend(s.points.iter().map(|p| p.family)), 110.0)?;
        Ok(())
    }
}
