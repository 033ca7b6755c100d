//! Word timings: `words/run-XX.tsv` files and the corpus' own `lppEN_word_information.csv`.
//!
//! A TSV word file starts with the header `word<TAB>onset<TAB>offset` (extra columns after
//! those are allowed and ignored); each following line is one word with its onset and offset
//! in seconds from the start of the run. Blank lines are skipped. Every malformed line is an
//! error naming the file and the 1-based line number.

use std::io::Write;
use std::path::Path;

use crate::atomic::write_atomic;
use crate::error::{DataError, Result};

/// The words of one run with their timings (seconds from the start of the run).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Words {
    /// The words, in the order they were heard.
    pub word: Vec<String>,
    /// Onsets in seconds.
    pub onset: Vec<f64>,
    /// Offsets in seconds (>= onset).
    pub offset: Vec<f64>,
}

/// Rows of `lppEN_word_information.csv` that the paper drops (0-based data-row indices, i.e.
/// pandas' default index): 3919 is a repeated line with a typo, 6775 and 6781 do not match the
/// full text.
pub const PAPER_DROPPED_ROWS_EN: [usize; 3] = [3919, 6775, 6781];

impl Words {
    /// Number of words.
    pub fn len(&self) -> usize {
        self.word.len()
    }

    /// Whether there are no words.
    pub fn is_empty(&self) -> bool {
        self.word.is_empty()
    }

    /// Appends a word.
    pub fn push(&mut self, word: impl Into<String>, onset: f64, offset: f64) {
        self.word.push(word.into());
        self.onset.push(onset);
        self.offset.push(offset);
    }

    /// Durations `offset - onset` (the event durations of the regressors).
    pub fn durations(&self) -> Vec<f64> {
        self.onset.iter().zip(&self.offset).map(|(a, b)| b - a).collect()
    }

    /// The words joined by single spaces (the run text when no `text/run-XX.txt` exists).
    pub fn joined(&self) -> String {
        self.word.join(" ")
    }

    /// Reads and checks a TSV word file (syntax and timing; see [`Words::parse_tsv`]).
    pub fn read_tsv(path: &Path) -> Result<Words> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::read(path, e))?;
        Self::parse_tsv(path, &text, None)
    }

    /// Parses TSV text; `path` is only used in error messages.
    ///
    /// Checks every line: three fields at least, numeric onset and offset, a non-empty word,
    /// a finite onset >= 0, a finite offset >= onset, and, when `run_end` (seconds) is given,
    /// an onset before the end of the run (`run_end = (n_scans, tr)`).
    pub fn parse_tsv(path: &Path, text: &str, run_end: Option<(usize, f64)>) -> Result<Words> {
        let mut lines = text.lines().enumerate().map(|(n, l)| (n + 1, l.strip_suffix('\r').unwrap_or(l)));
        let bad = |line: usize, reason: String| DataError::WordFile { path: path.to_path_buf(), line, reason };
        let header = lines.next().map(|(_, l)| l).unwrap_or("");
        let columns: Vec<&str> = header.split('\t').map(str::trim).collect();
        if columns.len() < 3 || columns[..3] != ["word", "onset", "offset"] {
            return Err(bad(1, format!("expected the header `word<TAB>onset<TAB>offset`, found {header:?}")));
        }
        let mut words = Words::default();
        for (line, content) in lines {
            if content.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = content.split('\t').collect();
            if fields.len() < 3 {
                return Err(bad(
                    line,
                    format!(
                        "expected 3 tab-separated fields (word, onset, offset), found {}: {content:?}",
                        fields.len()
                    ),
                ));
            }
            let word = fields[0].trim();
            let onset = parse_seconds(fields[1]).map_err(|r| bad(line, format!("onset {r}")))?;
            let offset = parse_seconds(fields[2]).map_err(|r| bad(line, format!("offset {r}")))?;
            check_word(path, line, word, onset, offset, run_end)?;
            words.push(word, onset, offset);
        }
        Ok(words)
    }

    /// Checks the timing of every word against a run of `n_scans` scans of `tr` seconds.
    /// Line numbers in errors assume the layout [`Words::write_tsv`] writes (header on line 1).
    pub fn check_timing(&self, path: &Path, run_end: Option<(usize, f64)>) -> Result<()> {
        for (n, ((w, &on), &off)) in self.word.iter().zip(&self.onset).zip(&self.offset).enumerate() {
            check_word(path, n + 2, w, on, off, run_end)?;
        }
        Ok(())
    }

    /// Writes a TSV word file atomically (header, then one `word<TAB>onset<TAB>offset` line per
    /// word, with the shortest decimal that reads back to the same f64).
    pub fn write_tsv(&self, path: &Path) -> Result<()> {
        if self.onset.len() != self.len() || self.offset.len() != self.len() {
            return Err(DataError::shape(
                "word list",
                format!("{} onsets and offsets", self.len()),
                format!("{} onsets, {} offsets", self.onset.len(), self.offset.len()),
            ));
        }
        if let Some(bad) = self.word.iter().find(|w| w.contains(['\t', '\n', '\r']) || w.trim().is_empty()) {
            return Err(DataError::shape(
                "word to write",
                "a non-empty word without tabs or newlines",
                format!("{bad:?}"),
            ));
        }
        write_atomic(path, |w| {
            let mut body = String::with_capacity(24 * self.len() + 20);
            body.push_str("word\tonset\toffset\n");
            for ((word, on), off) in self.word.iter().zip(&self.onset).zip(&self.offset) {
                body.push_str(&format!("{word}\t{on}\t{off}\n"));
            }
            w.write_all(body.as_bytes()).map_err(|e| DataError::write(path, e))
        })
    }
}

fn parse_seconds(field: &str) -> std::result::Result<f64, String> {
    let f = field.trim();
    f.parse::<f64>().map_err(|_| format!("{f:?} is not a number (seconds)"))
}

fn check_word(
    path: &Path,
    line: usize,
    word: &str,
    onset: f64,
    offset: f64,
    run_end: Option<(usize, f64)>,
) -> Result<()> {
    let timing =
        |reason: String| DataError::WordTiming { path: path.to_path_buf(), line, word: word.to_string(), reason };
    if word.is_empty() {
        return Err(DataError::WordFile { path: path.to_path_buf(), line, reason: "empty word".into() });
    }
    if !onset.is_finite() || onset < 0.0 {
        return Err(timing(format!("onset {onset} s: expected a finite number >= 0")));
    }
    if !offset.is_finite() || offset < onset {
        return Err(timing(format!("offset {offset} s: expected a finite number >= the onset ({onset} s)")));
    }
    match run_end {
        Some((n_scans, tr)) if onset >= n_scans as f64 * tr => Err(DataError::WordOutsideRun {
            path: path.to_path_buf(),
            line,
            word: word.to_string(),
            onset,
            n_scans,
            tr,
        }),
        _ => Ok(()),
    }
}

/// Reads the LPP corpus' word file (`lppEN_word_information.csv`, comma-separated, quoted
/// fields allowed) into one [`Words`] per run (`section` 1, 2, ... = run-01, run-02, ...).
///
/// Columns are found by name (`word`, `onset`, `offset`, `section`; others are ignored, in any
/// order). `drop_rows` lists 0-based data-row indices to skip (pandas' default index), e.g.
/// [`PAPER_DROPPED_ROWS_EN`] to reproduce the paper.
pub fn read_lpp_word_csv(path: &Path, drop_rows: &[usize]) -> Result<Vec<Words>> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::read(path, e))?;
    parse_lpp_word_csv(path, &text, drop_rows)
}

/// Parses the text of an LPP word CSV; `path` is only used in error messages.
pub fn parse_lpp_word_csv(path: &Path, text: &str, drop_rows: &[usize]) -> Result<Vec<Words>> {
    let bad = |line: usize, reason: String| DataError::WordFile { path: path.to_path_buf(), line, reason };
    let mut records = CsvRecords { text: text.strip_prefix('\u{feff}').unwrap_or(text), pos: 0, line: 1 };
    let (_, header) = records
        .next()
        .ok_or_else(|| bad(1, "empty file: expected a header line".into()))?
        .map_err(|(l, r)| bad(l, r))?;
    let find = |name: &str| header.iter().position(|c| c.trim().eq_ignore_ascii_case(name));
    let (Some(c_word), Some(c_on), Some(c_off), Some(c_sec)) =
        (find("word"), find("onset"), find("offset"), find("section"))
    else {
        return Err(bad(1, format!("expected columns `word`, `onset`, `offset` and `section`, found {header:?}")));
    };
    let needed = c_word.max(c_on).max(c_off).max(c_sec) + 1;
    let mut runs: Vec<Words> = Vec::new();
    let mut n_rows = 0;
    for record in records {
        let (line, fields) = record.map_err(|(l, r)| bad(l, r))?;
        if fields.len() == 1 && fields[0].trim().is_empty() {
            continue; // blank lines do not count as rows (as in pandas)
        }
        n_rows += 1;
        if drop_rows.contains(&(n_rows - 1)) {
            continue;
        }
        if fields.len() < needed {
            return Err(bad(line, format!("expected {} comma-separated fields, found {}", header.len(), fields.len())));
        }
        let word = fields[c_word].trim();
        let onset = parse_seconds(&fields[c_on]).map_err(|r| bad(line, format!("onset {r}")))?;
        let offset = parse_seconds(&fields[c_off]).map_err(|r| bad(line, format!("offset {r}")))?;
        let section = fields[c_sec].trim();
        let section = section
            .parse::<f64>()
            .ok()
            .filter(|s| s.fract() == 0.0 && *s >= 1.0 && *s <= 1000.0)
            .ok_or_else(|| bad(line, format!("section {section:?}: expected a run number 1, 2, ...")))?
            as usize;
        check_word(path, line, word, onset, offset, None)?;
        if runs.len() < section {
            runs.resize_with(section, Words::default);
        }
        runs[section - 1].push(word, onset, offset);
    }
    if let Some(empty) = runs.iter().position(Words::is_empty) {
        return Err(DataError::RunNumbering {
            dir: path.to_path_buf(),
            reason: format!(
                "section {} has no word, but later sections do: sections must be 1, 2, ... without gaps",
                empty + 1
            ),
        });
    }
    if runs.is_empty() {
        return Err(bad(2, "no word rows".into()));
    }
    Ok(runs)
}

/// RFC 4180 records: quoted fields may hold commas, doubled quotes and newlines.
struct CsvRecords<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl Iterator for CsvRecords<'_> {
    /// (first line of the record, fields) or (line, what is wrong).
    type Item = std::result::Result<(usize, Vec<String>), (usize, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.text.len() {
            return None;
        }
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut chars = self.text[self.pos..].char_indices().peekable();
        let mut in_quotes = false;
        let mut at_field_start = true;
        let mut consumed = self.text.len() - self.pos;
        while let Some((i, c)) = chars.next() {
            match (in_quotes, c) {
                (true, '"') => {
                    if chars.peek().map(|&(_, n)| n) == Some('"') {
                        field.push('"');
                        chars.next();
                    } else {
                        in_quotes = false;
                    }
                }
                (true, '\n') => {
                    self.line += 1;
                    field.push('\n');
                }
                (true, c) => field.push(c),
                (false, '"') if at_field_start => {
                    in_quotes = true;
                    at_field_start = false;
                }
                (false, ',') => {
                    fields.push(std::mem::take(&mut field));
                    at_field_start = true;
                }
                (false, '\r') => {}
                (false, '\n') => {
                    self.line += 1;
                    consumed = i + 1;
                    break;
                }
                (false, c) => {
                    field.push(c);
                    at_field_start = false;
                }
            }
        }
        self.pos += consumed;
        if in_quotes {
            self.pos = self.text.len();
            return Some(Err((start_line, "unterminated quoted field".into())));
        }
        fields.push(field);
        Some(Ok((start_line, fields)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("words/run-01.tsv")
    }

    #[test]
    fn parses_tsv_with_extra_columns_and_crlf() {
        let text = "word\tonset\toffset\tpos\r\nonce\t0.5\t0.8\tADV\r\n\r\nupon\t0.9\t1.2\tADP\r\n";
        let w = Words::parse_tsv(p(), text, Some((10, 2.0))).unwrap();
        assert_eq!(w.word, vec!["once", "upon"]);
        assert_eq!(w.onset, vec![0.5, 0.9]);
        assert_eq!(w.durations().len(), 2);
        assert_eq!(w.joined(), "once upon");
    }

    fn err(text: &str) -> DataError {
        Words::parse_tsv(p(), text, Some((10, 2.0))).unwrap_err()
    }

    #[test]
    fn tsv_errors_name_file_and_line() {
        let e = err("word,onset,offset\n");
        assert!(matches!(e, DataError::WordFile { line: 1, .. }), "{e}");
        let e = err("word\tonset\toffset\nonce\t0.5\n");
        assert!(matches!(e, DataError::WordFile { line: 2, .. }), "{e}");
        assert!(e.to_string().contains("words/run-01.tsv, line 2"), "{e}");
        let e = err("word\tonset\toffset\nonce\t0.5\t0.6\nupon\tabc\t1\n");
        assert!(matches!(e, DataError::WordFile { line: 3, .. }), "{e}");
        let e = err("word\tonset\toffset\nonce\t-0.5\t0.6\n");
        assert!(matches!(e, DataError::WordTiming { line: 2, .. }), "{e}");
        let e = err("word\tonset\toffset\nonce\tnan\t0.6\n");
        assert!(matches!(e, DataError::WordTiming { line: 2, .. }), "{e}");
        let e = err("word\tonset\toffset\nonce\t0.7\t0.6\n");
        assert!(matches!(e, DataError::WordTiming { line: 2, .. }), "{e}");
        let e = err("word\tonset\toffset\nonce\t0.5\t0.6\n\nlate\t20.0\t20.3\n");
        assert!(matches!(e, DataError::WordOutsideRun { line: 4, ref word, .. } if word == "late"), "{e}");
        assert!(e.to_string().contains("20 s"), "{e}");
    }

    #[test]
    fn tsv_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.tsv");
        let mut w = Words::default();
        w.push("don't", 0.1 + 0.2, 0.55);
        w.push("well-worn", 1.0 / 3.0, 0.9);
        w.write_tsv(&path).unwrap();
        assert_eq!(Words::read_tsv(&path).unwrap(), w);
        w.push("bad\tword", 1.0, 1.1);
        assert!(w.write_tsv(&path).is_err());
    }

    #[test]
    fn lpp_csv_with_quotes_and_any_column_order() {
        let text = "\u{feff},section,word,lemma,offset,onset\n\
                    0,1,Once,once,0.9,0.5\n\
                    1,1,\"\"\"upon\"\"\",upon,1.3,1.0\n\
                    2,2,\"a, b\",\"multi\nline\",2.5,2.0\n\
                    3,2,skipme,x,3.5,3.0\n\
                    4,2,time,time,4.5,4.0\n";
        let runs = parse_lpp_word_csv(Path::new("lpp.csv"), text, &[3]).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].word, vec!["Once", "\"upon\""]);
        assert_eq!(runs[1].word, vec!["a, b", "time"]);
        assert_eq!(runs[1].onset, vec![2.0, 4.0]);
    }

    #[test]
    fn lpp_csv_errors_name_the_line() {
        let header = "word,onset,offset,section\n";
        let e = parse_lpp_word_csv(Path::new("lpp.csv"), "word,onset,section\n", &[]).unwrap_err();
        assert!(matches!(e, DataError::WordFile { line: 1, .. }), "{e}");
        let e = parse_lpp_word_csv(Path::new("lpp.csv"), &format!("{header}a,1,2,1\nb,x,2,1\n"), &[]).unwrap_err();
        assert!(matches!(e, DataError::WordFile { line: 3, .. }), "{e}");
        let e = parse_lpp_word_csv(Path::new("lpp.csv"), &format!("{header}a,1,2,one\n"), &[]).unwrap_err();
        assert!(matches!(e, DataError::WordFile { line: 2, .. }), "{e}");
        let e = parse_lpp_word_csv(Path::new("lpp.csv"), &format!("{header}\"a,1,2,1\n"), &[]).unwrap_err();
        assert!(e.to_string().contains("unterminated"), "{e}");
        let e = parse_lpp_word_csv(Path::new("lpp.csv"), &format!("{header}a,1,2,1\nb,3,4,3\n"), &[]).unwrap_err();
        assert!(matches!(e, DataError::RunNumbering { .. }), "{e}");
        let e = parse_lpp_word_csv(Path::new("lpp.csv"), &format!("{header}a,3,2,1\n"), &[]).unwrap_err();
        assert!(matches!(e, DataError::WordTiming { line: 2, .. }), "{e}");
    }
}
