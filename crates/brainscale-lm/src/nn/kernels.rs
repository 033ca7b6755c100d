//! Fused float32 CPU kernels for the hot element-wise steps of a decoder layer: LayerNorm /
//! RMSNorm (two-pass, so the large outlier dimensions of GPT-2-like residual streams do not
//! lose precision), the MLP activations (plain and gated), and a causal softmax that reads the
//! mask from the positions instead of a mask tensor.
//!
//! Every kernel runs row-parallel on rayon (candle's own pool). Callers use them only for
//! contiguous `f32` tensors on the CPU and fall back to candle ops otherwise (see
//! [`is_cpu_f32`]).

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

/// Whether the fused kernels apply to `x` (CPU, `f32`).
pub fn is_cpu_f32(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32
}

/// Rows per rayon task: enough work per task to amortise scheduling.
fn rows_per_task(n_cols: usize) -> usize {
    (16_384 / n_cols.max(1)).max(1)
}

/// The contiguous `f32` data of a CPU tensor, as the custom ops receive it.
fn f32_slice<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else { bail!("brainscale kernel: expected f32") };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("brainscale kernel: input must be contiguous"),
    }
}

/// `exp` for `f32` as a branch-free polynomial (Cephes' `expf` range reduction), so loops
/// over slices vectorise; relative error below 2e-7 on the range where `exp` is finite.
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.0);
    // round to nearest with the 1.5 * 2^23 trick (no libm call, so the loop vectorises)
    const MAGIC: f32 = 12_582_912.0;
    let n = (x * LOG2E + MAGIC) - MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5e-1;
    let y = p * r * r + r + 1.0;
    // 2^n through the exponent bits: `t`'s low mantissa bits hold n (within [-126, 128] after
    // the clamp), integer arithmetic that vectorises (unlike a float-to-int cast)
    let t = x * LOG2E + MAGIC;
    let e = (t.to_bits() as i32 - MAGIC.to_bits() as i32 + 127).max(1);
    y * f32::from_bits((e as u32) << 23)
}

/// Defines functions compiled three times (AVX-512, AVX2 + FMA, baseline x86-64) and dispatched
/// at run time on the CPU's features, so that the loops of their bodies auto-vectorise to the
/// widest SIMD there is. The body goes into an `#[inline(always)]` function called from
/// `#[target_feature]` wrappers: that is what makes the compiler generate it for each level.
/// (A closure handed to a dispatcher, as `pulp::Arch::dispatch` takes it, was compiled for the
/// baseline only: the softmax ran on 4-lane SSE.)
macro_rules! simd_fn {
    ($($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block)*) => {$(
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,avx,fma,f16c,bmi1,bmi2,lzcnt,popcnt")]
                fn v4($($arg: $ty),*) {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,avx,fma,f16c,bmi1,bmi2,lzcnt,popcnt")]
                fn v3($($arg: $ty),*) {
                    body($($arg),*)
                }
                let level = $crate::nn::kernels::simd_level();
                if level >= 4 {
                    // SAFETY: the CPU has every feature `v4` is compiled for (checked at run time).
                    return unsafe { v4($($arg),*) };
                }
                if level >= 3 {
                    // SAFETY: as above, for `v3`.
                    return unsafe { v3($($arg),*) };
                }
            }
            body($($arg),*)
        }
    )*};
}
pub(crate) use simd_fn;

/// The SIMD level of this CPU for [`simd_fn`]: 4 (AVX-512 F/VL/BW/DQ), 3 (AVX2 + FMA) or 0.
pub(crate) fn simd_level() -> u8 {
    static LEVEL: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let v3 = has!("avx2") && has!("fma") && has!("f16c") && has!("bmi1") && has!("bmi2") && has!("lzcnt");
            if v3 && has!("avx512f") && has!("avx512vl") && has!("avx512bw") && has!("avx512dq") {
                return 4;
            }
            if v3 {
                return 3;
            }
        }
        0
    })
}

/// `erf` (Abramowitz & Stegun 7.1.26, absolute error below 1.5e-7) with [`fast_exp`].
#[inline(always)]
fn fast_erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * fast_exp(-a * a);
    y.copysign(x)
}

/// An element-wise activation, as Hugging Face's `ACT2FN` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `gelu`: the exact GELU, `x * Phi(x)` with `erf`.
    GeluErf,
    /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation of GELU.
    GeluTanh,
    /// `relu`.
    Relu,
    /// `silu` / `swish`: `x * sigmoid(x)`.
    Silu,
}

impl Activation {
    /// Parses Hugging Face's activation names (`hidden_act`, `activation_function`).
    pub fn from_hf(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Self::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Self::GeluTanh),
            "relu" => Some(Self::Relu),
            "silu" | "swish" => Some(Self::Silu),
            _ => None,
        }
    }

    /// `act(v)`.
    #[inline(always)]
    pub(crate) fn apply(self, v: f32) -> f32 {
        match self {
            Self::GeluErf => 0.5 * v * (1.0 + fast_erf(v * std::f32::consts::FRAC_1_SQRT_2)),
            Self::GeluTanh => {
                // 0.5 (1 + tanh(u)) = sigmoid(2u)
                let u = 0.797_884_6 * (v + 0.044_715 * v * v * v);
                v / (1.0 + fast_exp(-2.0 * u))
            }
            Self::Relu => v.max(0.0),
            Self::Silu => v / (1.0 + fast_exp(-v)),
        }
    }

    /// `act` over a slice, with the match hoisted out of the loop so that the loop vectorises.
    #[inline(always)]
    pub(crate) fn apply_in_place(self, xs: &mut [f32]) {
        match self {
            Self::GeluErf => xs.iter_mut().for_each(|v| *v = Self::GeluErf.apply(*v)),
            Self::GeluTanh => xs.iter_mut().for_each(|v| *v = Self::GeluTanh.apply(*v)),
            Self::Relu => xs.iter_mut().for_each(|v| *v = Self::Relu.apply(*v)),
            Self::Silu => xs.iter_mut().for_each(|v| *v = Self::Silu.apply(*v)),
        }
    }

    /// Candle's version, for devices and dtypes the fused kernel does not cover.
    fn apply_tensor(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::GeluErf => x.gelu_erf(),
            Self::GeluTanh => x.gelu(),
            Self::Relu => x.relu(),
            Self::Silu => candle_nn::ops::silu(x),
        }
    }

    /// `act(x)` for `x` of any shape.
    pub fn forward(self, x: &Tensor) -> Result<Tensor> {
        if is_cpu_f32(x) {
            x.contiguous()?.apply_op1_no_bwd(&ActOp { act: self, gated: false })
        } else {
            self.apply_tensor(x)
        }
    }

    /// `act(gate) * up` for `x = [gate | up]` of shape `[rows, 2 * n]`: returns `[rows, n]`.
    pub fn forward_gated(self, x: &Tensor) -> Result<Tensor> {
        if is_cpu_f32(x) {
            x.contiguous()?.apply_op1_no_bwd(&ActOp { act: self, gated: true })
        } else {
            let n = x.dim(1)? / 2;
            self.apply_tensor(&x.narrow(1, 0, n)?)?.mul(&x.narrow(1, n, n)?)
        }
    }
}

struct ActOp {
    act: Activation,
    gated: bool,
}

impl CustomOp1 for ActOp {
    fn name(&self) -> &'static str {
        "brainscale-activation"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = f32_slice(storage, layout)?;
        let act = self.act;
        if !self.gated {
            let mut dst = vec![0f32; src.len()];
            dst.par_chunks_mut(16_384).zip(src.par_chunks(16_384)).for_each(|(d, s)| {
                d.copy_from_slice(s);
                activate(act, d)
            });
            return Ok((CpuStorage::F32(dst), layout.shape().clone()));
        }
        let (rows, cols) = layout.shape().dims2()?;
        let n = cols / 2;
        let mut dst = vec![0f32; rows * n];
        let chunk = rows_per_task(n);
        dst.par_chunks_mut(chunk * n).zip(src.par_chunks(chunk * cols)).for_each(|(d, s)| activate_gated(act, n, d, s));
        Ok((CpuStorage::F32(dst), Shape::from((rows, n))))
    }
}

simd_fn! {
    /// `act` over a slice in place.
    pub(crate) fn activate(act: Activation, xs: &mut [f32]) {
        act.apply_in_place(xs)
    }

    /// `act(gate) * up` for the rows `[gate | up]` (`2 n` wide) of `s` into the rows of `d`
    /// (`n` wide).
    fn activate_gated(act: Activation, n: usize, d: &mut [f32], s: &[f32]) {
        for (d, s) in d.chunks_exact_mut(n).zip(s.chunks_exact(2 * n)) {
            let (gate, up) = s.split_at(n);
            d.iter_mut().zip(gate).zip(up).for_each(|((d, &g), &u)| *d = act.apply(g) * u);
        }
    }
}

simd_fn! {
    /// Softmax of `row[lo..hi]` in place, zero elsewhere (nothing but zeros if the range is
    /// empty).
    pub(crate) fn softmax(row: &mut [f32], lo: usize, hi: usize) {
        softmax_in_place(row, lo, hi)
    }
}

/// [`softmax`]'s body.
#[inline(always)]
fn softmax_in_place(row: &mut [f32], lo: usize, hi: usize) {
    let hi = hi.min(row.len());
    let lo = lo.min(hi);
    row[..lo].fill(0.0);
    row[hi..].fill(0.0);
    let row = &mut row[lo..hi];
    // max and sum over 16 independent lanes, so that they vectorise
    let mut lanes = [f32::NEG_INFINITY; 16];
    let mut chunks = row.chunks_exact(16);
    for c in &mut chunks {
        lanes.iter_mut().zip(c).for_each(|(m, &v)| *m = m.max(v));
    }
    let max = chunks.remainder().iter().chain(&lanes).fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    row.iter_mut().for_each(|v| *v = fast_exp(*v - max));
    let mut lanes = [0f32; 16];
    let mut chunks = row.chunks_exact(16);
    for c in &mut chunks {
        lanes.iter_mut().zip(c).for_each(|(s, &v)| *s += v);
    }
    let inv = 1.0 / (chunks.remainder().iter().sum::<f32>() + lanes.iter().sum::<f32>());
    row.iter_mut().for_each(|v| *v *= inv);
}

/// Normalisation over the last dimension with an optional per-feature scale and shift.
pub(crate) struct NormOp {
    /// `true`: LayerNorm (subtract the mean); `false`: RMSNorm.
    pub center: bool,
    pub eps: f32,
    pub weight: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
}

impl CustomOp1 for NormOp {
    fn name(&self) -> &'static str {
        "brainscale-norm"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = f32_slice(storage, layout)?;
        let dim = layout.shape().dims().last().copied().unwrap_or(1);
        let mut dst = vec![0f32; src.len()];
        let chunk = rows_per_task(dim) * dim;
        dst.par_chunks_mut(chunk).zip(src.par_chunks(chunk)).for_each(|(d, s)| {
            norm_rows(self.center, self.eps, self.weight.as_deref(), self.bias.as_deref(), dim, s, d)
        });
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }
}

/// The sum of `f(v)` over `xs` in `f64`, in 8 independent lanes so that the loop vectorises.
#[inline(always)]
fn lane_sum(xs: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    let mut lanes = [0f64; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        lanes.iter_mut().zip(c).for_each(|(s, &v)| *s += f(v as f64));
    }
    chunks.remainder().iter().map(|&v| f(v as f64)).sum::<f64>() + lanes.iter().sum::<f64>()
}

simd_fn! {
    /// LayerNorm (`center`) or RMSNorm of the `dim`-wide rows of `s` into `d`, with the
    /// moments in `f64`.
    fn norm_rows(
        center: bool,
        eps: f32,
        weight: Option<&[f32]>,
        bias: Option<&[f32]>,
        dim: usize,
        s: &[f32],
        d: &mut [f32],
    ) {
        for (d, s) in d.chunks_exact_mut(dim).zip(s.chunks_exact(dim)) {
            let n = s.len() as f64;
            let mean = if center { lane_sum(s, |v| v) / n } else { 0.0 };
            let var = lane_sum(s, |v| (v - mean) * (v - mean)) / n;
            let inv = (1.0 / (var + eps as f64).sqrt()) as f32;
            let mean = mean as f32;
            for (d, &v) in d.iter_mut().zip(s) {
                *d = (v - mean) * inv;
            }
            if let Some(w) = weight {
                d.iter_mut().zip(w).for_each(|(d, &w)| *d *= w);
            }
            if let Some(b) = bias {
                d.iter_mut().zip(b).for_each(|(d, &b)| *d += b);
            }
        }
    }
}

/// Row-wise softmax over the keys a query may attend to (causal, optionally within a sliding
/// window), zero elsewhere. The input `[batch, rows, n_keys]` holds, in each batch entry,
/// `rows / rows_per_group` groups of `rows_per_group` consecutive queries (the query heads that
/// share a key head); row `i` of a group is the query at position `first_query + i`, column `j`
/// the key at position `first_key + j`.
pub(crate) struct CausalSoftmax {
    pub rows_per_group: usize,
    pub first_query: usize,
    pub first_key: usize,
    pub window: Option<usize>,
}

impl CausalSoftmax {
    /// The columns `[lo, hi)` that row `row` may attend to.
    fn range(&self, row: usize, n_keys: usize) -> (usize, usize) {
        let q = self.first_query + row % self.rows_per_group;
        let lo_pos = match self.window {
            Some(w) => (q + 1).saturating_sub(w),
            None => 0,
        };
        let lo = lo_pos.saturating_sub(self.first_key).min(n_keys);
        let hi = (q + 1).saturating_sub(self.first_key).min(n_keys);
        (lo, hi.max(lo))
    }

    /// Applies it: the fused kernel for contiguous CPU `f32`, candle ops with a mask otherwise.
    pub fn forward(&self, scores: &Tensor) -> Result<Tensor> {
        if is_cpu_f32(scores) {
            return scores.contiguous()?.apply_op1_no_bwd(self);
        }
        let (_, rows, n_keys) = scores.dims3()?;
        let mut mask = vec![f32::NEG_INFINITY; rows * n_keys];
        for r in 0..rows {
            let (lo, hi) = self.range(r, n_keys);
            mask[r * n_keys + lo..r * n_keys + hi].fill(0.0);
        }
        let mask = Tensor::from_vec(mask, (rows, n_keys), scores.device())?.to_dtype(scores.dtype())?;
        candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&mask)?)
    }
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "brainscale-causal-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = f32_slice(storage, layout)?;
        let (_, rows, n_keys) = layout.shape().dims3()?;
        let mut dst = vec![0f32; src.len()];
        let chunk = rows_per_task(n_keys);
        dst.par_chunks_mut(chunk * n_keys).zip(src.par_chunks(chunk * n_keys)).enumerate().for_each(|(c, (d, s))| {
            for (i, (d, s)) in d.chunks_exact_mut(n_keys).zip(s.chunks_exact(n_keys)).enumerate() {
                let (lo, hi) = self.range((c * chunk + i) % rows, n_keys);
                d[lo..hi].copy_from_slice(&s[lo..hi]);
                softmax(d, lo, hi);
            }
        });
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_is_accurate() {
        for i in -8000..8000 {
            let x = i as f32 / 100.0;
            let (got, want) = (fast_exp(x) as f64, (x as f64).exp());
            assert!(((got - want) / want).abs() < 3e-7, "exp({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn activations_match_their_definitions() {
        for i in -600..600 {
            let x = i as f32 / 100.0;
            let xd = x as f64;
            let erf = 0.5 * xd * (1.0 + candle_core::cpu::erf::erf_f64(xd / 2f64.sqrt()));
            let tanh = 0.5 * xd * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (xd + 0.044715 * xd.powi(3))).tanh());
            assert!((Activation::GeluErf.apply(x) as f64 - erf).abs() < 1e-6, "gelu({x})");
            assert!((Activation::GeluTanh.apply(x) as f64 - tanh).abs() < 1e-6, "gelu_new({x})");
            assert!((Activation::Silu.apply(x) as f64 - xd / (1.0 + (-xd).exp())).abs() < 1e-6, "silu({x})");
        }
    }

    #[test]
    fn causal_softmax_matches_masked_softmax() -> Result<()> {
        let dev = candle_core::Device::Cpu;
        let scores = Tensor::randn(0f32, 3.0, (2, 6, 5), &dev)?;
        for window in [None, Some(2)] {
            let op = CausalSoftmax { rows_per_group: 3, first_query: 4, first_key: 2, window };
            let fast = op.forward(&scores)?;
            let slow = {
                let (_, rows, n_keys) = scores.dims3()?;
                let mut mask = vec![f32::NEG_INFINITY; rows * n_keys];
                for r in 0..rows {
                    let q = 4 + r % 3;
                    for j in 0..n_keys {
                        let k = 2 + j;
                        if k <= q && window.is_none_or(|w| q - k < w) {
                            mask[r * n_keys + j] = 0.0;
                        }
                    }
                }
                let mask = Tensor::from_vec(mask, (rows, n_keys), &dev)?;
                candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&mask)?)?
            };
            let diff = (fast - slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-6, "window {window:?}: {diff}");
        }
        Ok(())
    }
}
