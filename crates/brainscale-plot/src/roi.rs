//! Regions of interest: slopes per ROI and hemisphere (figure 6) and ROI scores against size
//! (figure 7).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::common::{
    Estimate, LegendEntry, LegendKind, LineFit, TickedAxis, XAxis, check_finite, check_fit, check_points, data_x_range,
    draw_legend, fit_extent, grid, log_x_chart, panel_titled, titled, x_range, y_range,
};
use crate::error::{PlotError, Result};
use crate::figure::{DrawResult, Figure, Paint};
use crate::scaling::{HemispherePoint, draw_left_right, hemisphere_legend, split_hemispheres};
use crate::style::{Theme, format_num, format_p, palette, sizes, stars};

/// One ROI's slopes (score on log parameters) in the left and right hemisphere.
#[derive(Clone, Debug, PartialEq)]
pub struct RoiSlope {
    /// ROI name (e.g. `pSTS`).
    pub name: String,
    /// Slope in the left-hemisphere ROI with its 95% CI and p.
    pub left: Estimate,
    /// Slope in the mirrored right-hemisphere ROI.
    pub right: Estimate,
    /// p-value of the left versus right test, if done.
    pub difference_p: Option<f64>,
}

/// Input of [`roi_slopes`].
///
/// ```
/// use brainscale_plot::{Estimate, RoiSlope, RoiSlopes, roi_slopes};
/// let e = |v: f64, p: f64| Estimate { value: v, ci_low: v - 0.004, ci_high: v + 0.004, p };
/// let rois = vec![RoiSlope { name: "TP".into(), left: e(0.012, 1e-4), right: e(0.005, 0.03), difference_p: Some(0.01) }];
/// let fig = roi_slopes(&RoiSlopes::new(rois))?;
/// # Ok::<(), brainscale_plot::PlotError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RoiSlopes {
    /// One group of two bars per ROI, in this order.
    pub rois: Vec<RoiSlope>,
    /// Figure title.
    pub title: String,
    /// y-axis label, with units (say which logarithm the slope is per).
    pub y_label: String,
}

impl RoiSlopes {
    /// Defaults: titles for slopes of r on ln(parameters).
    pub fn new(rois: Vec<RoiSlope>) -> RoiSlopes {
        RoiSlopes {
            rois,
            title: "Scaling slope per region".into(),
            y_label: "slope (Pearson r per ln(parameters))".into(),
        }
    }
}

/// Figure 6: per ROI, a left (vermillion) and a right (blue) bar for the slope with 95% CI
/// whiskers and stars for p against 0 (* p < .05, ** p < .01, *** p < .001); a bracket over the
/// pair gives the left versus right test (stars, or "n.s.").
pub fn roi_slopes(input: &RoiSlopes) -> Result<Figure> {
    const NAME: &str = "roi_slopes";
    if input.rois.is_empty() {
        return Err(PlotError::input(NAME, "rois", "at least one ROI", "none"));
    }
    for r in &input.rois {
        for (side, e) in [("left", &r.left), ("right", &r.right)] {
            for (what, v) in [("slope", e.value), ("CI low", e.ci_low), ("CI high", e.ci_high)] {
                check_finite(NAME, &format!("{side} {what} of {}", r.name), v)?;
            }
        }
    }
    Figure::render(NAME, &SlopePainter(input))
}

struct SlopePainter<'a>(&'a RoiSlopes);

/// Draws `text` at chart coordinate `at`, moved by `dy` logical pixels.
fn text_at<
    DB: DrawingBackend,
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
>(
    chart: &ChartContext<'_, DB, Cartesian2d<X, Y>>,
    t: &Theme,
    text: &str,
    at: (f64, f64),
    dy: f64,
    style: TextStyle<'_>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let area = chart.plotting_area().strip_coord_spec();
    let base = area.get_base_pixel();
    let c = chart.backend_coord(&at);
    area.draw(&Text::new(text.to_string(), (c.0 - base.0, c.1 - base.1 + t.px(dy)), style))?;
    Ok(())
}

impl Paint for SlopePainter<'_> {
    fn size(&self) -> (u32, u32) {
        ((260 + 95 * self.0.rois.len() as u32).max(640), 520)
    }

    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, t: &Theme) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let s = self.0;
        let body = titled(
            root,
            t,
            &s.title,
            "bars: slope with 95% CI; * p < .05, ** p < .01, *** p < .001; brackets: left vs right",
        )?;
        let (plot, legend) = body.split_horizontally(body.dim_in_pixel().0 as i32 - t.px(120.0));
        let n = s.rois.len();
        let (lo, hi) =
            y_range(s.rois.iter().flat_map(|r| [r.left.ci_low, r.left.ci_high, r.right.ci_low, r.right.ci_high, 0.0]));
        let hi = hi + 0.18 * (hi - lo);
        let keys: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut chart = ChartBuilder::on(&plot)
            .margin(t.px(8.0))
            .margin_right(t.px(12.0))
            .x_label_area_size(t.px(34.0))
            .y_label_area_size(t.px(72.0))
            .build_cartesian_2d(TickedAxis::new(-0.6, n as f64 - 0.4, keys), TickedAxis::auto(lo, hi, 6))?;
        let names: Vec<String> = s.rois.iter().map(|r| r.name.clone()).collect();
        let fx = |v: &f64| names.get(v.round().max(0.0) as usize).cloned().unwrap_or_default();
        let fy = |v: &f64| format_num(*v);
        chart
            .configure_mesh()
            .max_light_lines(0)
            .disable_x_mesh()
            .bold_line_style(palette::GRID.stroke_width(t.upx(1.0).max(1)))
            .axis_style(palette::MUTED.stroke_width(t.upx(1.0).max(1)))
            .label_style(t.text(sizes::TICK + 0.5))
            .axis_desc_style(t.text(sizes::AXIS))
            .y_desc(&s.y_label)
            .x_label_formatter(&fx)
            .y_label_formatter(&fy)
            .set_all_tick_mark_size(t.px(4.0))
            .draw()?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(-0.6, 0.0), (n as f64 - 0.4, 0.0)],
            palette::MUTED.stroke_width(t.upx(1.0).max(1)),
        )))?;
        let w = 0.36;
        let star_style = t.bold(sizes::NOTE + 1.0).pos(Pos::new(HPos::Center, VPos::Bottom));
        let star_below = t.bold(sizes::NOTE + 1.0).pos(Pos::new(HPos::Center, VPos::Top));
        for (i, r) in s.rois.iter().enumerate() {
            let c = i as f64;
            for (e, x0, color) in [(&r.left, c - w, palette::LEFT), (&r.right, c, palette::RIGHT)] {
                let xm = x0 + w / 2.0;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x0 + w, e.value)],
                    color.mix(0.85).filled(),
                )))?;
                let cap = w * 0.22;
                let stroke = palette::INK.stroke_width(t.upx(1.3));
                chart.draw_series([
                    PathElement::new(vec![(xm, e.ci_low), (xm, e.ci_high)], stroke),
                    PathElement::new(vec![(xm - cap, e.ci_low), (xm + cap, e.ci_low)], stroke),
                    PathElement::new(vec![(xm - cap, e.ci_high), (xm + cap, e.ci_high)], stroke),
                ])?;
                let mark = stars(e.p);
                if !mark.is_empty() {
                    if e.value >= 0.0 {
                        text_at(&chart, t, mark, (xm, e.ci_high.max(e.value)), -2.0, star_style.clone())?;
                    } else {
                        text_at(&chart, t, mark, (xm, e.ci_low.min(e.value)), 2.0, star_below.clone())?;
                    }
                }
            }
            if let Some(p) = r.difference_p {
                let top = [r.left.ci_high, r.right.ci_high, r.left.value, r.right.value, 0.0]
                    .into_iter()
                    .fold(f64::NEG_INFINITY, f64::max);
                let y = top + 0.09 * (hi - lo);
                let tick = 0.025 * (hi - lo);
                let (a, b) = (c - w / 2.0, c + w / 2.0);
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(a, y - tick), (a, y), (b, y), (b, y - tick)],
                    palette::INK.stroke_width(t.upx(1.2)),
                )))?;
                let mark = stars(p);
                let (label, style) = if mark.is_empty() {
                    ("n.s.", t.muted(sizes::NOTE - 1.0).pos(Pos::new(HPos::Center, VPos::Bottom)))
                } else {
                    (mark, star_style.clone())
                };
                text_at(&chart, t, label, (c, y), -2.0, style)?;
            }
        }
        let entries = [
            LegendEntry { label: "left".into(), color: palette::LEFT, kind: LegendKind::Swatch },
            LegendEntry { label: "right".into(), color: palette::RIGHT, kind: LegendKind::Swatch },
        ];
        draw_legend(&legend, t, "hemisphere", &entries, 14.0)?;
        Ok(())
    }
}

/// One ROI panel of [`roi_scaling`]: each model's mean score in the left ROI and in its mirror
/// image, with fits.
#[derive(Clone, Debug)]
pub struct RoiPanel {
    /// ROI name.
    pub name: String,
    /// One point per model (left = left ROI, right = mirrored ROI).
    pub points: Vec<HemispherePoint>,
    /// Fit of the left scores on log(parameters).
    pub fit_left: Option<LineFit>,
    /// Fit of the right scores.
    pub fit_right: Option<LineFit>,
}

/// Input of [`roi_scaling`].
#[derive(Clone, Debug)]
pub struct RoiScaling {
    /// One panel per ROI, in this order.
    pub panels: Vec<RoiPanel>,
    /// Figure title.
    pub title: String,
    /// y-axis label, with units.
    pub y_label: String,
}

impl RoiScaling {
    /// Defaults: titles for mean brain scores in each ROI.
    pub fn new(panels: Vec<RoiPanel>) -> RoiScaling {
        RoiScaling {
            panels,
            title: "Brain score per region vs model size".into(),
            y_label: "brain score (mean Pearson r)".into(),
        }
    }
}

/// Figure 7: small multiples, one panel per ROI on the same axes, left (vermillion) and right
/// (blue) scores against parameters (marker = family) with one fit each and their slopes.
pub fn roi_scaling(input: &RoiScaling) -> Result<Figure> {
    const NAME: &str = "roi_scaling";
    if input.panels.is_empty() {
        return Err(PlotError::input(NAME, "panels", "at least one ROI", "none"));
    }
    for p in &input.panels {
        let (l, r, _) = split_hemispheres(&p.points);
        check_points(NAME, &l, XAxis::Parameters)?;
        check_points(NAME, &r, XAxis::Parameters)?;
        for f in [&p.fit_left, &p.fit_right].into_iter().flatten() {
            check_fit(NAME, f)?;
        }
    }
    Figure::render(NAME, &RoiScalingPainter(input))
}

struct RoiScalingPainter<'a>(&'a RoiScaling);

const ROI_COLUMNS: usize = 4;

impl Paint for RoiScalingPainter<'_> {
    fn size(&self) -> (u32, u32) {
        let columns = self.0.panels.len().clamp(1, ROI_COLUMNS) as u32;
        let rows = self.0.panels.len().div_ceil(ROI_COLUMNS) as u32;
        ((100 + 270 * columns).max(480), 70 + 300 * rows)
    }

    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, t: &Theme) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let s = self.0;
        let body =
            titled(root, t, &s.title, "left ROI and its mirror image on the right; OLS fits on log(parameters)")?;
        let (plots, legend) = body.split_horizontally(body.dim_in_pixel().0 as i32 - t.px(100.0));
        let all = || s.panels.iter().flat_map(|p| p.points.iter());
        let x = x_range(XAxis::Parameters, all().map(|p| p.n_params));
        let xd = data_x_range(XAxis::Parameters, all().map(|p| p.n_params));
        let mut ys: Vec<f64> = all().flat_map(|p| [p.left, p.right]).collect();
        for p in &s.panels {
            for f in [&p.fit_left, &p.fit_right].into_iter().flatten() {
                ys.extend(fit_extent(f, XAxis::Parameters, xd.0, xd.1));
            }
        }
        let y = y_range(ys);
        for (i, (panel, p)) in
            grid(&plots, s.panels.len(), s.panels.len().clamp(1, ROI_COLUMNS)).iter().zip(&s.panels).enumerate()
        {
            let slope = |side: &str, f: &Option<LineFit>| {
                f.as_ref().map(|f| {
                    let per = f.log_base.per_decade(f.slope);
                    let sign = if per >= 0.0 { "+" } else { "" };
                    format!("{side} {sign}{} per 10×, p = {}\n", format_num(per), format_p(f.p))
                })
            };
            let note: String =
                [slope("left", &p.fit_left), slope("right", &p.fit_right)].into_iter().flatten().collect();
            let area = panel_titled(panel, t, &p.name, &note)?;
            let (left, right, _) = split_hemispheres(&p.points);
            let y_desc = if i % ROI_COLUMNS == 0 { s.y_label.as_str() } else { "" };
            let mut chart = log_x_chart(&area, t, XAxis::Parameters, x, y, "parameters", y_desc)?;
            let own = data_x_range(XAxis::Parameters, p.points.iter().map(|q| q.n_params));
            draw_left_right(&mut chart, t, (&left, &right), (p.fit_left.as_ref(), p.fit_right.as_ref()), own, 3.3)?;
        }
        draw_legend(&legend, t, "hemisphere", &hemisphere_legend(), 10.0)?;
        Ok(())
    }
}
