//! Inline display in evcxr Jupyter notebooks: tables as HTML, short summaries of a dataset, a
//! fit and a study's statistics.
//!
//! evcxr shows the value of a cell's last expression by calling its `evcxr_display` method
//! when it has one (figures have theirs: [`crate::plot::Figure::evcxr_display`]). The
//! [`Show`] trait turns a polars [`DataFrame`], a [`Dataset`], a [`FitResult`] or an
//! [`Analysis`] into [`Html`], which has that method:
//!
//! ```
//! use brainscale::polars::prelude::*;
//! use brainscale::show::Show;
//! // In a notebook, `study.models_frame()?.show()` as a cell's last line: an HTML table.
//! let models = df!("model" => ["gpt2", "opt-125m"], "brain_score" => [0.071, 0.068])?;
//! let html = models.show();
//! assert!(html.as_str().contains("<table") && html.as_str().contains("opt-125m"));
//! # Ok::<(), PolarsError>(())
//! ```
//!
//! A table of more than [`MAX_ROWS`] rows shows its first and last [`CUT_ROWS`] (as pandas
//! does; [`table`] takes another limit);
//! numbers are rounded to 4 significant digits for reading (the DataFrame keeps them all).

use std::fmt::Write;

use brainscale_data::Dataset;
use brainscale_plot::{escape, format_p};
use polars::prelude::{AnyValue, DataFrame};

use crate::analysis::Analysis;
use crate::encoding::FitResult;
use crate::tables::{layer_summaries, reliable_mask};

/// Tables of up to this many rows are shown whole.
pub const MAX_ROWS: usize = 20;

/// Rows shown of a longer table: its first and last ones.
pub const CUT_ROWS: usize = 10;

/// An HTML fragment that evcxr shows inline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Html(pub String);

impl Html {
    /// The text evcxr reads to show the fragment as `text/html`.
    pub fn evcxr_content(&self) -> String {
        format!("EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT\n", self.0)
    }

    /// Shows the fragment inline in an evcxr notebook (evcxr calls this method when a cell's
    /// value is an `Html`); outside a notebook it prints the same text to stdout.
    pub fn evcxr_display(&self) {
        print!("{}", self.evcxr_content());
    }

    /// The HTML text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Html {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Things a notebook shows: `value.show()` as a cell's last expression.
pub trait Show {
    /// The HTML view.
    fn show(&self) -> Html;
}

impl Show for DataFrame {
    fn show(&self) -> Html {
        table(self, MAX_ROWS)
    }
}

/// A number for reading: 4 significant digits, scientific notation when very small or large.
fn number(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let magnitude = x.abs().log10().floor();
    if !(-3.0..6.0).contains(&magnitude) {
        return format!("{x:.3e}");
    }
    let decimals = (3.0 - magnitude).max(0.0) as usize;
    format!("{x:.decimals$}")
}

/// An integer with thousands separators.
fn integer(x: i128) -> String {
    let digits = x.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0 { format!("-{out}") } else { out }
}

/// One cell: its text and whether it is a number (right-aligned).
fn cell(v: &AnyValue<'_>) -> (String, bool) {
    match v {
        AnyValue::Null => ("null".into(), false),
        AnyValue::Boolean(b) => (b.to_string(), false),
        AnyValue::String(s) => ((*s).to_owned(), false),
        AnyValue::StringOwned(s) => (s.to_string(), false),
        AnyValue::Float32(x) => (number(*x as f64), true),
        AnyValue::Float64(x) => (number(*x), true),
        AnyValue::UInt8(x) => (integer(*x as i128), true),
        AnyValue::UInt16(x) => (integer(*x as i128), true),
        AnyValue::UInt32(x) => (integer(*x as i128), true),
        AnyValue::UInt64(x) => (integer(*x as i128), true),
        AnyValue::Int8(x) => (integer(*x as i128), true),
        AnyValue::Int16(x) => (integer(*x as i128), true),
        AnyValue::Int32(x) => (integer(*x as i128), true),
        AnyValue::Int64(x) => (integer(*x as i128), true),
        other => (other.to_string(), false),
    }
}

/// An HTML table of `df`: whole up to `max_rows` rows, else its first and last rows
/// (`min(max_rows, CUT_ROWS)` in all).
pub fn table(df: &DataFrame, max_rows: usize) -> Html {
    let (height, width) = df.shape();
    let rows: Vec<Option<usize>> = if height <= max_rows.max(2) {
        (0..height).map(Some).collect()
    } else {
        let shown = max_rows.clamp(2, CUT_ROWS);
        let tail = shown / 2;
        let head = shown - tail;
        (0..head).map(Some).chain([None]).chain((height - tail..height).map(Some)).collect()
    };
    let mut h = String::from("<table class=\"brainscale\">\n<thead><tr>");
    for c in df.columns() {
        let _ = write!(
            h,
            "<th style=\"text-align:{}\">{}<br><small style=\"font-weight:normal\">{}</small></th>",
            if c.dtype().is_primitive_numeric() { "right" } else { "left" },
            escape(c.name()),
            escape(&c.dtype().to_string())
        );
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        h.push_str("<tr>");
        match row {
            None => {
                for _ in 0..width {
                    h.push_str("<td>…</td>");
                }
            }
            Some(i) => {
                for c in df.columns() {
                    let (text, numeric) = c.get(i).map(|v| cell(&v)).unwrap_or_else(|e| (e.to_string(), false));
                    // Jupyter right-aligns every cell: text is set back to the left.
                    let align = if numeric { "right" } else { "left" };
                    let _ = write!(h, "<td style=\"text-align:{align}\">{}</td>", escape(&text));
                }
            }
        }
        h.push_str("</tr>\n");
    }
    let _ = write!(
        h,
        "</tbody>\n</table>\n<small>{height} row{} × {width} column{}</small>",
        if height == 1 { "" } else { "s" },
        if width == 1 { "" } else { "s" }
    );
    Html(h)
}

/// A two-column table of (label, value) rows, the values already HTML.
fn facts(title: &str, rows: &[(&str, String)]) -> String {
    let mut h = format!("<b>{}</b>\n<table class=\"brainscale\">\n", escape(title));
    for (label, value) in rows {
        let _ = writeln!(
            h,
            "<tr><th style=\"text-align:left\">{}</th><td style=\"text-align:left\">{value}</td></tr>",
            escape(label)
        );
    }
    h.push_str("</table>\n");
    h
}

/// A plain table: header and rows of already-escaped cells; the first column (names) to the
/// left, the others (numbers) to the right.
fn grid(header: &[&str], rows: &[Vec<String>]) -> String {
    let align = |j: usize| if j == 0 { "left" } else { "right" };
    let mut h = String::from("<table class=\"brainscale\">\n<thead><tr>");
    for (j, c) in header.iter().enumerate() {
        let _ = write!(h, "<th style=\"text-align:{}\">{}</th>", align(j), escape(c));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for r in rows {
        h.push_str("<tr>");
        for (j, c) in r.iter().enumerate() {
            let _ = write!(h, "<td style=\"text-align:{}\">{c}</td>", align(j));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
    h
}

fn opt(x: Option<f64>) -> String {
    x.map_or("–".into(), number)
}

fn estimate(e: &brainscale_stats::Estimate) -> String {
    format!("{} [{}, {}]", number(e.value), number(e.ci.lo), number(e.ci.hi))
}

impl Show for Dataset {
    fn show(&self) -> Html {
        let runs = self.runs();
        let scans: Vec<usize> = runs.iter().map(|r| r.n_scans).collect();
        let words: usize = runs.iter().map(|r| r.words.len()).sum();
        let (lo, hi) = (scans.iter().min().copied().unwrap_or(0), scans.iter().max().copied().unwrap_or(0));
        let scans = if lo == hi { format!("{lo} per run") } else { format!("{lo} to {hi} per run") };
        let rois = self.roi_names();
        Html(facts(
            &format!("dataset {}", self.name()),
            &[
                ("folder", escape(&self.root().display().to_string())),
                ("runs", runs.len().to_string()),
                ("scans", format!("{scans}, TR {} s", self.tr())),
                ("words", integer(words as i128)),
                ("voxels", integer(self.mask().n_voxels() as i128)),
                ("reliability map", if self.reliability_path().is_some() { "yes" } else { "no" }.into()),
                ("ROIs", if rois.is_empty() { "none".into() } else { escape(&rois.join(", ")) }),
            ],
        ))
    }
}

impl Show for FitResult {
    fn show(&self) -> Html {
        let f = &self.features;
        let reliable = reliable_mask(self);
        let n_rel = reliable.as_ref().map(|m| m.iter().filter(|&&b| b).count());
        // The paper's brain score: each voxel's r at its best layer, averaged over reliable voxels.
        let n = self.mask.n_voxels();
        let best_r: Vec<f64> =
            (0..n).map(|v| self.layers.iter().map(|l| l.r[v] as f64).fold(f64::NEG_INFINITY, f64::max)).collect();
        let kept: Vec<f64> = best_r
            .iter()
            .enumerate()
            .filter(|(v, _)| reliable.as_ref().is_none_or(|m| m[*v]))
            .map(|(_, r)| *r)
            .collect();
        let brain_score = (!kept.is_empty()).then(|| kept.iter().sum::<f64>() / kept.len() as f64);
        let layers = layer_summaries(self);
        let best = layers
            .iter()
            .max_by(|a, b| a.mean_r_reliable.unwrap_or(a.mean_r).total_cmp(&b.mean_r_reliable.unwrap_or(b.mean_r)));
        let mut h = facts(
            &format!("fit of {} on {}", f.model, self.dataset),
            &[
                (
                    "model",
                    format!(
                        "{} (family {}, {})",
                        escape(&f.model),
                        escape(&f.family),
                        f.n_params.map_or("no parameter count".into(), |p| format!(
                            "{} parameters",
                            brainscale_plot::format_params(p as f64)
                        ))
                    ),
                ),
                (
                    "voxels",
                    format!(
                        "{} ({} reliable)",
                        integer(self.mask.n_voxels() as i128),
                        n_rel.map_or("no reliability map".into(), |n| integer(n as i128))
                    ),
                ),
                (
                    "settings",
                    format!(
                        "cv {}, hrf {}, {} alphas",
                        self.params.cv.name(),
                        self.params.hrf.name(),
                        self.params.alphas.len()
                    ),
                ),
                (
                    "brain score",
                    format!(
                        "{} (mean over {} of each voxel's r at its best layer)",
                        opt(brain_score),
                        if n_rel.is_some() { "the reliable voxels" } else { "all voxels" }
                    ),
                ),
                (
                    "best layer",
                    best.map_or("–".into(), |b| {
                        format!(
                            "{} (mean r over reliable voxels {})",
                            b.layer,
                            opt(b.mean_r_reliable.or(Some(b.mean_r)))
                        )
                    }),
                ),
            ],
        );
        let rows: Vec<Vec<String>> = layers
            .iter()
            .map(|l| {
                vec![
                    l.layer.to_string(),
                    number(l.mean_r),
                    opt(l.mean_r_reliable),
                    opt(l.left_paper.zip(l.right_paper).map(|(a, b)| a - b)),
                    opt(l.lr_reliable_paper),
                    l.n_edge_alphas.to_string(),
                ]
            })
            .collect();
        h += &grid(
            &["layer", "mean r", "mean r (reliable)", "L − R", "L − R (reliable)", "folds with alpha on grid edge"],
            &rows,
        );
        Html(h)
    }
}

impl Show for Analysis {
    fn show(&self) -> Html {
        let s = &self.scaling;
        let l = &self.lateralization;
        let perm = &self.lateralization_permutation;
        let mut h = facts(
            &format!("statistics over {} models", self.models.len()),
            &[
                (
                    "scaling law",
                    format!(
                        "brain score = {} + {} × log10(parameters); slope 95% CI [{}, {}], r = {}, p = {}",
                        number(s.intercept.value),
                        number(s.slope.value),
                        number(s.slope.ci.lo),
                        number(s.slope.ci.hi),
                        number(s.r),
                        format_p(self.scaling_p)
                    ),
                ),
                (
                    "left slope (reliable voxels)",
                    format!("{}, p = {}", estimate(&l.left.slope), format_p(l.left.slope.p)),
                ),
                (
                    "right slope (reliable voxels)",
                    format!("{}, p = {}", estimate(&l.right.slope), format_p(l.right.slope.p)),
                ),
                (
                    "L − R slope",
                    format!(
                        "{}, t = {}, p = {}",
                        estimate(&l.difference.slope),
                        number(l.difference.slope.t),
                        format_p(l.difference.slope.p)
                    ),
                ),
                (
                    "permutation test of the L − R slope",
                    format!(
                        "p = {} ({} permutations of the models{})",
                        format_p(perm.p),
                        integer(perm.n_resamples as i128),
                        if self.stratified { ", within family" } else { "" }
                    ),
                ),
                (
                    "left-lateralised scaling",
                    if self.left_lateralised_scaling() { "yes" } else { "no" }.to_string()
                        + " (both slopes > 0 with p < 0.05, permutation p < 0.05)",
                ),
            ],
        );
        if let Some(m) = &self.multiple {
            h += &format!(
                "<b>multiple regression</b> of the brain score (R² = {}, adjusted {}, F p = {})\n",
                number(m.r2),
                number(m.r2_adjusted),
                format_p(m.f_p)
            );
            let rows: Vec<Vec<String>> = m
                .names
                .iter()
                .zip(&m.coefficients)
                .map(|(n, e)| vec![escape(n), estimate(e), number(e.t), format_p(e.p)])
                .collect();
            h += &grid(&["term", "coefficient [95% CI]", "t", "p"], &rows);
        }
        if !self.rois.is_empty() {
            h += "<b>ROI slopes</b> of r on log10(parameters)\n";
            let rows: Vec<Vec<String>> = self
                .rois
                .iter()
                .map(|r| {
                    vec![
                        escape(&r.name),
                        estimate(&r.slopes.left.slope),
                        estimate(&r.slopes.right.slope),
                        format_p(r.slopes.difference.slope.p),
                    ]
                })
                .collect();
            h += &grid(&["ROI", "left [95% CI]", "right [95% CI]", "L vs R p"], &rows);
        }
        if !self.baselines.is_empty() {
            let rows: Vec<Vec<String>> = self.baselines.iter().map(|(n, lr)| vec![escape(n), number(*lr)]).collect();
            h += "<b>baselines</b> (no parameter count)\n";
            h += &grid(&["baseline", "L − R (reliable voxels)"], &rows);
        }
        Html(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::Column;

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(0.051234), "0.05123");
        assert_eq!(number(-1.5), "-1.500");
        assert_eq!(number(12345.6), "12346");
        assert_eq!(number(1.2e-8), "1.200e-8");
        assert_eq!(number(0.0), "0");
        assert_eq!(integer(1_500_000_000), "1,500,000,000");
        assert_eq!(integer(-12_345), "-12,345");
        assert_eq!(integer(2024), "2,024");
        assert_eq!(integer(999), "999");
    }

    #[test]
    fn long_tables_are_cut_and_escaped() {
        let n = 100;
        let df = DataFrame::new(
            n,
            vec![
                Column::new("model<".into(), (0..n).map(|i| format!("m{i}")).collect::<Vec<_>>()),
                Column::new("r".into(), (0..n).map(|i| i as f64 / 1000.0).collect::<Vec<_>>()),
                Column::new("n".into(), (0..n).map(|i| (i != 3).then_some(i as u64)).collect::<Vec<_>>()),
            ],
        )
        .unwrap();
        let h = df.show().0;
        assert!(h.contains("model&lt;") && !h.contains("model<"), "{h}");
        assert_eq!(h.matches("<tr>").count(), 1 + CUT_ROWS + 1, "header, rows, ellipsis: {h}");
        assert!(h.contains(">m0<") && h.contains(">m99<") && !h.contains(">m50<"));
        assert!(h.contains("<td style=\"text-align:left\">m0</td>"), "text to the left: {h}");
        assert!(h.contains("100 rows × 3 columns"));
        assert!(h.contains(">null<") && h.contains(">0.09900<"), "{h}");
        let small = table(&df.head(Some(3)), MAX_ROWS).0;
        assert_eq!(small.matches("<tr>").count(), 4);
        assert!(!small.contains('…'));
        let whole = df.head(Some(MAX_ROWS)).show().0;
        assert_eq!(whole.matches("<tr>").count(), 1 + MAX_ROWS, "up to MAX_ROWS rows, the whole table");
    }

    #[test]
    fn html_is_evcxr_content() {
        let html = Html("<b>x</b>".into());
        assert_eq!(html.to_string(), "<b>x</b>");
        assert_eq!(html.evcxr_content(), "EVCXR_BEGIN_CONTENT text/html\n<b>x</b>\nEVCXR_END_CONTENT\n");
    }

    /// The summaries of a dataset and a fit on a small synthetic dataset: the brain score is
    /// the mean over reliable voxels of each voxel's best-layer r.
    #[test]
    fn a_dataset_and_a_fit_are_summarised() {
        use brainscale_data::Features;
        use brainscale_data::synth::{SynthParams, write_dataset};

        use crate::encoding::{FitParams, fit_features};
        use crate::progress::Progress;

        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), &SynthParams { n_runs: 3, n_scans: 40, ..SynthParams::small(5) }).unwrap();
        let dataset = Dataset::open(dir.path()).unwrap();
        let h = dataset.show().0;
        assert!(h.contains("<td style=\"text-align:left\">3</td>") && h.contains("40 per run, TR 2 s"), "{h}");

        let truth = Features::open(&dir.path().join("truth/features")).unwrap();
        let params = FitParams { alphas: brainscale_core::ridge::logspace(0.0, 3.0, 4), ..FitParams::default() };
        let fit = fit_features(&dataset, &truth, &params, None, Progress::Quiet).unwrap();
        let reliable = reliable_mask(&fit).unwrap();
        let kept: Vec<f64> =
            fit.layers[0].r.iter().zip(&reliable).filter(|(_, k)| **k).map(|(r, _)| *r as f64).collect();
        let score = kept.iter().sum::<f64>() / kept.len() as f64;
        let h = fit.show().0;
        assert!(
            h.contains(&format!("<td style=\"text-align:left\">{} (mean over the reliable voxels", number(score))),
            "{h}"
        );
        assert_eq!(h.matches("<tr><td").count(), fit.layers.len(), "one row per layer: {h}");
    }
}
