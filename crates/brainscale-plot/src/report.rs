//! [`Report`]: one self-contained `report.html` (figures inline, no external file, no script).

use std::fmt::Write as _;
use std::path::Path;

use crate::error::Result;
use crate::figure::Figure;

/// How figures are embedded in the HTML.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Embed {
    /// `<img src="data:image/png;base64,...">` at the figure's logical width: renders exactly as
    /// the PNG, with the embedded fonts (larger file).
    #[default]
    Png,
    /// The SVG inline: smaller and sharp at any zoom; text uses the reader's sans-serif font.
    Svg,
}

/// One block of the report body.
#[derive(Clone, Debug)]
enum Block {
    Heading(String),
    Paragraph(String),
    Note(String),
    Figure { html: String, caption: String },
    Table { caption: String, header: Vec<String>, rows: Vec<Vec<String>> },
}

/// A builder for a self-contained HTML report: a title, a headline section that always comes
/// first (the key numbers), then headings, paragraphs, notes, figures and tables in the order
/// they are added. Every text is HTML-escaped.
///
/// ```
/// use brainscale_plot::Report;
/// let mut report = Report::new("brainscale study: lpp-en");
/// report
///     .headline("Scaling slope", "+0.021 per 10× params (r = 0.91, p = 2e-11)")
///     .heading("Regions of interest")
///     .table("Slopes per ROI", &["ROI", "left", "right"], vec![vec!["pSTS".into(), "0.012".into(), "0.004".into()]])
///     .note("This run is a simulation <not real data>.");
/// let html = report.to_html();
/// assert!(html.contains("&lt;not real data&gt;"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Report {
    title: String,
    subtitle: String,
    headlines: Vec<(String, String)>,
    blocks: Vec<Block>,
    embed: Embed,
}

impl Report {
    /// An empty report with a page title.
    pub fn new(title: impl Into<String>) -> Report {
        Report { title: title.into(), ..Report::default() }
    }

    /// A line under the title (e.g. dataset, date, settings).
    pub fn subtitle(&mut self, text: impl Into<String>) -> &mut Self {
        self.subtitle = text.into();
        self
    }

    /// How figures added from now on are embedded (PNG by default).
    pub fn embed(&mut self, embed: Embed) -> &mut Self {
        self.embed = embed;
        self
    }

    /// A key number in the headline section (always shown first, as label / value cards).
    pub fn headline(&mut self, label: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.headlines.push((label.into(), value.into()));
        self
    }

    /// A section heading.
    pub fn heading(&mut self, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Heading(text.into()));
        self
    }

    /// A paragraph of text (blank lines start new paragraphs).
    pub fn paragraph(&mut self, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Paragraph(text.into()));
        self
    }

    /// A highlighted note (e.g. "this is a simulation").
    pub fn note(&mut self, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Note(text.into()));
        self
    }

    /// A figure with a caption, embedded as set by [`Report::embed`].
    pub fn figure(&mut self, figure: &Figure, caption: impl Into<String>) -> &mut Self {
        let html = match self.embed {
            Embed::Png => format!(
                "<img src=\"data:image/png;base64,{}\" width=\"{}\" alt=\"{}\">",
                figure.png_base64(),
                figure.width,
                escape(&figure.name)
            ),
            Embed::Svg => strip_xml_declaration(&figure.svg).to_string(),
        };
        self.blocks.push(Block::Figure { html, caption: caption.into() });
        self
    }

    /// A table from a header and rows of already formatted strings (numeric-looking cells are
    /// right-aligned).
    pub fn table<S: AsRef<str>>(
        &mut self,
        caption: impl Into<String>,
        header: &[S],
        rows: Vec<Vec<String>>,
    ) -> &mut Self {
        self.blocks.push(Block::Table {
            caption: caption.into(),
            header: header.iter().map(|h| h.as_ref().to_string()).collect(),
            rows,
        });
        self
    }

    /// The whole document.
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(1 << 16);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        if !self.subtitle.is_empty() {
            let _ = writeln!(h, "<p class=\"subtitle\">{}</p>", escape(&self.subtitle));
        }
        if !self.headlines.is_empty() {
            h.push_str("<section class=\"headline\">\n");
            for (label, value) in &self.headlines {
                let _ = writeln!(
                    h,
                    "<div class=\"card\"><div class=\"label\">{}</div><div class=\"value\">{}</div></div>",
                    escape(label),
                    escape(value)
                );
            }
            h.push_str("</section>\n");
        }
        for block in &self.blocks {
            match block {
                Block::Heading(t) => {
                    let _ = writeln!(h, "<h2>{}</h2>", escape(t));
                }
                Block::Paragraph(t) => {
                    for para in t.split("\n\n").filter(|p| !p.trim().is_empty()) {
                        let _ = writeln!(h, "<p>{}</p>", escape(para.trim()));
                    }
                }
                Block::Note(t) => {
                    let _ = writeln!(h, "<aside class=\"note\">{}</aside>", escape(t));
                }
                Block::Figure { html, caption } => {
                    let _ = writeln!(h, "<figure>{html}<figcaption>{}</figcaption></figure>", escape(caption));
                }
                Block::Table { caption, header, rows } => {
                    h.push_str("<div class=\"table\"><table>\n");
                    if !caption.is_empty() {
                        let _ = writeln!(h, "<caption>{}</caption>", escape(caption));
                    }
                    h.push_str("<thead><tr>");
                    for c in header {
                        let _ = write!(h, "<th>{}</th>", escape(c));
                    }
                    h.push_str("</tr></thead>\n<tbody>\n");
                    for row in rows {
                        h.push_str("<tr>");
                        for c in row {
                            let class = if looks_numeric(c) { " class=\"num\"" } else { "" };
                            let _ = write!(h, "<td{class}>{}</td>", escape(c));
                        }
                        h.push_str("</tr>\n");
                    }
                    h.push_str("</tbody></table></div>\n");
                }
            }
        }
        h.push_str("</main>\n</body>\n</html>\n");
        h
    }

    /// Writes the document to `path` atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        brainscale_data::write_bytes_atomic(path.as_ref(), self.to_html().as_bytes())?;
        Ok(())
    }
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
///
/// ```
/// assert_eq!(brainscale_plot::escape("a < b & \"c\""), "a &lt; b &amp; &quot;c&quot;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn strip_xml_declaration(svg: &str) -> &str {
    if svg.starts_with("<?xml") { svg.find("?>").map(|i| svg[i + 2..].trim_start()).unwrap_or(svg) } else { svg }
}

fn looks_numeric(s: &str) -> bool {
    let t = s.trim().trim_start_matches(['+', '-', '−']).trim_end_matches('%');
    !t.is_empty()
        && t.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+' | ','))
        && t.chars().any(|c| c.is_ascii_digit())
}

const CSS: &str = "\
:root{--ink:#222;--muted:#666;--line:#ddd;--accent:#0072B2;--note:#fff6e0;--note-edge:#E69F00}\
*{box-sizing:border-box}\
body{margin:0;background:#fafafa;color:var(--ink);font:15px/1.5 system-ui,-apple-system,'Segoe UI','DejaVu Sans',sans-serif}\
main{max-width:1180px;margin:0 auto;padding:28px 32px 64px;background:#fff;min-height:100vh}\
h1{font-size:26px;margin:0 0 4px}\
h2{font-size:19px;margin:36px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}\
.subtitle{color:var(--muted);margin:0 0 18px}\
.headline{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:12px;margin:18px 0 8px}\
.card{border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:6px;padding:10px 14px;background:#fff}\
.card .label{color:var(--muted);font-size:13px}\
.card .value{font-size:17px;font-weight:600;font-variant-numeric:tabular-nums;overflow-wrap:normal}\
.note{background:var(--note);border-left:4px solid var(--note-edge);padding:10px 14px;margin:16px 0;border-radius:4px;white-space:pre-line}\
figure{margin:18px 0;overflow-x:auto}\
figure img,figure svg{max-width:100%;height:auto;display:block}\
figcaption{color:var(--muted);font-size:13.5px;margin-top:6px}\
.table{overflow-x:auto;margin:12px 0}\
table{border-collapse:collapse;font-size:14px;font-variant-numeric:tabular-nums}\
caption{text-align:left;color:var(--muted);padding-bottom:6px}\
th,td{padding:5px 12px;border-bottom:1px solid var(--line);text-align:left}\
th{border-bottom:2px solid #bbb;font-weight:600}\
td.num{text-align:right}\
tbody tr:nth-child(even){background:#f6f6f6}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headline_comes_first_and_text_is_escaped() {
        let mut r = Report::new("t <1>");
        r.heading("later").headline("slope", "0.02 & more");
        let html = r.to_html();
        assert!(html.find("class=\"headline\"").unwrap() < html.find("<h2>later").unwrap());
        assert!(html.contains("t &lt;1&gt;") && html.contains("0.02 &amp; more"));
    }

    #[test]
    fn numbers_are_right_aligned() {
        assert!(looks_numeric("-0.0123") && looks_numeric("25,870") && looks_numeric("3.1e-5") && looks_numeric("12%"));
        assert!(!looks_numeric("pSTS") && !looks_numeric("-") && !looks_numeric("e"));
    }
}
