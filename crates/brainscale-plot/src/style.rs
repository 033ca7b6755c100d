//! The one look of every figure: fonts, palette, model families, sizes and number formats.
//!
//! Colours follow the Okabe-Ito palette (safe for the common colour-vision deficiencies); each
//! model family keeps its colour and marker shape in every figure, baselines are grey. The
//! left hemisphere is always vermillion and the right hemisphere blue.

use std::sync::Once;

use plotters::style::{FontStyle, RGBColor, TextStyle, register_font};

/// DejaVu Sans, embedded so that no system font library is needed (license in `fonts/`).
static DEJAVU_SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
/// DejaVu Sans Bold.
static DEJAVU_SANS_BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// The font family every text uses (registered as plotters' `sans-serif`).
pub(crate) const FONT: &str = "sans-serif";

static FONTS: Once = Once::new();

/// Registers the embedded fonts with plotters (once per process).
pub(crate) fn ensure_fonts() {
    FONTS.call_once(|| {
        // The bytes are valid TrueType files compiled in; a failure would be a build defect and
        // shows up as missing text, which the tests catch.
        let _ = register_font(FONT, FontStyle::Normal, DEJAVU_SANS);
        let _ = register_font(FONT, FontStyle::Bold, DEJAVU_SANS_BOLD);
    });
}

/// Okabe-Ito colours (Okabe & Ito 2008), plus the greys used for baselines and frames.
pub mod palette {
    use plotters::style::RGBColor;

    /// Orange.
    pub const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
    /// Sky blue.
    pub const SKY_BLUE: RGBColor = RGBColor(0x56, 0xB4, 0xE9);
    /// Bluish green.
    pub const BLUISH_GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
    /// Yellow, darkened a little so that lines stay visible on white.
    pub const YELLOW: RGBColor = RGBColor(0xD9, 0xC4, 0x00);
    /// Blue.
    pub const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
    /// Vermillion.
    pub const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
    /// Reddish purple.
    pub const REDDISH_PURPLE: RGBColor = RGBColor(0xCC, 0x79, 0xA7);
    /// Black (a soft one).
    pub const BLACK: RGBColor = RGBColor(0x22, 0x22, 0x22);
    /// Wine (Paul Tol's muted palette), the ninth family colour.
    pub const WINE: RGBColor = RGBColor(0x88, 0x22, 0x55);
    /// Baseline grey.
    pub const GREY: RGBColor = RGBColor(0x99, 0x99, 0x99);
    /// Text and axes.
    pub const INK: RGBColor = RGBColor(0x33, 0x33, 0x33);
    /// Secondary text.
    pub const MUTED: RGBColor = RGBColor(0x66, 0x66, 0x66);
    /// Grid lines.
    pub const GRID: RGBColor = RGBColor(0xE3, 0xE3, 0xE3);
    /// Left hemisphere.
    pub const LEFT: RGBColor = VERMILLION;
    /// Right hemisphere.
    pub const RIGHT: RGBColor = BLUE;
    /// Left minus right.
    pub const DIFFERENCE: RGBColor = REDDISH_PURPLE;
}

/// A language-model family (or the baselines), which fixes its colour and marker in every
/// figure.
///
/// ```
/// use brainscale_plot::Family;
/// assert_eq!(Family::parse("Qwen1.5"), Family::Qwen2);
/// assert_eq!(Family::parse("random-embedding"), Family::Baseline);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// GPT-2.
    Gpt2,
    /// OPT.
    Opt,
    /// Llama / Llama-2.
    Llama,
    /// Qwen1.5 / Qwen2.
    Qwen2,
    /// Gemma.
    Gemma,
    /// StableLM.
    StableLm,
    /// Mistral.
    Mistral,
    /// Mamba.
    Mamba,
    /// GPT-NeoX / Pythia.
    GptNeox,
    /// Random vectors, random embeddings, GloVe and other non-LM baselines (grey).
    Baseline,
    /// The demo's simulated models (`brainscale run` with no arguments).
    Simulated,
    /// Any other family (dark grey).
    Other,
}

impl Family {
    /// All families in legend order.
    pub const ALL: [Family; 12] = [
        Family::Gpt2,
        Family::Opt,
        Family::Llama,
        Family::Qwen2,
        Family::Gemma,
        Family::StableLm,
        Family::Mistral,
        Family::Mamba,
        Family::GptNeox,
        Family::Simulated,
        Family::Baseline,
        Family::Other,
    ];

    /// The family of a name as found in model tables and `config.json` `model_type`s
    /// (case-insensitive; `-`, `_`, `.` and spaces ignored): `gpt2`, `opt`, `llama`, `qwen2`
    /// (or `qwen`, `qwen1.5`), `gemma`, `stablelm`, `mistral`, `mamba`, `gpt_neox` (or
    /// `pythia`), `simulated`, `baseline` (or `random...`, `glove`); anything else is
    /// [`Family::Other`].
    pub fn parse(name: &str) -> Family {
        let key: String =
            name.chars().filter(|c| !matches!(c, '-' | '_' | '.' | ' ')).flat_map(char::to_lowercase).collect();
        let starts = |p: &str| key.starts_with(p);
        if starts("gpt2") {
            Family::Gpt2
        } else if starts("opt") {
            Family::Opt
        } else if starts("llama") {
            Family::Llama
        } else if starts("qwen") {
            Family::Qwen2
        } else if starts("gemma") {
            Family::Gemma
        } else if starts("stablelm") {
            Family::StableLm
        } else if starts("mistral") {
            Family::Mistral
        } else if starts("mamba") {
            Family::Mamba
        } else if starts("gptneox") || starts("pythia") {
            Family::GptNeox
        } else if starts("simulated") {
            Family::Simulated
        } else if starts("baseline") || starts("random") || starts("glove") {
            Family::Baseline
        } else {
            Family::Other
        }
    }

    /// The name shown in legends.
    pub fn display_name(self) -> &'static str {
        match self {
            Family::Gpt2 => "GPT-2",
            Family::Opt => "OPT",
            Family::Llama => "Llama",
            Family::Qwen2 => "Qwen",
            Family::Gemma => "Gemma",
            Family::StableLm => "StableLM",
            Family::Mistral => "Mistral",
            Family::Mamba => "Mamba",
            Family::GptNeox => "GPT-NeoX",
            Family::Simulated => "simulated (demo)",
            Family::Baseline => "baselines",
            Family::Other => "other",
        }
    }

    /// The family's colour.
    pub fn color(self) -> RGBColor {
        use palette::*;
        match self {
            Family::Gpt2 => BLUE,
            Family::Opt => ORANGE,
            Family::Llama => BLUISH_GREEN,
            Family::Qwen2 => VERMILLION,
            Family::Gemma => REDDISH_PURPLE,
            Family::StableLm => SKY_BLUE,
            Family::Mistral => YELLOW,
            Family::Mamba => BLACK,
            Family::GptNeox => WINE,
            Family::Simulated => BLUE,
            Family::Baseline => GREY,
            Family::Other => MUTED,
        }
    }

    /// The family's marker shape (a second cue besides colour).
    pub fn marker(self) -> Marker {
        match self {
            Family::Gpt2 | Family::Gemma | Family::Simulated | Family::Baseline => Marker::Circle,
            Family::Opt | Family::Mistral => Marker::Square,
            Family::Llama | Family::GptNeox => Marker::TriangleUp,
            Family::Qwen2 | Family::Other => Marker::Diamond,
            Family::StableLm => Marker::TriangleDown,
            Family::Mamba => Marker::Square,
        }
    }
}

/// Marker shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// A disc.
    Circle,
    /// A square.
    Square,
    /// A triangle pointing up.
    TriangleUp,
    /// A triangle pointing down.
    TriangleDown,
    /// A diamond.
    Diamond,
}

/// Sizes scaled for the output: the SVG is drawn at 1x and the PNG at [`PNG_SCALE`]x, so that
/// the PNG stays sharp on high-density screens and in print.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Theme {
    /// Pixels per logical pixel.
    pub s: f64,
}

/// Pixel density of the PNG relative to the SVG.
pub const PNG_SCALE: f64 = 2.0;

impl Theme {
    /// A length in output pixels.
    pub fn px(&self, v: f64) -> i32 {
        (v * self.s).round() as i32
    }

    /// A length in output pixels, unsigned.
    pub fn upx(&self, v: f64) -> u32 {
        (v * self.s).round().max(0.0) as u32
    }

    /// Regular text of `size` logical pixels in ink colour.
    pub fn text(&self, size: f64) -> TextStyle<'static> {
        TextStyle::from((FONT, size * self.s)).color(&palette::INK)
    }

    /// Bold text.
    pub fn bold(&self, size: f64) -> TextStyle<'static> {
        TextStyle::from((FONT, size * self.s, FontStyle::Bold)).color(&palette::INK)
    }

    /// Secondary (grey) text.
    pub fn muted(&self, size: f64) -> TextStyle<'static> {
        TextStyle::from((FONT, size * self.s)).color(&palette::MUTED)
    }
}

/// Text sizes (logical pixels).
pub(crate) mod sizes {
    /// Figure title.
    pub const TITLE: f64 = 18.0;
    /// Panel title.
    pub const PANEL: f64 = 14.0;
    /// Subtitles, annotations.
    pub const NOTE: f64 = 12.5;
    /// Axis descriptions.
    pub const AXIS: f64 = 13.5;
    /// Tick labels.
    pub const TICK: f64 = 12.0;
    /// Legend entries.
    pub const LEGEND: f64 = 12.5;
}

/// A parameter count as a short label: `124M`, `1.5B`, `13B`, `500k`.
///
/// ```
/// use brainscale_plot::format_params;
/// assert_eq!(format_params(1.24e8), "124M");
/// assert_eq!(format_params(1.0e9), "1B");
/// assert_eq!(format_params(1.56e9), "1.6B");
/// assert_eq!(format_params(1.3e10), "13B");
/// ```
pub fn format_params(n: f64) -> String {
    let (v, unit) = if n >= 1e12 {
        (n / 1e12, "T")
    } else if n >= 1e9 {
        (n / 1e9, "B")
    } else if n >= 1e6 {
        (n / 1e6, "M")
    } else if n >= 1e3 {
        (n / 1e3, "k")
    } else {
        (n, "")
    };
    if v >= 10.0 || (v - v.round()).abs() < 0.05 { format!("{:.0}{unit}", v) } else { format!("{:.1}{unit}", v) }
}

/// A p-value for an annotation: two significant digits, scientific below 0.001.
///
/// ```
/// use brainscale_plot::format_p;
/// assert_eq!(format_p(0.0234), "0.023");
/// assert_eq!(format_p(3.2e-7), "3.2e-7");
/// ```
pub fn format_p(p: f64) -> String {
    if !p.is_finite() {
        "n/a".into()
    } else if p >= 0.1 {
        format!("{:.2}", p)
    } else if p >= 0.01 {
        format!("{:.3}", p)
    } else if p >= 0.001 {
        format!("{:.4}", p)
    } else {
        format!("{:.1e}", p)
    }
}

/// Significance stars: `***` p < .001, `**` p < .01, `*` p < .05, empty otherwise.
pub fn stars(p: f64) -> &'static str {
    if p < 0.001 {
        "***"
    } else if p < 0.01 {
        "**"
    } else if p < 0.05 {
        "*"
    } else {
        ""
    }
}

/// A number with about 3 significant digits, for tick labels and annotations.
pub(crate) fn format_num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{:.1e}", v)
    } else if a >= 100.0 {
        format!("{:.0}", v)
    } else if a >= 10.0 {
        trim_zeros(format!("{:.1}", v))
    } else if a >= 1.0 {
        trim_zeros(format!("{:.2}", v))
    } else {
        let digits = (2.0 - a.log10().floor()) as usize;
        trim_zeros(format!("{:.*}", digits.min(6), v))
    }
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// `c` mixed with white: `t` = 0 keeps `c`, 1 gives white.
pub(crate) fn lighten(c: RGBColor, t: f64) -> RGBColor {
    let m = |v: u8| (v as f64 + (255.0 - v as f64) * t).round().clamp(0.0, 255.0) as u8;
    RGBColor(m(c.0), m(c.1), m(c.2))
}

/// `c` mixed with black.
pub(crate) fn darken(c: RGBColor, t: f64) -> RGBColor {
    let m = |v: u8| (v as f64 * (1.0 - t)).round().clamp(0.0, 255.0) as u8;
    RGBColor(m(c.0), m(c.1), m(c.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_parse_from_table_names() {
        assert_eq!(Family::parse("gpt_neox"), Family::GptNeox);
        assert_eq!(Family::parse("GPT-2"), Family::Gpt2);
        assert_eq!(Family::parse("StableLM"), Family::StableLm);
        assert_eq!(Family::parse("glove"), Family::Baseline);
        assert_eq!(Family::parse("bert"), Family::Other);
    }

    #[test]
    fn numbers_format_for_reading() {
        assert_eq!(format_params(3.55e8), "355M");
        assert_eq!(format_params(2.5e9), "2.5B");
        assert_eq!(format_num(0.01234), "0.0123");
        assert_eq!(format_num(0.5), "0.5");
        assert_eq!(format_num(12.34), "12.3");
        assert_eq!(format_num(-0.00012), "-1.2e-4");
        assert_eq!(stars(0.004), "**");
        assert_eq!(stars(0.2), "");
        assert_eq!(format_p(0.5), "0.50");
    }
}
