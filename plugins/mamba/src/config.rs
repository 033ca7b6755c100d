//! `config.json` of a Mamba model, as `transformers.MambaConfig` reads it (the original
//! `state-spaces/mamba` names `d_model`, `n_layer`, `d_state`, `d_conv` are accepted too).

use std::path::Path;

use brainscale_lm::LmError;
use serde::Deserialize;
use serde_json::Value;

/// The fields of `MambaConfig` the model needs, with its defaults.
#[derive(Clone, Debug, Deserialize)]
pub struct MambaConfig {
    /// Vocabulary size (rows of the embedding).
    pub vocab_size: usize,
    /// Model width H.
    pub hidden_size: usize,
    /// Number of Mamba blocks.
    pub num_hidden_layers: usize,
    /// SSM state size N.
    #[serde(default = "default_state_size")]
    pub state_size: usize,
    /// Depthwise convolution width.
    #[serde(default = "default_conv_kernel")]
    pub conv_kernel: usize,
    /// Inner width I = expand · H.
    #[serde(default = "default_expand")]
    pub expand: usize,
    /// `in_proj` / `out_proj` biases.
    #[serde(default)]
    pub use_bias: bool,
    /// Convolution bias.
    #[serde(default = "yes")]
    pub use_conv_bias: bool,
    /// RMSNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// Activation (only `silu` is supported, as HF's Mamba uses).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Residual stream kept in f32.
    #[serde(default = "yes")]
    pub residual_in_fp32: bool,
    /// Rank of the Δ projection: a number or `"auto"` (= ceil(H / 16)).
    #[serde(default = "auto")]
    pub time_step_rank: Value,
    /// Std of normal inits.
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    /// Scale of the `dt_proj` weight init.
    #[serde(default = "one")]
    pub time_step_scale: f64,
    /// Smallest initial Δ.
    #[serde(default = "default_dt_min")]
    pub time_step_min: f64,
    /// Largest initial Δ.
    #[serde(default = "default_dt_max")]
    pub time_step_max: f64,
    /// `random` or `constant` init of `dt_proj.weight`.
    #[serde(default = "default_dt_scheme")]
    pub time_step_init_scheme: String,
    /// Floor of the initial Δ.
    #[serde(default = "default_dt_floor")]
    pub time_step_floor: f64,
    /// Divide `out_proj.weight` by sqrt(n_layers) at init.
    #[serde(default)]
    pub rescale_prenorm_residual: bool,
}

fn default_state_size() -> usize {
    16
}
fn default_conv_kernel() -> usize {
    4
}
fn default_expand() -> usize {
    2
}
fn yes() -> bool {
    true
}
fn default_eps() -> f64 {
    1e-5
}
fn default_act() -> String {
    "silu".into()
}
fn auto() -> Value {
    Value::String("auto".into())
}
fn default_init_range() -> f64 {
    0.1
}
fn one() -> f64 {
    1.0
}
fn default_dt_min() -> f64 {
    0.001
}
fn default_dt_max() -> f64 {
    0.1
}
fn default_dt_scheme() -> String {
    "random".into()
}
fn default_dt_floor() -> f64 {
    1e-4
}

/// `transformers` names and the `state-spaces/mamba` names they replace (used when only the
/// latter is present).
const ORIGINAL_NAMES: &[(&str, &str)] = &[
    ("hidden_size", "d_model"),
    ("num_hidden_layers", "n_layer"),
    ("state_size", "d_state"),
    ("conv_kernel", "d_conv"),
];

impl MambaConfig {
    /// Parses `config` (the content of `dir/config.json`); errors name the file.
    pub fn from_json(config: &Value, dir: &Path) -> Result<Self, LmError> {
        let path = dir.join("config.json");
        let mut config = config.clone();
        if let Some(map) = config.as_object_mut() {
            for (name, original) in ORIGINAL_NAMES {
                if !map.contains_key(*name)
                    && let Some(v) = map.get(*original).cloned()
                {
                    map.insert((*name).to_owned(), v);
                }
            }
        }
        let c: MambaConfig = serde_json::from_value(config)
            .map_err(|e| LmError::Malformed { path: path.clone(), reason: format!("not a Mamba config ({e})") })?;
        if c.hidden_act != "silu" {
            return Err(LmError::Malformed {
                path,
                reason: format!("hidden_act {:?}: only `silu` is supported for Mamba", c.hidden_act),
            });
        }
        c.dt_rank().map_err(|reason| LmError::Malformed { path, reason })?;
        Ok(c)
    }

    /// Inner width I.
    pub fn intermediate_size(&self) -> usize {
        self.expand * self.hidden_size
    }

    /// Rank R of the Δ projection.
    pub fn dt_rank(&self) -> Result<usize, String> {
        match &self.time_step_rank {
            Value::String(s) if s == "auto" => Ok(self.hidden_size.div_ceil(16)),
            v => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("time_step_rank {v}: expected a positive integer or \"auto\"")),
        }
    }
}
