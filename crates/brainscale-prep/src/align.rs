//! Every mismatch between a run's annotated words and its punctuated text.
//!
//! Feature extraction (SPEC 3.3) locates each word in the run's text by a forward search that
//! compares only letters and digits, lower-cased. That search fails, or worse, silently lands
//! on the wrong place, when the two sources disagree. Here both are folded the same way (letters
//! and digits, lower-cased) and diffed character by character (Myers, `similar`); each
//! difference is reported with the run, the word's index and table row, the annotation's
//! word(s) and the text's word(s):
//!
//! * `replaced`: the annotation's word(s) differ from the text there;
//! * `annotation-only`: words of the annotation that the text lacks;
//! * `text-only`: text that no annotated word covers (e.g. an unread heading). Not an error:
//!   SPEC 3.3 gives it to the previous word; but check it in the report, as the forward search
//!   may place a following word inside it.
//!
//! Character differences are grouped into words: a difference inside a word makes that whole
//! word (and the text word(s) facing it) one `replaced` mismatch. All but `text-only` would
//! corrupt the features, so they stop `brainscale prepare` until a correction is recorded (see
//! [`crate::annotation`]).

use std::fmt;
use std::io::Write;
use std::ops::Range;
use std::path::Path;
use std::time::{Duration, Instant};

use brainscale_plugin_abi::matching::fold_char;
use similar::{Algorithm, DiffOp, DiffTag, capture_diff_slices_deadline};

use crate::error::{PrepError, Result};

/// What kind of difference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MismatchKind {
    /// The annotation's word(s) differ from the text.
    Replaced,
    /// Annotated words absent from the text.
    AnnotationOnly,
    /// Text covered by no annotated word (not an error).
    TextOnly,
}

impl MismatchKind {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            MismatchKind::Replaced => "replaced",
            MismatchKind::AnnotationOnly => "annotation-only",
            MismatchKind::TextOnly => "text-only",
        }
    }

    /// Whether it stops the preparation.
    pub fn is_error(self) -> bool {
        self != MismatchKind::TextOnly
    }
}

/// One difference between the annotation and the text of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The run (1-based).
    pub run: usize,
    /// 1-based index in the run of the first word involved (for text-only: the next word).
    pub word_index: usize,
    /// Its row in the word table, when it has one.
    pub row: Option<usize>,
    /// What kind of difference.
    pub kind: MismatchKind,
    /// The annotation's word(s).
    pub annotation: String,
    /// The text's word(s).
    pub text: String,
    /// The text around the place.
    pub context: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "run {}, word {}", self.run, self.word_index)?;
        if let Some(r) = self.row {
            write!(f, " (row {r})")?;
        }
        write!(
            f,
            ": {} annotation {:?} vs text {:?} in \"{}\"",
            self.kind.name(),
            self.annotation,
            self.text,
            self.context
        )
    }
}

/// How long the diff of one run may take before settling for a non-minimal one.
const DIFF_DEADLINE: Duration = Duration::from_secs(20);
/// Characters of context on each side.
const CONTEXT: usize = 30;

/// The differences between `words` (with their table `rows`) and `text` for run `run`.
pub fn align_run(run: usize, words: &[String], rows: &[usize], text: &str) -> Vec<Mismatch> {
    let text_chars: Vec<char> = text.chars().collect();
    // Folded annotation: characters and the word each comes from.
    let (mut a, mut a_word) = (Vec::new(), Vec::new());
    let mut word_start = vec![None; words.len()];
    for (w, word) in words.iter().enumerate() {
        for c in word.chars().flat_map(fold_char) {
            if word_start[w].is_none() {
                word_start[w] = Some(a.len());
            }
            a.push(c);
            a_word.push(w);
        }
    }
    // Folded text: characters and their positions in the text.
    let (mut t, mut t_pos) = (Vec::new(), Vec::new());
    for (i, &c) in text_chars.iter().enumerate() {
        for l in fold_char(c) {
            t.push(l);
            t_pos.push(i);
        }
    }
    let ops = capture_diff_slices_deadline(Algorithm::Myers, &a, &t, Some(Instant::now() + DIFF_DEADLINE));
    let ops = slide_to_word_boundaries(ops.iter().map(DiffOp::as_tag_tuple).collect(), &a, &t, &a_word);
    let row_of = |w: usize| rows.get(w).copied();
    let words_of = |from: usize, to: usize| words[from..=to].join(" ");
    // The text's whole words (whitespace-delimited) covering characters from..to.
    let text_span = |from: usize, to: usize| -> String {
        let mut s = from;
        while s > 0 && !text_chars[s - 1].is_whitespace() {
            s -= 1;
        }
        let mut e = to;
        while e < text_chars.len() && !text_chars[e].is_whitespace() {
            e += 1;
        }
        text_chars[s..e].iter().collect()
    };
    let context = |at: usize| -> String {
        let at = at.min(text_chars.len());
        let s = at.saturating_sub(CONTEXT);
        let e = (at + CONTEXT).min(text_chars.len());
        text_chars[s..e].iter().collect::<String>().replace(['\n', '\t', '\r'], " ")
    };
    // Text position of the folded text index `k` (the end of the text past the last one).
    let pos = |k: usize| t_pos.get(k).copied().unwrap_or(text_chars.len());

    // Differences as (annotation words, text range): a difference that touches a word takes the
    // whole word; differences touching the same words are merged.
    struct Hunk {
        words: Option<(usize, usize)>,
        text: (usize, usize),
        has_text: bool,
    }
    let mut hunks: Vec<Hunk> = Vec::new();
    let mut a_to_t: Vec<Option<usize>> = vec![None; a.len()];
    for (tag, ar, tr) in ops {
        if tag == DiffTag::Equal {
            for (i, k) in ar.clone().zip(tr.clone()) {
                a_to_t[i] = Some(k);
            }
            continue;
        }
        let words = if ar.is_empty() {
            // An insertion inside a word belongs to that word.
            match (ar.start.checked_sub(1).map(|i| a_word[i]), a_word.get(ar.start)) {
                (Some(prev), Some(&next)) if prev == next => Some((next, next)),
                _ => None,
            }
        } else {
            Some((a_word[ar.start], a_word[ar.end - 1]))
        };
        let text = (pos(tr.start), if tr.is_empty() { pos(tr.start) } else { pos(tr.end - 1) + 1 });
        let hunk = Hunk { words, text, has_text: !tr.is_empty() };
        match (hunks.last_mut(), hunk.words) {
            (Some(last), Some((w0, w1))) if last.words.is_some_and(|(_, l1)| w0 <= l1) => {
                let (l0, l1) = last.words.unwrap_or((w0, w1));
                last.words = Some((l0.min(w0), l1.max(w1)));
                last.text = (last.text.0.min(hunk.text.0), last.text.1.max(hunk.text.1));
                last.has_text |= hunk.has_text;
            }
            _ => hunks.push(hunk),
        }
    }
    let mut out = Vec::with_capacity(hunks.len());
    for h in hunks {
        match h.words {
            None => {
                let next_word = (0..words.len())
                    .find(|&w| word_start[w].and_then(|s| a_to_t[s]).is_some_and(|k| pos(k) >= h.text.1));
                let w = next_word.unwrap_or(words.len());
                out.push(Mismatch {
                    run,
                    word_index: w + 1,
                    row: row_of(w),
                    kind: MismatchKind::TextOnly,
                    annotation: String::new(),
                    text: text_span(h.text.0, h.text.1),
                    context: context(h.text.0),
                });
            }
            Some((w0, w1)) => {
                // The text facing the words: their matched characters and the hunk's text.
                let mut lo = h.text.0;
                let mut hi = h.text.1;
                let mut any_matched = false;
                for (i, &w) in a_word.iter().enumerate() {
                    if (w0..=w1).contains(&w)
                        && let Some(k) = a_to_t[i]
                    {
                        lo = lo.min(pos(k));
                        hi = hi.max(pos(k) + 1);
                        any_matched = true;
                    }
                }
                let (kind, text) = if !any_matched && !h.has_text {
                    (MismatchKind::AnnotationOnly, String::new())
                } else {
                    (MismatchKind::Replaced, text_span(lo, hi))
                };
                out.push(Mismatch {
                    run,
                    word_index: w0 + 1,
                    row: row_of(w0),
                    kind,
                    annotation: words_of(w0, w1),
                    text,
                    context: context(lo),
                });
            }
        }
    }
    out
}

/// One step of a diff: its kind, the annotation's range and the text's range (folded indices).
type Op = (DiffTag, Range<usize>, Range<usize>);

/// Moves every insertion (text only) and deletion (annotation only) that a minimal diff put
/// inside an annotated word to the nearest word boundary where it can go without changing the
/// diff. Myers' diff is minimal but blind to words: `knees one` against the text `knees, of
/// one` comes out as `kneeso[fo]ne`, a change inside `one`, though `knees[of]one` is the same
/// edit; likewise `said that` against `said: "There... that's` gives `saidth[ereth]at`. An
/// insertion can move one character left when the character before it equals its last one
/// (right: the character after it equals its first one), and a deletion likewise on the
/// annotation's side.
fn slide_to_word_boundaries(mut ops: Vec<Op>, a: &[char], t: &[char], a_word: &[usize]) -> Vec<Op> {
    let mut m = 0;
    while m < ops.len() {
        slide_one(&mut ops, m, a, t, a_word);
        m += 1;
    }
    ops.retain(|o| !(o.0 == DiffTag::Equal && o.1.is_empty()));
    ops
}

/// [`slide_to_word_boundaries`] for the step `ops[m]`.
fn slide_one(ops: &mut Vec<Op>, m: usize, a: &[char], t: &[char], a_word: &[usize]) {
    let boundary = |i: usize| i == 0 || i >= a.len() || a_word[i - 1] != a_word[i];
    {
        let (tag, ar, tr) = ops[m].clone();
        let insert = tag == DiffTag::Insert || (tag != DiffTag::Equal && ar.is_empty());
        let delete = tag == DiffTag::Delete || (tag != DiffTag::Equal && tr.is_empty());
        if !(insert || delete) {
            return;
        }
        // The moving side (the inserted text or the deleted annotation) and the edges that must
        // reach word boundaries.
        let (seq, moving) = if insert { (t, tr.clone()) } else { (a, ar.clone()) };
        let at_boundary = |shift: isize| {
            let s = (ar.start as isize + shift) as usize;
            let e = (ar.end as isize + shift) as usize;
            boundary(s) && boundary(e)
        };
        if at_boundary(0) || moving.is_empty() {
            return;
        }
        let equal = |k: usize| ops.get(k).filter(|o| o.0 == DiffTag::Equal).map(|o| o.1.len());
        let room_left = m.checked_sub(1).and_then(equal).unwrap_or(0);
        let room_right = equal(m + 1).unwrap_or(0);
        let left = (1..=room_left)
            .take_while(|&k| seq[moving.start - k] == seq[moving.end - k])
            .find(|&k| at_boundary(-(k as isize)));
        let right = (1..=room_right)
            .take_while(|&k| seq[moving.start + k - 1] == seq[moving.end + k - 1])
            .find(|&k| at_boundary(k as isize));
        let shift = match (left, right) {
            (Some(l), Some(r)) if r < l => r as isize,
            (Some(l), _) => -(l as isize),
            (None, Some(r)) => r as isize,
            (None, None) => return,
        };
        let mv = |r: &Range<usize>, by: isize| (r.start as isize + by) as usize..(r.end as isize + by) as usize;
        ops[m] = (tag, mv(&ar, shift), mv(&tr, shift));
        if shift < 0 {
            let prev = &mut ops[m - 1];
            prev.1.end = (prev.1.end as isize + shift) as usize;
            prev.2.end = (prev.2.end as isize + shift) as usize;
            let next = ops.get_mut(m + 1).filter(|o| o.0 == DiffTag::Equal);
            match next {
                Some(next) => {
                    next.1.start = (next.1.start as isize + shift) as usize;
                    next.2.start = (next.2.start as isize + shift) as usize;
                }
                None => {
                    let (a0, t0) = (ops[m].1.end, ops[m].2.end);
                    let k = (-shift) as usize;
                    ops.insert(m + 1, (DiffTag::Equal, a0..a0 + k, t0..t0 + k));
                }
            }
        } else {
            let next = &mut ops[m + 1];
            next.1.start = (next.1.start as isize + shift) as usize;
            next.2.start = (next.2.start as isize + shift) as usize;
            match m.checked_sub(1).and_then(|p| ops.get_mut(p)).filter(|o| o.0 == DiffTag::Equal) {
                Some(prev) => {
                    prev.1.end = (prev.1.end as isize + shift) as usize;
                    prev.2.end = (prev.2.end as isize + shift) as usize;
                }
                None => {
                    let (a0, t0) = (ops[m].1.start, ops[m].2.start);
                    let k = shift as usize;
                    ops.insert(m, (DiffTag::Equal, a0 - k..a0, t0 - k..t0));
                }
            }
        }
    }
}

/// Writes the mismatches as TSV (run, word, row, kind, annotation, text, context).
pub fn write_report(path: &Path, mismatches: &[Mismatch]) -> Result<()> {
    brainscale_data::write_atomic(path, |w| -> Result<()> {
        let mut out = csv::WriterBuilder::new().delimiter(b'\t').from_writer(Vec::new());
        let io = |e: csv::Error| PrepError::write(path, std::io::Error::other(e.to_string()));
        out.write_record(["run", "word", "row", "kind", "annotation", "text", "context"]).map_err(io)?;
        for m in mismatches {
            let row = m.row.map(|r| r.to_string()).unwrap_or_default();
            out.write_record([
                m.run.to_string().as_str(),
                m.word_index.to_string().as_str(),
                row.as_str(),
                m.kind.name(),
                m.annotation.as_str(),
                m.text.as_str(),
                m.context.as_str(),
            ])
            .map_err(io)?;
        }
        let bytes = out.into_inner().map_err(|e| PrepError::write(path, std::io::Error::other(e.to_string())))?;
        w.write_all(&bytes).map_err(|e| PrepError::write(path, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn run(w: &str, text: &str) -> Vec<Mismatch> {
        let w = words(w);
        let rows: Vec<usize> = (100..100 + w.len()).collect();
        align_run(3, &w, &rows, text)
    }

    #[test]
    fn agreeing_sources_have_no_mismatch() {
        assert!(run("once upon a time there was nt", "Once upon a time, there wasn't...").is_empty());
        assert!(run("it s well worn", "\"It's well-worn.\"").is_empty());
    }

    #[test]
    fn a_replaced_word_is_reported_with_both_words() {
        let m = run("the king s minister said", "The king's Minster said.");
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0].kind, MismatchKind::Replaced);
        assert_eq!((m[0].run, m[0].word_index, m[0].row), (3, 4, Some(103)));
        assert_eq!(m[0].annotation, "minister");
        assert_eq!(m[0].text, "Minster");
        assert!(m[0].to_string().contains("run 3, word 4 (row 103)"), "{}", m[0]);
    }

    #[test]
    fn missing_and_extra_words() {
        let m = run("he said hello there friend", "He said there, friend.");
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!((m[0].kind, m[0].annotation.as_str(), m[0].word_index), (MismatchKind::AnnotationOnly, "hello", 3));
        let m = run("chapter one starts", "Chapter I. Chapter one starts");
        assert!(m.iter().all(|m| !m.kind.is_error()), "{m:?}");
        assert!(m.iter().any(|m| m.kind == MismatchKind::TextOnly), "{m:?}");
    }

    #[test]
    fn differences_inside_words_make_one_replaced_word() {
        let m = run("once upon a time in africa", "Once upon a tyme in Afrika.");
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m.iter().all(|m| m.kind == MismatchKind::Replaced), "{m:?}");
        assert_eq!((m[0].annotation.as_str(), m[0].text.as_str(), m[0].word_index), ("time", "tyme", 4));
        assert_eq!((m[1].annotation.as_str(), m[1].text.as_str()), ("africa", "Afrika."));
        let m = run("one two", "One (extra) two");
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!((m[0].kind, m[0].text.as_str(), m[0].word_index), (MismatchKind::TextOnly, "(extra)", 2));
    }

    /// The three places where the real English table and the paper's texts disagree (rows 364,
    /// 10257 and 14861 of lppEN_word_information.csv): none is an error.
    #[test]
    fn the_lpp_english_cases_are_not_errors() {
        // a number read as a word, written in digits
        assert!(
            run("showing them my drawing number one that i ve", "showing them my Drawing Number 1, that I've")
                .is_empty()
        );
        // a text-only word before a word that begins with the same letter
        let m = run(
            "and my three volcanoes that come up to my knees one which is",
            "And my three volcanoes that come up to my knees, of one which is",
        );
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!((m[0].kind, m[0].text.as_str(), m[0].word_index), (MismatchKind::TextOnly, "of", 11));
        // a text-only word in quotes with an ellipsis, before a word that shares its letters
        let m = run("he said that s everything", "He said:\n“There... that’s everything...”");
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!((m[0].kind, m[0].word_index), (MismatchKind::TextOnly, 3));
        assert!(m[0].text.contains("There"), "{m:?}");
        // digit names read as one word each
        assert!(
            run(
                "the asteroids three two five three two six and three three zero so",
                "the asteroids 3 2 5, 3 2 6, and 3 3 0. So"
            )
            .is_empty()
        );
        assert!(run("asteroid b 612", "asteroid B-612.").is_empty());
    }

    #[test]
    fn an_annotation_only_word_is_a_whole_word() {
        let m = run("the man made many maps", "The man many maps.");
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!((m[0].kind, m[0].annotation.as_str(), m[0].word_index), (MismatchKind::AnnotationOnly, "made", 3));
    }

    #[test]
    fn report_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alignment.tsv");
        let m = run("the minister said", "The Minster\tsaid");
        write_report(&path, &m).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("run\tword\trow\tkind\tannotation\ttext\tcontext\n"), "{text}");
        assert!(text.contains("3\t2\t101\treplaced\tminister\tMinster"), "{text}");
    }
}
