//! GloVe vectors from the text format of `glove.6B.*d.txt`: one `word v1 v2 ... vd` per line,
//! separated by single spaces.
//!
//! Word lookup follows the paper's script: the word is lower-cased and its apostrophes and
//! semicolons are removed; a word of several parts (`three two five`) that is not in the
//! vocabulary gets the mean of its parts' vectors when every part is. Any other word gets a
//! zero vector; those words are counted and reported in `describe`'s warnings.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use brainscale_plugin_sdk::{Matrix, ModelInfo, PluginError};

/// A loaded GloVe vocabulary.
#[derive(Debug)]
pub struct Glove {
    path: PathBuf,
    dim: usize,
    index: HashMap<String, usize>,
    values: Vec<f32>,
    /// Words given a zero vector, with their number of occurrences.
    missing: BTreeMap<String, usize>,
}

impl Glove {
    /// Reads a GloVe text file. Errors name the file and the line.
    pub fn load(path: &Path) -> Result<Glove, PluginError> {
        let io = |source| PluginError::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        let malformed =
            |line: usize, reason: String| PluginError::Malformed { path: path.to_path_buf(), line: Some(line), reason };
        let mut glove = Glove {
            path: path.to_path_buf(),
            dim: 0,
            index: HashMap::new(),
            values: Vec::new(),
            missing: BTreeMap::new(),
        };
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let n = i + 1;
            let line = line.map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData => malformed(n, "not valid UTF-8".into()),
                _ => io(e),
            })?;
            let line = line.trim_end_matches(['\r', '\n']);
            if line.trim().is_empty() {
                continue;
            }
            let mut fields = line.split(' ');
            let word = fields.next().unwrap_or_default();
            let start = glove.values.len();
            for (k, field) in fields.enumerate() {
                let v: f32 = field
                    .parse()
                    .map_err(|_| malformed(n, format!("value {} of {word:?} is not a number: {field:?}", k + 1)))?;
                glove.values.push(v);
            }
            let got = glove.values.len() - start;
            if glove.dim == 0 {
                if got == 0 {
                    return Err(malformed(n, format!("{word:?} has no values: expected `word v1 v2 ... vd`")));
                }
                glove.dim = got;
            } else if got != glove.dim {
                return Err(malformed(
                    n,
                    format!("{word:?} has {got} values, expected {} (as on the first line)", glove.dim),
                ));
            }
            // A repeated word keeps its last vector (as a Python dict built line by line).
            glove.index.insert(word.to_owned(), start / glove.dim);
        }
        if glove.dim == 0 {
            return Err(PluginError::Malformed {
                path: path.to_path_buf(),
                line: None,
                reason: "empty: expected lines `word v1 v2 ... vd` (e.g. glove.6B.300d.txt)".into(),
            });
        }
        Ok(glove)
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of words in the vocabulary.
    pub fn n_words(&self) -> usize {
        self.index.len()
    }

    fn row(&self, word: &str) -> Option<&[f32]> {
        self.index.get(word).map(|&i| &self.values[i * self.dim..(i + 1) * self.dim])
    }

    /// The vector of a word (see the module docs), or `None` if it has none.
    pub fn lookup(&self, word: &str) -> Option<Vec<f32>> {
        let key: String = word.to_lowercase().chars().filter(|c| !matches!(c, '\'' | ';')).collect();
        if let Some(v) = self.row(&key) {
            return Some(v.to_vec());
        }
        let parts: Vec<&str> = key.split_whitespace().collect();
        if parts.len() < 2 {
            return None;
        }
        let mut sum = vec![0.0f32; self.dim];
        for part in &parts {
            for (s, x) in sum.iter_mut().zip(self.row(part)?) {
                *s += x;
            }
        }
        Some(sum.into_iter().map(|s| s / parts.len() as f32).collect())
    }

    /// One row per word; zeros (counted) for words without a vector.
    pub fn features(&mut self, words: &[String]) -> Matrix {
        let mut m = Matrix::zeros(words.len(), self.dim);
        for (i, w) in words.iter().enumerate() {
            match self.lookup(w) {
                Some(v) => m.row_mut(i).copy_from_slice(&v),
                None => *self.missing.entry(w.clone()).or_default() += 1,
            }
        }
        m
    }

    /// The model description; warns about words that got a zero vector so far.
    pub fn describe(&self) -> ModelInfo {
        let name = self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "glove".into());
        let mut info = ModelInfo::new(name, "glove", vec![self.dim]);
        if !self.missing.is_empty() {
            let occurrences: usize = self.missing.values().sum();
            let examples: Vec<String> = self.missing.keys().take(10).map(|w| format!("{w:?}")).collect();
            info.warnings.push(format!(
                "{occurrences} word occurrences ({} distinct words, e.g. {}) are not in the GloVe vocabulary of {} \
                 and got a zero vector",
                self.missing.len(),
                examples.join(", "),
                self.path.display()
            ));
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("glove.test.3d.txt");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    const VOCAB: &str = "the 1 0 0\ncat 0 1 0\nthree 3 0 0\ntwo 0 3 0\nfive 0 0 3\ndont 1 1 1\n";

    #[test]
    fn words_are_looked_up_like_the_paper_did() {
        let (_dir, path) = write(VOCAB);
        let mut g = Glove::load(&path).unwrap();
        assert_eq!((g.dim(), g.n_words()), (3, 6));
        let words: Vec<String> = ["The", "cat", "don't", "three two five", "dog", "dog"].map(String::from).into();
        let m = g.features(&words);
        assert_eq!(m.row(0), [1.0, 0.0, 0.0]);
        assert_eq!(m.row(2), [1.0, 1.0, 1.0]);
        assert_eq!(m.row(3), [1.0, 1.0, 1.0]);
        assert_eq!(m.row(4), [0.0; 3]);
        let info = g.describe();
        assert_eq!((info.model.as_str(), info.dims.as_slice()), ("glove.test.3d", &[3][..]));
        assert_eq!(info.warnings.len(), 1);
        assert!(
            info.warnings[0].starts_with("2 word occurrences (1 distinct words, e.g. \"dog\")"),
            "{:?}",
            info.warnings
        );
    }

    #[test]
    fn malformed_lines_are_named() {
        let (_dir, path) = write("the 1 0 0\ncat 0 1\n");
        let e = Glove::load(&path).unwrap_err().to_string();
        assert!(e.ends_with("line 2: \"cat\" has 2 values, expected 3 (as on the first line)"), "{e}");
        let (_dir, path) = write("the 1 0 0\ncat 0 x 0\n");
        let e = Glove::load(&path).unwrap_err().to_string();
        assert!(e.ends_with("line 2: value 2 of \"cat\" is not a number: \"x\""), "{e}");
        let (_dir, path) = write("\n\n");
        assert!(Glove::load(&path).unwrap_err().to_string().contains("empty"));
        let e = Glove::load(Path::new("/nonexistent/glove.txt")).unwrap_err();
        assert_eq!(e.status(), brainscale_plugin_sdk::abi::Status::IO);
    }
}
