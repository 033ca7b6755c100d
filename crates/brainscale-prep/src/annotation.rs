//! The corpus' word table (e.g. `annotation/EN/lppEN_word_information.csv`) and the
//! corrections that make it agree with the run texts.
//!
//! The table is CSV with (at least) the columns `word`, `onset`, `offset` (seconds from the
//! start of the run) and `section` (the run, 1-based), found by name in any order; other
//! columns are ignored. Rows are numbered from 0 in file order, blank lines excluded (pandas'
//! default index, which the paper's dropped rows 3919, 6775 and 6781 refer to). A row whose
//! word is empty is skipped, as the paper skips pandas' NaN words; the count is recorded.
//!
//! Corrections live in a TOML file, never in code:
//!
//! ```toml
//! drop_rows = [3919, 6775, 6781]      # rows of the word table to drop (0-based, as pandas)
//!
//! [[word]]                            # replace the word of one row (checked: `from` must match)
//! row = 120
//! from = "minster"
//! to = "minister"
//!
//! [[text]]                            # replace every occurrence in one run's text
//! run = 4                             # 1-based
//! from = "Minster"
//! to = "Minister"
//! ```
//!
//! A correction that no longer applies (a row whose word is not `from`, a text without `from`)
//! is an error naming the corrections file: stale corrections must not pass silently.

use std::path::{Path, PathBuf};

use brainscale_data::Words;
use serde::Deserialize;

use crate::error::{PrepError, Result};

/// One row of the word table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// 0-based data-row index (pandas' default index).
    pub row: usize,
    /// 1-based line in the file.
    pub line: usize,
    /// The word (may be empty: skipped).
    pub word: String,
    /// Onset in seconds.
    pub onset: f64,
    /// Offset in seconds.
    pub offset: f64,
    /// The run (1-based).
    pub section: usize,
}

/// The columns every word table must have.
pub const REQUIRED_COLUMNS: [&str; 4] = ["word", "onset", "offset", "section"];

/// Reads the word table: every row, in file order.
pub fn read_table(path: &Path) -> Result<Vec<Row>> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => PrepError::Annotation {
            path: path.to_path_buf(),
            line: None,
            reason: "the word table does not exist; fetch the dataset first (`brainscale datasets fetch`)".into(),
        },
        _ => PrepError::read(path, e),
    })?;
    parse_table(path, &bytes)
}

/// Parses the bytes of a word table; `path` is used in error messages only.
pub fn parse_table(path: &Path, bytes: &[u8]) -> Result<Vec<Row>> {
    let bad = |line: Option<usize>, reason: String| PrepError::Annotation { path: path.to_path_buf(), line, reason };
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes);
    let header = reader.headers().map_err(|e| bad(Some(1), format!("unreadable header: {e}")))?.clone();
    let find = |name: &str| header.iter().position(|c| c.trim().eq_ignore_ascii_case(name));
    let columns: Vec<Option<usize>> = REQUIRED_COLUMNS.iter().map(|c| find(c)).collect();
    let missing: Vec<&str> =
        REQUIRED_COLUMNS.iter().zip(&columns).filter(|(_, c)| c.is_none()).map(|(n, _)| *n).collect();
    if !missing.is_empty() {
        return Err(bad(
            Some(1),
            format!(
                "missing column(s) {}: expected the columns {} (in any order), found {:?}",
                missing.join(", "),
                REQUIRED_COLUMNS.join(", "),
                header.iter().collect::<Vec<_>>()
            ),
        ));
    }
    let [c_word, c_on, c_off, c_sec] = [columns[0], columns[1], columns[2], columns[3]].map(|c| c.unwrap_or(0));
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize);
            bad(line, format!("malformed CSV: {e}"))
        })?;
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        if record.len() == 1 && record[0].trim().is_empty() {
            continue; // a blank line: not a row (pandas skips blank lines)
        }
        let field = |c: usize, name: &str| {
            record.get(c).ok_or_else(|| {
                bad(Some(line), format!("the row has {} fields, so no `{name}` (column {})", record.len(), c + 1))
            })
        };
        let number = |c: usize, name: &str| -> Result<f64> {
            let v = field(c, name)?.trim();
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| bad(Some(line), format!("`{name}` {v:?} is not a finite number")))
        };
        let onset = number(c_on, "onset")?;
        let offset = number(c_off, "offset")?;
        let section = number(c_sec, "section")?;
        if section < 1.0 || section.fract() != 0.0 || section > 1000.0 {
            return Err(bad(Some(line), format!("`section` {section}: expected a run number 1, 2, ...")));
        }
        if onset < 0.0 || offset < onset {
            return Err(bad(Some(line), format!("onset {onset} s, offset {offset} s: expected 0 <= onset <= offset")));
        }
        rows.push(Row {
            row: rows.len(),
            line,
            word: field(c_word, "word")?.trim().to_string(),
            onset,
            offset,
            section: section as usize,
        });
    }
    if rows.is_empty() {
        return Err(bad(None, "no word rows".into()));
    }
    Ok(rows)
}

/// A corrections file, parsed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Corrections {
    /// Where it came from (a path, or `builtin:NAME`).
    pub source: PathBuf,
    /// The file's text (recorded in provenance by its hash).
    pub text: String,
    /// Word-table rows to drop.
    pub drop_rows: Vec<usize>,
    /// Word replacements.
    pub words: Vec<WordFix>,
    /// Text replacements.
    pub texts: Vec<TextFix>,
}

/// Replace the word of one row.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordFix {
    /// 0-based row.
    pub row: usize,
    /// The word the row must hold.
    pub from: String,
    /// Its replacement.
    pub to: String,
}

/// Replace every occurrence of a string in one run's text.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextFix {
    /// 1-based run.
    pub run: usize,
    /// What to find.
    pub from: String,
    /// Its replacement.
    pub to: String,
    /// When `from` does not occur: a warning (true) or an error (false, the default).
    #[serde(default)]
    pub optional: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCorrections {
    #[serde(default)]
    drop_rows: Vec<usize>,
    #[serde(default)]
    word: Vec<WordFix>,
    #[serde(default)]
    text: Vec<TextFix>,
}

/// The corrections files shipped with brainscale for the registry's corpora.
const BUILTIN: [(&str, &str); 3] = [
    ("lpp-en", include_str!("../corrections/lpp-en.toml")),
    ("lpp-fr", include_str!("../corrections/lpp-fr.toml")),
    ("lpp-cn", include_str!("../corrections/lpp-cn.toml")),
];

impl Corrections {
    /// Loads `spec` (`builtin:NAME` or a path; relative paths are taken from `base`, the
    /// registry file's folder).
    pub fn load(spec: &str, base: Option<&Path>) -> Result<Corrections> {
        if let Some(name) = spec.strip_prefix("builtin:") {
            let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name) else {
                let known: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
                return Err(PrepError::Corrections {
                    path: PathBuf::from(spec),
                    reason: format!("no built-in corrections named {name:?} (built in: {})", known.join(", ")),
                });
            };
            return Self::parse(Path::new(spec), text);
        }
        let path = match base {
            Some(b) if Path::new(spec).is_relative() => b.join(spec),
            _ => PathBuf::from(spec),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| PrepError::Corrections {
            path: path.clone(),
            reason: format!("cannot read the corrections file: {e}"),
        })?;
        Self::parse(&path, &text)
    }

    /// Parses the text of a corrections file.
    pub fn parse(path: &Path, text: &str) -> Result<Corrections> {
        let raw: RawCorrections = toml::from_str(text)
            .map_err(|e| PrepError::Corrections { path: path.to_path_buf(), reason: e.message().trim().to_string() })?;
        Ok(Corrections {
            source: path.to_path_buf(),
            text: text.to_string(),
            drop_rows: raw.drop_rows,
            words: raw.word,
            texts: raw.text,
        })
    }

    /// Applies the row drops and word replacements to the table.
    pub fn apply_to_rows(&self, rows: &mut Vec<Row>) -> Result<()> {
        let bad = |reason: String| PrepError::Corrections { path: self.source.clone(), reason };
        let n_rows = rows.len();
        for fix in &self.words {
            let row = rows
                .get_mut(fix.row)
                .ok_or_else(|| bad(format!("[[word]] row {}: the word table has {n_rows} rows", fix.row)))?;
            if row.word != fix.from {
                return Err(bad(format!(
                    "[[word]] row {} (line {}): expected the word {:?}, the table has {:?}",
                    fix.row, row.line, fix.from, row.word
                )));
            }
            row.word = fix.to.clone();
        }
        if let Some(r) = self.drop_rows.iter().find(|&&r| r >= rows.len()) {
            return Err(bad(format!("drop_rows: row {r} is past the end of the word table ({} rows)", rows.len())));
        }
        rows.retain(|r| !self.drop_rows.contains(&r.row));
        Ok(())
    }

    /// Applies the text replacements of run `run` (1-based), in file order. Returns the text
    /// and a warning for each optional replacement that did not apply.
    pub fn apply_to_text(&self, run: usize, text: &str) -> Result<(String, Vec<String>)> {
        let mut out = text.to_string();
        let mut warnings = Vec::new();
        for fix in self.texts.iter().filter(|f| f.run == run) {
            if fix.from.is_empty() || !out.contains(&fix.from) {
                let reason = format!("[[text]] run {run}: {:?} does not occur in the run's text", fix.from);
                if fix.optional && !fix.from.is_empty() {
                    warnings.push(format!("{}: {reason} (optional: skipped)", self.source.display()));
                    continue;
                }
                return Err(PrepError::Corrections { path: self.source.clone(), reason });
            }
            out = out.replace(&fix.from, &fix.to);
        }
        Ok((out, warnings))
    }
}

/// The table's words grouped by run (`section`), empty words skipped.
#[derive(Clone, Debug, PartialEq)]
pub struct RunWords {
    /// One [`Words`] per run, run-01 first.
    pub runs: Vec<Words>,
    /// For each run, the table row of each word (for messages).
    pub rows: Vec<Vec<usize>>,
    /// Rows skipped because their word is empty.
    pub empty_rows: Vec<usize>,
}

/// Groups `rows` into `n_runs` runs; every run must have words and no section may exceed
/// `n_runs`.
pub fn group_runs(path: &Path, rows: &[Row], n_runs: usize) -> Result<RunWords> {
    let mut out =
        RunWords { runs: vec![Words::default(); n_runs], rows: vec![Vec::new(); n_runs], empty_rows: Vec::new() };
    for r in rows {
        if r.section > n_runs {
            return Err(PrepError::Annotation {
                path: path.to_path_buf(),
                line: Some(r.line),
                reason: format!("section {} but the dataset has {n_runs} runs", r.section),
            });
        }
        if r.word.is_empty() {
            out.empty_rows.push(r.row);
            continue;
        }
        out.runs[r.section - 1].push(r.word.clone(), r.onset, r.offset);
        out.rows[r.section - 1].push(r.row);
    }
    if let Some(empty) = out.runs.iter().position(Words::is_empty) {
        return Err(PrepError::Annotation {
            path: path.to_path_buf(),
            line: None,
            reason: format!("no word in section {} (expected words for each of the {n_runs} runs)", empty + 1),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\u{feff},section,word,lemma,onset,offset\n\
                         0,1,Once,once,0.5,0.9\n\
                         1,1,upon,upon,1.0,1.3\n\
                         \n\
                         2,1,,x,1.4,1.5\n\
                         3,2,\"a, b\",a,2.0,2.5\n\
                         4,2,minster,m,3.0,3.5\n";

    #[test]
    fn reads_rows_by_column_name_and_skips_blank_lines() {
        let rows = parse_table(Path::new("w.csv"), TABLE.as_bytes()).unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[3].word, "a, b");
        assert_eq!(rows[3].row, 3);
        assert_eq!((rows[4].onset, rows[4].offset, rows[4].section), (3.0, 3.5, 2));
        let runs = group_runs(Path::new("w.csv"), &rows, 2).unwrap();
        assert_eq!(runs.runs[0].word, ["Once", "upon"]);
        assert_eq!(runs.empty_rows, [2]);
        assert_eq!(runs.rows[1], [3, 4]);
        assert!(group_runs(Path::new("w.csv"), &rows, 3).unwrap_err().to_string().contains("section 3"));
        assert!(group_runs(Path::new("w.csv"), &rows, 1).unwrap_err().to_string().contains("section 2"));
    }

    #[test]
    fn a_missing_column_names_the_file_and_the_columns() {
        let e = parse_table(Path::new("annotation/w.csv"), b"word,onset,section\na,1,1\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("annotation/w.csv, line 1: missing column(s) offset"), "{msg}");
        let e = parse_table(Path::new("w.csv"), b"word,onset,offset,section\na,1,2,1\nb,x,2,1\n").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        let e = parse_table(Path::new("w.csv"), b"word,onset,offset,section\na,1,2,0\n").unwrap_err();
        assert!(e.to_string().contains("section"), "{e}");
        let e = parse_table(Path::new("w.csv"), b"word,onset,offset,section\na,3,2,1\n").unwrap_err();
        assert!(e.to_string().contains("onset"), "{e}");
    }

    #[test]
    fn corrections_apply_and_stale_ones_fail() {
        let c = Corrections::parse(
            Path::new("fix.toml"),
            "drop_rows = [1]\n[[word]]\nrow = 4\nfrom = \"minster\"\nto = \"minister\"\n\
             [[text]]\nrun = 2\nfrom = \"Minster\"\nto = \"Minister\"\n",
        )
        .unwrap();
        let mut rows = parse_table(Path::new("w.csv"), TABLE.as_bytes()).unwrap();
        c.apply_to_rows(&mut rows).unwrap();
        assert_eq!(rows.iter().map(|r| r.word.as_str()).collect::<Vec<_>>(), ["Once", "", "a, b", "minister"]);
        assert_eq!(c.apply_to_text(2, "the Minster, the Minster").unwrap().0, "the Minister, the Minister");
        assert_eq!(c.apply_to_text(1, "unchanged").unwrap().0, "unchanged");
        let optional =
            Corrections::parse(Path::new("f.toml"), "[[text]]\nrun = 1\nfrom = \"x\"\nto = \"y\"\noptional = true\n")
                .unwrap();
        let (text, warnings) = optional.apply_to_text(1, "abc").unwrap();
        assert_eq!((text.as_str(), warnings.len()), ("abc", 1));
        let e = c.apply_to_text(2, "no such word").unwrap_err();
        assert!(e.to_string().starts_with("fix.toml: [[text]] run 2"), "{e}");
        let mut rows = parse_table(Path::new("w.csv"), TABLE.as_bytes()).unwrap();
        rows[4].word = "other".into();
        assert!(c.apply_to_rows(&mut rows).unwrap_err().to_string().contains("expected the word \"minster\""));
        assert!(Corrections::parse(Path::new("f.toml"), "unknown = 1\n").is_err());
        assert!(Corrections::load("builtin:nope", None).is_err());
    }

    #[test]
    fn builtin_corrections_parse() {
        for (name, _) in BUILTIN {
            let c = Corrections::load(&format!("builtin:{name}"), None).unwrap();
            assert!(c.texts.iter().all(|t| t.run >= 1 && t.run <= 9), "{name}");
        }
        let en = Corrections::load("builtin:lpp-en", None).unwrap();
        assert_eq!(en.drop_rows, [3919, 6775, 6781]);
    }
}
