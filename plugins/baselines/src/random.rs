//! Random baselines: random vectors (one per word occurrence) and random embeddings (one per
//! word type).
//!
//! Both draw from ChaCha8 (`rand_chacha`, whose output is stable across versions and
//! platforms), seeded with `seed` and a stream chosen by a 64-bit FNV-1a hash: of the run's
//! words for random vectors, of the lower-cased word for random embeddings. So features depend
//! only on (seed, run) or (seed, word), never on the order of the calls. (Two runs with exactly
//! the same words get the same random vectors.)

use std::collections::HashMap;

use brainscale_plugin_sdk::{Matrix, ModelInfo, Options, PluginError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// Size and seed of a random baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomParams {
    /// Dimension of the vectors (default 300; the paper also uses 1024).
    pub dim: usize,
    /// Seed (default 0; the paper averages 10 seeds).
    pub seed: u64,
}

impl RandomParams {
    /// From the options `dim` and `seed`.
    pub fn from_options(options: &Options) -> Result<Self, PluginError> {
        let dim = options.usize("dim")?.unwrap_or(300);
        if dim == 0 {
            return Err(PluginError::invalid("option `dim` must be at least 1, got 0"));
        }
        let seed = options.u64("seed")?.unwrap_or(0);
        Ok(RandomParams { dim, seed })
    }

    fn model_name(&self, family: &str) -> String {
        format!("{family}-{}d-seed{}", self.dim, self.seed)
    }
}

/// 64-bit FNV-1a over a sequence of byte strings, each followed by a 0xff separator.
fn fnv1a<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// A fresh standard Gaussian vector for every word occurrence.
#[derive(Debug)]
pub struct RandomVectors {
    params: RandomParams,
}

impl RandomVectors {
    /// With these parameters.
    pub fn new(params: RandomParams) -> Self {
        RandomVectors { params }
    }

    /// The model description: one layer of `dim`.
    pub fn describe(&self) -> ModelInfo {
        ModelInfo::new(self.params.model_name("random-vectors"), "random-vectors", vec![self.params.dim])
    }

    /// One row per word.
    pub fn features(&self, words: &[String]) -> Matrix {
        let mut rng = rng(self.params.seed, fnv1a(words.iter().map(String::as_bytes)));
        let mut m = Matrix::zeros(words.len(), self.params.dim);
        for i in 0..words.len() {
            for x in m.row_mut(i) {
                *x = rng.sample(StandardNormal);
            }
        }
        m
    }
}

/// One fixed uniform [0, 1) vector per word type (words are lower-cased first), as
/// `numpy.random.rand` drew them in the paper.
#[derive(Debug)]
pub struct RandomEmbeddings {
    params: RandomParams,
    table: HashMap<String, Vec<f32>>,
}

impl RandomEmbeddings {
    /// With these parameters.
    pub fn new(params: RandomParams) -> Self {
        RandomEmbeddings { params, table: HashMap::new() }
    }

    /// The model description: one layer of `dim`.
    pub fn describe(&self) -> ModelInfo {
        ModelInfo::new(self.params.model_name("random-embeddings"), "random-embeddings", vec![self.params.dim])
    }

    /// The vector of a word type.
    pub fn vector(&mut self, word: &str) -> &[f32] {
        let key = word.to_lowercase();
        let RandomParams { dim, seed } = self.params;
        self.table.entry(key).or_insert_with_key(|key| {
            let mut rng = rng(seed, fnv1a([key.as_bytes()]));
            (0..dim).map(|_| rng.random::<f32>()).collect()
        })
    }

    /// One row per word.
    pub fn features(&mut self, words: &[String]) -> Matrix {
        let mut m = Matrix::zeros(words.len(), self.params.dim);
        for (i, w) in words.iter().enumerate() {
            m.row_mut(i).copy_from_slice(self.vector(w));
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn random_vectors_are_fresh_per_occurrence_and_reproducible() {
        let p = RandomParams { dim: 8, seed: 1 };
        let run = words("the cat saw the cat");
        let a = RandomVectors::new(p).features(&run);
        assert_eq!(a, RandomVectors::new(p).features(&run));
        assert_ne!(a.row(0), a.row(3), "each occurrence gets its own vector");
        assert_ne!(a, RandomVectors::new(RandomParams { seed: 2, ..p }).features(&run));
        assert_ne!(a.row(0), RandomVectors::new(p).features(&words("a cat")).row(0));
        // Roughly standard normal.
        let big = RandomVectors::new(RandomParams { dim: 1000, seed: 0 }).features(&words("a b c d"));
        let n = big.as_slice().len() as f64;
        let mean = big.as_slice().iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = big.as_slice().iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.05, "mean {mean}, var {var}");
    }

    #[test]
    fn random_embeddings_are_fixed_per_lower_cased_type() {
        let p = RandomParams { dim: 6, seed: 0 };
        let mut e = RandomEmbeddings::new(p);
        let m = e.features(&words("The cat saw the Cat"));
        assert_eq!(m.row(0), m.row(3));
        assert_eq!(m.row(1), m.row(4));
        assert_ne!(m.row(0), m.row(1));
        assert!(m.as_slice().iter().all(|&x| (0.0..1.0).contains(&x)));
        // Independent of the order in which words are first seen.
        let mut other = RandomEmbeddings::new(p);
        assert_eq!(other.features(&words("saw cat")).as_slice(), [m.row(2), m.row(1)].concat());
        assert_ne!(RandomEmbeddings::new(RandomParams { seed: 9, ..p }).features(&words("cat")).row(0), m.row(1));
    }

    #[test]
    fn options_give_the_parameters() {
        let o = Options::parse(r#"{"dim": 1024, "seed": 7}"#).unwrap();
        assert_eq!(RandomParams::from_options(&o).unwrap(), RandomParams { dim: 1024, seed: 7 });
        let o = Options::parse("{}").unwrap();
        assert_eq!(RandomParams::from_options(&o).unwrap(), RandomParams { dim: 300, seed: 0 });
        assert_eq!(RandomVectors::new(RandomParams { dim: 3, seed: 2 }).describe().model, "random-vectors-3d-seed2");
    }
}
