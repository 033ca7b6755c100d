//! The planted signal: latent word features, their HRF regressors, voxel weights scaled to a
//! target signal-to-noise ratio, and noisy BOLD.

use brainscale_core::design::{RegressorParams, regressor_operator};
use faer::Mat;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use super::brain::Planting;
use crate::error::Result;
use crate::words::Words;

/// Independent random streams, so each part of the dataset depends only on the seed and on
/// what it is (not on the order things are generated in).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stream {
    Vocabulary = 1,
    Speech = 2,
    TypeVectors = 3,
    Context = 4,
    Voxels = 5,
    Noise = 6,
    Replication = 7,
}

/// The random generator of `stream` (and run `index`, 0 when not per run).
pub(crate) fn rng(seed: u64, stream: Stream, index: u64) -> StdRng {
    StdRng::seed_from_u64(splitmix(splitmix(seed) ^ splitmix(((stream as u64) << 32) | index)))
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn normal(rng: &mut StdRng) -> f64 {
    rng.sample(StandardNormal)
}

/// One standard-normal vector per word type: (n_types x dim).
pub(crate) fn type_vectors(rng: &mut StdRng, n_types: usize, dim: usize) -> Mat<f64> {
    let mut m = Mat::zeros(n_types, dim);
    for t in 0..n_types {
        for d in 0..dim {
            m[(t, d)] = normal(rng);
        }
    }
    m
}

/// Latent features of a run's words: `sqrt(1 - k) * u_type + sqrt(k) * c_t`, with `c` an AR(1)
/// context process over the words (correlation 0.8 from one word to the next) and `k` the
/// context weight. (n_words x dim).
pub(crate) fn latent_features(
    types: &[usize],
    type_vectors: &Mat<f64>,
    context_weight: f64,
    rng: &mut StdRng,
) -> Mat<f64> {
    let dim = type_vectors.ncols();
    let rho: f64 = 0.8;
    let innovation = (1.0 - rho * rho).sqrt();
    let (a, b) = ((1.0 - context_weight).sqrt(), context_weight.sqrt());
    let mut context: Vec<f64> = (0..dim).map(|_| normal(rng)).collect();
    let mut out = Mat::zeros(types.len(), dim);
    for (w, &ty) in types.iter().enumerate() {
        for (d, c) in context.iter_mut().enumerate() {
            if w > 0 {
                *c = rho * *c + innovation * normal(rng);
            }
            out[(w, d)] = a * type_vectors[(ty, d)] + b * *c;
        }
    }
    out
}

/// HRF regressors of the latent features: (n_scans x dim), nilearn's glover regressors.
pub(crate) fn regressors(words: &Words, latent: &Mat<f64>, params: &RegressorParams) -> Result<Mat<f64>> {
    let op = regressor_operator(&words.onset, &words.durations(), params)?;
    Ok(&op * latent)
}

/// Covariance (dim x dim) of the regressors over the kept (trimmed) scans, centred within each
/// run and pooled over runs: the variance the analysis sees after per-run z-scoring.
pub(crate) fn pooled_covariance(runs: &[Mat<f64>], trim_start: usize, trim_end: usize) -> Mat<f64> {
    let dim = runs.first().map(|x| x.ncols()).unwrap_or(0);
    let mut cov = Mat::<f64>::zeros(dim, dim);
    let mut n = 0usize;
    for x in runs {
        let kept = x.nrows().saturating_sub(trim_start + trim_end);
        if kept == 0 {
            continue;
        }
        let rows = x.subrows(trim_start, kept);
        let means: Vec<f64> = (0..dim).map(|d| rows.col(d).iter().sum::<f64>() / kept as f64).collect();
        let centred = Mat::<f64>::from_fn(kept, dim, |t, d| rows[(t, d)] - means[d]);
        cov += centred.transpose() * &centred;
        n += kept;
    }
    if n > 0 {
        cov *= faer::Scale(1.0 / n as f64);
    }
    cov
}

/// The voxels' ground truth.
#[derive(Clone, Debug)]
pub(crate) struct VoxelModel {
    /// Indices of the voxels with signal.
    pub planted: Vec<usize>,
    /// (dim x n_voxels): zero columns for voxels without signal.
    pub weights: Mat<f64>,
    /// Noise standard deviation of each voxel.
    pub noise_std: Vec<f64>,
    /// Expected Pearson r between each voxel's BOLD and its planted signal.
    pub expected_r: Vec<f64>,
}

/// Weights and noise levels: each region has a random pattern in latent space; a planted
/// voxel's weights mix its regions' patterns with a voxel-specific part, scaled so that its
/// signal-to-noise ratio (std of signal / std of noise) is `snr * amplitude`. Noise levels are
/// log-normal across voxels (`noise_spread` = std of their log).
pub(crate) fn voxel_model(
    rng: &mut StdRng,
    planting: &Planting,
    n_regions: usize,
    covariance: &Mat<f64>,
    snr: f64,
    noise_spread: f64,
) -> VoxelModel {
    let dim = covariance.nrows();
    let n_voxels = planting.amplitude.len();
    let patterns: Vec<Vec<f64>> = (0..n_regions).map(|_| (0..dim).map(|_| normal(rng)).collect()).collect();
    let noise_std: Vec<f64> = (0..n_voxels).map(|_| (noise_spread * normal(rng)).exp()).collect();
    let mut weights = Mat::<f64>::zeros(dim, n_voxels);
    let mut expected_r = vec![0.0; n_voxels];
    let mut planted = Vec::new();
    for v in 0..n_voxels {
        let own: Vec<f64> = (0..dim).map(|_| normal(rng)).collect();
        let amplitude = planting.amplitude[v];
        if amplitude <= 0.0 || snr <= 0.0 {
            continue;
        }
        let mut direction = vec![0.0; dim];
        for &(r, g) in &planting.regions[v] {
            for (x, p) in direction.iter_mut().zip(&patterns[r]) {
                *x += g * p;
            }
        }
        let norm = direction.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
        for (x, o) in direction.iter_mut().zip(&own) {
            *x = *x / norm + 0.5 * o / (dim as f64).sqrt();
        }
        let variance: f64 =
            (0..dim).map(|i| (0..dim).map(|j| direction[i] * covariance[(i, j)] * direction[j]).sum::<f64>()).sum();
        if variance <= 0.0 {
            continue;
        }
        let target = snr * amplitude;
        let scale = target * noise_std[v] / variance.sqrt();
        for (d, x) in direction.iter().enumerate() {
            weights[(d, v)] = scale * x;
        }
        expected_r[v] = target / (1.0 + target * target).sqrt();
        planted.push(v);
    }
    VoxelModel { planted, weights, noise_std, expected_r }
}

/// One run of BOLD (n_scans x n_voxels): planted signal plus white Gaussian noise.
pub(crate) fn bold_run(regressors: &Mat<f64>, model: &VoxelModel, rng: &mut StdRng) -> Mat<f32> {
    let n_scans = regressors.nrows();
    let n_voxels = model.noise_std.len();
    let mut y = Mat::<f32>::zeros(n_scans, n_voxels);
    for (v, &sd) in model.noise_std.iter().enumerate() {
        for x in y.col_as_slice_mut(v) {
            *x = (sd * normal(rng)) as f32;
        }
    }
    let dim = regressors.ncols();
    for &v in &model.planted {
        for t in 0..n_scans {
            let s: f64 = (0..dim).map(|d| regressors[(t, d)] * model.weights[(d, v)]).sum();
            y[(t, v)] += s as f32;
        }
    }
    y
}

/// Split-half reliability of every voxel, the way it is estimated on real data: the Pearson
/// correlation between two independent replications of the experiment (same planted signal,
/// independent noise), over the kept scans of all runs, each run centred on its own mean.
/// Its expected value is `expected_r²` (the share of the voxel's variance that replicates),
/// and where nothing is planted it is sampling noise around 0.
pub(crate) struct SplitHalf {
    cross: Vec<f64>,
    sq_a: Vec<f64>,
    sq_b: Vec<f64>,
}

impl SplitHalf {
    pub(crate) fn new(n_voxels: usize) -> Self {
        Self { cross: vec![0.0; n_voxels], sq_a: vec![0.0; n_voxels], sq_b: vec![0.0; n_voxels] }
    }

    /// Adds one run: `a` and `b` are its two replications (n_scans x n_voxels); `scans` the kept ones.
    pub(crate) fn add_run(&mut self, a: &Mat<f32>, b: &Mat<f32>, scans: std::ops::Range<usize>) {
        let n = scans.len() as f64;
        if n < 2.0 {
            return;
        }
        for v in 0..a.ncols() {
            let (xa, xb) = (&a.col_as_slice(v)[scans.clone()], &b.col_as_slice(v)[scans.clone()]);
            let ma = xa.iter().map(|&x| x as f64).sum::<f64>() / n;
            let mb = xb.iter().map(|&x| x as f64).sum::<f64>() / n;
            for (&x, &y) in xa.iter().zip(xb) {
                let (da, db) = (x as f64 - ma, y as f64 - mb);
                self.cross[v] += da * db;
                self.sq_a[v] += da * da;
                self.sq_b[v] += db * db;
            }
        }
    }

    /// The correlation of each voxel (0 where a replication is constant).
    pub(crate) fn finish(self) -> Vec<f64> {
        (0..self.cross.len())
            .map(|v| {
                let d = (self.sq_a[v] * self.sq_b[v]).sqrt();
                if d > 0.0 { self.cross[v] / d } else { 0.0 }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_and_reproducible() {
        let a: f64 = rng(7, Stream::Noise, 0).random();
        let b: f64 = rng(7, Stream::Noise, 0).random();
        let c: f64 = rng(7, Stream::Noise, 1).random();
        let d: f64 = rng(8, Stream::Noise, 0).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn planted_voxels_reach_their_expected_correlation() {
        let mut r = rng(1, Stream::Voxels, 0);
        let n_scans = 4000;
        let dim = 4;
        let x = Mat::<f64>::from_fn(n_scans, dim, |_, _| normal(&mut r));
        let cov = pooled_covariance(std::slice::from_ref(&x), 0, 0);
        let planting = Planting {
            amplitude: vec![1.0, 0.5, 0.0],
            regions: vec![vec![(0, 1.0)], vec![(0, 0.5)], vec![]],
            counts: vec![],
        };
        let model = voxel_model(&mut r, &planting, 1, &cov, 1.0, 0.3);
        assert_eq!(model.planted, vec![0, 1]);
        let y = bold_run(&x, &model, &mut r);
        for v in 0..3 {
            let signal: Vec<f64> =
                (0..n_scans).map(|t| (0..dim).map(|d| x[(t, d)] * model.weights[(d, v)]).sum()).collect();
            let bold: Vec<f64> = (0..n_scans).map(|t| y[(t, v)] as f64).collect();
            let r = pearson(&signal, &bold);
            assert!((r - model.expected_r[v]).abs() < 0.03, "voxel {v}: r {r} vs {}", model.expected_r[v]);
        }
        assert!((model.expected_r[0] - 0.5f64.sqrt()).abs() < 1e-12);

        // Two replications correlate by expected_r² where planted, by ~0 elsewhere.
        let z = bold_run(&x, &model, &mut rng(1, Stream::Replication, 0));
        let mut split = SplitHalf::new(3);
        split.add_run(&y, &z, 0..n_scans);
        for (v, (rel, r)) in split.finish().iter().zip(&model.expected_r).enumerate() {
            assert!((rel - r * r).abs() < 0.04, "voxel {v}: reliability {rel} vs {}", r * r);
        }
    }

    fn pearson(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        if va == 0.0 || vb == 0.0 { 0.0 } else { cov / (va * vb).sqrt() }
    }
}
