//! The model's tokenizer: `tokenizer.json`, or OPT-style `vocab.json` + `merges.txt`, with
//! character offsets and the special tokens its post-processor adds around a sequence.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, PostProcessorWrapper};

use crate::LmError;

/// The content tokens of a run's text: ids and character spans, without special tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Each token's span `[start, end)` in Unicode characters of the text (a span may
    /// include a leading space, as GPT-2's do).
    pub offsets: Vec<(usize, usize)>,
}

impl Tokens {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there is no token.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A Hugging Face tokenizer plus the special tokens it adds around every sequence.
///
/// ```no_run
/// use brainscale_lm::text::Tokenizer;
/// let tokenizer = Tokenizer::load("models/gpt2".as_ref())?;
/// let tokens = tokenizer.encode("Hello world")?;
/// assert_eq!(tokens.offsets[1], (5, 11)); // " world", leading space included
/// # Ok::<(), brainscale_lm::LmError>(())
/// ```
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    source: PathBuf,
    prefix: Vec<u32>,
    suffix: Vec<u32>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("source", &self.source)
            .field("prefix", &self.prefix)
            .field("suffix", &self.suffix)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Loads the tokenizer of a model folder: `tokenizer.json` when present, else
    /// `vocab.json` + `merges.txt` (byte-level BPE, as GPT-2 and OPT ship them) with the special
    /// tokens of `special_tokens_map.json` / `tokenizer_config.json` (a BOS is added when
    /// `add_bos_token` is true, as OPT's tokenizer does).
    pub fn load(dir: &Path) -> Result<Self, LmError> {
        let json = dir.join("tokenizer.json");
        let (mut inner, source) = if json.is_file() {
            let inner = tokenizers::Tokenizer::from_file(&json)
                .map_err(|e| malformed(&json, format!("cannot read this tokenizer ({e})")))?;
            (inner, json)
        } else {
            let vocab = dir.join("vocab.json");
            let merges = dir.join("merges.txt");
            if !(vocab.is_file() && merges.is_file()) {
                return Err(LmError::Malformed {
                    path: dir.to_path_buf(),
                    reason: "no tokenizer: expected `tokenizer.json`, or `vocab.json` with `merges.txt`; save the \
                             model's tokenizer there (`AutoTokenizer.from_pretrained(...).save_pretrained(DIR)`)"
                        .into(),
                });
            }
            (bpe_from_files(dir, &vocab, &merges)?, merges)
        };
        inner.with_truncation(None).map_err(|e| malformed(&source, format!("cannot disable truncation ({e})")))?;
        inner.with_padding(None);
        let (prefix, suffix) = special_affixes(&inner, &source)?;
        Ok(Tokenizer { inner, source, prefix, suffix })
    }

    /// The file the tokenizer was read from (`tokenizer.json` or `merges.txt`).
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Special token ids added before every sequence (e.g. Llama's BOS).
    pub fn prefix_ids(&self) -> &[u32] {
        &self.prefix
    }

    /// Special token ids added after every sequence.
    pub fn suffix_ids(&self) -> &[u32] {
        &self.suffix
    }

    /// Number of special tokens added around a sequence.
    pub fn n_specials(&self) -> usize {
        self.prefix.len() + self.suffix.len()
    }

    /// Tokenizes `text` without special tokens; offsets are in Unicode characters.
    pub fn encode(&self, text: &str) -> Result<Tokens, LmError> {
        let encoding = self
            .inner
            .encode_char_offsets(text, false)
            .map_err(|e| LmError::Tokenizer(format!("{}: cannot encode the text ({e})", self.source.display())))?;
        Ok(Tokens { ids: encoding.get_ids().to_vec(), offsets: encoding.get_offsets().to_vec() })
    }

    /// `prefix + content + suffix`: the input ids of one window.
    pub fn with_specials(&self, content: &[u32]) -> Vec<u32> {
        let mut ids = Vec::with_capacity(content.len() + self.n_specials());
        ids.extend_from_slice(&self.prefix);
        ids.extend_from_slice(content);
        ids.extend_from_slice(&self.suffix);
        ids
    }
}

fn malformed(path: &Path, reason: String) -> LmError {
    LmError::Malformed { path: path.to_path_buf(), reason }
}

/// The special ids the post-processor puts before and after a one-token probe sequence.
fn special_affixes(inner: &tokenizers::Tokenizer, source: &Path) -> Result<(Vec<u32>, Vec<u32>), LmError> {
    // a one-token sequence that needs no vocabulary: only the post-processor acts on it
    let probe = tokenizers::Encoding::from_tokens(vec![tokenizers::Token::new(0, "a".into(), (0, 1))], 0);
    let n_content = 1;
    let processed = inner
        .post_process(probe, None, true)
        .map_err(|e| malformed(source, format!("its post-processor failed on a probe text ({e})")))?;
    let ids = processed.get_ids();
    let mask = processed.get_special_tokens_mask();
    let Some(first) = mask.iter().position(|&m| m == 0) else {
        return Err(malformed(source, "its post-processor drops the content of a sequence".into()));
    };
    let end = first + n_content;
    if end > ids.len() || mask[first..end].iter().any(|&m| m != 0) {
        return Err(malformed(
            source,
            "its post-processor interleaves special tokens with the content; only prefixes and suffixes are supported"
                .into(),
        ));
    }
    Ok((ids[..first].to_vec(), ids[end..].to_vec()))
}

/// A byte-level BPE tokenizer from `vocab.json` + `merges.txt`, configured as
/// `transformers`' GPT-2 converter does for a slow GPT-2 / OPT tokenizer.
fn bpe_from_files(dir: &Path, vocab: &Path, merges: &Path) -> Result<tokenizers::Tokenizer, LmError> {
    let to_str = |p: &Path| -> Result<String, LmError> {
        p.to_str().map(str::to_owned).ok_or_else(|| malformed(p, "the path is not valid UTF-8".into()))
    };
    let bpe = BPE::from_file(&to_str(vocab)?, &to_str(merges)?)
        .build()
        .map_err(|e| malformed(merges, format!("cannot build a BPE tokenizer from it and vocab.json ({e})")))?;
    let config = read_optional_json(&dir.join("tokenizer_config.json"))?;
    let map = read_optional_json(&dir.join("special_tokens_map.json"))?;
    let token = |key: &str| special_token(&map, key).or_else(|| special_token(&config, key));
    let add_prefix_space = config.get("add_prefix_space").and_then(Value::as_bool).unwrap_or(false);
    let add_bos = config.get("add_bos_token").and_then(Value::as_bool).unwrap_or(false);

    let mut tokenizer = tokenizers::Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(add_prefix_space)));
    tokenizer.with_decoder(Some(ByteLevel::default()));
    let specials: Vec<AddedToken> = ["bos_token", "eos_token", "unk_token", "pad_token"]
        .iter()
        .filter_map(|k| token(k))
        .map(|t| AddedToken::from(t, true))
        .collect();
    tokenizer
        .add_special_tokens(specials)
        .map_err(|e| malformed(vocab, format!("cannot add the special tokens ({e})")))?;
    let processor: PostProcessorWrapper = match (add_bos, token("bos_token")) {
        (true, Some(bos)) => {
            let id = tokenizer.token_to_id(&bos).ok_or_else(|| {
                malformed(vocab, format!("the BOS token {bos:?} of tokenizer_config.json is not in the vocabulary"))
            })?;
            TemplateProcessing::builder()
                .try_single(format!("{bos}:0 $A:0"))
                .and_then(|b| b.try_pair(format!("{bos}:0 $A:0 $B:1")))
                .map_err(|e| malformed(vocab, format!("cannot build the BOS template ({e})")))?
                .special_tokens(vec![(bos.clone(), id)])
                .build()
                .map_err(|e| malformed(vocab, format!("cannot build the BOS template ({e})")))?
                .into()
        }
        (true, None) => {
            return Err(malformed(
                &dir.join("tokenizer_config.json"),
                "`add_bos_token` is true but no `bos_token` is defined".into(),
            ));
        }
        (false, _) => ByteLevel::default().trim_offsets(false).into(),
    };
    tokenizer.with_post_processor(Some(processor));
    Ok(tokenizer)
}

/// A JSON file that may be absent (`Value::Null` then).
fn read_optional_json(path: &Path) -> Result<Value, LmError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| malformed(path, format!("not valid JSON ({e})"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Null),
        Err(source) => Err(LmError::Io { path: path.to_path_buf(), source }),
    }
}

/// A special token given as `"</s>"` or `{"content": "</s>", ...}`.
fn special_token(json: &Value, key: &str) -> Option<String> {
    match json.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny OPT-style folder: `vocab.json` + `merges.txt`, BOS `</s>` added.
    fn opt_folder(add_bos: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let vocab = r#"{"<s>": 0, "<pad>": 1, "</s>": 2, "h": 3, "i": 4, "Ġ": 5, "hi": 6, "Ġhi": 7, "Ã": 8, "©": 9}"#;
        std::fs::write(dir.path().join("vocab.json"), vocab).unwrap();
        std::fs::write(dir.path().join("merges.txt"), "#version: 0.2\nh i\nĠ hi\n").unwrap();
        let config = format!(
            r#"{{"add_bos_token": {add_bos}, "bos_token": {{"content": "</s>", "lstrip": false}}, "eos_token": "</s>",
               "unk_token": "</s>", "pad_token": "<pad>"}}"#
        );
        std::fs::write(dir.path().join("tokenizer_config.json"), config).unwrap();
        dir
    }

    #[test]
    fn opt_style_files_give_a_bos_prefix_and_character_offsets() {
        let dir = opt_folder(true);
        let t = Tokenizer::load(dir.path()).unwrap();
        assert_eq!((t.prefix_ids(), t.suffix_ids()), (&[2][..], &[][..]));
        assert!(t.source().ends_with("merges.txt"));
        let tokens = t.encode("hi hi é").unwrap();
        assert_eq!(tokens.ids, [6, 7, 5, 8, 9]);
        // "é" is two bytes, two byte-level tokens, one character
        assert_eq!(tokens.offsets, [(0, 2), (2, 5), (5, 6), (6, 7), (6, 7)]);
        assert_eq!(t.with_specials(&[6]), [2, 6]);
    }

    #[test]
    fn without_add_bos_token_nothing_is_added() {
        let t = Tokenizer::load(opt_folder(false).path()).unwrap();
        assert_eq!(t.n_specials(), 0);
        assert_eq!(t.encode("hi").unwrap().ids, [6]);
    }

    #[test]
    fn a_folder_without_tokenizer_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = Tokenizer::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("tokenizer.json") && e.contains("save_pretrained"), "{e}");
        std::fs::write(dir.path().join("tokenizer.json"), "{").unwrap();
        let e = Tokenizer::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("tokenizer.json"), "{e}");
    }
}
