//! Distributions over voxels: the reliability histogram (figure 1) and the score
//! distributions of models versus baselines (figure 2).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::common::{LegendEntry, LegendKind, TickedAxis, draw_legend, family_legend, titled};
use crate::error::{PlotError, Result};
use crate::figure::{DrawResult, Figure, Paint};
use crate::style::{Family, Theme, darken, format_num, palette, sizes};

/// Input of [`reliability_histogram`]: per-voxel reliability (e.g. the mean split-half
/// inter-subject correlation) and the threshold that selects the reliable voxels.
///
/// ```
/// use brainscale_plot::{ReliabilityHistogram, reliability_histogram};
/// let isc: Vec<f32> = (0..1000).map(|i| (i as f32 / 1000.0).powi(2)).collect();
/// let fig = reliability_histogram(&ReliabilityHistogram::new(&isc, 0.5625))?;
/// assert!(fig.svg.starts_with("<svg"));
/// # Ok::<(), brainscale_plot::PlotError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ReliabilityHistogram<'a> {
    /// One value per voxel (non-finite values are skipped and counted in the subtitle).
    pub values: &'a [f32],
    /// Voxels with a value strictly above it are "reliable".
    pub threshold: f64,
    /// What the threshold is, e.g. `75th percentile`.
    pub threshold_label: String,
    /// Figure title.
    pub title: String,
    /// x-axis label, with units.
    pub x_label: String,
    /// Number of histogram bins.
    pub n_bins: usize,
}

impl<'a> ReliabilityHistogram<'a> {
    /// Defaults: 60 bins, titles for an inter-subject correlation map and a 75th-percentile
    /// threshold.
    pub fn new(values: &'a [f32], threshold: f64) -> Self {
        ReliabilityHistogram {
            values,
            threshold,
            threshold_label: "75th percentile".into(),
            title: "Voxel reliability".into(),
            x_label: "inter-subject correlation (Pearson r)".into(),
            n_bins: 60,
        }
    }
}

/// Figure 1: histogram of voxel reliability, the bars above the threshold in colour, the
/// threshold as a dashed line, and the number (and share) of voxels above it in the subtitle.
pub fn reliability_histogram(input: &ReliabilityHistogram<'_>) -> Result<Figure> {
    const NAME: &str = "reliability_histogram";
    let finite: Vec<f64> = input.values.iter().map(|&v| v as f64).filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return Err(PlotError::input(NAME, "values", "at least one finite value", "none"));
    }
    if !input.threshold.is_finite() {
        return Err(PlotError::input(NAME, "threshold", "a finite number", input.threshold));
    }
    let n_bins = input.n_bins.clamp(5, 400);
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min).min(input.threshold);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max).max(input.threshold);
    let width = if hi > lo { (hi - lo) / n_bins as f64 } else { 1.0 };
    let mut counts = vec![0usize; n_bins];
    for &v in &finite {
        let b = (((v - lo) / width) as usize).min(n_bins - 1);
        counts[b] += 1;
    }
    let above = finite.iter().filter(|&&v| v > input.threshold).count();
    let skipped = input.values.len() - finite.len();
    let mut subtitle = format!(
        "{} of {} voxels ({:.1}%) above the {} ({})",
        thousands(above),
        thousands(finite.len()),
        100.0 * above as f64 / finite.len() as f64,
        input.threshold_label,
        format_num(input.threshold)
    );
    if skipped > 0 {
        subtitle.push_str(&format!("; {skipped} non-finite values skipped"));
    }
    let painter = HistPainter { input, counts, lo, width, subtitle };
    Figure::render(NAME, &painter)
}

struct HistPainter<'a, 'b> {
    input: &'b ReliabilityHistogram<'a>,
    counts: Vec<usize>,
    lo: f64,
    width: f64,
    subtitle: String,
}

impl Paint for HistPainter<'_, '_> {
    fn size(&self) -> (u32, u32) {
        (820, 460)
    }

    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, t: &Theme) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let body = titled(root, t, &self.input.title, &self.subtitle)?;
        let (plot, legend) = body.split_horizontally(body.dim_in_pixel().0 as i32 - t.px(190.0));
        let n = self.counts.len();
        let x = (self.lo - self.width, self.lo + self.width * (n as f64 + 1.0));
        let ymax = *self.counts.iter().max().unwrap_or(&1) as f64 * 1.08;
        let mut chart = ChartBuilder::on(&plot)
            .margin(t.px(8.0))
            .x_label_area_size(t.px(44.0))
            .y_label_area_size(t.px(66.0))
            .build_cartesian_2d(x.0..x.1, 0.0..ymax.max(1.0))?;
        let fx = |v: &f64| format_num(*v);
        let fy = |v: &f64| format!("{:.0}", v);
        chart
            .configure_mesh()
            .max_light_lines(0)
            .disable_x_mesh()
            .bold_line_style(palette::GRID.stroke_width(t.upx(1.0).max(1)))
            .axis_style(palette::MUTED.stroke_width(t.upx(1.0).max(1)))
            .label_style(t.text(sizes::TICK))
            .axis_desc_style(t.text(sizes::AXIS))
            .x_desc(&self.input.x_label)
            .y_desc("number of voxels")
            .x_label_formatter(&fx)
            .y_label_formatter(&fy)
            .set_all_tick_mark_size(t.px(4.0))
            .draw()?;
        let thr = self.input.threshold;
        chart.draw_series(self.counts.iter().enumerate().map(|(b, &c)| {
            let x0 = self.lo + self.width * b as f64;
            let x1 = x0 + self.width;
            let color = if (x0 + x1) / 2.0 > thr { palette::ORANGE } else { palette::GREY };
            Rectangle::new([(x0, 0.0), (x1, c as f64)], color.mix(0.9).filled())
        }))?;
        // Dashed threshold line.
        let steps = 40;
        for s in (0..steps).step_by(2) {
            let a = ymax * s as f64 / steps as f64;
            let b = ymax * (s + 1) as f64 / steps as f64;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(thr, a), (thr, b)],
                palette::BLACK.stroke_width(t.upx(1.5)),
            )))?;
        }
        let entries = [
            LegendEntry { label: "reliable voxels".into(), color: palette::ORANGE, kind: LegendKind::Swatch },
            LegendEntry { label: "other voxels".into(), color: palette::GREY, kind: LegendKind::Swatch },
            LegendEntry {
                label: format!("threshold {}", format_num(thr)),
                color: palette::BLACK,
                kind: LegendKind::Dashed,
            },
        ];
        draw_legend(&legend, t, "", &entries, 14.0)?;
        Ok(())
    }
}

/// Formats a count with thin separators: 25,870.
pub(crate) fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One distribution of [`ScoreDistributions`]: a model's (or baseline's) per-voxel scores.
#[derive(Clone, Debug)]
pub struct ScoreGroup<'a> {
    /// Row label (model name).
    pub label: String,
    /// Family (colour); [`Family::Baseline`] is grey.
    pub family: Family,
    /// Per-voxel values (non-finite values are skipped).
    pub values: &'a [f32],
}

/// Input of [`score_distributions`].
///
/// ```
/// use brainscale_plot::{Family, ScoreDistributions, ScoreGroup, score_distributions};
/// let a: Vec<f32> = (0..500).map(|i| ((i * 37 % 100) as f32 - 40.0) / 400.0).collect();
/// let groups = vec![ScoreGroup { label: "gpt2".into(), family: Family::Gpt2, values: &a }];
/// let fig = score_distributions(&ScoreDistributions::new(groups))?;
/// # Ok::<(), brainscale_plot::PlotError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ScoreDistributions<'a> {
    /// One row per group, drawn top to bottom in this order.
    pub groups: Vec<ScoreGroup<'a>>,
    /// Figure title.
    pub title: String,
    /// Subtitle (e.g. which voxels), may be empty.
    pub subtitle: String,
    /// x-axis label, with units.
    pub x_label: String,
}

impl<'a> ScoreDistributions<'a> {
    /// Defaults: titles for voxel brain scores (Pearson r, best layer).
    pub fn new(groups: Vec<ScoreGroup<'a>>) -> Self {
        ScoreDistributions {
            groups,
            title: "Brain scores of models and baselines".into(),
            subtitle: "distribution over voxels; box: quartiles, dot: median".into(),
            x_label: "voxel brain score (Pearson r, best layer)".into(),
        }
    }
}

/// Figure 2: one horizontal violin per model or baseline (density over voxels, in the family
/// colour, baselines grey) with the quartiles as a dark bar and the median as a white dot; a
/// vertical line marks r = 0.
pub fn score_distributions(input: &ScoreDistributions<'_>) -> Result<Figure> {
    const NAME: &str = "score_distributions";
    if input.groups.is_empty() {
        return Err(PlotError::input(NAME, "groups", "at least one group", "none"));
    }
    let mut violins = Vec::with_capacity(input.groups.len());
    for g in &input.groups {
        let mut v: Vec<f64> = g.values.iter().map(|&x| x as f64).filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Err(PlotError::input(NAME, format!("values of {}", g.label), "at least one finite value", "none"));
        }
        v.sort_by(f64::total_cmp);
        violins.push(Violin::new(&v));
    }
    Figure::render(NAME, &ViolinPainter { input, violins })
}

/// A violin's shape and summary, from sorted values.
struct Violin {
    /// (x, density scaled to max 1).
    shape: Vec<(f64, f64)>,
    q1: f64,
    median: f64,
    q3: f64,
}

impl Violin {
    fn new(sorted: &[f64]) -> Violin {
        let q = |p: f64| {
            let pos = p * (sorted.len() - 1) as f64;
            let (i, f) = (pos.floor() as usize, pos.fract());
            sorted[i] + f * (sorted[(i + 1).min(sorted.len() - 1)] - sorted[i])
        };
        let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
        // Density: a fine histogram smoothed with a Gaussian kernel (Silverman's bandwidth).
        let n_bins = 160;
        let span = (max - min).max(1e-9);
        let bw = {
            let n = sorted.len() as f64;
            let mean = sorted.iter().sum::<f64>() / n;
            let sd = (sorted.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
            let iqr = q(0.75) - q(0.25);
            (0.9 * sd.min(iqr / 1.34).max(span / 200.0) * n.powf(-0.2)).max(span / 200.0)
        };
        let lo = min - 2.0 * bw;
        let step = (span + 4.0 * bw) / n_bins as f64;
        let mut hist = vec![0f64; n_bins + 1];
        for &x in sorted {
            hist[(((x - lo) / step).round() as usize).min(n_bins)] += 1.0;
        }
        let radius = (3.0 * bw / step).ceil() as isize;
        let mut dens: Vec<f64> = (0..=n_bins as isize)
            .map(|i| {
                let mut s = 0.0;
                for k in -radius..=radius {
                    let j = i + k;
                    if j >= 0 && j <= n_bins as isize {
                        let d = k as f64 * step / bw;
                        s += hist[j as usize] * (-0.5 * d * d).exp();
                    }
                }
                s
            })
            .collect();
        let peak = dens.iter().copied().fold(0.0, f64::max).max(1e-12);
        dens.iter_mut().for_each(|d| *d /= peak);
        let shape = dens.iter().enumerate().map(|(i, &d)| (lo + step * i as f64, d)).collect();
        Violin { shape, q1: q(0.25), median: q(0.5), q3: q(0.75) }
    }
}

struct ViolinPainter<'a, 'b> {
    input: &'b ScoreDistributions<'a>,
    violins: Vec<Violin>,
}

impl Paint for ViolinPainter<'_, '_> {
    fn size(&self) -> (u32, u32) {
        let rows = self.input.groups.len() as u32;
        (900, 150 + 34 * rows.max(3))
    }

    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, t: &Theme) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let body = titled(root, t, &self.input.title, &self.input.subtitle)?;
        let (plot, legend) = body.split_horizontally(body.dim_in_pixel().0 as i32 - t.px(150.0));
        let n = self.violins.len();
        let shape_x = || self.violins.iter().flat_map(|v| v.shape.iter().map(|p| p.0));
        let lo = shape_x().fold(f64::INFINITY, f64::min).min(0.0);
        let hi = shape_x().fold(f64::NEG_INFINITY, f64::max).max(0.0);
        let pad = 0.04 * (hi - lo).max(1e-6);
        let label_w = self
            .input
            .groups
            .iter()
            .map(|g| plot.estimate_text_size(&g.label, &t.text(sizes::TICK)).map(|s| s.0).unwrap_or(0))
            .max()
            .unwrap_or(0);
        // Row i is drawn at y = n - 1 - i so that the first group is on top.
        let keys: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut chart = ChartBuilder::on(&plot)
            .margin(t.px(8.0))
            .margin_right(t.px(16.0))
            .x_label_area_size(t.px(44.0))
            .y_label_area_size(label_w as i32 + t.px(16.0))
            .build_cartesian_2d(TickedAxis::auto(lo - pad, hi + pad, 8), TickedAxis::new(-0.6, n as f64 - 0.4, keys))?;
        let labels: Vec<String> = self.input.groups.iter().map(|g| g.label.clone()).collect();
        let fy = |v: &f64| {
            let i = n as isize - 1 - v.round() as isize;
            if i >= 0 && (i as usize) < n { labels[i as usize].clone() } else { String::new() }
        };
        let fx = |v: &f64| format_num(*v);
        chart
            .configure_mesh()
            .max_light_lines(0)
            .disable_y_mesh()
            .bold_line_style(palette::GRID.stroke_width(t.upx(1.0).max(1)))
            .axis_style(palette::MUTED.stroke_width(t.upx(1.0).max(1)))
            .label_style(t.text(sizes::TICK))
            .axis_desc_style(t.text(sizes::AXIS))
            .x_desc(&self.input.x_label)
            .x_label_formatter(&fx)
            .y_label_formatter(&fy)
            .set_all_tick_mark_size(t.px(4.0))
            .draw()?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, -0.6), (0.0, n as f64 - 0.4)],
            palette::MUTED.stroke_width(t.upx(1.0).max(1)),
        )))?;
        for (i, (v, g)) in self.violins.iter().zip(&self.input.groups).enumerate() {
            let y = (n - 1 - i) as f64;
            let half = 0.42;
            let mut poly: Vec<(f64, f64)> = v.shape.iter().map(|&(x, d)| (x, y + half * d)).collect();
            poly.extend(v.shape.iter().rev().map(|&(x, d)| (x, y - half * d)));
            let color = g.family.color();
            chart.draw_series(std::iter::once(Polygon::new(poly.clone(), color.mix(0.55).filled())))?;
            poly.push(poly[0]);
            chart.draw_series(std::iter::once(PathElement::new(poly, darken(color, 0.3).stroke_width(t.upx(1.0)))))?;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(v.q1, y - 0.07), (v.q3, y + 0.07)],
                palette::INK.filled(),
            )))?;
            let c = chart.backend_coord(&(v.median, y));
            let area = chart.plotting_area().strip_coord_spec();
            let base = area.get_base_pixel();
            area.draw(&Circle::new((c.0 - base.0, c.1 - base.1), t.px(3.0), WHITE.filled()))?;
        }
        let mut families: Vec<Family> = self.input.groups.iter().map(|g| g.family).collect();
        families.sort();
        families.dedup();
        let entries: Vec<LegendEntry> = family_legend(families)
            .into_iter()
            .map(|mut e| {
                e.kind = LegendKind::Swatch;
                e
            })
            .collect();
        draw_legend(&legend, t, "family", &entries, 12.0)?;
        Ok(())
    }
}
