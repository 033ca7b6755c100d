//! How words are compared with a run's text (SPEC 3.3), shared by the host and the extractors.
//!
//! `brainscale prepare` checks a word table against the run texts on the host, and every
//! language-model extractor locates the same words in the same texts inside its plugin. Both
//! fold text with [`fold_char`], so the check and the extraction can never disagree.
//!
//! Folding keeps letters and digits, lower-cased (punctuation, apostrophes, hyphens and
//! whitespace are dropped: `well-worn` folds like `wellworn`), and reads each ASCII digit as
//! its English name, so that a number the reader spoke as digit names matches the text's
//! digits either way: the word `one` matches the text's `1`, the word `three two five` matches
//! `325`, and the word `325` still matches `325`. That is what the paper's own matching
//! accepts (`one` for `1`, `threetwofive` for `3 2 5`); a text without digits folds as before.
//!
//! ```
//! use brainscale_plugin_abi::matching::fold_char;
//! let fold = |s: &str| s.chars().flat_map(fold_char).collect::<String>();
//! assert_eq!(fold("Number 1,"), fold("number one"));
//! assert_eq!(fold("3 2 5"), fold("three two five"));
//! assert_eq!(fold("Well-worn"), "wellworn");
//! ```

/// The English names of the digits 0-9, as the word tables spell digits read aloud.
pub const DIGIT_NAMES: [&str; 10] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

/// What one character of a text folds to: nothing (punctuation, whitespace), its lower-case
/// form (letters, non-ASCII digits), or the name of an ASCII digit.
pub fn fold_char(c: char) -> FoldChar {
    if let Some(d) = c.to_digit(10).filter(|_| c.is_ascii_digit()) {
        FoldChar::Name(DIGIT_NAMES[d as usize].chars())
    } else if c.is_alphanumeric() {
        FoldChar::Lower(c.to_lowercase())
    } else {
        FoldChar::Nothing
    }
}

/// The characters one text character folds to (an iterator; see [`fold_char`]).
#[derive(Clone, Debug)]
pub enum FoldChar {
    /// Dropped.
    Nothing,
    /// A letter, lower-cased.
    Lower(core::char::ToLowercase),
    /// An ASCII digit, read as its English name.
    Name(core::str::Chars<'static>),
}

impl Iterator for FoldChar {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        match self {
            FoldChar::Nothing => None,
            FoldChar::Lower(l) => l.next(),
            FoldChar::Name(n) => n.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(a: &str, b: &str) -> bool {
        a.chars().flat_map(fold_char).eq(b.chars().flat_map(fold_char))
    }

    #[test]
    fn letters_and_digits_lower_cased() {
        assert!(eq("It's well-worn.", "its wellworn"));
        assert!(eq("ÉCOLE", "école"));
        assert!(eq("日本語の文。", "日本語の文"));
        assert!(eq("Straße", "straße"));
    }

    #[test]
    fn digits_match_their_names_both_ways() {
        assert!(eq("Drawing Number 1,", "drawing number one"));
        assert!(eq("asteroids 3 2 5, 3 2 6", "asteroids three two five three two six"));
        assert!(eq("B-612", "b 612"));
        assert!(eq("in 1909", "In one nine zero nine"));
        assert!(!eq("1", "two"));
    }
}
