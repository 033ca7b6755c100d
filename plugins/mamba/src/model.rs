//! Mamba (v1) on candle, mirroring Hugging Face `transformers`' `MambaModel`
//! (`models/mamba/modeling_mamba.py`, the sequential "slow" path of `MambaMixer` that runs on
//! CPUs without the CUDA kernels).
//!
//! Per block: `h = h + mixer(rms_norm(h))`, the residual stream kept in f32 when
//! `residual_in_fp32`. The mixer: `in_proj` → (x, z); x through a depthwise causal conv1d
//! (with bias) and SiLU → u; `x_proj(u)` → (dt, B, C); Δ = softplus(`dt_proj`(dt)); the
//! selective scan with A = −exp(`A_log`) and the skip D ([`crate::scan`]); gate by SiLU(z);
//! `out_proj`.
//!
//! Hidden states are HF's (`output_hidden_states=True`, checked against transformers 5.24):
//! the output of every block, then `norm_f` of the last block's output (`n_layer + 1`
//! states). Unlike the transformers, HF's Mamba returns no embedding-output state, so layer
//! 00 is the first block's output, not the embeddings.

use brainscale_lm::weights::seeded_rng;
use brainscale_lm::{CausalLm, LmError, LoadContext};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Init, Linear, VarBuilder, init::FanInOut, init::NonLinearity, init::NormalOrUniform};
use rand::Rng;

use crate::config::MambaConfig;
use crate::scan::{ScanInputs, selective_scan, softplus};

/// Records the parameters as they are loaded.
struct Loader<'a> {
    ctx: &'a LoadContext,
    config: &'a MambaConfig,
    params: Vec<(String, Tensor)>,
}

fn full_name(vb: &VarBuilder<'_>, name: &str) -> String {
    if vb.prefix().is_empty() { name.to_owned() } else { format!("{}.{name}", vb.prefix()) }
}

impl Loader<'_> {
    fn get(&mut self, vb: &VarBuilder<'_>, shape: &[usize], name: &str, init: Init) -> Result<Tensor, LmError> {
        let t = vb.get_with_hints(shape, name, init)?;
        self.params.push((full_name(vb, name), t.clone()));
        Ok(t)
    }

    /// A tensor that init hints cannot describe: `values` when untrained, else from `vb`.
    fn explicit(
        &mut self,
        vb: &VarBuilder<'_>,
        shape: &[usize],
        name: &str,
        values: impl FnOnce(&str) -> Vec<f32>,
    ) -> Result<Tensor, LmError> {
        let full = full_name(vb, name);
        let t = match self.ctx.untrained {
            Some(_) => Tensor::from_vec(values(&full), shape, &Device::Cpu)?
                .to_dtype(self.ctx.dtype)?
                .to_device(&self.ctx.device)?,
            None => vb.get(shape, name)?,
        };
        self.params.push((full, t.clone()));
        Ok(t)
    }

    fn normal(&self) -> Init {
        Init::Randn { mean: 0.0, stdev: self.config.initializer_range }
    }

    /// A `nn.Linear` initialised as HF's `_init_weights` does: `weight_init`, zero bias.
    fn linear(
        &mut self,
        vb: &VarBuilder<'_>,
        out: usize,
        inp: usize,
        bias: bool,
        weight_init: Init,
    ) -> Result<Linear, LmError> {
        let w = self.get(vb, &[out, inp], "weight", weight_init)?;
        let b = if bias { Some(self.get(vb, &[out], "bias", Init::Const(0.0))?) } else { None };
        Ok(Linear::new(w, b))
    }
}

/// PyTorch's `kaiming_uniform_(w, a=sqrt(5))`, the default init of `nn.Linear` / `nn.Conv1d`
/// weights: U(±1/sqrt(fan_in)).
const KAIMING_A_SQRT5: Init = Init::Kaiming {
    dist: NormalOrUniform::Uniform,
    fan: FanInOut::FanIn,
    non_linearity: NonLinearity::ExplicitGain(0.577_350_269_189_625_8), // sqrt(2 / (1 + 5))
};

struct Mixer {
    in_proj: Linear,
    /// The conv1d taps, one `[I]` tensor per kernel position.
    conv_taps: Vec<Tensor>,
    conv_bias: Option<Tensor>,
    x_proj: Linear,
    dt_proj: Linear,
    /// −exp(A_log), `[I, N]` row-major, f32.
    a: Vec<f32>,
    /// D, `[I]`, f32.
    d: Vec<f32>,
    out_proj: Linear,
    inner: usize,
    state: usize,
    dt_rank: usize,
    kernel: usize,
}

impl Mixer {
    fn load(l: &mut Loader<'_>, vb: VarBuilder<'_>) -> Result<Self, LmError> {
        let c = l.config;
        let (h, i, n, k) = (c.hidden_size, c.intermediate_size(), c.state_size, c.conv_kernel);
        let r = c.dt_rank().map_err(LmError::Invalid)?;
        let seed = l.ctx.untrained.unwrap_or(0);
        let normal = l.normal();
        let in_proj = l.linear(&vb.pp("in_proj"), 2 * i, h, c.use_bias, normal)?;
        let conv = vb.pp("conv1d");
        let conv_w = l.get(&conv, &[i, 1, k], "weight", KAIMING_A_SQRT5)?;
        let conv_bias = if c.use_conv_bias { Some(l.get(&conv, &[i], "bias", Init::Const(0.0))?) } else { None };
        let conv_w = conv_w.reshape((i, k))?;
        let conv_taps = (0..k).map(|j| conv_w.narrow(1, j, 1)?.squeeze(1)?.contiguous()).collect::<Result<_, _>>()?;
        let x_proj = l.linear(&vb.pp("x_proj"), r + 2 * n, i, false, normal)?;
        let dt_std = (r as f64).powf(-0.5) * c.time_step_scale;
        let dt_w_init = match c.time_step_init_scheme.as_str() {
            "constant" => Init::Const(dt_std),
            _ => Init::Uniform { lo: -dt_std, up: dt_std },
        };
        let dt_vb = vb.pp("dt_proj");
        let dt_w = l.get(&dt_vb, &[i, r], "weight", dt_w_init)?;
        let (dt_min, dt_max, floor) = (c.time_step_min, c.time_step_max, c.time_step_floor);
        let dt_b = l.explicit(&dt_vb, &[i], "bias", |name| {
            // inverse softplus of a log-uniform Δ in [dt_min, dt_max], floored
            let mut rng = seeded_rng(seed, name);
            (0..i)
                .map(|_| {
                    let u: f64 = rng.random();
                    let dt = (u * (dt_max.ln() - dt_min.ln()) + dt_min.ln()).exp().max(floor);
                    (dt + (-(-dt).exp_m1()).ln()) as f32
                })
                .collect()
        })?;
        let dt_proj = Linear::new(dt_w, Some(dt_b));
        let a_log =
            l.explicit(&vb, &[i, n], "A_log", |_| (0..i).flat_map(|_| (1..=n).map(|s| (s as f32).ln())).collect())?;
        let d = l.get(&vb, &[i], "D", Init::Const(1.0))?;
        // kaiming_uniform(a=sqrt(5)), divided by sqrt(n_layers) when rescale_prenorm_residual
        let rescale = if c.rescale_prenorm_residual { (c.num_hidden_layers as f64).sqrt() } else { 1.0 };
        let out_bound = 1.0 / (i as f64).sqrt() / rescale;
        let out_init = Init::Uniform { lo: -out_bound, up: out_bound };
        let out_proj = l.linear(&vb.pp("out_proj"), h, i, c.use_bias, out_init)?;
        let to_vec = |t: &Tensor| -> Result<Vec<f32>, LmError> {
            Ok(t.to_dtype(DType::F32)?.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?)
        };
        let a = to_vec(&a_log)?.into_iter().map(|x| -x.exp()).collect();
        Ok(Mixer {
            in_proj,
            conv_taps,
            conv_bias,
            x_proj,
            dt_proj,
            a,
            d: to_vec(&d)?,
            out_proj,
            inner: i,
            state: n,
            dt_rank: r,
            kernel: k,
        })
    }

    /// `x` `[L, H]` in the model dtype → `[L, H]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor, LmError> {
        let (len, i, n) = (x.dim(0)?, self.inner, self.state);
        let xz = self.in_proj.forward(x)?;
        let xs = xz.narrow(1, 0, i)?;
        let z = xz.narrow(1, i, i)?;
        // depthwise causal conv: out[t] = bias + sum_j w[j] * x[t - (K-1) + j]
        let pad = Tensor::zeros((self.kernel - 1, i), xs.dtype(), xs.device())?;
        let padded = Tensor::cat(&[&pad, &xs], 0)?;
        let mut conv = padded.narrow(0, 0, len)?.broadcast_mul(&self.conv_taps[0])?;
        for (j, tap) in self.conv_taps.iter().enumerate().skip(1) {
            conv = (conv + padded.narrow(0, j, len)?.broadcast_mul(tap)?)?;
        }
        if let Some(b) = &self.conv_bias {
            conv = conv.broadcast_add(b)?;
        }
        let u = candle_nn::ops::silu(&conv)?;
        let ssm = self.x_proj.forward(&u)?;
        let r = self.dt_rank;
        let dt = self.dt_proj.forward(&ssm.narrow(1, 0, r)?.contiguous()?)?;
        let cpu = |t: Tensor| -> Result<Vec<f32>, LmError> {
            Ok(t.to_dtype(DType::F32)?.to_device(&Device::Cpu)?.contiguous()?.flatten_all()?.to_vec1::<f32>()?)
        };
        let delta: Vec<f32> = cpu(dt)?.into_iter().map(softplus).collect();
        let b = cpu(ssm.narrow(1, r, n)?)?;
        let c = cpu(ssm.narrow(1, r + n, n)?)?;
        let u_cpu = cpu(u)?;
        let y = selective_scan(&ScanInputs {
            len,
            channels: i,
            state: n,
            u: &u_cpu,
            delta: &delta,
            b: &b,
            c: &c,
            a: &self.a,
            d: &self.d,
        });
        let y = Tensor::from_vec(y, (len, i), &Device::Cpu)?.to_dtype(x.dtype())?.to_device(x.device())?;
        let gated = (y * candle_nn::ops::silu(&z)?)?;
        Ok(self.out_proj.forward(&gated)?)
    }
}

struct Block {
    norm: Tensor,
    mixer: Mixer,
}

/// A loaded Mamba model.
pub struct Mamba {
    embeddings: Tensor,
    blocks: Vec<Block>,
    norm_f: Tensor,
    eps: f32,
    dtype: DType,
    residual_in_fp32: bool,
    hidden: usize,
    params: Vec<(String, Tensor)>,
}

impl Mamba {
    /// Builds the model from `vb` (names without the `backbone.` prefix).
    pub fn load(ctx: &LoadContext, config: &MambaConfig, vb: VarBuilder<'_>) -> Result<Self, LmError> {
        let mut l = Loader { ctx, config, params: Vec::new() };
        let h = config.hidden_size;
        let embeddings = l.get(&vb.pp("embeddings"), &[config.vocab_size, h], "weight", l.normal())?;
        let mut blocks = Vec::with_capacity(config.num_hidden_layers);
        for k in 0..config.num_hidden_layers {
            let bvb = vb.pp("layers").pp(k);
            let norm = l.get(&bvb.pp("norm"), &[h], "weight", Init::Const(1.0))?;
            let mixer = Mixer::load(&mut l, bvb.pp("mixer"))?;
            blocks.push(Block { norm, mixer });
        }
        let norm_f = l.get(&vb.pp("norm_f"), &[h], "weight", Init::Const(1.0))?;
        Ok(Mamba {
            embeddings,
            blocks,
            norm_f,
            eps: config.layer_norm_epsilon as f32,
            dtype: ctx.dtype,
            residual_in_fp32: config.residual_in_fp32,
            hidden: h,
            params: l.params,
        })
    }

    /// Every parameter with its name (without the `backbone.` prefix), in load order.
    pub fn named_parameters(&self) -> &[(String, Tensor)] {
        &self.params
    }

    /// HF's `MambaRMSNorm`: normalise in f32, cast back to the input's dtype, scale (an f32
    /// input with a half-precision weight gives f32, as PyTorch's type promotion does).
    fn rms_norm(&self, x: &Tensor, weight: &Tensor) -> Result<Tensor, LmError> {
        let xf = x.to_dtype(DType::F32)?;
        let var = xf.sqr()?.mean_keepdim(1)?;
        let normed = xf.broadcast_div(&(var + f64::from(self.eps))?.sqrt()?)?.to_dtype(x.dtype())?;
        Ok(normed.broadcast_mul(&weight.to_dtype(x.dtype())?)?)
    }
}

impl CausalLm for Mamba {
    fn n_layers(&self) -> usize {
        self.blocks.len() + 1
    }

    fn dims(&self) -> Vec<usize> {
        vec![self.hidden; self.n_layers()]
    }

    fn max_positions(&self) -> Option<usize> {
        None
    }

    fn n_params(&self) -> u64 {
        self.params.iter().map(|(_, t)| t.elem_count() as u64).sum()
    }

    fn forward(&self, input_ids: &[u32]) -> Result<Vec<Tensor>, LmError> {
        let ids = Tensor::new(input_ids, self.embeddings.device())?;
        let mut h = self.embeddings.index_select(&ids, 0)?;
        let mut states = Vec::with_capacity(self.n_layers());
        for block in &self.blocks {
            let normed = self.rms_norm(&h.to_dtype(self.dtype)?, &block.norm)?;
            let residual = if self.residual_in_fp32 { h.to_dtype(DType::F32)? } else { h };
            let out = block.mixer.forward(&normed)?;
            h = (out.to_dtype(residual.dtype())? + residual)?;
            states.push(h.clone());
        }
        // then the last block's output after norm_f
        states.push(self.rms_norm(&h, &self.norm_f)?);
        Ok(states)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(untrained: u64, dtype: DType) -> Mamba {
        let config = serde_json::json!({"model_type": "mamba", "vocab_size": 50, "hidden_size": 16,
            "num_hidden_layers": 2, "state_size": 4, "expand": 2, "conv_kernel": 3});
        let ctx = LoadContext {
            dir: "tiny".into(),
            config: config.clone(),
            dtype,
            device: Device::Cpu,
            untrained: Some(untrained),
        };
        let c = MambaConfig::from_json(&config, "tiny".as_ref()).unwrap();
        Mamba::load(&ctx, &c, brainscale_lm::weights::untrained(untrained, dtype, &Device::Cpu)).unwrap()
    }

    #[test]
    fn hidden_states_are_causal_and_counted_like_hf() {
        let m = tiny(1, DType::F32);
        assert_eq!((m.n_layers(), m.dims(), m.max_positions()), (3, vec![16; 3], None));
        // embeddings 50*16 + 2 * (norm 16 + in 2*32*16 + conv 32*3 + 32 + x_proj (1+8)*32 + dt 32 + 32
        //   + A 32*4 + D 32 + out 16*32) + norm_f 16
        assert_eq!(m.n_params(), 800 + 2 * (16 + 1024 + 96 + 32 + 288 + 32 + 32 + 128 + 32 + 512) + 16);
        let a = m.forward(&[1, 2, 3, 4]).unwrap();
        let b = m.forward(&[1, 2, 3, 9, 9]).unwrap();
        assert_eq!(a.len(), 3);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.dims(), [4, 16]);
            // the first three tokens see the same prefix
            let d = (x.narrow(0, 0, 3).unwrap() - y.narrow(0, 0, 3).unwrap()).unwrap();
            assert!(d.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap() < 1e-5);
        }
        let last: Vec<f32> = a[2].flatten_all().unwrap().to_vec1().unwrap();
        assert!(last.iter().all(|v| v.is_finite()));
        // deterministic per seed, different across seeds
        let again = tiny(1, DType::F32).forward(&[1, 2, 3, 4]).unwrap();
        assert_eq!(again[2].flatten_all().unwrap().to_vec1::<f32>().unwrap(), last);
        let other = tiny(2, DType::F32).forward(&[1, 2, 3, 4]).unwrap();
        assert_ne!(other[2].flatten_all().unwrap().to_vec1::<f32>().unwrap(), last);
        // bf16 runs and stays close
        let half = tiny(1, DType::BF16).forward(&[1, 2, 3, 4]).unwrap();
        let h: Vec<f32> = half[2].to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let err = h.iter().zip(&last).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(err < 0.1, "{err}");
    }
}
