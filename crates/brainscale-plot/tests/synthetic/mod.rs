//! Small deterministic synthetic inputs shaped like the study's (a scaling effect that grows
//! with log parameters and is stronger on the left).
#![allow(dead_code)]

use brainscale_plot::Family;

/// A tiny deterministic generator (xorshift) and Box-Muller normals.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Models of the paper: (label, family, parameters).
pub fn models() -> Vec<(String, Family, f64)> {
    let m = [
        ("gpt2", Family::Gpt2, 1.24e8),
        ("gpt2-medium", Family::Gpt2, 3.55e8),
        ("gpt2-large", Family::Gpt2, 7.74e8),
        ("gpt2-xl", Family::Gpt2, 1.56e9),
        ("opt-125m", Family::Opt, 1.25e8),
        ("opt-350m", Family::Opt, 3.31e8),
        ("opt-1.3b", Family::Opt, 1.3e9),
        ("opt-2.7b", Family::Opt, 2.7e9),
        ("opt-6.7b", Family::Opt, 6.7e9),
        ("opt-13b", Family::Opt, 1.29e10),
        ("Llama-2-7b", Family::Llama, 6.7e9),
        ("Llama-2-13b", Family::Llama, 1.3e10),
        ("Qwen1.5-0.5B", Family::Qwen2, 4.6e8),
        ("Qwen1.5-1.8B", Family::Qwen2, 1.8e9),
        ("Qwen1.5-4B", Family::Qwen2, 4.0e9),
        ("Qwen1.5-7B", Family::Qwen2, 7.7e9),
        ("Qwen1.5-14B", Family::Qwen2, 1.42e10),
        ("gemma-2b", Family::Gemma, 2.5e9),
        ("gemma-7b", Family::Gemma, 8.5e9),
        ("stablelm-2-1_6b", Family::StableLm, 1.6e9),
        ("stablelm-3b-4e1t", Family::StableLm, 2.8e9),
        ("stablelm-2-12b", Family::StableLm, 1.2e10),
        ("Mistral-7B-v0.1", Family::Mistral, 7.2e9),
        ("mamba-130m", Family::Mamba, 1.3e8),
        ("mamba-370m", Family::Mamba, 3.7e8),
        ("mamba-790m", Family::Mamba, 7.9e8),
        ("mamba-1.4b", Family::Mamba, 1.4e9),
        ("mamba-2.8b", Family::Mamba, 2.8e9),
    ];
    m.iter().map(|&(l, f, n)| (l.to_string(), f, n)).collect()
}

/// Voxel reliabilities: a skewed distribution with a long right tail, in [-0.1, 0.9].
pub fn reliability_values(n: usize) -> Vec<f32> {
    let mut rng = Rng::new(1);
    (0..n).map(|_| (0.35 + 0.17 * rng.normal() + 0.08 * rng.uniform().powi(3)).clamp(-0.1, 0.9) as f32).collect()
}

/// Per-voxel scores of a few models and baselines.
pub fn voxel_scores(n: usize) -> Vec<(String, Family, Vec<f32>)> {
    let mut rng = Rng::new(2);
    let mut out = Vec::new();
    for (label, mean) in [("random vectors 1024d", 0.0), ("random embeddings 1024d", 0.04), ("GloVe 300d", 0.06)] {
        out.push((label.to_string(), Family::Baseline, (0..n).map(|_| (mean + 0.05 * rng.normal()) as f32).collect()));
    }
    for (label, family, params) in models().into_iter().filter(|m| m.0.starts_with("gpt2") || m.0.starts_with("Qwen")) {
        let mean = 0.06 + 0.025 * (params / 1e8).ln();
        let v = (0..n).map(|_| (mean * (0.4 + rng.uniform()) + 0.06 * rng.normal()) as f32).collect();
        out.push((label, family, v));
    }
    out
}

/// OLS of y on ln(x) with a 95% band (normal approximation, enough for a picture).
pub fn fit(x: &[f64], y: &[f64]) -> brainscale_plot::LineFit {
    let lx: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let n = lx.len() as f64;
    let (mx, my) = (lx.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxx: f64 = lx.iter().map(|a| (a - mx).powi(2)).sum();
    let sxy: f64 = lx.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let syy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let r = sxy / (sxx * syy).sqrt();
    let resid: f64 = lx.iter().zip(y).map(|(a, b)| (b - intercept - slope * a).powi(2)).sum();
    let s2 = resid / (n - 2.0).max(1.0);
    let t = r * ((n - 2.0) / (1.0 - r * r).max(1e-12)).sqrt();
    let p = (2.0 * (-0.5 * t * t).exp() / (1.0 + t.abs())).min(1.0); // rough, for pictures only
    let (lo, hi) = lx.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let grid: Vec<f64> = (0..=40).map(|i| lo + (hi - lo) * i as f64 / 40.0).collect();
    let se = |g: f64| (s2 * (1.0 / n + (g - mx).powi(2) / sxx)).sqrt();
    brainscale_plot::LineFit {
        slope,
        intercept,
        log_base: brainscale_plot::LogBase::E,
        r,
        p,
        band: Some(brainscale_plot::Band {
            n_params: grid.iter().map(|g| g.exp()).collect(),
            lower: grid.iter().map(|&g| intercept + slope * g - 1.96 * se(g)).collect(),
            upper: grid.iter().map(|&g| intercept + slope * g + 1.96 * se(g)).collect(),
        }),
    }
}

/// Brain scores per model: whole brain, left and right (left grows faster with size).
pub fn model_scores() -> Vec<brainscale_plot::HemispherePoint> {
    let mut rng = Rng::new(3);
    models()
        .into_iter()
        .map(|(label, family, n)| {
            let l = (n / 1e8).ln();
            brainscale_plot::HemispherePoint {
                label,
                family,
                n_params: n,
                left: 0.12 + 0.012 * l + 0.006 * rng.normal(),
                right: 0.12 + 0.006 * l + 0.006 * rng.normal(),
            }
        })
        .collect()
}
