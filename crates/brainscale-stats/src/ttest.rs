//! Student t-tests: one-sample, paired, two-sample (pooled variance) and Welch.

use crate::dist::{t_quantile, t_two_sided_p};
use crate::error::{Result, StatsError, check_finite, check_len, check_level};
use crate::linear::Interval;

/// Which two-sample test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variance {
    /// Equal variances, pooled (Student; scipy `equal_var=True`).
    Pooled,
    /// Unequal variances, Welch-Satterthwaite df (scipy `equal_var=False`).
    Welch,
}

/// The result of a t-test (two-sided).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TTest {
    /// The t statistic.
    pub t: f64,
    /// Degrees of freedom (fractional for Welch).
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// The estimated mean: mean of x (one-sample; the test is of `estimate − μ0`), mean of
    /// a − b (paired), mean a − mean b (two-sample).
    pub estimate: f64,
    /// Its standard error.
    pub se: f64,
    /// Confidence interval of `estimate` (as scipy's `confidence_interval()`: for the one-sample
    /// test, an interval for the mean itself, not for mean − μ0).
    pub ci: Interval,
}

fn finish(estimate: f64, null: f64, se: f64, df: f64, level: f64, what: &str) -> Result<TTest> {
    if !(se > 0.0) {
        return Err(StatsError::Constant {
            what: what.to_string(),
            value: estimate,
            consequence: "its standard error is 0, so the t statistic is undefined",
        });
    }
    let t = (estimate - null) / se;
    let half = t_quantile(0.5 + level / 2.0, df) * se;
    Ok(TTest {
        t,
        df,
        p: t_two_sided_p(t, df),
        estimate,
        se,
        ci: Interval { lo: estimate - half, hi: estimate + half, level },
    })
}

fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (m, v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0))
}

/// One-sample t-test of H0: mean(`x`) = `mu0` (scipy `ttest_1samp`).
///
/// ```
/// let t = brainscale_stats::ttest_one_sample(&[0.2, 0.5, 0.1, 0.4, 0.3], 0.0, 0.95)?;
/// assert!(t.p < 0.05 && t.ci.lo > 0.0 && (t.estimate - 0.3).abs() < 1e-12);
/// # Ok::<(), brainscale_stats::StatsError>(())
/// ```
pub fn ttest_one_sample(x: &[f64], mu0: f64, level: f64) -> Result<TTest> {
    check_level(level)?;
    check_finite("x", x, 2)?;
    let (m, var) = mean_var(x);
    finish(m, mu0, (var / x.len() as f64).sqrt(), (x.len() - 1) as f64, level, "x")
}

/// Paired t-test of H0: mean(`a` − `b`) = 0 (scipy `ttest_rel`).
///
/// ```
/// let left = [0.12, 0.15, 0.11, 0.18];
/// let right = [0.10, 0.12, 0.11, 0.14];
/// let t = brainscale_stats::ttest_paired(&left, &right, 0.95)?;
/// assert!(t.estimate > 0.0);
/// # Ok::<(), brainscale_stats::StatsError>(())
/// ```
pub fn ttest_paired(a: &[f64], b: &[f64], level: f64) -> Result<TTest> {
    check_level(level)?;
    check_finite("a", a, 2)?;
    check_len("b", b, a.len())?;
    check_finite("b", b, 2)?;
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let (m, var) = mean_var(&d);
    finish(m, 0.0, (var / d.len() as f64).sqrt(), (d.len() - 1) as f64, level, "a - b")
}

/// Two-sample t-test of H0: mean(`a`) = mean(`b`) (scipy `ttest_ind`, `equal_var` per
/// [`Variance`]).
///
/// ```
/// use brainscale_stats::{ttest_two_sample, Variance};
/// let t = ttest_two_sample(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.5, 5.0, 6.5, 7.0], Variance::Welch, 0.95)?;
/// assert!(t.estimate < 0.0 && t.df < 7.0);
/// # Ok::<(), brainscale_stats::StatsError>(())
/// ```
pub fn ttest_two_sample(a: &[f64], b: &[f64], variance: Variance, level: f64) -> Result<TTest> {
    check_level(level)?;
    check_finite("a", a, 2)?;
    check_finite("b", b, 2)?;
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let (se, df) = match variance {
        Variance::Pooled => {
            let pooled = ((na - 1.0) * va + (nb - 1.0) * vb) / (na + nb - 2.0);
            ((pooled * (1.0 / na + 1.0 / nb)).sqrt(), na + nb - 2.0)
        }
        Variance::Welch => {
            let (sa, sb) = (va / na, vb / nb);
            let df = (sa + sb).powi(2) / (sa * sa / (na - 1.0) + sb * sb / (nb - 1.0));
            ((sa + sb).sqrt(), df)
        }
    };
    finish(ma - mb, 0.0, se, df, level, "a and b")
}
