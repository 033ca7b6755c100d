//! The plugin SDK's `FeatureExtractor` for any [`Family`].
//!
//! A family plugin implements [`Family`] for a unit struct and exports
//! `LmExtractor<ThatStruct>` (`export_plugin!` takes any type, generic ones included):
//!
//! ```
//! use brainscale_lm::{CausalLm, Family, LmError, LoadContext};
//!
//! pub struct Gpt2;
//!
//! impl Family for Gpt2 {
//!     fn load(ctx: &LoadContext, vb: candle_nn::VarBuilder<'_>) -> Result<Box<dyn CausalLm>, LmError> {
//!         Err(LmError::Unsupported(format!("{}: build the model from `vb` here", ctx.dir.display())))
//!     }
//!     fn prefixes() -> &'static [&'static str] {
//!         &["transformer."]
//!     }
//! }
//!
//! brainscale_plugin_sdk::export_plugin!(
//!     brainscale_lm::LmExtractor<Gpt2>, "brainscale-gpt2", env!("CARGO_PKG_VERSION"), ["gpt2"]
//! );
//! ```
//!
//! Tests and benchmarks call [`LmExtractor::open`] and [`LmExtractor::extract_all`] directly,
//! without the C boundary.
//!
//! Per run, [`LmExtractor`] tokenizes the text once, runs every window's forward pass, keeps
//! each content token's hidden states from the first window holding it (as f32 on the CPU),
//! pools them per word for every layer and caches the run's word matrices; each layer is
//! handed out once (the cache shrinks as the host takes them) and recomputed if asked again.
//! At most one run's outputs plus one window's forward pass are held.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use brainscale_plugin_sdk::{ContextInfo, FeatureExtractor, Matrix, ModelInfo, Options, PluginError, RunText};
use candle_core::{DType, Device};

use crate::text::{
    Tokenizer, Tokens, Window, default_step, first_tokens, plan_windows, pool, word_positions, word_spans,
};
use crate::weights::{LmDevice, dtype_name, parse_dtype, var_builder};
use crate::{CausalLm, Family, LmError, LoadContext};

/// How to build an extractor (the plugin options `dtype`, `device`, `step`, `untrained`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LmOptions {
    /// The dtype the model runs in (`f32` default, `bf16`, `f16`).
    pub dtype: DType,
    /// The device (`cpu` default, `cuda`).
    pub device: LmDevice,
    /// Window step S in content tokens; `None` (the default): 64 minus the special tokens the
    /// tokenizer adds per window ([`crate::text::default_step`]: 64 for GPT-2, 63 for OPT or
    /// Llama), which is what the paper's Hugging Face call gives (SPEC 3.2).
    pub step: Option<usize>,
    /// `Some(seed)`: weights re-initialised as HF initialises the architecture.
    pub untrained: Option<u64>,
}

impl Default for LmOptions {
    fn default() -> Self {
        LmOptions { dtype: DType::F32, device: LmDevice::Cpu, step: None, untrained: None }
    }
}

impl LmOptions {
    /// Reads `dtype`, `device`, `step` and `untrained` with the SDK's typed getters.
    pub fn from_options(options: &Options) -> Result<Self, PluginError> {
        let defaults = LmOptions::default();
        let dtype = options.str("dtype")?.map(parse_dtype).transpose()?.unwrap_or(defaults.dtype);
        let device = options.str("device")?.map(LmDevice::parse).transpose()?.unwrap_or(defaults.device);
        let step = options.usize("step")?.or(defaults.step);
        let untrained = options.u64("untrained")?;
        Ok(LmOptions { dtype, device, step, untrained })
    }
}

/// The tokens, windows and word alignment of one run (everything but the forward passes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunPlan {
    /// The content tokens (no special tokens), with character offsets.
    pub tokens: Tokens,
    /// The context windows over them.
    pub windows: Vec<Window>,
    /// Each window's input ids, special tokens included.
    pub input_ids: Vec<Vec<u32>>,
    /// Each word's first content token.
    pub first_tokens: Vec<usize>,
}

impl RunPlan {
    /// Tokenizes `text`, cuts the windows (SPEC 3.2) and aligns `words` (SPEC 3.3).
    /// `max_positions` is C (`None`: unbounded); `run` names the run in errors.
    pub fn new(
        tokenizer: &Tokenizer,
        max_positions: Option<usize>,
        step: usize,
        text: &str,
        words: &[String],
        run: &str,
    ) -> Result<Self, LmError> {
        let tokens = tokenizer.encode(text)?;
        if tokens.is_empty() && !words.is_empty() {
            return Err(LmError::Alignment(format!(
                "{run}: the text gives no token but the run has {} words",
                words.len()
            )));
        }
        let windows = plan_windows(tokens.len(), max_positions, tokenizer.n_specials(), step)?;
        let input_ids = windows.iter().map(|w| tokenizer.with_specials(&tokens.ids[w.content.clone()])).collect();
        let positions = word_positions(text, words, run)?;
        let first_tokens = first_tokens(&positions, &tokens.offsets, words, run)?;
        Ok(RunPlan { tokens, windows, input_ids, first_tokens })
    }
}

/// A language model of family `F` as a feature extractor.
pub struct LmExtractor<F: Family> {
    model: Box<dyn CausalLm>,
    tokenizer: Tokenizer,
    info: ModelInfo,
    /// The window step in use: the `step` option, else the default rule for this tokenizer.
    step: usize,
    cache: Option<RunCache>,
    _family: PhantomData<fn() -> F>,
}

/// The last run's word matrices, one per layer, taken as the host asks for them.
struct RunCache {
    text: String,
    words: Vec<String>,
    layers: Vec<Option<Matrix>>,
}

impl<F: Family> std::fmt::Debug for LmExtractor<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LmExtractor").field("info", &self.info).field("step", &self.step).finish_non_exhaustive()
    }
}

impl<F: Family> LmExtractor<F> {
    /// Loads the model folder `dir` (`config.json`, `*.safetensors`, the tokenizer).
    pub fn open(dir: &Path, options: &LmOptions) -> Result<Self, LmError> {
        crate::alloc::keep_buffers_in_heap();
        let config = read_config(dir)?;
        let device = options.device.to_candle()?;
        let ctx = LoadContext {
            dir: dir.to_path_buf(),
            config,
            dtype: options.dtype,
            device: device.clone(),
            untrained: options.untrained,
        };
        let tokenizer = Tokenizer::load(dir)?;
        let vb = var_builder(&ctx, F::prefixes())?;
        let model = F::load(&ctx, vb)?;
        let step = options.step.unwrap_or_else(|| default_step(tokenizer.n_specials()));
        let info = describe(&ctx, model.as_ref(), &tokenizer, options, step);
        Ok(LmExtractor { model, tokenizer, info, step, cache: None, _family: PhantomData })
    }

    /// The model.
    pub fn model(&self) -> &dyn CausalLm {
        self.model.as_ref()
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The model's description (what `describe` returns).
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The window step S in use (SPEC 3.2): the `step` option, else 64 minus the special tokens
    /// the tokenizer adds ([`crate::text::default_step`]).
    pub fn step(&self) -> usize {
        self.step
    }

    /// The tokens, windows and word alignment of a run.
    pub fn plan(&self, text: &str, words: &[String]) -> Result<RunPlan, LmError> {
        RunPlan::new(&self.tokenizer, self.model.max_positions(), self.step, text, words, &run_label(text))
    }

    /// Every layer's word features for one run: `n_layers` matrices `[n_words, dims[k]]`.
    pub fn extract_all(&self, text: &str, words: &[String]) -> Result<Vec<Matrix>, LmError> {
        let plan = self.plan(text, words)?;
        let dims = self.model.dims();
        let n_tokens = plan.tokens.len();
        let n_prefix = self.tokenizer.prefix_ids().len();
        let mut hidden: Vec<Vec<f32>> = dims.iter().map(|d| Vec::with_capacity(n_tokens * d)).collect();
        for (window, ids) in plan.windows.iter().zip(&plan.input_ids) {
            // rows from the first kept token on (the window's earlier tokens are context only)
            let skip = n_prefix + (window.kept.start - window.content.start);
            let states = self.model.forward_from(ids, skip)?;
            if states.len() != dims.len() {
                return Err(LmError::Invalid(format!(
                    "internal: the model returned {} hidden states, expected {}",
                    states.len(),
                    dims.len()
                )));
            }
            for (layer, state) in states.iter().enumerate() {
                let kept = state
                    .narrow(0, 0, window.kept.len())?
                    .to_dtype(DType::F32)?
                    .to_device(&Device::Cpu)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                hidden[layer].extend_from_slice(&kept);
            }
        }
        let spans = word_spans(&plan.first_tokens, n_tokens);
        hidden
            .into_iter()
            .zip(&dims)
            .map(|(h, &dim)| {
                Matrix::from_row_major(words.len(), dim, pool(&h, dim, &spans))
                    .map_err(|e| LmError::Invalid(format!("internal: {e}")))
            })
            .collect()
    }
}

/// How errors name a run when the host gives no name: by its first words.
fn run_label(text: &str) -> String {
    let start: String = text.chars().take(40).collect();
    let more = if text.chars().nth(40).is_some() { "…" } else { "" };
    format!("the run starting {:?}", format!("{start}{more}"))
}

/// `config.json`, parsed.
fn read_config(dir: &Path) -> Result<serde_json::Value, LmError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            LmError::Malformed {
                path: path.clone(),
                reason: "missing: a model folder needs the Hugging Face config.json beside its weights and tokenizer"
                    .into(),
            }
        } else {
            LmError::Io { path: path.clone(), source }
        }
    })?;
    let config: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| LmError::Malformed { path: path.clone(), reason: format!("not valid JSON ({e})") })?;
    if !config.is_object() {
        return Err(LmError::Malformed { path, reason: "expected a JSON object".into() });
    }
    Ok(config)
}

/// `step` is the step in use (`context.step`; null where the model has no window limit).
fn describe(
    ctx: &LoadContext,
    model: &dyn CausalLm,
    tokenizer: &Tokenizer,
    options: &LmOptions,
    step: usize,
) -> ModelInfo {
    let name = ctx
        .config
        .get("_name_or_path")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .or_else(|| ctx.dir.file_name().and_then(|n| n.to_str()).map(str::to_owned))
        .unwrap_or_else(|| ctx.dir.display().to_string());
    let name = match options.untrained {
        Some(seed) => format!("{name} (untrained, seed {seed})"),
        None => name,
    };
    let family = ctx.config.get("model_type").and_then(|v| v.as_str()).unwrap_or("unknown").to_owned();
    let mut info = ModelInfo::new(name, family, model.dims());
    info.n_params = Some(model.n_params());
    let max_tokens = model.max_positions();
    info.context = ContextInfo { max_tokens: max_tokens.map(|c| c as u64), step: max_tokens.map(|_| step as u64) };
    info.tokenizer = Some(tokenizer.source().display().to_string());
    info.dtype = dtype_name(ctx.dtype).to_owned();
    info.device = options.device.name().to_owned();
    info
}

impl<F: Family> FeatureExtractor for LmExtractor<F> {
    fn create(model: &str, options: &Options) -> Result<Self, PluginError> {
        let options = LmOptions::from_options(options)?;
        Ok(Self::open(&PathBuf::from(model), &options)?)
    }

    fn describe(&self) -> ModelInfo {
        self.info.clone()
    }

    fn extract(&mut self, run: &RunText<'_>, layer: usize) -> Result<Matrix, PluginError> {
        let cached = self
            .cache
            .as_mut()
            .filter(|c| c.text == run.text && c.words == run.words)
            .and_then(|c| c.layers.get_mut(layer))
            .and_then(Option::take);
        if let Some(m) = cached {
            return Ok(m);
        }
        self.cache = None; // free the previous run before computing this one
        let mut layers: Vec<Option<Matrix>> = self.extract_all(run.text, run.words)?.into_iter().map(Some).collect();
        let out = layers.get_mut(layer).and_then(Option::take).ok_or_else(|| {
            PluginError::invalid(format!("layer {layer} out of range: the model has {} layers", layers.len()))
        })?;
        self.cache = Some(RunCache { text: run.text.to_owned(), words: run.words.to_vec(), layers });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Tensor;
    use candle_nn::VarBuilder;

    use super::*;

    /// Each token's state: layer 0 = [id, position in its window], layer 1 = [position].
    struct Probe;
    struct ProbeLm;

    impl CausalLm for ProbeLm {
        fn n_layers(&self) -> usize {
            2
        }
        fn dims(&self) -> Vec<usize> {
            vec![2, 1]
        }
        fn max_positions(&self) -> Option<usize> {
            Some(4)
        }
        fn n_params(&self) -> u64 {
            7
        }
        fn forward(&self, input_ids: &[u32]) -> Result<Vec<Tensor>, LmError> {
            let n = input_ids.len();
            let l0: Vec<f32> = input_ids.iter().enumerate().flat_map(|(p, &id)| [id as f32, p as f32]).collect();
            let l1: Vec<f32> = (0..n).map(|p| p as f32).collect();
            Ok(vec![Tensor::from_vec(l0, (n, 2), &Device::Cpu)?, Tensor::from_vec(l1, (n, 1), &Device::Cpu)?])
        }
    }

    impl Family for Probe {
        fn load(ctx: &LoadContext, _: VarBuilder<'_>) -> Result<Box<dyn CausalLm>, LmError> {
            assert_eq!(ctx.untrained, Some(5));
            Ok(Box::new(ProbeLm))
        }
        fn prefixes() -> &'static [&'static str] {
            &[]
        }
    }

    /// Vocabulary: `a`=3, `b`=4, `Ġ`=5, `Ġa`=6, `Ġb`=7; BOS `</s>`=2 added.
    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            ("config.json", r#"{"model_type": "probe", "_name_or_path": "probe-model"}"#),
            ("vocab.json", r#"{"<s>": 0, "<pad>": 1, "</s>": 2, "a": 3, "b": 4, "Ġ": 5, "Ġa": 6, "Ġb": 7}"#),
            ("merges.txt", "#version: 0.2\nĠ a\nĠ b\n"),
            ("tokenizer_config.json", r#"{"add_bos_token": true, "bos_token": "</s>"}"#),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tokens_take_their_states_from_the_first_window_and_words_are_pooled() {
        let dir = folder();
        let options = LmOptions { step: Some(2), untrained: Some(5), ..LmOptions::default() };
        let ex = LmExtractor::<Probe>::open(dir.path(), &options).unwrap();
        // 7 content tokens "a b a b a b a", C = 4, 1 special: W = 3, S = 2
        let text = "a b a b a b a";
        let plan = ex.plan(text, &words(&["a", "b", "a", "b", "a", "b", "a"])).unwrap();
        assert_eq!(plan.tokens.ids, [3, 7, 6, 7, 6, 7, 6]);
        assert_eq!(plan.input_ids, [vec![2, 3, 7, 6], vec![2, 6, 7, 6], vec![2, 6, 7, 6]]);
        assert_eq!(plan.windows.iter().map(|w| w.kept.clone()).collect::<Vec<_>>(), [0..3, 3..5, 5..7]);
        // words "ab" (tokens a, b), "a" (Ġa), "bab" (Ġb, a, b): means over each word
        let layers = ex.extract_all("ab a bab", &words(&["ab", "a", "bab"])).unwrap();
        // (two windows here too: "bab" takes positions 2, 3 of window 1 and 2 of window 2)
        assert_eq!(layers[0].as_slice(), [3.5, 1.5, 6.0, 3.0, 14.0 / 3.0, 7.0 / 3.0]);
        let w = words(&["a", "b", "a", "b", "a", "b", "a"]);
        let layers = ex.extract_all(text, &w).unwrap();
        // positions (after the BOS): tokens 0..3 from window 0 at 1..4; 3, 4 from window 1
        // (content 2..5) at 2, 3; 5, 6 from window 2 (content 4..7) at 2, 3
        assert_eq!(layers[1].as_slice(), [1.0, 2.0, 3.0, 2.0, 3.0, 2.0, 3.0]);
        let ids: Vec<f32> = (0..7).map(|r| layers[0].row(r)[0]).collect();
        assert_eq!(ids, [3.0, 7.0, 6.0, 7.0, 6.0, 7.0, 6.0]);
        // one word over several tokens: the mean
        let two = ex.extract_all("a b", &words(&["ab"])).unwrap();
        assert_eq!(two[0].row(0), [5.0, 1.5]);
    }

    #[test]
    fn the_plugin_caches_a_run_and_hands_each_layer_out() {
        let dir = folder();
        let options = Options::parse(r#"{"untrained": 5, "step": 2, "dtype": "f32", "device": "cpu"}"#).unwrap();
        let mut ex = <LmExtractor<Probe> as FeatureExtractor>::create(dir.path().to_str().unwrap(), &options).unwrap();
        options.check_all_read("probe").unwrap();
        let info = ex.describe();
        assert_eq!(info.model, "probe-model (untrained, seed 5)");
        assert_eq!((info.family.as_str(), info.n_layers, info.n_params), ("probe", 2, Some(7)));
        assert_eq!(info.context, ContextInfo { max_tokens: Some(4), step: Some(2) });
        assert!(info.tokenizer.unwrap().ends_with("merges.txt"));
        let w = words(&["a", "b"]);
        let run = RunText { text: "a b", words: &w };
        let l0 = ex.extract(&run, 0).unwrap();
        assert!(ex.cache.as_ref().unwrap().layers[0].is_none());
        let l1 = ex.extract(&run, 1).unwrap();
        assert!(ex.cache.as_ref().unwrap().layers.iter().all(Option::is_none));
        assert_eq!((l0.n_cols(), l1.n_cols()), (2, 1));
        assert_eq!(ex.extract(&run, 0).unwrap(), l0); // asked again: recomputed
        let e = <LmExtractor<Probe> as FeatureExtractor>::create(
            dir.path().to_str().unwrap(),
            &Options::parse(r#"{"dtype": "f64"}"#).unwrap(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("f64"));
    }

    #[test]
    fn the_default_step_is_64_minus_the_special_tokens_and_is_described() {
        let dir = folder();
        let options = LmOptions { untrained: Some(5), ..LmOptions::default() };
        let ex = LmExtractor::<Probe>::open(dir.path(), &options).unwrap();
        // the probe's tokenizer adds a BOS: 64 - 1
        assert_eq!((ex.tokenizer().n_specials(), ex.step()), (1, 63));
        assert_eq!(ex.info().context, ContextInfo { max_tokens: Some(4), step: Some(63) });
        // a short run needs no step; a long one says which steps the 4-position window allows
        assert!(ex.plan("a b", &words(&["a", "b"])).is_ok());
        let e = ex.plan("a b a b a", &words(&["a", "b", "a", "b", "a"])).unwrap_err().to_string();
        assert!(e.contains("window step 63") && e.contains("--step 2 ") && e.contains("= 63"), "{e}");
        let explicit = LmOptions { step: Some(64), ..options };
        assert_eq!(LmExtractor::<Probe>::open(dir.path(), &explicit).unwrap().info().context.step, Some(64));
    }

    #[test]
    fn a_missing_config_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = LmExtractor::<Probe>::open(dir.path(), &LmOptions::default()).unwrap_err().to_string();
        assert!(e.contains("config.json") && e.contains("missing"), "{e}");
        std::fs::write(dir.path().join("config.json"), "{oops").unwrap();
        let e = LmExtractor::<Probe>::open(dir.path(), &LmOptions::default()).unwrap_err().to_string();
        assert!(e.contains("config.json") && e.contains("JSON"), "{e}");
    }
}
