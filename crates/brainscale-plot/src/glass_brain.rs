//! Glass-brain maps (figure 8): maximum-intensity projections of a voxel map in sagittal,
//! coronal and axial views over the outline of the mask, with a colour bar.

use brainscale_data::Mask;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::common::titled;
use crate::error::{PlotError, Result};
use crate::figure::{DrawResult, Figure, Paint};
use crate::style::{Theme, format_num, palette, sizes};

/// How values map to colours.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum ColorScale {
    /// Chosen from the data: diverging with symmetric limits ±max|v| when the map has values of
    /// both signs (the negative side reaching at least 10% of the positive side) or only
    /// negative values; otherwise sequential from the threshold (or 0, or the minimum when it
    /// is positive) to the maximum.
    #[default]
    Auto,
    /// Light yellow (low) to dark red (high), clipped to `[vmin, vmax]`.
    Sequential {
        /// Value at the light end.
        vmin: f64,
        /// Value at the dark end.
        vmax: f64,
    },
    /// Blue (negative) through white (0) to red (positive), limits `[-vmax, vmax]`.
    Diverging {
        /// Limit of both ends.
        vmax: f64,
    },
}

/// Input of [`glass_brain`]: a voxel map on a mask.
///
/// ```
/// use brainscale_data::Mask;
/// use brainscale_plot::{GlassBrain, glass_brain};
/// let affine = [[4.0, 0.0, 0.0, -20.0], [0.0, 4.0, 0.0, -24.0], [0.0, 0.0, 4.0, -16.0], [0.0, 0.0, 0.0, 1.0]];
/// let mask = Mask::from_fn([11, 13, 9], affine, |[i, j, k]| {
///     let (x, y, z) = (i as f64 - 5.0, j as f64 - 6.0, k as f64 - 4.0);
///     (x / 5.5).powi(2) + (y / 6.5).powi(2) + (z / 4.5).powi(2) <= 1.0
/// })?;
/// let values: Vec<f32> = mask.xyz().iter().map(|p| (-p[0] / 20.0) as f32).collect();
/// let fig = glass_brain(&GlassBrain::new(&mask, &values, "left minus right"))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct GlassBrain<'a> {
    /// The mask: grid, affine and voxel order.
    pub mask: &'a Mask,
    /// One value per mask voxel, in mask order (NaN = not drawn).
    pub values: &'a [f32],
    /// Figure title.
    pub title: String,
    /// Label of the colour bar (what the values are, with units).
    pub colorbar_label: String,
    /// Colour mapping.
    pub scale: ColorScale,
    /// Voxels with |value| at or below it are not drawn (e.g. a significance threshold).
    pub threshold: Option<f64>,
}

impl<'a> GlassBrain<'a> {
    /// A map with an automatic colour scale, no threshold, and `title` (also the colour bar
    /// label until changed).
    pub fn new(mask: &'a Mask, values: &'a [f32], title: &str) -> GlassBrain<'a> {
        GlassBrain {
            mask,
            values,
            title: title.to_string(),
            colorbar_label: title.to_string(),
            scale: ColorScale::Auto,
            threshold: None,
        }
    }
}

/// Figure 8: maximum-intensity projections of a voxel map (the value of largest magnitude
/// along each line of sight for a diverging scale, the largest value for a sequential one)
/// seen from the side (sagittal, anterior to the right), the back (coronal) and above (axial),
/// left hemisphere on the left (neurological convention), over the mask's own outline, with a
/// colour bar.
pub fn glass_brain(input: &GlassBrain<'_>) -> Result<Figure> {
    const NAME: &str = "glass_brain";
    let mask = input.mask;
    if input.values.len() != mask.n_voxels() {
        return Err(PlotError::input(
            NAME,
            "values",
            format!("{} (one per mask voxel, in mask order)", mask.n_voxels()),
            input.values.len(),
        ));
    }
    let threshold = input.threshold.unwrap_or(f64::NEG_INFINITY);
    let shown = |v: f64| v.is_finite() && (input.threshold.is_none() || v.abs() > threshold);
    let (lo, hi) = input
        .values
        .iter()
        .map(|&v| v as f64)
        .filter(|&v| shown(v))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let scale = match input.scale {
        ColorScale::Auto if !lo.is_finite() => ColorScale::Sequential { vmin: 0.0, vmax: 1.0 },
        ColorScale::Auto if hi <= 0.0 || (lo < 0.0 && -lo >= 0.1 * hi) => {
            ColorScale::Diverging { vmax: lo.abs().max(hi.abs()).max(1e-12) }
        }
        ColorScale::Auto => {
            let vmin = input.threshold.unwrap_or(if lo > 0.0 { lo } else { 0.0 });
            ColorScale::Sequential { vmin, vmax: hi.max(vmin + 1e-12) }
        }
        other => other,
    };
    let step = voxel_size(mask);
    let views = [View::Sagittal, View::Coronal, View::Axial]
        .map(|view| project(mask, input.values, view, step, &shown, matches!(scale, ColorScale::Diverging { .. })));
    Figure::render(NAME, &BrainPainter { input, scale, views, n_shown: count_shown(input.values, &shown) })
}

fn count_shown(values: &[f32], shown: &impl Fn(f64) -> bool) -> usize {
    values.iter().filter(|&&v| shown(v as f64)).count()
}

/// The smallest voxel edge (mm), from the affine's column norms.
fn voxel_size(mask: &Mask) -> f64 {
    let a = mask.affine();
    (0..3).map(|c| (0..3).map(|r| a[r][c] * a[r][c]).sum::<f64>().sqrt()).fold(f64::INFINITY, f64::min).max(1e-6)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum View {
    Sagittal,
    Coronal,
    Axial,
}

impl View {
    /// World axes shown horizontally and vertically.
    fn axes(self) -> (usize, usize) {
        match self {
            View::Sagittal => (1, 2),
            View::Coronal => (0, 2),
            View::Axial => (0, 1),
        }
    }

    fn name(self) -> &'static str {
        match self {
            View::Sagittal => "sagittal",
            View::Coronal => "coronal",
            View::Axial => "axial",
        }
    }

    /// Orientation letters at the left and right ends of the horizontal axis.
    fn ends(self) -> (&'static str, &'static str) {
        match self {
            View::Sagittal => ("P", "A"),
            _ => ("L", "R"),
        }
    }
}

/// One projection: a raster of `nu x nv` cells (v upwards) with the mask's silhouette and the
/// projected value of each cell.
struct Projection {
    view: View,
    nu: usize,
    nv: usize,
    inside: Vec<bool>,
    value: Vec<f64>,
}

fn project(
    mask: &Mask,
    values: &[f32],
    view: View,
    step: f64,
    shown: &impl Fn(f64) -> bool,
    signed: bool,
) -> Projection {
    let (au, av) = view.axes();
    let xyz = mask.xyz();
    let min = |a: usize| xyz.iter().map(|p| p[a]).fold(f64::INFINITY, f64::min);
    let max = |a: usize| xyz.iter().map(|p| p[a]).fold(f64::NEG_INFINITY, f64::max);
    let (u0, v0) = (min(au), min(av));
    let nu = ((max(au) - u0) / step).round() as usize + 1;
    let nv = ((max(av) - v0) / step).round() as usize + 1;
    let mut inside = vec![false; nu * nv];
    let mut value = vec![f64::NAN; nu * nv];
    for (p, &v) in xyz.iter().zip(values) {
        let iu = (((p[au] - u0) / step).round() as usize).min(nu - 1);
        let iv = (((p[av] - v0) / step).round() as usize).min(nv - 1);
        let c = iv * nu + iu;
        inside[c] = true;
        let v = v as f64;
        if shown(v) {
            let better = if signed { v.abs() > value[c].abs() } else { v > value[c] };
            if value[c].is_nan() || better {
                value[c] = v;
            }
        }
    }
    Projection { view, nu, nv, inside, value }
}

struct BrainPainter<'a, 'b> {
    input: &'b GlassBrain<'a>,
    scale: ColorScale,
    views: [Projection; 3],
    n_shown: usize,
}

impl Paint for BrainPainter<'_, '_> {
    fn size(&self) -> (u32, u32) {
        (1100, 470)
    }

    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, t: &Theme) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let s = self.input;
        let mut subtitle = format!(
            "maximum-intensity projections; {} of {} voxels shown",
            crate::distributions::thousands(self.n_shown),
            crate::distributions::thousands(s.values.len())
        );
        if let Some(th) = s.threshold {
            subtitle.push_str(&format!(" (|value| > {})", format_num(th)));
        }
        let body = titled(root, t, &s.title, &subtitle)?;
        let (w, h) = body.dim_in_pixel();
        let (maps, bar) = body.split_vertically(h as i32 - t.px(78.0));
        // Widths proportional to each view's extent, one common scale.
        let total_u: usize = self.views.iter().map(|p| p.nu).sum();
        let max_v = self.views.iter().map(|p| p.nv).max().unwrap_or(1);
        let gap = t.px(24.0) as f64;
        let label_h = t.px(24.0) as f64;
        let (mw, mh) = maps.dim_in_pixel();
        let cell =
            ((mw as f64 - gap * 4.0) / total_u as f64).min((mh as f64 - label_h - t.px(10.0) as f64) / max_v as f64);
        let used = cell * total_u as f64 + gap * 2.0;
        let mut x0 = ((w as f64 - used) / 2.0).max(0.0);
        for p in &self.views {
            let y0 = label_h + (max_v - p.nv) as f64 * cell / 2.0;
            draw_projection(&maps, t, p, (x0, y0), cell, self.scale, label_h - t.px(4.0) as f64)?;
            x0 += p.nu as f64 * cell + gap;
        }
        draw_colorbar(&bar, t, self.scale, &s.colorbar_label)?;
        Ok(())
    }
}

fn draw_projection<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: &Theme,
    p: &Projection,
    (x0, y0): (f64, f64),
    cell: f64,
    scale: ColorScale,
    label_y: f64,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let px = |iu: f64, row_from_top: f64| ((x0 + iu * cell).round() as i32, (y0 + row_from_top * cell).round() as i32);
    let silhouette = RGBColor(0xF0, 0xF0, 0xF0);
    // Rows top to bottom; runs of equal colour merged into one rectangle.
    for row in 0..p.nv {
        let iv = p.nv - 1 - row;
        let mut iu = 0;
        while iu < p.nu {
            let c = iv * p.nu + iu;
            let color = if !p.value[c].is_nan() {
                Some(colormap(scale, p.value[c]))
            } else if p.inside[c] {
                Some(silhouette)
            } else {
                None
            };
            let mut end = iu + 1;
            while end < p.nu {
                let c2 = iv * p.nu + end;
                let color2 = if !p.value[c2].is_nan() {
                    Some(colormap(scale, p.value[c2]))
                } else if p.inside[c2] {
                    Some(silhouette)
                } else {
                    None
                };
                if color2 != color {
                    break;
                }
                end += 1;
            }
            if let Some(col) = color {
                area.draw(&Rectangle::new(
                    [px(iu as f64, row as f64), px(end as f64, row as f64 + 1.0)],
                    col.filled(),
                ))?;
            }
            iu = end;
        }
    }
    // Outline: marching squares on the smoothed silhouette (cell centres as grid points).
    let style = palette::MUTED.stroke_width(t.upx(1.2).max(1));
    for seg in outline(p) {
        let a = px(seg[0].0 + 0.5, (p.nv as f64 - 1.0 - seg[0].1) + 0.5);
        let b = px(seg[1].0 + 0.5, (p.nv as f64 - 1.0 - seg[1].1) + 0.5);
        area.draw(&PathElement::new(vec![a, b], style))?;
    }
    let centre = x0 + p.nu as f64 * cell / 2.0;
    let top = label_y;
    let label = t.text(sizes::NOTE).pos(Pos::new(HPos::Center, VPos::Bottom));
    area.draw(&Text::new(p.view.name(), (centre.round() as i32, top.round() as i32), label))?;
    let (l, r) = p.view.ends();
    let bottom = (y0 + p.nv as f64 * cell).round() as i32;
    let end_style = |h| t.bold(sizes::NOTE).color(&palette::MUTED).pos(Pos::new(h, VPos::Bottom));
    area.draw(&Text::new(l, (x0.round() as i32, bottom), end_style(HPos::Left)))?;
    area.draw(&Text::new(r, ((x0 + p.nu as f64 * cell).round() as i32, bottom), end_style(HPos::Right)))?;
    Ok(())
}

/// Line segments (in cell units, v upwards) of the contour at [`OUTLINE_LEVEL`] of the silhouette
/// smoothed by a 3 x 3 binomial kernel.
/// The contour level of the outline: below 0.5 so that the smooth line stays just outside the
/// voxels at corners (0.5 would cut through them).
const OUTLINE_LEVEL: f64 = 0.3;

fn outline(p: &Projection) -> Vec<[(f64, f64); 2]> {
    let (nu, nv) = (p.nu as isize + 2, p.nv as isize + 2);
    let at = |u: isize, v: isize| -> f64 {
        let (u, v) = (u - 1, v - 1);
        if u < 0 || v < 0 || u >= p.nu as isize || v >= p.nv as isize {
            0.0
        } else if p.inside[v as usize * p.nu + u as usize] {
            1.0
        } else {
            0.0
        }
    };
    let w = [1.0, 2.0, 1.0];
    let smooth: Vec<f64> = (0..nv)
        .flat_map(|v| (0..nu).map(move |u| (u, v)))
        .map(|(u, v)| {
            let mut s = 0.0;
            for dv in -1..=1isize {
                for du in -1..=1isize {
                    s += w[(du + 1) as usize] * w[(dv + 1) as usize] * at(u + du, v + dv);
                }
            }
            s / 16.0
        })
        .collect();
    let f = |u: isize, v: isize| smooth[(v * nu + u) as usize];
    let mut segs = Vec::new();
    for v in 0..nv - 1 {
        for u in 0..nu - 1 {
            // Corners: 0 (u, v), 1 (u+1, v), 2 (u+1, v+1), 3 (u, v+1).
            let corners = [(u, v), (u + 1, v), (u + 1, v + 1), (u, v + 1)];
            let vals = corners.map(|(a, b)| f(a, b));
            let case = vals.iter().enumerate().fold(0, |acc, (i, &x)| acc | (((x >= OUTLINE_LEVEL) as usize) << i));
            if case == 0 || case == 15 {
                continue;
            }
            let edge = |i: usize| {
                let j = (i + 1) % 4;
                let (a, b) = (corners[i], corners[j]);
                let tt = (OUTLINE_LEVEL - vals[i]) / (vals[j] - vals[i]);
                // Shift back by the one-cell padding.
                (a.0 as f64 + tt * (b.0 - a.0) as f64 - 1.0, a.1 as f64 + tt * (b.1 - a.1) as f64 - 1.0)
            };
            let crossing: Vec<usize> = (0..4).filter(|&i| ((case >> i) & 1) != ((case >> ((i + 1) % 4)) & 1)).collect();
            if crossing.len() == 2 {
                segs.push([edge(crossing[0]), edge(crossing[1])]);
            } else if crossing.len() == 4 {
                segs.push([edge(crossing[0]), edge(crossing[1])]);
                segs.push([edge(crossing[2]), edge(crossing[3])]);
            }
        }
    }
    segs
}

/// Anchors of the sequential map (ColorBrewer YlOrRd: lightness decreases monotonically).
const SEQUENTIAL: [(u8, u8, u8); 7] = [
    (0xFF, 0xED, 0xA0),
    (0xFE, 0xD9, 0x76),
    (0xFE, 0xB2, 0x4C),
    (0xFD, 0x8D, 0x3C),
    (0xF0, 0x3B, 0x20),
    (0xBD, 0x00, 0x26),
    (0x80, 0x00, 0x26),
];

/// Anchors of the diverging map (ColorBrewer RdBu, reversed: blue negative, red positive).
const DIVERGING: [(u8, u8, u8); 9] = [
    (0x21, 0x66, 0xAC),
    (0x43, 0x93, 0xC3),
    (0x92, 0xC5, 0xDE),
    (0xD1, 0xE5, 0xF0),
    (0xF7, 0xF7, 0xF7),
    (0xFD, 0xDB, 0xC7),
    (0xF4, 0xA5, 0x82),
    (0xD6, 0x60, 0x4D),
    (0xB2, 0x18, 0x2B),
];

fn interpolate(anchors: &[(u8, u8, u8)], f: f64) -> RGBColor {
    let f = f.clamp(0.0, 1.0) * (anchors.len() - 1) as f64;
    let i = (f.floor() as usize).min(anchors.len() - 2);
    let r = f - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + r * (b as f64 - a as f64)).round() as u8;
    let (a, b) = (anchors[i], anchors[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The colour of `v` under `scale` (`Auto` is resolved before drawing).
fn colormap(scale: ColorScale, v: f64) -> RGBColor {
    match scale {
        ColorScale::Diverging { vmax } => interpolate(&DIVERGING, 0.5 + 0.5 * v / vmax),
        ColorScale::Sequential { vmin, vmax } => interpolate(&SEQUENTIAL, (v - vmin) / (vmax - vmin)),
        ColorScale::Auto => interpolate(&SEQUENTIAL, v),
    }
}

fn draw_colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: &Theme,
    scale: ColorScale,
    label: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (w, _) = area.dim_in_pixel();
    let bar_w = t.px(360.0);
    let x0 = (w as i32 - bar_w) / 2;
    let (y0, y1) = (t.px(6.0), t.px(22.0));
    let (lo, hi) = match scale {
        ColorScale::Diverging { vmax } => (-vmax, vmax),
        ColorScale::Sequential { vmin, vmax } => (vmin, vmax),
        ColorScale::Auto => (0.0, 1.0),
    };
    let n = 120;
    for k in 0..n {
        let v = lo + (hi - lo) * (k as f64 + 0.5) / n as f64;
        let a = x0 + bar_w * k / n;
        let b = x0 + bar_w * (k + 1) / n;
        area.draw(&Rectangle::new([(a, y0), (b, y1)], colormap(scale, v).filled()))?;
    }
    area.draw(&Rectangle::new([(x0, y0), (x0 + bar_w, y1)], palette::MUTED.stroke_width(t.upx(1.0).max(1))))?;
    let ticks = crate::common::nice_ticks(lo, hi, 4);
    let tick_style = t.text(sizes::TICK).pos(Pos::new(HPos::Center, VPos::Top));
    for v in ticks {
        let x = x0 + ((v - lo) / (hi - lo) * bar_w as f64).round() as i32;
        area.draw(&PathElement::new(
            vec![(x, y1), (x, y1 + t.px(4.0))],
            palette::MUTED.stroke_width(t.upx(1.0).max(1)),
        ))?;
        area.draw(&Text::new(format_num(v), (x, y1 + t.px(6.0)), tick_style.clone()))?;
    }
    let label_style = t.text(sizes::AXIS).pos(Pos::new(HPos::Center, VPos::Top));
    area.draw(&Text::new(label.to_string(), (x0 + bar_w / 2, y1 + t.px(26.0)), label_style))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_scale_is_symmetric_for_signed_maps() {
        let affine = [[4.0, 0.0, 0.0, -8.0], [0.0, 4.0, 0.0, 0.0], [0.0, 0.0, 4.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
        let mask = Mask::from_fn([5, 3, 3], affine, |_| true).unwrap();
        let values: Vec<f32> = (0..mask.n_voxels()).map(|v| v as f32 / 10.0 - 1.5).collect();
        let fig = glass_brain(&GlassBrain::new(&mask, &values, "signed")).unwrap();
        let texts: Vec<&str> = fig.svg.split("</text>").filter_map(|s| s.rsplit('>').next()).map(str::trim).collect();
        assert!(texts.contains(&"-2") && texts.contains(&"2"), "symmetric colour bar ticks: {texts:?}");
        assert!(glass_brain(&GlassBrain::new(&mask, &values[1..], "short")).is_err());
    }

    #[test]
    fn colormaps_have_white_centre_and_monotone_ends() {
        assert_eq!(colormap(ColorScale::Diverging { vmax: 1.0 }, 0.0), RGBColor(0xF7, 0xF7, 0xF7));
        assert_eq!(colormap(ColorScale::Sequential { vmin: 0.0, vmax: 1.0 }, 2.0), RGBColor(0x80, 0x00, 0x26));
    }
}
