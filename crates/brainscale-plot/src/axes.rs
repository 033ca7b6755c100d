//! Axes: the tick-controlled f64 axis, parameter and round ticks, data ranges, and the chart
//! with a model-level x axis (parameters, another log column, or a linear one) used by the
//! scatter figures.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;

use crate::common::XAxis;
use crate::style::{Theme, format_num, palette, sizes};

/// A chart of model-level values: x in chart coordinates of an [`XAxis`] (log10 for log axes).
pub(crate) type LogXChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TickedAxis, TickedAxis>>;

/// A linear f64 axis with the tick positions chosen by the caller (plotters' own `f64` axis
/// picks its ticks itself, and its key-point wrapper loses the label formatter).
#[derive(Clone, Debug)]
pub(crate) struct TickedAxis {
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
}

impl TickedAxis {
    /// An axis over `lo..hi` with ticks at `ticks`.
    pub fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> TickedAxis {
        TickedAxis { lo, hi, ticks }
    }

    /// An axis over `lo..hi` with about `n` round ticks (1, 2, 2.5 or 5 times a power of ten).
    pub fn auto(lo: f64, hi: f64, n: usize) -> TickedAxis {
        TickedAxis { lo, hi, ticks: nice_ticks(lo, hi, n) }
    }
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = if self.hi > self.lo { self.hi - self.lo } else { 1.0 };
        let f = (v - self.lo) / span;
        limit.0 + (f * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() || hint.max_num_points() == 0 { Vec::new() } else { self.ticks.clone() }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// About `n` round tick values in `lo..=hi`.
pub(crate) fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) || n == 0 {
        return vec![lo];
    }
    let raw = (hi - lo) / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|&s| s >= raw).unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).map(|v| if v.abs() < step * 1e-9 { 0.0 } else { v }).collect()
}

/// The x range (chart coordinates) covering `values`, padded on both sides.
pub(crate) fn x_range(axis: XAxis, values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = data_x_range(axis, values);
    if !lo.is_finite() {
        return (8.0, 10.0);
    }
    let pad = match axis {
        XAxis::Linear => 0.06 * (hi - lo).max(1e-9 + hi.abs() * 0.1),
        _ => 0.12 * (hi - lo).max(1.0),
    };
    (lo - pad, hi + pad)
}

/// Tick positions (log10) for a parameter axis with room for about `max_ticks` labels: every
/// integer multiple of a power of ten when the range is short, else 1×, 2× and 5×, else each
/// decade (or every other one).
pub(crate) fn param_ticks(lo: f64, hi: f64, max_ticks: usize) -> Vec<f64> {
    let ticks_for = |multiples: &[f64]| {
        let mut ticks = Vec::new();
        for d in (lo.floor() as i32)..=(hi.ceil() as i32) {
            for m in multiples {
                let v = d as f64 + m.log10();
                if v >= lo && v <= hi {
                    ticks.push(v);
                }
            }
        }
        ticks
    };
    let schemes: [&[f64]; 3] = [&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], &[1.0, 2.0, 5.0], &[1.0]];
    for multiples in schemes {
        let ticks = ticks_for(multiples);
        if ticks.len() <= max_ticks.max(2) && (ticks.len() >= 3 || multiples.len() == 1) {
            return ticks;
        }
    }
    let decades = ticks_for(&[1.0]);
    let step = decades.len().div_ceil(max_ticks.max(2));
    decades.into_iter().step_by(step.max(1)).collect()
}

/// The range spanned by the data in chart coordinates (where fit lines are drawn: no
/// extrapolation).
pub(crate) fn data_x_range(axis: XAxis, values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    values
        .into_iter()
        .map(|v| axis.coord(v))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// A y range covering `values` with 8% padding (and a sensible span when all are equal).
pub(crate) fn y_range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let span = if hi - lo > 1e-12 { hi - lo } else { lo.abs().max(1e-3) };
    (lo - 0.08 * span, hi + 0.08 * span)
}

/// Builds a chart with an x axis of kind `axis` (range `x` in chart coordinates) on `area` and
/// draws its axes and grid.
pub(crate) fn log_x_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    t: &Theme,
    axis: XAxis,
    x: (f64, f64),
    y: (f64, f64),
    x_desc: &str,
    y_desc: &str,
) -> std::result::Result<LogXChart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let width = area.dim_in_pixel().0 as f64 / t.s;
    let max_ticks = ((width - 80.0) / 62.0).floor() as usize;
    let ticks = match axis {
        XAxis::Linear => nice_ticks(x.0, x.1, max_ticks.clamp(2, 8)),
        _ => param_ticks(x.0, x.1, max_ticks),
    };
    let mut chart = ChartBuilder::on(area)
        .margin_left(t.px(4.0))
        .margin_right(t.px(14.0))
        .margin_top(t.px(6.0))
        .margin_bottom(t.px(4.0))
        .x_label_area_size(t.px(if x_desc.is_empty() { 24.0 } else { 44.0 }))
        .y_label_area_size(t.px(if y_desc.is_empty() { 48.0 } else { 66.0 }))
        .build_cartesian_2d(TickedAxis::new(x.0, x.1, ticks), TickedAxis::auto(y.0, y.1, 6))?;
    let fmt_x = |v: &f64| axis.label(*v);
    let fmt_y = |v: &f64| format_num(*v);
    chart
        .configure_mesh()
        .max_light_lines(0)
        .bold_line_style(palette::GRID.stroke_width(t.upx(1.0).max(1)))
        .axis_style(palette::MUTED.stroke_width(t.upx(1.0).max(1)))
        .label_style(t.text(sizes::TICK))
        .axis_desc_style(t.text(sizes::AXIS))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&fmt_x)
        .y_label_formatter(&fmt_y)
        .set_all_tick_mark_size(t.px(4.0))
        .draw()?;
    Ok(chart)
}
