//! The embedded demo: a simulation whose answer is known.
//!
//! `brainscale run` with no arguments writes a synthetic dataset (`brainscale synth`: words,
//! BOLD and a planted signal, stronger in the left hemisphere) and studies a set of models on
//! it: a ladder of simulated language models ([`OracleLadder`]) and the random baselines.
//! Nothing is downloaded. **It is a simulation**, made so that the right answer is a
//! left-lateralised scaling effect:
//!
//! * the synthetic BOLD is generated from latent word features (`truth/features` of the
//!   dataset) through voxel weights that are larger on the left (`right_ratio` 0.5);
//! * a simulated model of size N gives, at layer ℓ, a random linear view of those latent
//!   features mixed with noise: `q · Z A + sqrt(1 − q²) · E`, where the fidelity `q` grows
//!   linearly with log10(N) and peaks at 60% of the depth, as real models' brain scores do;
//! * so the brain score grows with log(N), and because the left hemisphere has more signal to
//!   recover, the left − right difference grows with log(N) too. The random baselines see no
//!   latent feature: no score, no asymmetry.
//!
//! The demo checks that the whole pipeline (extraction, design, ridge CV, scores, statistics)
//! recovers that. For the real study: `brainscale run --dataset lpp-en --models paper`.

use brainscale_data::{Dataset, Features};
use faer::Mat;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::error::{Error, Result};
use crate::extract::{FeatureExtractor, ModelInfo, RunText};

/// A simulated language model that sees the synthetic dataset's planted latent features.
#[derive(Clone, Debug)]
pub struct OracleLadder {
    name: String,
    n_params: u64,
    dims: Vec<usize>,
    seed: u64,
    /// Per run: the words and their latent features (z-scored columns).
    runs: Vec<(Vec<String>, Mat<f32>)>,
    /// Latent -> feature projection.
    projection: Mat<f32>,
}

/// The demo's ladder: (parameters, layers, dimension).
pub const DEMO_LADDER: [(u64, usize, usize); 6] = [
    (125_000_000, 5, 64),
    (350_000_000, 5, 96),
    (770_000_000, 6, 128),
    (1_500_000_000, 6, 160),
    (7_000_000_000, 7, 192),
    (14_000_000_000, 7, 256),
];

impl OracleLadder {
    /// A simulated model of `n_params` parameters with `n_layers` layers of `dim` features on
    /// the synthetic `dataset` (which must have `truth/features`, as `brainscale synth` writes).
    pub fn new(dataset: &Dataset, n_params: u64, n_layers: usize, dim: usize, seed: u64) -> Result<Self> {
        let truth_dir = dataset.root().join("truth/features");
        let truth = Features::open(&truth_dir).map_err(|e| {
            Error::Invalid(format!(
                "{}: the simulated models need a synthetic dataset's planted features ({e})",
                truth_dir.display()
            ))
        })?;
        let n_words: Vec<usize> = dataset.runs().iter().map(|r| r.words.len()).collect();
        let latent = truth.read_layer_checked(0, &n_words)?;
        let n_latent = latent.first().map_or(0, |m| m.ncols());
        let runs = dataset.runs().iter().zip(latent).map(|(r, z)| (r.words.word.clone(), zscore(z))).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ n_params);
        let scale = 1.0 / (n_latent.max(1) as f32).sqrt();
        let projection = Mat::from_fn(n_latent, dim, |_, _| rng.sample::<f32, _>(StandardNormal) * scale);
        Ok(OracleLadder {
            name: format!("simulated-{}", human_size(n_params)),
            n_params,
            dims: vec![dim; n_layers],
            seed,
            runs,
            projection,
        })
    }

    /// The fidelity of layer `layer`: grows linearly with log10(parameters), peaks at 60% depth.
    pub fn fidelity(&self, layer: usize) -> f64 {
        let size = ((self.n_params as f64).log10() - 8.0).clamp(0.0, 3.0) / 3.0; // 100M -> 0, 100B -> 1
        let peak = 0.2 + 0.6 * size;
        let depth = if self.dims.len() > 1 { layer as f64 / (self.dims.len() - 1) as f64 } else { 0.0 };
        peak * (-(depth - 0.6).powi(2) / (2.0 * 0.3f64.powi(2))).exp()
    }
}

fn zscore(mut z: Mat<f32>) -> Mat<f32> {
    for j in 0..z.ncols() {
        let n = z.nrows().max(1) as f32;
        let mean = (0..z.nrows()).map(|i| z[(i, j)]).sum::<f32>() / n;
        let sd = ((0..z.nrows()).map(|i| (z[(i, j)] - mean).powi(2)).sum::<f32>() / n).sqrt().max(1e-6);
        for i in 0..z.nrows() {
            z[(i, j)] = (z[(i, j)] - mean) / sd;
        }
    }
    z
}

/// `125M`, `1.5B`.
pub fn human_size(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 { format!("{}B", trim(n / 1e9)) } else { format!("{}M", trim(n / 1e6)) }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

impl FeatureExtractor for OracleLadder {
    fn describe(&self) -> Result<ModelInfo> {
        let mut info = ModelInfo::new(&self.name, "simulated", self.dims.clone());
        info.n_params = Some(self.n_params);
        Ok(info)
    }

    fn extract(&mut self, run: &RunText<'_>, layer: usize) -> Result<Mat<f32>> {
        let (r, (_, z)) =
            self.runs.iter().enumerate().find(|(_, (words, _))| words.as_slice() == run.words).ok_or_else(|| {
                Error::Invalid("a simulated model only reads the runs of its synthetic dataset".into())
            })?;
        let q = self.fidelity(layer) as f32;
        let noise = (1.0 - q * q).max(0.0).sqrt();
        let signal = z * &self.projection;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed.wrapping_mul(1_000_003) ^ ((r as u64) << 32) ^ layer as u64);
        Ok(Mat::from_fn(signal.nrows(), signal.ncols(), |i, j| {
            q * signal[(i, j)] + noise * rng.sample::<f32, _>(StandardNormal)
        }))
    }
}
