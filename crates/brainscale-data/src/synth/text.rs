//! Synthetic speech: a Zipf-distributed vocabulary of pseudo-words, timed word streams and the
//! punctuated text a listener would have heard.

use std::collections::HashSet;

use rand::Rng;
use rand::rngs::StdRng;

use crate::words::Words;

const ONSETS: [&str; 18] =
    ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "sh", "th", "w"];
const VOWELS: [&str; 9] = ["a", "e", "i", "o", "u", "ai", "ea", "oo", "ou"];
const CODAS: [&str; 8] = ["", "", "", "n", "r", "s", "t", "l"];

/// One word type of the synthetic language.
#[derive(Clone, Debug)]
pub(crate) struct WordType {
    /// Lower-case letters only: the form in the word files.
    pub plain: String,
    /// The form in the text (may hold an apostrophe or a hyphen, or a capital for names).
    pub written: String,
    /// Number of syllables (drives the spoken duration).
    pub syllables: usize,
}

/// Word types, most frequent first, with Zipf-Mandelbrot frequencies.
#[derive(Clone, Debug)]
pub(crate) struct Vocabulary {
    pub types: Vec<WordType>,
    cumulative: Vec<f64>,
}

impl Vocabulary {
    /// `n_types` distinct pseudo-words; frequent ones are short.
    pub fn new(rng: &mut StdRng, n_types: usize) -> Vocabulary {
        let mut seen = HashSet::new();
        let mut types = Vec::with_capacity(n_types);
        while types.len() < n_types {
            let rank = types.len();
            let syllables = if rank < 40 { 1 } else { rng.random_range(1..=3usize) };
            let parts: Vec<String> = (0..syllables)
                .map(|_| {
                    let onset = ONSETS[rng.random_range(0..ONSETS.len())];
                    let vowel = VOWELS[rng.random_range(0..VOWELS.len())];
                    let coda = CODAS[rng.random_range(0..CODAS.len())];
                    format!("{onset}{vowel}{coda}")
                })
                .collect();
            let plain = parts.concat();
            if !seen.insert(plain.clone()) {
                continue;
            }
            let style: f64 = rng.random();
            let written = if syllables >= 2 && style < 0.04 {
                // A compound: "well-worn" (the word file says "wellworn").
                format!("{}-{}", parts[0], parts[1..].concat())
            } else if plain.len() >= 4 && style < 0.08 {
                // A contraction: "isn't" (the word file says "isnt").
                let cut = plain.len() - 1;
                format!("{}'{}", &plain[..cut], &plain[cut..])
            } else if rank >= 40 && style < 0.11 {
                capitalise(&plain)
            } else {
                plain.clone()
            };
            types.push(WordType { plain, written, syllables });
        }
        let mut cumulative = Vec::with_capacity(n_types);
        let mut total = 0.0;
        for rank in 0..n_types {
            total += 1.0 / (rank as f64 + 2.7);
            cumulative.push(total);
        }
        Vocabulary { types, cumulative }
    }

    /// A word type drawn with Zipf-Mandelbrot probabilities.
    pub fn draw(&self, rng: &mut StdRng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let u: f64 = rng.random::<f64>() * total;
        self.cumulative.partition_point(|&c| c < u).min(self.types.len().saturating_sub(1))
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// One run of speech.
#[derive(Clone, Debug)]
pub(crate) struct Speech {
    /// Word file contents.
    pub words: Words,
    /// Word type of each occurrence.
    pub types: Vec<usize>,
    /// The punctuated text.
    pub text: String,
}

/// Speech filling a run of `duration` seconds: ~2.5 words/s, words of 0.15-0.5 s, sentences of
/// 4-15 words with short pauses between them, the last word ending 2 s before the run ends.
pub(crate) fn speech(rng: &mut StdRng, vocab: &Vocabulary, duration: f64) -> Speech {
    let mut words = Words::default();
    let mut types = Vec::new();
    let mut text = String::new();
    let mut t = rng.random_range(0.5..2.0);
    let end = duration - 2.0;
    let mut sentences_in_paragraph = 0;
    'run: loop {
        let length = rng.random_range(4..=15usize);
        for position in 0..length {
            let ty = vocab.draw(rng);
            let w = &vocab.types[ty];
            let spoken = (0.12 + 0.09 * w.syllables as f64 + rng.random_range(-0.03..0.05)).clamp(0.15, 0.5);
            if t + spoken > end {
                break 'run;
            }
            if position > 0 {
                text.push(' ');
            }
            text.push_str(&if position == 0 { capitalise(&w.written) } else { w.written.clone() });
            words.push(w.plain.clone(), round_ms(t), round_ms(t + spoken));
            types.push(ty);
            t += spoken;
            let last = position + 1 == length;
            t += if last {
                let mark: f64 = rng.random();
                text.push(if mark < 0.08 {
                    '?'
                } else if mark < 0.12 {
                    '!'
                } else {
                    '.'
                });
                rng.random_range(0.35..0.9)
            } else if rng.random_bool(0.08) {
                text.push(',');
                rng.random_range(0.15..0.35)
            } else {
                rng.random_range(0.01..0.09)
            };
        }
        sentences_in_paragraph += 1;
        if sentences_in_paragraph >= 4 && rng.random_bool(0.3) {
            text.push('\n');
            sentences_in_paragraph = 0;
        } else {
            text.push(' ');
        }
    }
    let mut text = text.trim_end().to_string();
    if !text.ends_with(['.', '?', '!']) && !text.is_empty() {
        text = text.trim_end_matches(',').to_string();
        text.push('.');
    }
    text.push('\n');
    Speech { words, types, text }
}

/// Times are written with millisecond precision, as in real annotations.
fn round_ms(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn letters(s: &str) -> String {
        s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
    }

    #[test]
    fn speech_is_realistic_and_matches_its_text() {
        let mut rng = StdRng::seed_from_u64(1);
        let vocab = Vocabulary::new(&mut rng, 300);
        assert_eq!(vocab.types.iter().map(|t| &t.plain).collect::<HashSet<_>>().len(), 300);
        let s = speech(&mut rng, &vocab, 600.0);
        let n = s.words.len() as f64;
        let rate = n / (s.words.offset.last().unwrap() - s.words.onset[0]);
        assert!((2.2..2.9).contains(&rate), "rate {rate} words/s");
        assert!(s.words.durations().iter().all(|&d| (0.149..=0.501).contains(&d)));
        assert!(s.words.onset.windows(2).all(|w| w[1] > w[0]));
        assert!(*s.words.offset.last().unwrap() <= 598.0);
        // The text holds the same words, in order, once punctuation is ignored.
        let text_words: Vec<String> = s.text.split_whitespace().map(letters).collect();
        assert_eq!(text_words, s.words.word);
        assert!(s.text.contains(',') && s.text.contains('.') && s.text.chars().any(char::is_uppercase));
        assert!(s.text.contains('\'') || s.text.contains('-'));
        // Zipf: the most frequent type is common, most types are rare.
        let top = s.types.iter().filter(|&&t| t == 0).count() as f64 / n;
        assert!(top > 0.03, "top type frequency {top}");
    }
}
