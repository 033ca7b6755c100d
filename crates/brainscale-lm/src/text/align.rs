//! SPEC 3.3: locate each word in the run's text, find its first token, pool its tokens.
//!
//! Words are searched in order, each forward from the end of the previous match, comparing
//! only letters and digits, lower-cased (`wellworn` matches `well-worn`, `dont` matches
//! `don't`), with each ASCII digit read as its English name (the word `one` matches the text's
//! `1`, `three two five` matches `325`: [`brainscale_plugin_abi::matching`], shared with
//! `brainscale prepare`'s check). Positions are Unicode characters.
//!
//! Two choices the SPEC leaves open, made here:
//!
//! * Several words inside one token (`cannot` heard as `can` + `not`; a CJK token holding
//!   two words): each word's first token is the token holding its first letter, so they share
//!   it; the pooling range "from the word's first token up to the next word's first token" is
//!   then empty and becomes that one token ("at least one token"). Each such word gets the
//!   hidden state of the shared token; no word takes tokens from its neighbours.
//! * A word with no letter or digit (`—`, `...`): it is placed at the first non-space
//!   character after the previous match, so it takes the token there; no text left is an
//!   alignment error.

use std::ops::Range;

use brainscale_plugin_abi::matching::fold_char;

use crate::LmError;

/// The text's letters and digits, lower-cased, each with its character position.
struct Folded {
    chars: Vec<char>,
    positions: Vec<usize>,
}

fn fold(text: &str) -> Folded {
    let mut chars = Vec::with_capacity(text.len());
    let mut positions = Vec::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        for l in fold_char(c) {
            chars.push(l);
            positions.push(i);
        }
    }
    Folded { chars, positions }
}

fn fold_word(word: &str) -> Vec<char> {
    word.chars().flat_map(fold_char).collect()
}

/// The character position of each word's first letter or digit in `text` (SPEC 3.3).
///
/// `run` names the run in errors (e.g. `run-03`). A word that cannot be found is an
/// [`LmError::Alignment`] naming the run, the word's 1-based index, the word and the text
/// around the place the search started.
///
/// ```
/// use brainscale_lm::text::word_positions;
/// let words = ["It's".to_string(), "wellworn".into()];
/// assert_eq!(word_positions("\"It's well-worn.\"", &words, "run-01")?, [1, 6]);
/// # Ok::<(), brainscale_lm::LmError>(())
/// ```
pub fn word_positions(text: &str, words: &[String], run: &str) -> Result<Vec<usize>, LmError> {
    let folded = fold(text);
    let text_chars: Vec<char> = text.chars().collect();
    let mut cursor = 0; // index into `folded`
    let mut char_cursor = 0; // character position just after the previous match
    let mut out = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let pattern = fold_word(word);
        let found = if pattern.is_empty() {
            (char_cursor..text_chars.len())
                .find(|&p| !text_chars[p].is_whitespace())
                .map(|p| (p, p + 1, cursor + folded.positions[cursor..].iter().take_while(|&&q| q <= p).count()))
        } else {
            find(&folded.chars[cursor..], &pattern).map(|at| {
                let start = cursor + at;
                let end = start + pattern.len();
                (folded.positions[start], folded.positions[end - 1] + 1, end)
            })
        };
        let Some((position, next_char, next)) = found else {
            return Err(not_found(&text_chars, char_cursor, i, word, run));
        };
        out.push(position);
        cursor = next;
        char_cursor = next_char;
    }
    Ok(out)
}

fn find(haystack: &[char], needle: &[char]) -> Option<usize> {
    if needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn not_found(text: &[char], from: usize, index: usize, word: &str, run: &str) -> LmError {
    const CONTEXT: usize = 60;
    let from = from.min(text.len());
    let start = from.saturating_sub(CONTEXT / 2);
    let end = (from + CONTEXT).min(text.len());
    let before: String = text[start..from].iter().collect();
    let after: String = text[from..end].iter().collect();
    let ellipsis = |b: bool| if b { "…" } else { "" };
    LmError::Alignment(format!(
        "{run}: word {} {word:?} not found in the text after character {from} (the text there: \"{}{before}⟨here⟩{after}{}\"); \
         the words (words/*.tsv) must appear in order in the run's text (text/*.txt), comparing letters and digits \
         only: fix the word or the text",
        index + 1,
        ellipsis(start > 0),
        ellipsis(end < text.len()),
    ))
}

/// Each word's first token: the first token whose span contains the word's first letter
/// (`positions` from [`word_positions`], `offsets` the tokens' character spans). Errors when
/// no token covers a word (e.g. text the tokenizer dropped), naming the run and the word.
pub fn first_tokens(
    positions: &[usize],
    offsets: &[(usize, usize)],
    words: &[String],
    run: &str,
) -> Result<Vec<usize>, LmError> {
    let mut token = 0;
    let mut out = Vec::with_capacity(positions.len());
    for (i, &p) in positions.iter().enumerate() {
        while token < offsets.len() && offsets[token].1 <= p {
            token += 1;
        }
        if token == offsets.len() {
            let word = words.get(i).map(String::as_str).unwrap_or("");
            return Err(LmError::Alignment(format!(
                "{run}: word {} {word:?} (character {p}) is covered by no token: the tokenizer produced {} tokens \
                 ending at character {}; check the run's text for characters the tokenizer drops",
                i + 1,
                offsets.len(),
                offsets.last().map_or(0, |o| o.1)
            )));
        }
        out.push(token);
    }
    Ok(out)
}

/// Each word's token range for pooling: from its first token up to (excluding) the next
/// word's first token, at least one token; the last word runs to `n_tokens`.
///
/// ```
/// use brainscale_lm::text::word_spans;
/// assert_eq!(word_spans(&[0, 2, 2, 3], 6), [0..2, 2..3, 2..3, 3..6]);
/// ```
pub fn word_spans(first: &[usize], n_tokens: usize) -> Vec<Range<usize>> {
    first
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            let end = first.get(i + 1).copied().unwrap_or(n_tokens);
            start..end.max(start + 1)
        })
        .collect()
}

/// Mean-pools token rows into word rows: `hidden` is `[n_tokens, dim]` row-major, the result
/// `[spans.len(), dim]` row-major. Sums are taken in f64.
pub fn pool(hidden: &[f32], dim: usize, spans: &[Range<usize>]) -> Vec<f32> {
    let mut out = Vec::with_capacity(spans.len() * dim);
    let mut acc = vec![0f64; dim];
    for span in spans {
        acc.iter_mut().for_each(|a| *a = 0.0);
        for t in span.clone() {
            for (a, &h) in acc.iter_mut().zip(&hidden[t * dim..(t + 1) * dim]) {
                *a += f64::from(h);
            }
        }
        let n = span.len().max(1) as f64;
        out.extend(acc.iter().map(|a| (a / n) as f32));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    fn pos(text: &str, words: &[&str]) -> Vec<usize> {
        word_positions(text, &w(words), "run-01").unwrap()
    }

    #[test]
    fn punctuation_quotes_apostrophes_and_hyphens_are_ignored() {
        assert_eq!(pos("\"Well,\" she said.", &["well", "she", "said"]), [1, 8, 12]);
        assert_eq!(pos("I don't know", &["I", "dont", "know"]), [0, 2, 8]);
        assert_eq!(pos("I don't know", &["I", "don't", "know"]), [0, 2, 8]);
        assert_eq!(pos("a well-worn path", &["a", "wellworn", "path"]), [0, 2, 12]);
        assert_eq!(pos("a wellworn path", &["a", "well-worn", "path"]), [0, 2, 11]);
        assert_eq!(pos("l'homme", &["l", "homme"]), [0, 2]);
    }

    #[test]
    fn digits_and_case() {
        assert_eq!(pos("In 1984, 2 PM", &["in", "1984", "2", "pm"]), [0, 3, 9, 11]);
    }

    #[test]
    fn digits_read_as_words_match_the_digits() {
        // the LPP English table reads "Drawing Number 1," as "drawing number one", and the
        // asteroids "3 2 5, 3 2 6" as "three two five", "three two six"
        assert_eq!(pos("my Drawing Number 1, that", &["my", "drawing", "number", "one", "that"]), [0, 3, 11, 18, 21]);
        assert_eq!(
            pos("asteroids 3 2 5, 3 2 6, and", &["asteroids", "three two five", "three two six", "and"]),
            [0, 10, 17, 24]
        );
        // the nearest match wins: "one" is not looked for further on
        assert_eq!(pos("Number 1, not one", &["number", "one", "not"]), [0, 7, 10]);
    }

    #[test]
    fn non_ascii_letters_count_in_characters() {
        assert_eq!(pos("Été à Paris", &["été", "à", "paris"]), [0, 4, 6]);
        assert_eq!(pos("Die Straße, señor", &["die", "straße", "señor"]), [0, 4, 12]);
        assert_eq!(pos("日本語の文", &["日本語", "の", "文"]), [0, 3, 4]);
        assert_eq!(pos("ÉCOLE", &["école"]), [0]);
    }

    #[test]
    fn search_moves_forward_only() {
        // the second "the" is found after the first, not at the same place
        assert_eq!(pos("the cat saw the dog", &["the", "cat", "saw", "the", "dog"]), [0, 4, 8, 12, 16]);
        // a word's letters inside a longer word: found there (letters only are compared)
        assert_eq!(pos("unhappiness", &["un", "happiness"]), [0, 2]);
    }

    #[test]
    fn words_without_letters_take_the_next_non_space_character() {
        assert_eq!(pos("yes — no", &["yes", "—", "no"]), [0, 4, 6]);
    }

    #[test]
    fn a_missing_word_is_an_error_naming_run_index_word_and_context() {
        let e = word_positions("the cat sat", &w(&["the", "dog"]), "run-07").unwrap_err();
        let m = e.to_string();
        assert!(matches!(e, LmError::Alignment(_)));
        assert!(m.contains("run-07") && m.contains("word 2") && m.contains("\"dog\"") && m.contains("cat sat"), "{m}");
        // a word that occurs only before the previous match is not found either
        assert!(word_positions("cat the", &w(&["the", "cat"]), "r").is_err());
        assert!(word_positions("   ", &w(&["..."]), "r").is_err());
    }

    #[test]
    fn first_token_is_the_one_containing_the_first_letter() {
        // GPT-2 style spans that include the leading space
        let text = "Hello, well-worn world";
        let offsets = [(0, 5), (5, 6), (6, 11), (11, 12), (12, 16), (16, 22)];
        let words = w(&["hello", "wellworn", "world"]);
        let p = word_positions(text, &words, "r").unwrap();
        assert_eq!(first_tokens(&p, &offsets, &words, "r").unwrap(), [0, 2, 5]);
        assert_eq!(word_spans(&[0, 2, 5], 6), [0..2, 2..5, 5..6]);
    }

    #[test]
    fn consecutive_words_in_one_token_share_it() {
        let text = "I cannot go";
        let offsets = [(0, 1), (1, 8), (8, 11)];
        let words = w(&["I", "can", "not", "go"]);
        let p = word_positions(text, &words, "r").unwrap();
        assert_eq!(p, [0, 2, 5, 9]);
        let first = first_tokens(&p, &offsets, &words, "r").unwrap();
        assert_eq!(first, [0, 1, 1, 2]);
        assert_eq!(word_spans(&first, 3), [0..1, 1..2, 1..2, 2..3]);
    }

    #[test]
    fn split_characters_take_the_first_token() {
        // a CJK character split over two byte-level tokens: both carry its span
        let offsets = [(0, 1), (0, 1), (1, 2)];
        let words = w(&["日本"]);
        assert_eq!(first_tokens(&[0], &offsets, &words, "r").unwrap(), [0]);
        assert!(first_tokens(&[5], &offsets, &words, "r").is_err());
    }

    #[test]
    fn pooling_is_the_mean_of_each_span() {
        let hidden = [1.0, 10.0, 3.0, 30.0, 5.0, 50.0];
        assert_eq!(pool(&hidden, 2, &[0..2, 2..3, 2..3]), [2.0, 20.0, 5.0, 50.0, 5.0, 50.0]);
    }
}
