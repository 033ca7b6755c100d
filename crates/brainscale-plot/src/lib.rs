//! # brainscale-plot: the study's figures and its HTML report
//!
//! One function per figure of the study (Bonnasse-Gahot & Pallier 2024 and beyond), each
//! taking a small input struct of plain numbers and returning a [`Figure`]: the same drawing as
//! SVG and as PNG (at [`PNG_SCALE`]× the SVG's pixel size). Inputs are plain Rust values: no
//! DataFrames and no dependency on the statistics crate — fits come in as [`LineFit`]s
//! (slope, intercept, r, p, an optional band), estimates as [`Estimate`]s.
//!
//! | figure | function | input |
//! | --- | --- | --- |
//! | 1. reliability distribution with threshold | [`reliability_histogram`] | [`ReliabilityHistogram`] |
//! | 2. voxel scores of models vs baselines | [`score_distributions`] | [`ScoreDistributions`] |
//! | 3. score vs log(parameters), overall / per family | [`scaling`], [`scaling_by_family`] | [`Scaling`] |
//! | 4. left, right and L − R vs size | [`hemispheres`] | [`Hemispheres`] |
//! | 5. per-layer curves by family | [`layer_curves`] | [`LayerCurves`] |
//! | 6. ROI slopes with CIs and significance | [`roi_slopes`] | [`RoiSlopes`] |
//! | 7. ROI scores vs size | [`roi_scaling`] | [`RoiScaling`] |
//! | 8. glass-brain maps of any voxel map | [`glass_brain`] | [`GlassBrain`] |
//!
//! [`Report`] assembles figures, tables and notes into one self-contained `report.html`.
//!
//! ## The look
//!
//! One colour-blind-safe palette (Okabe-Ito, [`style::palette`]) with a fixed colour and marker
//! per model [`Family`] (baselines grey), left hemisphere vermillion and right blue; log-scale
//! parameter axes labelled `100M`, `1B`, `10B`; legends beside the plots, never over data;
//! fit summaries (r, p, slope per tenfold increase) in the titles. Text is DejaVu Sans,
//! embedded and registered with plotters' `ab_glyph` backend, so no system font library is
//! needed (license in `fonts/LICENSE-DejaVu.txt`).
//!
//! ## Quickstart
//!
//! ```
//! use brainscale_plot::{Family, LineFit, LogBase, ModelPoint, Report, Scaling, scaling};
//! let points: Vec<ModelPoint> = [("gpt2", 1.24e8, 0.101), ("gpt2-medium", 3.55e8, 0.118), ("gpt2-xl", 1.56e9, 0.139)]
//!     .iter()
//!     .map(|&(label, n, v)| ModelPoint { label: label.into(), family: Family::Gpt2, n_params: n, value: v })
//!     .collect();
//! let fit = LineFit { slope: 0.0149, intercept: -0.176, log_base: LogBase::E, r: 0.99, p: 0.04, band: None };
//! let figure = scaling(&Scaling { fit: Some(fit), ..Scaling::new(points) })?;
//! # let dir = tempfile::tempdir()?;
//! figure.save(dir.path().join("scaling"))?;               // scaling.svg + scaling.png
//! let mut report = Report::new("My study");
//! report.headline("Scaling slope", "+0.034 per 10× params").figure(&figure, "Brain score vs size");
//! report.save(dir.path().join("report.html"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! In an evcxr notebook a [`Figure`] shows itself inline (its `evcxr_display` method).
#![warn(missing_docs)]
// Library code never unwraps: errors are typed and returned (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod axes;
mod common;
mod distributions;
mod error;
mod figure;
mod glass_brain;
mod layers;
mod report;
mod roi;
mod scaling;
pub mod style;

pub use common::{Band, Estimate, LineFit, LogBase, ModelPoint, Reference, XAxis};
pub use distributions::{
    ReliabilityHistogram, ScoreDistributions, ScoreGroup, reliability_histogram, score_distributions,
};
pub use error::{PlotError, Result};
pub use figure::Figure;
pub use glass_brain::{ColorScale, GlassBrain, glass_brain};
pub use layers::{LayerCurve, LayerCurves, layer_curves};
pub use report::{Embed, Report, escape};
pub use roi::{RoiPanel, RoiScaling, RoiSlope, RoiSlopes, roi_scaling, roi_slopes};
pub use scaling::{HemispherePoint, Hemispheres, Scaling, hemispheres, scaling, scaling_by_family};
pub use style::{Family, Marker, PNG_SCALE, format_p, format_params, stars};
