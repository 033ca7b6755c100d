//! Inputs shared by several figures (points, fits, estimates) and the drawing helpers behind
//! the common look (titles, legends, log-parameter axes, fit lines with bands).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{PlotError, Result};
use crate::figure::DrawResult;
use crate::style::{Family, Marker, Theme, darken, format_num, format_p, format_params, palette, sizes};

/// The logarithm a fit's x is in: y = intercept + slope · log_b(n_params).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogBase {
    /// Natural logarithm (numpy's `np.log`, what the paper regresses on).
    #[default]
    E,
    /// Base-10 logarithm.
    Ten,
    /// No logarithm: y = intercept + slope · x (for linear x axes, e.g. HellaSwag accuracy).
    Linear,
}

impl LogBase {
    /// log_b(x).
    pub fn log(self, x: f64) -> f64 {
        match self {
            LogBase::E => x.ln(),
            LogBase::Ten => x.log10(),
            LogBase::Linear => x,
        }
    }

    /// How much a slope in this base grows y per tenfold increase of x (for `Linear`, the
    /// slope itself, per unit of x).
    pub fn per_decade(self, slope: f64) -> f64 {
        match self {
            LogBase::E => slope * std::f64::consts::LN_10,
            LogBase::Ten | LogBase::Linear => slope,
        }
    }
}

/// A pointwise confidence band around a fitted line (e.g. bootstrap 2.5 and 97.5 percentiles
/// of the predicted y), given on a grid of parameter counts (raw counts, increasing).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Band {
    /// Parameter counts at which the band is given (raw, not logged), increasing.
    pub n_params: Vec<f64>,
    /// Lower bound of y at each point.
    pub lower: Vec<f64>,
    /// Upper bound of y at each point.
    pub upper: Vec<f64>,
}

/// A straight-line fit of a score on the logarithm of the parameter count, as the statistics
/// crate reports it: y = intercept + slope · log_b(n_params), with the Pearson r of the fit,
/// its p-value and an optional confidence band.
#[derive(Clone, Debug, PartialEq)]
pub struct LineFit {
    /// Slope per unit of log_b(n_params).
    pub slope: f64,
    /// Intercept (y at n_params = 1).
    pub intercept: f64,
    /// The base of the logarithm the fit used.
    pub log_base: LogBase,
    /// Pearson r between y and log(n_params).
    pub r: f64,
    /// Two-sided p-value of the slope (equal to r's).
    pub p: f64,
    /// 95% confidence band of the line, if computed.
    pub band: Option<Band>,
}

impl LineFit {
    /// The fitted y at `n_params`.
    pub fn predict(&self, n_params: f64) -> f64 {
        self.intercept + self.slope * self.log_base.log(n_params)
    }

    /// "r = 0.91, p = 3.1e-5, slope +0.012 per 10× params".
    pub fn summary(&self) -> String {
        self.summary_per("params")
    }

    /// The summary with the slope "per 10× `what`" (or "per unit of x" for a linear fit).
    pub fn summary_per(&self, what: &str) -> String {
        let per = self.log_base.per_decade(self.slope);
        let unit = if self.log_base == LogBase::Linear {
            "per unit of x".to_string()
        } else {
            format!("per 10× {what}").trim_end().to_string()
        };
        let sign = if per >= 0.0 { "+" } else { "" };
        format!("r = {:.2}, p = {}, slope {sign}{} {unit}", self.r, format_p(self.p), format_num(per))
    }
}

/// The kind of x axis of a model-level scatter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XAxis {
    /// Parameter counts on a log axis labelled `100M`, `1B`, `10B`.
    #[default]
    Parameters,
    /// Any positive quantity on a log axis with plain labels (e.g. Wikitext-2 perplexity).
    Log,
    /// A linear axis (e.g. HellaSwag accuracy).
    Linear,
}

impl XAxis {
    /// The chart coordinate of a value (log10 for the log axes).
    pub(crate) fn coord(self, x: f64) -> f64 {
        match self {
            XAxis::Linear => x,
            _ => x.log10(),
        }
    }

    /// The value at a chart coordinate.
    pub(crate) fn value(self, c: f64) -> f64 {
        match self {
            XAxis::Linear => c,
            _ => 10f64.powf(c),
        }
    }

    pub(crate) fn label(self, c: f64) -> String {
        match self {
            XAxis::Parameters => format_params(10f64.powf(c)),
            XAxis::Log => format_num(10f64.powf(c)),
            XAxis::Linear => format_num(c),
        }
    }
}

/// One model (or baseline) with a parameter count and a value (a score, or a slope).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelPoint {
    /// Model name (e.g. `gpt2-xl`).
    pub label: String,
    /// Its family (colour and marker).
    pub family: Family,
    /// Number of parameters (raw count, e.g. `1.24e8`); in a [`crate::Scaling`] whose
    /// `x_axis` is not [`XAxis::Parameters`], the x value (e.g. the perplexity).
    pub n_params: f64,
    /// The value drawn on y.
    pub value: f64,
}

/// A horizontal reference level with a label (e.g. a baseline's score, which has no parameter
/// count), drawn as a dashed grey line.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    /// Shown at the line's right end.
    pub label: String,
    /// The y value.
    pub value: f64,
}

/// An estimate with its 95% confidence interval and p-value (e.g. a slope).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Point estimate.
    pub value: f64,
    /// Lower bound of the 95% CI.
    pub ci_low: f64,
    /// Upper bound of the 95% CI.
    pub ci_high: f64,
    /// p-value against 0.
    pub p: f64,
}

// ---------------------------------------------------------------------------------------------
// Checks.

pub(crate) fn check_finite(figure: &'static str, what: &str, v: f64) -> Result<()> {
    if v.is_finite() { Ok(()) } else { Err(PlotError::input(figure, what, "a finite number", v)) }
}

pub(crate) fn check_points(figure: &'static str, points: &[ModelPoint], axis: XAxis) -> Result<()> {
    if points.is_empty() {
        return Err(PlotError::input(figure, "points", "at least one model", "none"));
    }
    for p in points {
        if !(p.n_params.is_finite() && (axis == XAxis::Linear || p.n_params > 0.0)) {
            let expected = if axis == XAxis::Linear { "a finite number" } else { "a positive number (log axis)" };
            return Err(PlotError::input(figure, format!("x (n_params) of {}", p.label), expected, p.n_params));
        }
        check_finite(figure, &format!("value of {}", p.label), p.value)?;
    }
    Ok(())
}

pub(crate) fn check_fit(figure: &'static str, fit: &LineFit) -> Result<()> {
    check_finite(figure, "fit slope", fit.slope)?;
    check_finite(figure, "fit intercept", fit.intercept)?;
    if let Some(b) = &fit.band {
        if b.lower.len() != b.n_params.len() || b.upper.len() != b.n_params.len() {
            return Err(PlotError::input(
                figure,
                "fit band",
                format!("lower and upper of length {}", b.n_params.len()),
                format!("{} and {}", b.lower.len(), b.upper.len()),
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Layout.

/// Draws the figure title (and a grey subtitle) at the top of `root` and returns the area below.
pub(crate) fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    t: &Theme,
    title: &str,
    subtitle: &str,
) -> std::result::Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut h = 34.0;
    root.draw(&Text::new(title.to_string(), (t.px(16.0), t.px(10.0)), t.bold(sizes::TITLE)))?;
    if !subtitle.is_empty() {
        root.draw(&Text::new(subtitle.to_string(), (t.px(16.0), t.px(34.0)), t.muted(sizes::NOTE)))?;
        h = 54.0;
    }
    Ok(root.split_vertically(t.px(h)).1)
}

/// Draws `title` at the top-left of `area` as a panel title (bold) with grey note lines under
/// it (one per line of `note`); returns the area below.
pub(crate) fn panel_titled<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: &Theme,
    title: &str,
    note: &str,
) -> std::result::Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut h = 24.0;
    area.draw(&Text::new(title.to_string(), (t.px(10.0), t.px(4.0)), t.bold(sizes::PANEL)))?;
    for line in note.lines().filter(|l| !l.is_empty()) {
        area.draw(&Text::new(line.to_string(), (t.px(10.0), t.px(h)), t.muted(sizes::NOTE - 1.0)))?;
        h += 17.0;
    }
    h += 2.0;
    Ok(area.split_vertically(t.px(h)).1)
}

/// One legend entry.
#[derive(Clone, Debug)]
pub(crate) struct LegendEntry {
    pub label: String,
    pub color: RGBColor,
    pub kind: LegendKind,
}

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LegendKind {
    Marker(Marker),
    Line,
    Dashed,
    Swatch,
}

/// Legend entries for the families present in `families`, in the fixed family order.
pub(crate) fn family_legend(families: impl IntoIterator<Item = Family>) -> Vec<LegendEntry> {
    let mut present: Vec<Family> = families.into_iter().collect();
    present.sort();
    present.dedup();
    present
        .into_iter()
        .map(|f| LegendEntry { label: f.display_name().into(), color: f.color(), kind: LegendKind::Marker(f.marker()) })
        .collect()
}

/// Draws a legend as a column of entries starting at the top-left of `area` (a margin beside
/// the plots, so that it never covers data).
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: &Theme,
    heading: &str,
    entries: &[LegendEntry],
    top: f64,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mut y = top;
    if !heading.is_empty() {
        area.draw(&Text::new(heading.to_string(), (t.px(8.0), t.px(y)), t.bold(sizes::LEGEND)))?;
        y += 22.0;
    }
    for e in entries {
        let cy = t.px(y + 8.0);
        let cx = t.px(18.0);
        match e.kind {
            LegendKind::Marker(m) => draw_marker(area, t, (cx, cy), m, e.color, 5.0)?,
            LegendKind::Line => {
                area.draw(&PathElement::new(vec![(t.px(6.0), cy), (t.px(30.0), cy)], e.color.stroke_width(t.upx(2.5))))?
            }
            LegendKind::Dashed => {
                for k in 0..3 {
                    let x0 = 6.0 + 9.0 * k as f64;
                    area.draw(&PathElement::new(
                        vec![(t.px(x0), cy), (t.px(x0 + 5.0), cy)],
                        e.color.stroke_width(t.upx(1.5)),
                    ))?;
                }
            }
            LegendKind::Swatch => area.draw(&Rectangle::new(
                [(t.px(6.0), cy - t.px(6.0)), (t.px(30.0), cy + t.px(6.0))],
                e.color.mix(0.85).filled(),
            ))?,
        }
        let style = t.text(sizes::LEGEND).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(e.label.clone(), (t.px(38.0), cy), style))?;
        y += 20.0;
    }
    Ok(())
}

/// Draws a marker centred at backend pixel `c` with radius `r` (logical px): filled with
/// `color` and outlined in a darker shade, so that light colours stay visible.
pub(crate) fn draw_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: &Theme,
    c: (i32, i32),
    marker: Marker,
    color: RGBColor,
    r: f64,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let fill = color.filled();
    let edge = darken(color, 0.35).stroke_width(t.upx(1.0).max(1));
    let p = |dx: f64, dy: f64| (c.0 + t.px(dx), c.1 + t.px(dy));
    match marker {
        Marker::Circle => {
            area.draw(&Circle::new(c, t.px(r), fill))?;
            area.draw(&Circle::new(c, t.px(r), edge))?;
        }
        Marker::Square => {
            let q = r * 0.88;
            area.draw(&Rectangle::new([p(-q, -q), p(q, q)], fill))?;
            area.draw(&Rectangle::new([p(-q, -q), p(q, q)], edge))?;
        }
        _ => {
            let pts = match marker {
                Marker::TriangleUp => vec![p(0.0, -1.2 * r), p(1.1 * r, 0.8 * r), p(-1.1 * r, 0.8 * r)],
                Marker::TriangleDown => vec![p(0.0, 1.2 * r), p(1.1 * r, -0.8 * r), p(-1.1 * r, -0.8 * r)],
                _ => vec![p(0.0, -1.25 * r), p(1.1 * r, 0.0), p(0.0, 1.25 * r), p(-1.1 * r, 0.0)],
            };
            area.draw(&Polygon::new(pts.clone(), fill))?;
            let mut closed = pts.clone();
            closed.push(pts[0]);
            area.draw(&PathElement::new(closed, edge))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Drawing on model-level charts (axes in `axes.rs`).

pub(crate) use crate::axes::{LogXChart, TickedAxis, data_x_range, log_x_chart, nice_ticks, x_range, y_range};

/// All y values a fit draws between chart coordinates `lo` and `hi` (line ends and band).
pub(crate) fn fit_extent(fit: &LineFit, axis: XAxis, lo: f64, hi: f64) -> Vec<f64> {
    let mut v = vec![fit.predict(axis.value(lo)), fit.predict(axis.value(hi))];
    if let Some(b) = &fit.band {
        v.extend(b.lower.iter().chain(&b.upper).copied());
    }
    v
}

/// Draws a fit (band then line) in `color` over `x` (chart coordinates of the data's range).
pub(crate) fn draw_fit<DB: DrawingBackend>(
    chart: &mut LogXChart<'_, DB>,
    t: &Theme,
    axis: XAxis,
    fit: &LineFit,
    color: RGBColor,
    x: (f64, f64),
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    if let Some(b) = &fit.band {
        let mut poly: Vec<(f64, f64)> = b.n_params.iter().zip(&b.upper).map(|(&n, &u)| (axis.coord(n), u)).collect();
        poly.extend(b.n_params.iter().zip(&b.lower).rev().map(|(&n, &l)| (axis.coord(n), l)));
        poly.retain(|p| p.0.is_finite() && p.1.is_finite());
        if poly.len() >= 3 {
            chart.draw_series(std::iter::once(Polygon::new(poly, color.mix(0.16).filled())))?;
        }
    }
    let n = 50;
    let line: Vec<(f64, f64)> = (0..=n)
        .map(|i| {
            let lx = x.0 + (x.1 - x.0) * i as f64 / n as f64;
            (lx, fit.predict(axis.value(lx)))
        })
        .collect();
    chart.draw_series(std::iter::once(PathElement::new(line, color.stroke_width(t.upx(2.0)))))?;
    Ok(())
}

/// Draws model points as family markers of `radius` logical pixels, in the family colour or in
/// `color` when given, on a log-x chart.
pub(crate) fn draw_points<DB: DrawingBackend>(
    chart: &LogXChart<'_, DB>,
    t: &Theme,
    axis: XAxis,
    points: &[ModelPoint],
    color: Option<RGBColor>,
    radius: f64,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let area = chart.plotting_area().strip_coord_spec();
    for p in points {
        let c = chart.backend_coord(&(axis.coord(p.n_params), p.value));
        let (x0, y0) = area.get_base_pixel();
        let c = (c.0 - x0, c.1 - y0);
        let col = color.unwrap_or(p.family.color());
        draw_marker(&area, t, c, p.family.marker(), col, radius)?;
    }
    Ok(())
}

/// Draws dashed horizontal reference lines with their labels at the right end.
pub(crate) fn draw_references<DB: DrawingBackend>(
    chart: &mut LogXChart<'_, DB>,
    t: &Theme,
    refs: &[Reference],
    x: (f64, f64),
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    for r in refs {
        let dash = (x.1 - x.0) / 80.0;
        let mut a = x.0;
        while a < x.1 {
            let b = (a + dash).min(x.1);
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(a, r.value), (b, r.value)],
                palette::GREY.stroke_width(t.upx(1.5)),
            )))?;
            a += 2.0 * dash;
        }
        let style = t.muted(sizes::NOTE - 1.5).pos(Pos::new(HPos::Right, VPos::Bottom));
        chart.draw_series(std::iter::once(Text::new(r.label.clone(), (x.1 - (x.1 - x.0) * 0.01, r.value), style)))?;
    }
    Ok(())
}

/// Splits `area` into `n` panels on a grid of `cols` columns (row-major), returning them.
pub(crate) fn grid<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    n: usize,
    cols: usize,
) -> Vec<DrawingArea<DB, Shift>> {
    let rows = n.div_ceil(cols).max(1);
    area.split_evenly((rows, cols)).into_iter().take(n).collect()
}
