//! Seeded random encoding problems, for benchmarks, examples and notebooks.

use faer::Mat;
use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::StandardNormal;

use crate::stats::zscore_columns;

/// `n_runs` runs of `n_samples` x `n_features` Gaussian regressors and `n_voxels` responses
/// `Y = X W + noise · E` (W Gaussian scaled by `1/sqrt(n_features)`, E standard Gaussian), both
/// z-scored per run, as the encoding core expects them.
///
/// ```
/// let (x, y) = brainscale_core::simulate::random_runs(3, 20, 4, 5, 1.0, 0);
/// assert_eq!((x.len(), x[0].nrows(), x[0].ncols(), y[0].ncols()), (3, 20, 4, 5));
/// ```
pub fn random_runs(
    n_runs: usize,
    n_samples: usize,
    n_features: usize,
    n_voxels: usize,
    noise: f32,
    seed: u64,
) -> (Vec<Mat<f32>>, Vec<Mat<f32>>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let scale = 1.0 / (n_features.max(1) as f32).sqrt();
    let w = Mat::<f32>::from_fn(n_features, n_voxels, |_, _| rng.sample::<f32, _>(StandardNormal) * scale);
    let (mut xs, mut ys) = (Vec::with_capacity(n_runs), Vec::with_capacity(n_runs));
    for _ in 0..n_runs {
        let mut x = Mat::<f32>::from_fn(n_samples, n_features, |_, _| rng.sample(StandardNormal));
        let mut y = &x * &w;
        for j in 0..n_voxels {
            for i in 0..n_samples {
                y[(i, j)] += noise * rng.sample::<f32, _>(StandardNormal);
            }
        }
        zscore_columns(x.as_mut());
        zscore_columns(y.as_mut());
        xs.push(x);
        ys.push(y);
    }
    (xs, ys)
}
