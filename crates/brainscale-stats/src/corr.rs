//! Pearson correlation with its test, and the Benjamini-Hochberg false discovery rate.

use statrs::distribution::{ContinuousCDF, Normal};

use crate::dist::t_two_sided_p;
use crate::error::{Result, StatsError, check_finite, check_len, check_level};
use crate::linear::Interval;

/// A Pearson correlation with its two-sided test (as `scipy.stats.pearsonr`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Correlation {
    /// Pearson's r.
    pub r: f64,
    /// Two-sided p-value of H0: ρ = 0 (exact under bivariate normality: the t test
    /// `t = r sqrt((n − 2) / (1 − r²))` on n − 2 df, the same as scipy's beta distribution).
    pub p: f64,
    /// Number of pairs.
    pub n: usize,
    /// Fisher-z confidence interval of ρ (`tanh(atanh r ± z / sqrt(n − 3))`, scipy's
    /// `confidence_interval()`); (−1, 1) when n = 3.
    pub ci: Interval,
}

/// Pearson's r between `x` and `y` with its two-sided p-value and a `level` Fisher-z interval.
///
/// Errors: fewer than 3 pairs, different lengths, a NaN or infinite value, a constant input
/// (the correlation is undefined; scipy returns NaN with a warning).
///
/// ```
/// let c = brainscale_stats::pearson(&[1.0, 2.0, 3.0, 4.0], &[1.1, 1.9, 3.2, 3.9], 0.95)?;
/// assert!(c.r > 0.99 && c.p < 0.01);
/// # Ok::<(), brainscale_stats::StatsError>(())
/// ```
pub fn pearson(x: &[f64], y: &[f64], level: f64) -> Result<Correlation> {
    check_level(level)?;
    check_finite("x", x, 3)?;
    check_len("y", y, x.len())?;
    check_finite("y", y, 3)?;
    let n = x.len();
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    for (what, s, v) in [("x", sxx, x[0]), ("y", syy, y[0])] {
        if !(s > 0.0) {
            return Err(StatsError::Constant {
                what: what.into(),
                value: v,
                consequence: "the correlation is undefined",
            });
        }
    }
    let r = (sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0);
    let df = (n - 2) as f64;
    let p = if r.abs() == 1.0 { 0.0 } else { t_two_sided_p(r * (df / ((1.0 - r) * (1.0 + r))).sqrt(), df) };
    let ci = if n > 3 {
        let z = normal_quantile(0.5 + level / 2.0) / ((n - 3) as f64).sqrt();
        let zr = r.atanh();
        Interval { lo: (zr - z).tanh(), hi: (zr + z).tanh(), level }
    } else {
        Interval { lo: -1.0, hi: 1.0, level }
    };
    Ok(Correlation { r, p, n, ci })
}

/// Standard normal quantile.
pub(crate) fn normal_quantile(q: f64) -> f64 {
    Normal::standard().inverse_cdf(q)
}

/// Benjamini-Hochberg adjusted p-values (q-values), in the input order, as statsmodels'
/// `multipletests(p, method="fdr_bh")[1]`: reject at FDR `alpha` where the result is
/// `<= alpha`. NaN p-values are an error (drop them first).
///
/// ```
/// let q = brainscale_stats::fdr_bh(&[0.01, 0.04, 0.03, 0.5])?;
/// assert_eq!(q.len(), 4);
/// assert!((q[0] - 0.04).abs() < 1e-12 && (q[3] - 0.5).abs() < 1e-12);
/// # Ok::<(), brainscale_stats::StatsError>(())
/// ```
pub fn fdr_bh(p: &[f64]) -> Result<Vec<f64>> {
    check_finite("p", p, 1)?;
    if let Some((index, &value)) = p.iter().enumerate().find(|(_, v)| !(0.0..=1.0).contains(*v)) {
        return Err(StatsError::InvalidParameter {
            name: "p",
            value: format!("{value} at index {index}"),
            expected: "p-values between 0 and 1",
        });
    }
    let n = p.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; n];
    let mut running = 1.0f64;
    for rank in (0..n).rev() {
        let i = order[rank];
        running = running.min(p[i] * n as f64 / (rank + 1) as f64);
        out[i] = running;
    }
    Ok(out)
}
