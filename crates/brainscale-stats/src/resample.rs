//! Resampling over models: bootstrap confidence intervals and permutation tests.
//!
//! The resampling unit is always the **model** (one row per model: its x, such as ln of its
//! parameter count, and its scores), never the voxel; see the crate docs for why.

use std::collections::HashMap;
use std::hash::Hash;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, StatsError, check_finite, check_len, check_level};
use crate::linear::{Interval, Ols, ols};

/// Settings of a bootstrap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BootstrapParams {
    /// Number of bootstrap resamples (at least 100; 10,000 by default).
    pub n_resamples: usize,
    /// Seed of the random generator (ChaCha8): equal seeds give equal results on every
    /// platform.
    pub seed: u64,
    /// Level of the percentile intervals.
    pub level: f64,
}

impl Default for BootstrapParams {
    fn default() -> Self {
        Self { n_resamples: 10_000, seed: 0, level: 0.95 }
    }
}

/// Percentile bootstrap intervals of a vector-valued statistic.
#[derive(Clone, Debug, PartialEq)]
pub struct Bootstrap {
    /// The statistic on the original data.
    pub estimate: Vec<f64>,
    /// Percentile interval of each component (numpy's linear-interpolation quantiles of the
    /// bootstrap distribution at (1 − level) / 2 and (1 + level) / 2).
    pub ci: Vec<Interval>,
    /// Bootstrap standard error of each component.
    pub se: Vec<f64>,
    /// Resamples used.
    pub n_resamples: usize,
    /// Resamples drawn again because the statistic was undefined on them (e.g. all the same
    /// model, so x is constant).
    pub n_redrawn: usize,
}

/// Resamples `n_units` units with replacement (`params.n_resamples` times) and returns
/// percentile intervals of `statistic`, called with the indices of each resample (the original
/// data is `0..n_units`). A resample on which `statistic` returns `None` is drawn again (and
/// counted); the original data must give `Some`.
///
/// ```
/// use brainscale_stats::{bootstrap, BootstrapParams};
/// let y = [0.10, 0.12, 0.11, 0.15, 0.14, 0.13];
/// let mean = |idx: &[usize]| Some(vec![idx.iter().map(|&i| y[i]).sum::<f64>() / idx.len() as f64]);
/// let b = bootstrap(y.len(), &BootstrapParams { n_resamples: 2000, ..Default::default() }, mean)?;
/// assert!(b.ci[0].lo < b.estimate[0] && b.estimate[0] < b.ci[0].hi);
/// # Ok::<(), brainscale_stats::StatsError>(())
/// ```
pub fn bootstrap<F>(n_units: usize, params: &BootstrapParams, mut statistic: F) -> Result<Bootstrap>
where
    F: FnMut(&[usize]) -> Option<Vec<f64>>,
{
    check_level(params.level)?;
    check_resamples(params.n_resamples)?;
    if n_units < 2 {
        return Err(StatsError::TooFew { what: "bootstrap units".into(), n: n_units, min: 2 });
    }
    let all: Vec<usize> = (0..n_units).collect();
    let estimate = statistic(&all).ok_or_else(|| StatsError::InvalidParameter {
        name: "statistic",
        value: "undefined on the original data".into(),
        expected: "a statistic defined on the full sample",
    })?;
    let k = estimate.len();
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut draws: Vec<Vec<f64>> = vec![Vec::with_capacity(params.n_resamples); k];
    let mut idx = vec![0usize; n_units];
    let mut n_redrawn = 0;
    let max_redraws = 10 * params.n_resamples;
    while draws[0].len() < params.n_resamples {
        for i in idx.iter_mut() {
            *i = rand::Rng::random_range(&mut rng, 0..n_units);
        }
        match statistic(&idx) {
            Some(s) if s.len() == k && s.iter().all(|v| v.is_finite()) => {
                for (d, v) in draws.iter_mut().zip(s) {
                    d.push(v);
                }
            }
            _ => {
                n_redrawn += 1;
                if n_redrawn > max_redraws {
                    return Err(StatsError::InvalidParameter {
                        name: "statistic",
                        value: format!("undefined on {n_redrawn} resamples"),
                        expected: "a statistic defined on most resamples (are there enough distinct units?)",
                    });
                }
            }
        }
    }
    let (qlo, qhi) = ((1.0 - params.level) / 2.0, (1.0 + params.level) / 2.0);
    let mut ci = Vec::with_capacity(k);
    let mut se = Vec::with_capacity(k);
    for d in draws.iter_mut() {
        let n = d.len() as f64;
        let m = d.iter().sum::<f64>() / n;
        se.push((d.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
        d.sort_by(f64::total_cmp);
        ci.push(Interval { lo: quantile_sorted(d, qlo), hi: quantile_sorted(d, qhi), level: params.level });
    }
    Ok(Bootstrap { estimate, ci, se, n_resamples: params.n_resamples, n_redrawn })
}

/// numpy's default (linear) quantile of sorted values, `q` in [0, 1].
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn check_resamples(n: usize) -> Result<()> {
    if n < 100 {
        return Err(StatsError::InvalidParameter {
            name: "n_resamples",
            value: n.to_string(),
            expected: "at least 100 (1,000 to 10,000 is usual)",
        });
    }
    Ok(())
}

/// A regression line with bootstrap (resampling models) intervals for its slope, intercept and
/// the line itself at chosen x values: the band drawn around a scaling-law fit.
#[derive(Clone, Debug, PartialEq)]
pub struct BootstrapLine {
    /// The OLS fit on all models (its `slope.ci` is the classical t interval).
    pub fit: Ols,
    /// Percentile interval of the slope.
    pub slope: Interval,
    /// Percentile interval of the intercept.
    pub intercept: Interval,
    /// For each requested x: (x, fitted value, percentile interval of the line there).
    pub band: Vec<(f64, f64, Interval)>,
    /// Resamples used and redrawn (a resample with a constant x is drawn again).
    pub n_resamples: usize,
    /// See [`Bootstrap::n_redrawn`].
    pub n_redrawn: usize,
}

/// Bootstraps the OLS line of `y` on `x` over models (pairs (x_i, y_i) resampled with
/// replacement) and returns intervals of the slope, the intercept and the line at each of
/// `at`.
///
/// ```
/// use brainscale_stats::{bootstrap_line, BootstrapParams};
/// let x = [18.6, 19.7, 20.5, 21.2, 22.1, 23.3, 22.8, 20.0];
/// let y = [0.101, 0.108, 0.112, 0.118, 0.121, 0.130, 0.126, 0.109];
/// let b = bootstrap_line(&x, &y, &[19.0, 21.0, 23.0], &BootstrapParams { n_resamples: 1000, ..Default::default() })?;
/// assert_eq!(b.band.len(), 3);
/// assert!(b.band.iter().all(|(_, fit, ci)| ci.lo <= *fit && *fit <= ci.hi));
/// # Ok::<(), brainscale_stats::StatsError>(())
/// ```
pub fn bootstrap_line(x: &[f64], y: &[f64], at: &[f64], params: &BootstrapParams) -> Result<BootstrapLine> {
    let fit = ols(x, y, params.level)?;
    check_finite("at", at, 0)?;
    let mut xs = Vec::with_capacity(x.len());
    let mut ys = Vec::with_capacity(x.len());
    let b = bootstrap(x.len(), params, |idx| {
        xs.clear();
        ys.clear();
        xs.extend(idx.iter().map(|&i| x[i]));
        ys.extend(idx.iter().map(|&i| y[i]));
        let f = ols(&xs, &ys, params.level).ok()?;
        let (a, s) = (f.intercept.value, f.slope.value);
        Some([s, a].into_iter().chain(at.iter().map(|&x0| a + s * x0)).collect())
    })?;
    Ok(BootstrapLine {
        slope: b.ci[0],
        intercept: b.ci[1],
        band: at.iter().zip(&b.ci[2..]).map(|(&x0, &ci)| (x0, fit.predict(x0), ci)).collect(),
        fit,
        n_resamples: b.n_resamples,
        n_redrawn: b.n_redrawn,
    })
}

/// Which models may be exchanged under the null hypothesis of a permutation test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exchangeability {
    /// Any model with any other.
    All,
    /// Only models of the same group (e.g. family): `group[i]` is model `i`'s group id.
    /// Differences between groups are kept in every permutation, so they cannot drive the
    /// result: only the within-group relation is tested.
    WithinGroups(Vec<usize>),
}

impl Exchangeability {
    /// Within groups given by labels (any equality-comparable value, e.g. family names).
    ///
    /// ```
    /// use brainscale_stats::Exchangeability;
    /// let e = Exchangeability::within(&["GPT-2", "OPT", "GPT-2"]);
    /// assert_eq!(e, Exchangeability::WithinGroups(vec![0, 1, 0]));
    /// ```
    pub fn within<T: Eq + Hash>(labels: &[T]) -> Exchangeability {
        let mut ids: HashMap<&T, usize> = HashMap::new();
        let groups = labels
            .iter()
            .map(|l| {
                let next = ids.len();
                *ids.entry(l).or_insert(next)
            })
            .collect();
        Exchangeability::WithinGroups(groups)
    }
}

/// Settings of a permutation test.
#[derive(Clone, Debug, PartialEq)]
pub struct PermutationParams {
    /// Number of random permutations (at least 100; 10,000 by default).
    pub n_resamples: usize,
    /// Seed of the random generator (ChaCha8).
    pub seed: u64,
    /// Which models are exchangeable under the null.
    pub exchangeability: Exchangeability,
}

impl Default for PermutationParams {
    fn default() -> Self {
        Self { n_resamples: 10_000, seed: 0, exchangeability: Exchangeability::All }
    }
}

/// The result of a permutation test of an OLS slope.
#[derive(Clone, Debug, PartialEq)]
pub struct PermutationTest {
    /// The observed statistic (OLS slope of y on x).
    pub statistic: f64,
    /// Two-sided p-value `(1 + #{|stat*| >= |stat|}) / (1 + n_resamples)`.
    pub p: f64,
    /// Random permutations drawn.
    pub n_resamples: usize,
    /// Permutations whose |statistic| was at least the observed one (within 1e-12 relative,
    /// so floating-point ties count).
    pub n_as_extreme: usize,
    /// Number of distinct permutations allowed by the exchangeability (product of the groups'
    /// factorials; may be `inf`). When it is not much larger than `n_resamples`, the smallest
    /// reachable p is about 1 / this number.
    pub n_permutations: f64,
}

/// Permutation test of H0: "y does not depend on x" with statistic = OLS slope of `y` on `x`:
/// the `y` values are permuted among models (within groups if asked) and the slope recomputed.
///
/// ```
/// use brainscale_stats::{slope_permutation_test, PermutationParams};
/// let x: Vec<f64> = (0..12).map(|i| 18.0 + 0.5 * i as f64).collect();
/// let y: Vec<f64> = x.iter().enumerate().map(|(i, v)| 0.01 * v + 0.002 * ((i * 7) % 3) as f64).collect();
/// let t = slope_permutation_test(&x, &y, &PermutationParams { n_resamples: 999, ..Default::default() })?;
/// assert!(t.p <= 0.002);
/// # Ok::<(), brainscale_stats::StatsError>(())
/// ```
pub fn slope_permutation_test(x: &[f64], y: &[f64], params: &PermutationParams) -> Result<PermutationTest> {
    check_resamples(params.n_resamples)?;
    let fit = ols(x, y, 0.95)?;
    let n = x.len();
    // Index sets of the exchangeable blocks.
    let blocks: Vec<Vec<usize>> = match &params.exchangeability {
        Exchangeability::All => vec![(0..n).collect()],
        Exchangeability::WithinGroups(groups) => {
            if groups.len() != n {
                return Err(StatsError::LengthMismatch { what: "groups".into(), expected: n, got: groups.len() });
            }
            let mut map: HashMap<usize, Vec<usize>> = HashMap::new();
            for (i, &g) in groups.iter().enumerate() {
                map.entry(g).or_default().push(i);
            }
            let mut blocks: Vec<Vec<usize>> = map.into_values().collect();
            blocks.sort();
            blocks
        }
    };
    if blocks.iter().all(|b| b.len() < 2) {
        return Err(StatsError::InvalidParameter {
            name: "exchangeability",
            value: "every group has a single model".into(),
            expected: "at least one group with two or more models",
        });
    }
    let n_permutations: f64 = blocks.iter().map(|b| (1..=b.len()).map(|k| k as f64).product::<f64>()).product();
    let x_mean = fit.x_mean;
    let xc: Vec<f64> = x.iter().map(|v| v - x_mean).collect();
    let slope_of = |yy: &[f64]| xc.iter().zip(yy).map(|(a, b)| a * b).sum::<f64>() / fit.sxx;
    let observed = slope_of(y);
    let threshold = observed.abs() * (1.0 - 1e-12);
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut perm = y.to_vec();
    let mut values = Vec::with_capacity(n);
    let mut n_as_extreme = 0;
    for _ in 0..params.n_resamples {
        for block in &blocks {
            values.clear();
            values.extend(block.iter().map(|&i| y[i]));
            values.shuffle(&mut rng);
            for (&i, &v) in block.iter().zip(&values) {
                perm[i] = v;
            }
        }
        if slope_of(&perm).abs() >= threshold {
            n_as_extreme += 1;
        }
    }
    Ok(PermutationTest {
        statistic: observed,
        p: (1 + n_as_extreme) as f64 / (1 + params.n_resamples) as f64,
        n_resamples: params.n_resamples,
        n_as_extreme,
        n_permutations,
    })
}

/// Left and right regressions on x and their paired difference.
#[derive(Clone, Debug, PartialEq)]
pub struct SlopeDifference {
    /// OLS of the left scores on x.
    pub left: Ols,
    /// OLS of the right scores on x.
    pub right: Ols,
    /// OLS of (left − right) on x: its slope equals `left.slope − right.slope` exactly, and its
    /// t-test, p and CI are the paired test of "the slopes differ" (n − 2 df).
    pub difference: Ols,
}

/// Compares the slopes of left and right scores on `x` for paired data (the same models on
/// both sides, e.g. one ROI and its mirror image): the regression of L − R on x.
///
/// ```
/// use brainscale_stats::slope_difference;
/// let x = [18.6, 19.7, 20.5, 21.2, 22.1, 23.3];
/// let left = [0.100, 0.109, 0.113, 0.120, 0.124, 0.133];
/// let right = [0.099, 0.104, 0.107, 0.110, 0.113, 0.117];
/// let d = slope_difference(&x, &left, &right, 0.95)?;
/// assert!((d.difference.slope.value - (d.left.slope.value - d.right.slope.value)).abs() < 1e-12);
/// # Ok::<(), brainscale_stats::StatsError>(())
/// ```
pub fn slope_difference(x: &[f64], left: &[f64], right: &[f64], level: f64) -> Result<SlopeDifference> {
    check_len("right", right, left.len())?;
    let diff = lr_difference(left, right)?;
    Ok(SlopeDifference { left: ols(x, left, level)?, right: ols(x, right, level)?, difference: ols(x, &diff, level)? })
}

fn lr_difference(left: &[f64], right: &[f64]) -> Result<Vec<f64>> {
    check_len("right", right, left.len())?;
    check_finite("left", left, 0)?;
    check_finite("right", right, 0)?;
    Ok(left.iter().zip(right).map(|(l, r)| l - r).collect())
}

/// The study's test of "the L − R difference grows with log(parameters)": a permutation test
/// of the OLS slope of (left − right) on `x` across models. See the crate docs for the
/// resampling units and the exchangeability assumption.
///
/// ```
/// use brainscale_stats::{lateralization_test, Exchangeability, PermutationParams};
/// let x = [18.6, 19.7, 20.5, 21.2, 22.1, 23.3, 18.7, 20.9, 22.6];
/// let family = ["a", "a", "a", "a", "b", "b", "b", "b", "b"];
/// let left = [0.100, 0.109, 0.113, 0.120, 0.124, 0.133, 0.101, 0.115, 0.128];
/// let right = [0.099, 0.104, 0.107, 0.110, 0.113, 0.117, 0.100, 0.108, 0.114];
/// let params = PermutationParams { exchangeability: Exchangeability::within(&family), ..Default::default() };
/// let t = lateralization_test(&x, &left, &right, &params)?;
/// assert!(t.statistic > 0.0 && t.p < 0.05);
/// # Ok::<(), brainscale_stats::StatsError>(())
/// ```
pub fn lateralization_test(
    x: &[f64],
    left: &[f64],
    right: &[f64],
    params: &PermutationParams,
) -> Result<PermutationTest> {
    let diff = lr_difference(left, right)?;
    slope_permutation_test(x, &diff, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_p_is_uniform_ish_under_the_null_and_small_under_the_alternative() {
        let x: Vec<f64> = (0..28).map(|i| 18.0 + 0.2 * i as f64).collect();
        // y unrelated to x (a fixed scramble): p is not small.
        let y: Vec<f64> = (0..28).map(|i| ((i * 11) % 28) as f64).collect();
        let t = slope_permutation_test(&x, &y, &PermutationParams { n_resamples: 2000, ..Default::default() }).unwrap();
        assert!(t.p > 0.05, "{t:?}");
        let y2: Vec<f64> = x.iter().zip(&y).map(|(a, b)| 5.0 * a + 0.1 * b).collect();
        let t2 =
            slope_permutation_test(&x, &y2, &PermutationParams { n_resamples: 2000, ..Default::default() }).unwrap();
        assert_eq!(t2.p, 1.0 / 2001.0);
        // Same seed, same answer.
        let again =
            slope_permutation_test(&x, &y, &PermutationParams { n_resamples: 2000, ..Default::default() }).unwrap();
        assert_eq!(t, again);
    }

    #[test]
    fn within_groups_ignores_between_group_differences() {
        // Two groups: group 1 is larger and has a higher y, but within each group y falls
        // with x. Free permutation sees a strong positive slope; within groups it is not
        // significant in the positive direction.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 11.0, 12.0, 13.0, 14.0, 15.0];
        let y = [5.0, 4.9, 4.7, 4.8, 4.6, 9.0, 8.9, 8.95, 8.7, 8.8];
        let free = slope_permutation_test(&x, &y, &PermutationParams::default()).unwrap();
        assert!(free.statistic > 0.0 && free.p < 0.01, "{free:?}");
        let groups = Exchangeability::within(&[0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
        let strat =
            slope_permutation_test(&x, &y, &PermutationParams { exchangeability: groups, ..Default::default() })
                .unwrap();
        assert!(strat.p > 0.5, "{strat:?}");
        assert_eq!(strat.n_permutations, 120.0 * 120.0);
        let singles = Exchangeability::WithinGroups((0..10).collect());
        let e = slope_permutation_test(&x, &y, &PermutationParams { exchangeability: singles, ..Default::default() });
        assert!(e.is_err());
    }

    #[test]
    fn bootstrap_band_covers_the_fit_and_is_seeded() {
        let x: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let y: Vec<f64> = x.iter().map(|v| 0.5 * v + ((v * 13.0) % 5.0 - 2.0) * 0.3).collect();
        let p = BootstrapParams { n_resamples: 2000, seed: 3, level: 0.95 };
        let b = bootstrap_line(&x, &y, &[0.0, 10.0, 19.0], &p).unwrap();
        assert!(b.slope.contains(b.fit.slope.value));
        // Bootstrap and t intervals of the slope agree roughly.
        let (bw, tw) = (b.slope.hi - b.slope.lo, b.fit.slope.ci.hi - b.fit.slope.ci.lo);
        assert!(bw / tw > 0.5 && bw / tw < 2.0, "{bw} vs {tw}");
        // The band is narrowest near the mean of x.
        let w: Vec<f64> = b.band.iter().map(|(_, _, ci)| ci.hi - ci.lo).collect();
        assert!(w[1] < w[0] && w[1] < w[2], "{w:?}");
        assert_eq!(b, bootstrap_line(&x, &y, &[0.0, 10.0, 19.0], &p).unwrap());
    }

    #[test]
    fn quantiles_are_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(quantile_sorted(&v, 0.75), 4.0);
        assert!((quantile_sorted(&[1.0, 2.0], 0.75) - 1.75).abs() < 1e-15);
    }
}
