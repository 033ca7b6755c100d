//! Models from the Hugging Face hub: `--model owner/name[@revision]` becomes a local folder.
//!
//! [`resolve_model`] turns a `--model` argument into what a plugin loads: an existing folder
//! stays as it is; a baseline spec (`random-embeddings`, `glove:FILE`) passes through; a hub id
//! (`gpt2`-style ids need their owner: `openai-community/gpt2`; `EleutherAI/pythia-6.9b@step1000`
//! pins a branch, tag or commit) is downloaded with `hf-hub` into the Hugging Face cache, and
//! its snapshot folder is returned.
//!
//! * Only what extraction needs is fetched: `config.json`, the tokenizer files that exist
//!   (`tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`, `vocab.json`,
//!   `merges.txt`) and the safetensors weights (one file, or the shards listed by
//!   `model.safetensors.index.json`). A repository with only pickle weights
//!   (`pytorch_model.bin`) is refused with a message saying how to convert it.
//! * The cache is `$HF_HOME/hub` (default `~/.cache/huggingface/hub`), shared with Python's
//!   `huggingface_hub`; `$HF_ENDPOINT` changes the server (a mirror, or a test server).
//! * Gated models (Llama-2, Gemma): `$HF_TOKEN`, else the token saved by `huggingface-cli
//!   login` in `$HF_HOME/token`.
//! * Offline (`HF_HUB_OFFLINE=1`): nothing is requested; the model must be in the cache.

use std::path::{Path, PathBuf};

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};

use crate::error::{Error, Result};

/// Files fetched when present (tokenizers come in several forms).
const OPTIONAL_FILES: [&str; 6] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "generation_config.json",
];

/// What a `--model` argument refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSpec {
    /// An existing folder.
    Folder(PathBuf),
    /// A baseline spec, passed to the plugin as it is (`random-vectors`, `glove:FILE`).
    Baseline(String),
    /// A hub repository at a revision.
    Hub {
        /// `owner/name`.
        repo: String,
        /// Branch, tag or commit (`main` when not given).
        revision: String,
    },
}

impl ModelSpec {
    /// Classifies a `--model` argument (see the module docs).
    ///
    /// ```
    /// use brainscale::hub::ModelSpec;
    /// assert_eq!(
    ///     ModelSpec::parse("EleutherAI/pythia-6.9b@step1000")?,
    ///     ModelSpec::Hub { repo: "EleutherAI/pythia-6.9b".into(), revision: "step1000".into() }
    /// );
    /// assert_eq!(ModelSpec::parse("glove:/data/glove.6B.300d.txt")?, ModelSpec::Baseline("glove:/data/glove.6B.300d.txt".into()));
    /// assert_eq!(ModelSpec::parse("random-embeddings")?, ModelSpec::Baseline("random-embeddings".into()));
    /// # Ok::<(), brainscale::Error>(())
    /// ```
    pub fn parse(arg: &str) -> Result<Self> {
        let path = Path::new(arg);
        if path.is_dir() {
            return Ok(ModelSpec::Folder(path.to_path_buf()));
        }
        if let Some((family, _)) = arg.split_once(':')
            && !family.contains('/')
        {
            return Ok(ModelSpec::Baseline(arg.to_owned()));
        }
        if !arg.contains('/') {
            return Ok(ModelSpec::Baseline(arg.to_owned()));
        }
        let (repo, revision) = match arg.split_once('@') {
            Some((repo, rev)) => (repo, rev),
            None => (arg, "main"),
        };
        let valid_part = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        let parts: Vec<&str> = repo.split('/').collect();
        if parts.len() != 2 || !parts.iter().all(|p| valid_part(p)) || revision.is_empty() {
            let hint = if path.is_absolute() || arg.starts_with('.') {
                "no such folder".to_string()
            } else {
                "neither a folder nor a hub id `owner/name[@revision]`".to_string()
            };
            return Err(Error::Invalid(format!("--model {arg}: {hint}")));
        }
        Ok(ModelSpec::Hub { repo: repo.to_owned(), revision: revision.to_owned() })
    }
}

/// A model from the hub, as resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubModel {
    /// `owner/name`.
    pub repo: String,
    /// The revision asked for.
    pub revision: String,
    /// The commit it resolved to.
    pub commit: String,
    /// The snapshot folder in the cache.
    pub dir: PathBuf,
}

/// Where to find the hub and its cache.
#[derive(Clone, Debug)]
pub struct HubOptions {
    /// The cache folder (`$HF_HOME/hub`).
    pub cache_dir: PathBuf,
    /// The server (`$HF_ENDPOINT`, default `https://huggingface.co`).
    pub endpoint: Option<String>,
    /// The access token for gated models.
    pub token: Option<String>,
    /// Never touch the network.
    pub offline: bool,
    /// Show download progress bars.
    pub progress: bool,
}

impl HubOptions {
    /// From the environment: `HF_HOME`, `HF_ENDPOINT`, `HF_TOKEN` (else `$HF_HOME/token`),
    /// `HF_HUB_OFFLINE`.
    pub fn from_env() -> Self {
        let cache = Cache::from_env();
        let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.trim().is_empty()).or_else(|| cache.token());
        let offline = std::env::var("HF_HUB_OFFLINE")
            .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"));
        HubOptions {
            cache_dir: cache.path().clone(),
            endpoint: std::env::var("HF_ENDPOINT").ok().filter(|e| !e.is_empty()),
            token,
            offline,
            progress: true,
        }
    }
}

/// Downloads (or finds in the cache) what extraction needs of `repo` at `revision`.
pub fn fetch_model(repo: &str, revision: &str, options: &HubOptions) -> Result<HubModel> {
    let fail = |reason: String| Error::Hub { repo: repo.to_owned(), revision: revision.to_owned(), reason };
    let hub_repo = Repo::with_revision(repo.to_owned(), RepoType::Model, revision.to_owned());
    if options.offline {
        return from_cache(repo, revision, &options.cache_dir).map_err(fail);
    }
    let mut builder = ApiBuilder::from_cache(Cache::new(options.cache_dir.clone()))
        .with_progress(options.progress)
        .with_token(options.token.clone())
        .with_retries(2);
    if let Some(endpoint) = &options.endpoint {
        builder = builder.with_endpoint(endpoint.trim_end_matches('/').to_owned());
    }
    let api = builder.build().map_err(|e| fail(format!("cannot start the hub client: {e}")))?;
    let api_repo = api.repo(hub_repo);
    let info = api_repo.info().map_err(|e| {
        fail(format!(
            "cannot list the repository ({e}); check the id and revision, set HF_TOKEN for a gated model, \
             or use HF_HUB_OFFLINE=1 with a model already in the cache ({})",
            options.cache_dir.display()
        ))
    })?;
    let files: Vec<&str> = info.siblings.iter().map(|s| s.rfilename.as_str()).collect();
    let wanted = wanted_files(&files, |index| {
        let path = api_repo.get(index).map_err(|e| format!("cannot download {index}: {e}"))?;
        std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
    })
    .map_err(fail)?;
    let mut dir = None;
    for file in &wanted {
        let path = api_repo.get(file).map_err(|e| fail(format!("cannot download {file}: {e}")))?;
        if *file == "config.json" {
            dir = path.parent().map(Path::to_path_buf);
        }
    }
    let dir = dir.ok_or_else(|| fail("config.json has no folder".into()))?;
    Ok(HubModel { repo: repo.to_owned(), revision: revision.to_owned(), commit: info.sha, dir })
}

/// The files to fetch from a repository listing; `read_index` reads
/// `model.safetensors.index.json` when the weights are sharded.
fn wanted_files(
    files: &[&str],
    read_index: impl FnOnce(&str) -> std::result::Result<String, String>,
) -> std::result::Result<Vec<String>, String> {
    if !files.contains(&"config.json") {
        return Err(format!("the repository has no config.json (files: {})", files.join(", ")));
    }
    let mut wanted: Vec<String> = vec!["config.json".into()];
    wanted.extend(OPTIONAL_FILES.iter().filter(|f| files.contains(f)).map(|f| f.to_string()));
    if files.contains(&"model.safetensors") {
        wanted.push("model.safetensors".into());
    } else if files.contains(&"model.safetensors.index.json") {
        let index = read_index("model.safetensors.index.json")?;
        let json: serde_json::Value =
            serde_json::from_str(&index).map_err(|e| format!("model.safetensors.index.json is not JSON: {e}"))?;
        let map = json["weight_map"].as_object().ok_or("model.safetensors.index.json has no weight_map")?;
        let mut shards: Vec<String> = map.values().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        shards.sort();
        shards.dedup();
        wanted.push("model.safetensors.index.json".into());
        wanted.extend(shards);
    } else if files.iter().any(|f| f.ends_with(".bin") || f.ends_with(".pt") || f.ends_with(".pth")) {
        return Err(format!(
            "the repository has only pickle weights ({}); brainscale loads safetensors only. {}",
            files
                .iter()
                .filter(|f| f.ends_with(".bin") || f.ends_with(".pt") || f.ends_with(".pth"))
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
            CONVERT_HINT
        ));
    } else {
        return Err("the repository has no model.safetensors".into());
    }
    Ok(wanted)
}

/// How to convert pickle weights to safetensors.
pub const CONVERT_HINT: &str = "Convert them once with Python: `from transformers import AutoModel; \
AutoModel.from_pretrained(ID_OR_DIR).save_pretrained(OUT_DIR, safe_serialization=True)` and copy the \
tokenizer files beside them, then pass --model OUT_DIR (or look for a `refs/pr/N` revision of the \
repository with safetensors weights)";

/// The snapshot of `repo` at `revision` in the cache, without any request.
fn from_cache(repo: &str, revision: &str, cache_dir: &Path) -> std::result::Result<HubModel, String> {
    let repo_dir = cache_dir.join(format!("models--{}", repo.replace('/', "--")));
    let is_commit = revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit());
    let commit = if is_commit {
        revision.to_owned()
    } else {
        let reference = repo_dir.join("refs").join(revision);
        std::fs::read_to_string(&reference)
            .map_err(|_| {
                format!(
                    "offline (HF_HUB_OFFLINE is set) and not in the cache: no {}; run once with network access, \
                     or unset HF_HUB_OFFLINE",
                    reference.display()
                )
            })?
            .trim()
            .to_owned()
    };
    let dir = repo_dir.join("snapshots").join(&commit);
    if !dir.join("config.json").is_file() {
        return Err(format!("offline and the cached snapshot {} has no config.json", dir.display()));
    }
    let files: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
        .collect();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let wanted = wanted_files(&refs, |index| {
        std::fs::read_to_string(dir.join(index)).map_err(|e| format!("{}: {e}", dir.join(index).display()))
    })?;
    if let Some(missing) = wanted.iter().find(|f| !dir.join(f).is_file()) {
        return Err(format!("offline and {missing} is missing from the cached snapshot {}", dir.display()));
    }
    Ok(HubModel { repo: repo.to_owned(), revision: revision.to_owned(), commit, dir })
}

/// Resolves a `--model` argument to what a plugin loads (see the module docs); the hub model
/// when it came from the hub.
pub fn resolve_model(arg: &str, options: &HubOptions) -> Result<(String, Option<HubModel>)> {
    match ModelSpec::parse(arg)? {
        ModelSpec::Folder(dir) => Ok((dir.to_string_lossy().into_owned(), None)),
        ModelSpec::Baseline(spec) => Ok((spec, None)),
        ModelSpec::Hub { repo, revision } => {
            let model = fetch_model(&repo, &revision, options)?;
            Ok((model.dir.to_string_lossy().into_owned(), Some(model)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_classified() {
        assert_eq!(
            ModelSpec::parse("openai-community/gpt2").unwrap(),
            ModelSpec::Hub { repo: "openai-community/gpt2".into(), revision: "main".into() }
        );
        assert!(ModelSpec::parse("a/b/c").is_err());
        assert!(ModelSpec::parse("/no/such/folder").unwrap_err().to_string().contains("no such folder"));
        assert!(ModelSpec::parse("owner/name@").is_err());
    }

    #[test]
    fn pickle_only_repositories_are_refused_with_a_hint() {
        let e = wanted_files(&["config.json", "pytorch_model.bin"], |_| unreachable!()).unwrap_err();
        assert!(e.contains("pytorch_model.bin") && e.contains("safe_serialization=True"), "{e}");
        let ok = wanted_files(&["config.json", "tokenizer.json", "model.safetensors", "README.md"], |_| unreachable!());
        assert_eq!(ok.unwrap(), ["config.json", "tokenizer.json", "model.safetensors"]);
        let sharded = wanted_files(&["config.json", "model.safetensors.index.json"], |_| {
            Ok(r#"{"weight_map": {"a": "model-00002.safetensors", "b": "model-00001.safetensors", "c": "model-00001.safetensors"}}"#.into())
        });
        assert_eq!(
            sharded.unwrap(),
            ["config.json", "model.safetensors.index.json", "model-00001.safetensors", "model-00002.safetensors"]
        );
    }
}
