//! # brainscale-baselines: the paper's baseline features, as a plugin
//!
//! Three families, each a single layer (`layer-00`, SPEC section 2):
//!
//! | model spec | features | options |
//! | --- | --- | --- |
//! | `random-vectors` | a fresh standard Gaussian vector for every word occurrence | `dim` (300), `seed` (0) |
//! | `random-embeddings` | one fixed uniform [0, 1) vector per word type (lower-cased) | `dim` (300), `seed` (0) |
//! | `glove:PATH` | the word's GloVe vector from `PATH` (`glove.6B.300d.txt` format); zeros when absent | none |
//!
//! Everything is deterministic: the same seed gives the same features, whatever the order in
//! which runs are extracted. This crate is also the worked example of `plugins/README.md`:
//! one type implements the SDK's `FeatureExtractor`, one `export_plugin!` exports it.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod glove;
mod random;

use brainscale_plugin_sdk::{FeatureExtractor, Matrix, ModelInfo, Options, PluginError, RunText, export_plugin};

pub use glove::Glove;
pub use random::{RandomEmbeddings, RandomVectors};

/// The families this plugin serves.
pub const FAMILIES: [&str; 3] = ["random-vectors", "random-embeddings", "glove"];

/// One of the baselines, chosen by the model spec.
pub enum Baseline {
    /// `random-vectors`.
    RandomVectors(RandomVectors),
    /// `random-embeddings`.
    RandomEmbeddings(RandomEmbeddings),
    /// `glove:PATH`.
    Glove(Glove),
}

impl FeatureExtractor for Baseline {
    fn create(model: &str, options: &Options) -> Result<Self, PluginError> {
        let (family, argument) = match model.split_once(':') {
            Some((f, a)) => (f, Some(a)),
            None => (model, None),
        };
        let no_argument = |family: &str| match argument {
            None => Ok(()),
            Some(a) => Err(PluginError::invalid(format!(
                "model {model:?}: `{family}` takes no argument after ':' (got {a:?}); set its size and seed with \
                 --option dim=N --option seed=N"
            ))),
        };
        match family {
            "random-vectors" => {
                no_argument(family)?;
                Ok(Baseline::RandomVectors(RandomVectors::new(random::RandomParams::from_options(options)?)))
            }
            "random-embeddings" => {
                no_argument(family)?;
                Ok(Baseline::RandomEmbeddings(RandomEmbeddings::new(random::RandomParams::from_options(options)?)))
            }
            "glove" => match argument {
                Some(path) if !path.is_empty() => Ok(Baseline::Glove(Glove::load(path.as_ref())?)),
                _ => Err(PluginError::invalid(format!(
                    "model {model:?}: GloVe needs its vectors file, e.g. glove:/data/glove.6B.300d.txt"
                ))),
            },
            _ => Err(PluginError::invalid(format!(
                "model {model:?}: unknown baseline `{family}`; this plugin serves {}",
                FAMILIES.join(", ")
            ))),
        }
    }

    fn describe(&self) -> ModelInfo {
        match self {
            Baseline::RandomVectors(b) => b.describe(),
            Baseline::RandomEmbeddings(b) => b.describe(),
            Baseline::Glove(b) => b.describe(),
        }
    }

    fn extract(&mut self, run: &RunText<'_>, _layer: usize) -> Result<Matrix, PluginError> {
        // The SDK has checked that `layer` is 0, the only layer.
        Ok(match self {
            Baseline::RandomVectors(b) => b.features(run.words),
            Baseline::RandomEmbeddings(b) => b.features(run.words),
            Baseline::Glove(b) => b.features(run.words),
        })
    }
}

export_plugin!(
    Baseline,
    "brainscale-baselines",
    env!("CARGO_PKG_VERSION"),
    ["random-vectors", "random-embeddings", "glove"]
);

#[cfg(test)]
mod tests {
    use super::*;

    fn create(model: &str, options: &str) -> Result<Baseline, PluginError> {
        let options = Options::parse(options)?;
        let b = Baseline::create(model, &options)?;
        options.check_all_read(model)?;
        Ok(b)
    }

    fn err(model: &str, options: &str) -> String {
        match create(model, options) {
            Ok(_) => panic!("{model} {options} should fail"),
            Err(e) => {
                assert_eq!(e.status(), brainscale_plugin_sdk::abi::Status::INVALID_ARGUMENT, "{e}");
                e.to_string()
            }
        }
    }

    #[test]
    fn specs_and_options_are_checked() {
        assert!(err("random-embeddings", r#"{"dim": 0}"#).contains("option `dim` must be at least 1"));
        assert!(err("random-vectors", r#"{"seed": "x"}"#).contains("option `seed`: expected a non-negative integer"));
        assert!(err("random-vectors", r#"{"size": 3}"#).contains("unknown option `size`"));
        assert!(err("glove", "{}").contains("glove:/data/glove.6B.300d.txt"));
        assert!(err("random-vectors:3", "{}").contains("takes no argument"));
        assert!(err("bert", "{}").contains("unknown baseline `bert`"));
    }

    #[test]
    fn the_table_exports_the_families() {
        // SAFETY: the entry returns a static table with `n_families` static C strings.
        let families: Vec<&str> = unsafe {
            let t = &*brainscale_plugin_entry();
            std::slice::from_raw_parts(t.families, t.n_families)
                .iter()
                .map(|&p| std::ffi::CStr::from_ptr(p).to_str().unwrap())
                .collect()
        };
        assert_eq!(families, FAMILIES);
    }
}
