//! [`Figure`]: one rendered figure (SVG text + PNG bytes), how it is saved and shown inline.

use std::path::{Path, PathBuf};

use base64::Engine;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{PlotError, Result};
use crate::style::{PNG_SCALE, Theme, ensure_fonts};

/// Errors of the drawing code (plotters' own, boxed); turned into [`PlotError::Draw`].
pub(crate) type DrawResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Something that draws itself on any plotters backend at a given scale.
pub(crate) trait Paint {
    /// Logical size (width, height) in pixels; the SVG has this size, the PNG is larger.
    fn size(&self) -> (u32, u32);
    /// Draws on `root` (already white).
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, t: &Theme) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// A rendered figure: the same drawing as SVG (vector, text as text) and as PNG (drawn at
/// twice the SVG's pixel size, so that it stays sharp).
///
/// ```no_run
/// # fn demo(fig: brainscale_plot::Figure) -> Result<(), brainscale_plot::PlotError> {
/// let paths = fig.save("results/figures/scaling")?; // scaling.svg + scaling.png
/// fig.evcxr_display();                              // inline in an evcxr notebook
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Figure {
    /// A short name for the figure (used for alt text in reports).
    pub name: String,
    /// The SVG document.
    pub svg: String,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
    /// Logical width in pixels (the SVG's; the PNG is [`PNG_SCALE`] times larger).
    pub width: u32,
    /// Logical height in pixels.
    pub height: u32,
}

impl Figure {
    /// Draws `painter` as SVG and PNG.
    pub(crate) fn render(name: &str, painter: &impl Paint) -> Result<Figure> {
        ensure_fonts();
        let (width, height) = painter.size();
        let draw_err = |e: Box<dyn std::error::Error + Send + Sync>| PlotError::Draw {
            figure: name.to_string(),
            message: e.to_string(),
        };

        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| draw_err(e.into()))?;
            painter.paint(&root, &Theme { s: 1.0 }).map_err(draw_err)?;
            root.present().map_err(|e| draw_err(e.into()))?;
        }

        let (pw, ph) = ((width as f64 * PNG_SCALE) as u32, (height as f64 * PNG_SCALE) as u32);
        let mut rgb = vec![0u8; pw as usize * ph as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (pw, ph)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| draw_err(e.into()))?;
            painter.paint(&root, &Theme { s: PNG_SCALE }).map_err(draw_err)?;
            root.present().map_err(|e| draw_err(e.into()))?;
        }
        let png = encode_png(&rgb, pw, ph)
            .map_err(|e| PlotError::Draw { figure: name.to_string(), message: format!("PNG encoding failed: {e}") })?;
        Ok(Figure { name: name.to_string(), svg, png, width, height })
    }

    /// Writes `<path>.svg` and `<path>.png` (each atomically: a reader never sees a half-written
    /// file) and returns the two paths. `path` has no extension, e.g. `figures/scaling`; the
    /// folder must exist.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<[PathBuf; 2]> {
        let base = path.as_ref();
        let with_ext = |ext: &str| {
            let mut name = base.as_os_str().to_owned();
            name.push(".");
            name.push(ext);
            PathBuf::from(name)
        };
        let (svg, png) = (with_ext("svg"), with_ext("png"));
        brainscale_data::write_bytes_atomic(&svg, self.svg.as_bytes())?;
        brainscale_data::write_bytes_atomic(&png, &self.png)?;
        Ok([svg, png])
    }

    /// The PNG as base64 (for `data:` URLs).
    pub fn png_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.png)
    }

    /// The text evcxr reads to show the figure inline: a PNG and the SVG as an alternative
    /// representation (the notebook front end picks one).
    pub fn evcxr_content(&self) -> String {
        format!(
            "EVCXR_BEGIN_CONTENT image/png\n{}\nEVCXR_END_CONTENT\nEVCXR_BEGIN_CONTENT image/svg+xml\n{}\nEVCXR_END_CONTENT\n",
            self.png_base64(),
            self.svg
        )
    }

    /// Shows the figure inline in an evcxr Jupyter notebook (evcxr calls this method when a
    /// cell's value is a `Figure`); outside a notebook it prints the same text to stdout.
    pub fn evcxr_display(&self) {
        print!("{}", self.evcxr_content());
    }
}

/// Encodes an RGB8 buffer as PNG.
fn encode_png(rgb: &[u8], width: u32, height: u32) -> std::result::Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Best);
        // Physical size hint: 96 dpi times the scale, so viewers show it at the SVG's size.
        encoder.set_pixel_dims(Some(png::PixelDimensions {
            xppu: (3780.0 * PNG_SCALE) as u32,
            yppu: (3780.0 * PNG_SCALE) as u32,
            unit: png::Unit::Meter,
        }));
        let mut writer = encoder.write_header()?;
        writer.write_image_data(rgb)?;
        writer.finish()?;
    }
    Ok(out)
}
