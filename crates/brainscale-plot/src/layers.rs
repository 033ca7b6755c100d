//! Per-layer curves by family (figure 5).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::common::{LegendEntry, LegendKind, TickedAxis, draw_legend, grid, panel_titled, titled, y_range};
use crate::error::{PlotError, Result};
use crate::figure::{DrawResult, Figure, Paint};
use crate::style::{Family, Theme, format_num, format_params, lighten, palette, sizes};

/// One model's score at each layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerCurve {
    /// Model name.
    pub label: String,
    /// Family (panel and colour).
    pub family: Family,
    /// Number of parameters (raw count; larger models are drawn darker).
    pub n_params: f64,
    /// Relative depth of each layer, 0 (embeddings) to 1 (last layer).
    pub depth: Vec<f64>,
    /// Score at each layer (same length as `depth`).
    pub score: Vec<f64>,
}

/// Input of [`layer_curves`].
///
/// ```
/// use brainscale_plot::{Family, LayerCurve, LayerCurves, layer_curves};
/// let curve = LayerCurve {
///     label: "gpt2".into(), family: Family::Gpt2, n_params: 1.24e8,
///     depth: vec![0.0, 0.5, 1.0], score: vec![0.05, 0.12, 0.09],
/// };
/// let fig = layer_curves(&LayerCurves::new(vec![curve]))?;
/// # Ok::<(), brainscale_plot::PlotError>(())
/// ```
#[derive(Clone, Debug)]
pub struct LayerCurves {
    /// One curve per model.
    pub curves: Vec<LayerCurve>,
    /// Figure title.
    pub title: String,
    /// y-axis label, with units.
    pub y_label: String,
    /// x-axis label.
    pub x_label: String,
}

impl LayerCurves {
    /// Defaults: titles for brain scores per layer.
    pub fn new(curves: Vec<LayerCurve>) -> LayerCurves {
        LayerCurves {
            curves,
            title: "Brain score across layers".into(),
            y_label: "brain score (mean Pearson r)".into(),
            x_label: "relative depth (layer / number of layers)".into(),
        }
    }
}

/// Figure 5: one panel per family (same axes everywhere), one line per model in the family's
/// colour, lighter for smaller and darker for larger models, a dot at each model's best layer,
/// and the models listed with their sizes beside each panel.
pub fn layer_curves(input: &LayerCurves) -> Result<Figure> {
    const NAME: &str = "layer_curves";
    if input.curves.is_empty() {
        return Err(PlotError::input(NAME, "curves", "at least one model", "none"));
    }
    for c in &input.curves {
        if c.depth.len() != c.score.len() || c.depth.is_empty() {
            return Err(PlotError::input(
                NAME,
                format!("layers of {}", c.label),
                "as many scores as depths, at least one",
                format!("{} depths and {} scores", c.depth.len(), c.score.len()),
            ));
        }
        if c.depth.iter().chain(&c.score).any(|v| !v.is_finite()) {
            return Err(PlotError::input(NAME, format!("layers of {}", c.label), "finite numbers", "NaN or infinity"));
        }
    }
    let mut families: Vec<Family> = input.curves.iter().map(|c| c.family).collect();
    families.sort();
    families.dedup();
    Figure::render(NAME, &LayerPainter { input, families })
}

struct LayerPainter<'a> {
    input: &'a LayerCurves,
    families: Vec<Family>,
}

const COLUMNS: usize = 2;

impl Paint for LayerPainter<'_> {
    fn size(&self) -> (u32, u32) {
        let columns = self.families.len().clamp(1, COLUMNS) as u32;
        let rows = self.families.len().div_ceil(COLUMNS) as u32;
        let most = self
            .families
            .iter()
            .map(|f| self.input.curves.iter().filter(|c| c.family == *f).count())
            .max()
            .unwrap_or(1) as u32;
        (500 * columns, 60 + rows * (260 + 20 * most.saturating_sub(6)))
    }

    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, t: &Theme) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let s = self.input;
        let body = titled(root, t, &s.title, "darker lines: larger models; dot: best layer")?;
        let y = y_range(s.curves.iter().flat_map(|c| c.score.iter().copied()));
        let columns = self.families.len().clamp(1, COLUMNS);
        for (panel, &family) in grid(&body, self.families.len(), columns).iter().zip(&self.families) {
            let mut curves: Vec<&LayerCurve> = s.curves.iter().filter(|c| c.family == family).collect();
            curves.sort_by(|a, b| a.n_params.total_cmp(&b.n_params));
            let k = curves.len();
            let shade = |i: usize| if k > 1 { 0.6 * (1.0 - i as f64 / (k - 1) as f64) } else { 0.0 };
            let area = panel_titled(panel, t, family.display_name(), "")?;
            let (plot, legend) = area.split_horizontally(area.dim_in_pixel().0 as i32 - t.px(165.0));
            let mut chart = ChartBuilder::on(&plot)
                .margin_left(t.px(4.0))
                .margin_right(t.px(12.0))
                .margin_top(t.px(6.0))
                .x_label_area_size(t.px(42.0))
                .y_label_area_size(t.px(66.0))
                .build_cartesian_2d(
                    TickedAxis::new(-0.02, 1.02, vec![0.0, 0.25, 0.5, 0.75, 1.0]),
                    TickedAxis::auto(y.0, y.1, 5),
                )?;
            let fx = |v: &f64| format_num(*v);
            chart
                .configure_mesh()
                .max_light_lines(0)
                .bold_line_style(palette::GRID.stroke_width(t.upx(1.0).max(1)))
                .axis_style(palette::MUTED.stroke_width(t.upx(1.0).max(1)))
                .label_style(t.text(sizes::TICK))
                .axis_desc_style(t.text(sizes::AXIS))
                .x_desc(&s.x_label)
                .y_desc(&s.y_label)
                .x_label_formatter(&fx)
                .y_label_formatter(&fx)
                .set_all_tick_mark_size(t.px(4.0))
                .draw()?;
            if y.0 < 0.0 && y.1 > 0.0 {
                // Signed scores (e.g. left − right): mark zero.
                chart.draw_series((0..26).step_by(2).map(|k| {
                    let (a, b) = (-0.02 + 1.04 * k as f64 / 26.0, -0.02 + 1.04 * (k + 1) as f64 / 26.0);
                    PathElement::new(vec![(a, 0.0), (b, 0.0)], palette::GREY.stroke_width(t.upx(1.2)))
                }))?;
            }
            let mut entries = Vec::new();
            for (i, c) in curves.iter().enumerate() {
                let color = lighten(family.color(), shade(i));
                let pts: Vec<(f64, f64)> = c.depth.iter().copied().zip(c.score.iter().copied()).collect();
                chart.draw_series(std::iter::once(PathElement::new(pts.clone(), color.stroke_width(t.upx(2.0)))))?;
                if let Some(best) = pts.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1)) {
                    chart.draw_series(std::iter::once(Circle::new(best, t.px(3.5), color.filled())))?;
                }
                entries.push(LegendEntry {
                    label: format!("{} ({})", c.label, format_params(c.n_params)),
                    color,
                    kind: LegendKind::Line,
                });
            }
            draw_legend(&legend, t, "", &entries, 8.0)?;
        }
        Ok(())
    }
}
