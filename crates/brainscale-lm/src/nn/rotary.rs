//! Rotary position embeddings, "rotate-half" style (Llama, Mistral, Qwen2, Gemma, GPT-NeoX,
//! StableLM), over the full head or only its first `rotary_dim` features (GPT-NeoX's
//! `rotary_pct`, StableLM's `partial_rotary_factor`).

use candle_core::{DType, Device, Result, Tensor};

/// The rotary embedding's parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RotarySpec {
    /// Features rotated at the start of each head (even, at most `head_dim`).
    pub rotary_dim: usize,
    /// The base wavelength (`rope_theta`, `rotary_emb_base`).
    pub theta: f64,
}

impl RotarySpec {
    /// HF's `int(head_dim * partial_rotary_factor)`.
    pub fn partial(head_dim: usize, factor: f64, theta: f64) -> Self {
        Self { rotary_dim: (head_dim as f64 * factor) as usize, theta }
    }
}

/// The cosine and sine tables of one forward pass, `[n_tokens, rotary_dim / 2]` each.
#[derive(Clone, Debug)]
pub struct RotaryTables {
    rotary_dim: usize,
    cos: Tensor,
    sin: Tensor,
}

impl RotaryTables {
    /// Tables for positions `0..n_tokens`, computed like HF in float32 (`inv_freq = 1 /
    /// theta^(2i/d)`, `freqs = pos * inv_freq`).
    pub fn new(spec: RotarySpec, n_tokens: usize, dtype: DType, device: &Device) -> Result<Self> {
        let half = spec.rotary_dim / 2;
        let inv_freq: Vec<f32> =
            (0..half).map(|i| 1.0 / (spec.theta as f32).powf((2 * i) as f32 / spec.rotary_dim as f32)).collect();
        let mut cos = Vec::with_capacity(n_tokens * half);
        let mut sin = Vec::with_capacity(n_tokens * half);
        for p in 0..n_tokens {
            for &f in &inv_freq {
                let a = (p as f32 * f) as f64;
                cos.push(a.cos() as f32);
                sin.push(a.sin() as f32);
            }
        }
        let cos = Tensor::from_vec(cos, (n_tokens, half), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (n_tokens, half), device)?.to_dtype(dtype)?;
        Ok(Self { rotary_dim: spec.rotary_dim, cos, sin })
    }

    /// Rotates `x [n_heads, n, head_dim]` (contiguous) holding positions `start..start + n`.
    pub fn apply(&self, x: &Tensor, start: usize) -> Result<Tensor> {
        let (h, n, d) = x.dims3()?;
        let cos = self.cos.narrow(0, start, n)?;
        let sin = self.sin.narrow(0, start, n)?;
        if self.rotary_dim == d {
            return candle_nn::rotary_emb::rope(&x.reshape((1, h, n, d))?, &cos, &sin)?.reshape((h, n, d));
        }
        let rot = x.narrow(2, 0, self.rotary_dim)?.contiguous()?.reshape((1, h, n, self.rotary_dim))?;
        let rot = candle_nn::rotary_emb::rope(&rot, &cos, &sin)?.reshape((h, n, self.rotary_dim))?;
        Tensor::cat(&[&rot, &x.narrow(2, self.rotary_dim, d - self.rotary_dim)?], 2)
    }
}

impl RotarySpec {
    /// Reads the rotary parameters of a `config.json`: `rope_parameters.{rope_theta,
    /// partial_rotary_factor, rope_type}` (transformers 5), else the top-level `rope_theta` /
    /// `partial_rotary_factor`, else GPT-NeoX's `rotary_emb_base` / `rotary_pct`; `theta`
    /// defaults to HF's 10 000 and the factor to `default_factor`. Scaled variants (`rope_type`
    /// other than `default`, a `rope_scaling` dict) are refused.
    pub fn from_hf_config(
        config: &serde_json::Value,
        head_dim: usize,
        default_factor: f64,
    ) -> std::result::Result<Self, String> {
        let params = config.get("rope_parameters").filter(|v| v.is_object());
        let scaling = config.get("rope_scaling").filter(|v| v.is_object());
        for p in [params, scaling].into_iter().flatten() {
            let kind = p.get("rope_type").or_else(|| p.get("type")).and_then(|v| v.as_str()).unwrap_or("default");
            if kind != "default" {
                return Err(format!("rope_type {kind:?} is not supported (only the default rotary embedding)"));
            }
        }
        let number = |keys: &[&str]| -> Option<f64> {
            keys.iter().find_map(|k| params.and_then(|p| p.get(*k)).or_else(|| config.get(*k)).and_then(|v| v.as_f64()))
        };
        let theta = number(&["rope_theta", "rotary_emb_base"]).unwrap_or(10_000.0);
        let factor = number(&["partial_rotary_factor", "rotary_pct"]).unwrap_or(default_factor);
        let spec = Self::partial(head_dim, factor, theta);
        if spec.rotary_dim == 0 || spec.rotary_dim % 2 != 0 || spec.rotary_dim > head_dim {
            return Err(format!(
                "rotary dimension {} (head_dim {head_dim} x {factor}) must be even and in 2..=head_dim",
                spec.rotary_dim
            ));
        }
        Ok(spec)
    }
}
