//! The language-model table: `models.toml` at the repository root lists the study's models
//! (Hugging Face id, family, parameter count, layers, hidden size and, where published,
//! Wikitext-2 perplexity and HellaSwag accuracy) and named model sets such as `paper` (the
//! paper's 28 models).
//!
//! ```
//! use brainscale_data::ModelsFile;
//! let table = ModelsFile::builtin()?;                // the repository's models.toml, compiled in
//! let paper = table.set(brainscale_data::models::PAPER_SET)?;
//! assert_eq!(paper.len(), 28);
//! let gpt2 = table.get("openai-community/gpt2").unwrap(); // by hub id or by name
//! assert_eq!((gpt2.name.as_str(), gpt2.n_layers, gpt2.n_hidden), ("gpt2", 12, 768));
//! # Ok::<(), brainscale_data::DataError>(())
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{DataError, Result, line_of_offset};

/// The name of the paper's model set in `models.toml`.
pub const PAPER_SET: &str = "paper";

/// The repository's `models.toml`, compiled in.
const BUILTIN: &str = include_str!("../../../models.toml");

/// One language model of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// Short name (the hub repository's name, e.g. `gpt2-medium`).
    pub name: String,
    /// Family, as in the paper's figures (e.g. `GPT-2`, `Qwen1.5`).
    pub family: String,
    /// Hugging Face hub id (e.g. `openai-community/gpt2-medium`).
    pub hf_id: String,
    /// Number of parameters.
    pub n_params: u64,
    /// Number of blocks (transformer layers or Mamba blocks).
    pub n_layers: u32,
    /// Hidden size.
    pub n_hidden: u32,
    /// Perplexity on Wikitext-2, when published.
    pub wikitext2_perplexity: Option<f64>,
    /// HellaSwag accuracy in percent, when published.
    pub hellaswag: Option<f64>,
}

impl ModelInfo {
    /// Natural logarithm of the parameter count (the x-axis of the scaling law).
    pub fn log_params(&self) -> f64 {
        (self.n_params as f64).ln()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    sets: BTreeMap<String, Vec<Spanned<String>>>,
    #[serde(default)]
    models: Vec<Spanned<RawModel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: String,
    family: String,
    hf_id: String,
    n_params: u64,
    n_layers: u32,
    n_hidden: u32,
    wikitext2_perplexity: Option<f64>,
    hellaswag: Option<f64>,
}

/// A parsed and validated `models.toml`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelsFile {
    path: PathBuf,
    models: Vec<ModelInfo>,
    sets: BTreeMap<String, Vec<usize>>,
}

impl ModelsFile {
    /// Reads and validates a models file.
    pub fn load(path: &Path) -> Result<ModelsFile> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::read(path, e))?;
        Self::parse(path, &text)
    }

    /// The repository's `models.toml`, compiled into the library.
    pub fn builtin() -> Result<ModelsFile> {
        Self::parse(Path::new("models.toml (built in)"), BUILTIN)
    }

    /// Parses the text of a models file; `path` is only used in error messages. Errors name the
    /// line: TOML syntax, unknown or missing fields, duplicate names or hub ids, values out of
    /// range, set members that are not in the table.
    pub fn parse(path: &Path, text: &str) -> Result<ModelsFile> {
        let err = |offset: Option<usize>, message: String| DataError::Toml {
            path: path.to_path_buf(),
            line: offset.map(|o| line_of_offset(text, o)),
            message,
        };
        let raw: RawFile =
            toml::from_str(text).map_err(|e| err(e.span().map(|s| s.start), e.message().trim().to_string()))?;
        if raw.models.is_empty() {
            return Err(err(None, "no [[models]] entry".into()));
        }
        let mut models = Vec::with_capacity(raw.models.len());
        let (mut names, mut ids) = (HashSet::new(), HashSet::new());
        for spanned in &raw.models {
            let at = Some(spanned.span().start);
            let m = spanned.get_ref();
            let bad = |what: String| err(at, format!("model `{}`: {what}", m.name));
            if m.name.trim().is_empty() || m.name.contains(char::is_whitespace) {
                return Err(bad("`name` must be non-empty, without spaces".into()));
            }
            if !names.insert(m.name.clone()) {
                return Err(bad("a second model has this name".into()));
            }
            if !m.hf_id.contains('/') || !ids.insert(m.hf_id.clone()) {
                return Err(bad(format!("`hf_id` {:?} must be a unique `owner/name` hub id", m.hf_id)));
            }
            if m.n_params == 0 || m.n_layers == 0 || m.n_hidden == 0 {
                return Err(bad("`n_params`, `n_layers` and `n_hidden` must be positive".into()));
            }
            if m.wikitext2_perplexity.is_some_and(|p| !(p.is_finite() && p >= 1.0)) {
                return Err(bad("`wikitext2_perplexity` must be a finite number >= 1".into()));
            }
            if m.hellaswag.is_some_and(|h| !(0.0..=100.0).contains(&h)) {
                return Err(bad("`hellaswag` is an accuracy in percent, between 0 and 100".into()));
            }
            models.push(ModelInfo {
                name: m.name.clone(),
                family: m.family.clone(),
                hf_id: m.hf_id.clone(),
                n_params: m.n_params,
                n_layers: m.n_layers,
                n_hidden: m.n_hidden,
                wikitext2_perplexity: m.wikitext2_perplexity,
                hellaswag: m.hellaswag,
            });
        }
        let mut sets = BTreeMap::new();
        for (set, members) in &raw.sets {
            let mut indices = Vec::with_capacity(members.len());
            for member in members {
                let key = member.get_ref();
                let index =
                    models.iter().position(|m: &ModelInfo| &m.name == key || &m.hf_id == key).ok_or_else(|| {
                        err(Some(member.span().start), format!("set `{set}`: no model named {key:?} in [[models]]"))
                    })?;
                indices.push(index);
            }
            sets.insert(set.clone(), indices);
        }
        Ok(ModelsFile { path: path.to_path_buf(), models, sets })
    }

    /// The file this table was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All models, in file order.
    pub fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    /// The model with this name or hub id.
    pub fn get(&self, name_or_hf_id: &str) -> Option<&ModelInfo> {
        self.models.iter().find(|m| m.name == name_or_hf_id || m.hf_id == name_or_hf_id)
    }

    /// Names of the model sets.
    pub fn set_names(&self) -> Vec<&str> {
        self.sets.keys().map(String::as_str).collect()
    }

    /// The models of a named set, in the set's order. An unknown set is an error listing the
    /// sets there are.
    pub fn set(&self, name: &str) -> Result<Vec<&ModelInfo>> {
        let indices = self.sets.get(name).ok_or_else(|| DataError::InvalidConfig {
            path: self.path.clone(),
            field: "sets".into(),
            reason: format!("no model set `{name}`; sets in this file: {}", self.set_names().join(", ")),
        })?;
        Ok(indices.iter().map(|&i| &self.models[i]).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_file_parses_and_matches_the_paper() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models.toml");
        let table = ModelsFile::load(&path).unwrap();
        assert_eq!(table, ModelsFile { path: path.clone(), ..ModelsFile::builtin().unwrap() });
        let paper = table.set(PAPER_SET).unwrap();
        assert_eq!(paper.len(), 28);
        let mut per_family = BTreeMap::new();
        for m in &paper {
            *per_family.entry(m.family.as_str()).or_insert(0) += 1;
            assert!(m.wikitext2_perplexity.is_some() && m.hellaswag.is_some(), "{}", m.name);
        }
        let expected = [
            ("GPT-2", 4),
            ("Gemma", 2),
            ("Llama 2", 2),
            ("Mamba", 5),
            ("Mistral", 1),
            ("OPT", 6),
            ("Qwen1.5", 5),
            ("StableLM", 3),
        ];
        assert_eq!(per_family.into_iter().collect::<Vec<_>>(), expected);
        let qwen = table.get("Qwen1.5-14B").unwrap();
        assert_eq!(
            (qwen.hf_id.as_str(), qwen.n_params, qwen.n_layers, qwen.n_hidden),
            ("Qwen/Qwen1.5-14B", 14_167_290_880, 40, 5120)
        );
        assert!((table.get("state-spaces/mamba-130m-hf").unwrap().log_params() - 129_135_360f64.ln()).abs() < 1e-12);
        let e = table.set("papers").unwrap_err();
        assert!(e.to_string().contains("no model set `papers`; sets in this file: paper"), "{e}");
    }

    #[test]
    fn errors_name_the_line() {
        let model = |name: &str, extra: &str| {
            format!(
                "[[models]]\nname = \"{name}\"\nfamily = \"F\"\nhf_id = \"o/{name}\"\nn_params = 10\nn_layers = 2\nn_hidden = 8\n{extra}"
            )
        };
        let p = Path::new("m.toml");
        let ok = format!("[sets]\ns = [\"a\", \"o/b\"]\n\n{}\n{}", model("a", ""), model("b", "hellaswag = 50.0\n"));
        let t = ModelsFile::parse(p, &ok).unwrap();
        assert_eq!(t.set("s").unwrap().iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(t.get("b").unwrap().hellaswag, Some(50.0));
        let cases = [
            (format!("{}\n{}", model("a", ""), model("a", "")), 9, "a second model has this name"),
            (model("a", "hellaswag = 150.0\n"), 1, "between 0 and 100"),
            (model("a", "perplexity = 3.0\n"), 8, "unknown field `perplexity`"),
            (format!("[sets]\ns = [\"a\", \"zz\"]\n{}", model("a", "")), 2, "no model named \"zz\""),
            (model("a", "n_layers = 3\n"), 8, "duplicate key"),
        ];
        for (text, line, needle) in cases {
            let e = ModelsFile::parse(p, &text).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(needle), "{msg}");
            assert!(matches!(e, DataError::Toml { line: Some(l), .. } if l == line), "expected line {line}: {msg}");
        }
    }
}
