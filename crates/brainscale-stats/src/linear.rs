//! Ordinary least squares: the simple regression line ([`ols`]) and the multiple regression
//! with an intercept ([`ols_multiple`]), with classical (homoscedastic, Student t) inference.

use crate::dist::{f_sf, t_quantile, t_two_sided_p};
use crate::error::{Result, StatsError, check_finite, check_len, check_level};

/// A two-sided confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
    /// Confidence level (e.g. 0.95).
    pub level: f64,
}

impl Interval {
    /// True when `value` lies inside the closed interval.
    pub fn contains(&self, value: f64) -> bool {
        self.lo <= value && value <= self.hi
    }
}

/// An estimate with its standard error, t statistic, two-sided p-value (H0: the true value is
/// 0) and Student-t confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The estimate.
    pub value: f64,
    /// Its standard error.
    pub se: f64,
    /// `value / se` (±inf when se = 0 and value ≠ 0, 0 when both are 0).
    pub t: f64,
    /// Degrees of freedom of the t distribution.
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// `value ± t_{(1 + level) / 2, df} · se`.
    pub ci: Interval,
}

impl Estimate {
    /// Builds the t-based inference for `value` with standard error `se` on `df` degrees of
    /// freedom.
    pub(crate) fn new(value: f64, se: f64, df: f64, level: f64) -> Estimate {
        let t = if se > 0.0 {
            value / se
        } else if value == 0.0 {
            0.0
        } else {
            value.signum() * f64::INFINITY
        };
        let half = t_quantile(0.5 + level / 2.0, df) * se;
        Estimate {
            value,
            se,
            t,
            df,
            p: t_two_sided_p(t, df),
            ci: Interval { lo: value - half, hi: value + half, level },
        }
    }
}

/// A simple regression line `y = intercept + slope · x` (as `scipy.stats.linregress`, plus
/// the intercept's test and both confidence intervals).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ols {
    /// Number of observations.
    pub n: usize,
    /// Slope, with its t-test (n − 2 df) and confidence interval.
    pub slope: Estimate,
    /// Intercept, with its t-test and confidence interval.
    pub intercept: Estimate,
    /// Pearson r between x and y.
    pub r: f64,
    /// r².
    pub r2: f64,
    /// Residual standard error `sqrt(SSR / (n − 2))`.
    pub residual_se: f64,
    /// Mean of x.
    pub x_mean: f64,
    /// `Σ (x − mean x)²`.
    pub sxx: f64,
}

impl Ols {
    /// The fitted value at `x`.
    pub fn predict(&self, x: f64) -> f64 {
        self.intercept.value + self.slope.value * x
    }

    /// Confidence interval of the regression line (the mean of y) at `x`, at the fit's level:
    /// `fit ± t · s · sqrt(1/n + (x − mean x)² / Sxx)`.
    pub fn line_ci(&self, x: f64) -> Interval {
        let se = self.residual_se * (1.0 / self.n as f64 + (x - self.x_mean).powi(2) / self.sxx).sqrt();
        let level = self.slope.ci.level;
        let half = t_quantile(0.5 + level / 2.0, self.slope.df) * se;
        let fit = self.predict(x);
        Interval { lo: fit - half, hi: fit + half, level }
    }
}

/// Fits `y = a + b x` by least squares, with t-tests and `level` confidence intervals for the
/// slope and the intercept (Student t, n − 2 df).
///
/// Errors: fewer than 3 observations, different lengths, a NaN or infinite value, or a
/// constant `x`. A constant `y` is allowed (slope 0, t 0, p 1); a perfect fit gives se 0,
/// t ±inf and p 0.
///
/// ```
/// use brainscale_stats::ols;
/// let log_params = [18.6, 19.7, 20.5, 21.2, 22.1, 23.3];
/// let score = [0.101, 0.108, 0.112, 0.118, 0.121, 0.130];
/// let fit = ols(&log_params, &score, 0.95)?;
/// assert!(fit.slope.value > 0.0 && fit.slope.p < 0.001);
/// assert!(fit.slope.ci.contains(fit.slope.value));
/// # Ok::<(), brainscale_stats::StatsError>(())
/// ```
pub fn ols(x: &[f64], y: &[f64], level: f64) -> Result<Ols> {
    check_level(level)?;
    check_finite("x", x, 3)?;
    check_len("y", y, x.len())?;
    check_finite("y", y, 3)?;
    let n = x.len();
    let nf = n as f64;
    let x_mean = x.iter().sum::<f64>() / nf;
    let y_mean = y.iter().sum::<f64>() / nf;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (&xi, &yi) in x.iter().zip(y) {
        let (dx, dy) = (xi - x_mean, yi - y_mean);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if !(sxx > 0.0) || sxx <= f64::EPSILON * x_mean.abs().powi(2) * nf {
        return Err(StatsError::Constant {
            what: "x".into(),
            value: x[0],
            consequence: "the slope of a regression on it is undefined",
        });
    }
    let slope = sxy / sxx;
    let intercept = y_mean - slope * x_mean;
    let df = (n - 2) as f64;
    let ssr = y.iter().zip(x).map(|(&yi, &xi)| (yi - intercept - slope * xi).powi(2)).sum::<f64>();
    let residual_se = (ssr / df).sqrt();
    let se_slope = residual_se / sxx.sqrt();
    let se_intercept = residual_se * (1.0 / nf + x_mean * x_mean / sxx).sqrt();
    let r = if syy > 0.0 { (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0) } else { 0.0 };
    Ok(Ols {
        n,
        slope: Estimate::new(slope, se_slope, df, level),
        intercept: Estimate::new(intercept, se_intercept, df, level),
        r,
        r2: r * r,
        residual_se,
        x_mean,
        sxx,
    })
}

/// A multiple regression with an intercept (as statsmodels' `OLS(y, add_constant(X)).fit()`).
#[derive(Clone, Debug, PartialEq)]
pub struct MultipleOls {
    /// Number of observations.
    pub n: usize,
    /// Names of the coefficients: `const`, then the predictors in the order given.
    pub names: Vec<String>,
    /// The coefficients (intercept first), each with its t-test on `n − p − 1` df and CI.
    pub coefficients: Vec<Estimate>,
    /// Coefficient of determination.
    pub r2: f64,
    /// Adjusted R²: `1 − (1 − R²)(n − 1) / (n − p − 1)`.
    pub r2_adjusted: f64,
    /// F statistic of the regression against the intercept-only model.
    pub f: f64,
    /// Its p-value (F with p and n − p − 1 df).
    pub f_p: f64,
    /// Residual degrees of freedom `n − p − 1`.
    pub df_residual: usize,
    /// Residual standard error.
    pub residual_se: f64,
}

impl MultipleOls {
    /// The coefficient called `name` (`const` for the intercept).
    pub fn coefficient(&self, name: &str) -> Option<&Estimate> {
        self.names.iter().position(|n| n == name).map(|i| &self.coefficients[i])
    }
}

/// Fits `y = b0 + Σ b_j x_j` by least squares (Householder QR, so columns on very different
/// scales, such as log parameters and hidden sizes, keep full precision), with t-tests,
/// `level` confidence intervals, R², adjusted R² and the F test. `predictors` are
/// (name, column) pairs, each column one value per observation.
///
/// Errors: no predictor, fewer than p + 2 observations, lengths that differ, NaN or infinite
/// values, a constant or collinear predictor (named).
///
/// ```
/// use brainscale_stats::ols_multiple;
/// let log_params = [18.6, 19.7, 20.5, 21.2, 22.1, 23.3, 22.8];
/// let n_layers = [12.0, 24.0, 36.0, 48.0, 32.0, 40.0, 32.0];
/// let score = [0.101, 0.108, 0.112, 0.118, 0.121, 0.130, 0.126];
/// let fit = ols_multiple(&[("log_params", &log_params), ("n_layers", &n_layers)], &score, 0.95)?;
/// assert_eq!(fit.names, ["const", "log_params", "n_layers"]);
/// assert!(fit.coefficient("log_params").unwrap().value > 0.0);
/// # Ok::<(), brainscale_stats::StatsError>(())
/// ```
#[allow(clippy::needless_range_loop)] // triangular solves read best with indices
pub fn ols_multiple(predictors: &[(&str, &[f64])], y: &[f64], level: f64) -> Result<MultipleOls> {
    check_level(level)?;
    if predictors.is_empty() {
        return Err(StatsError::TooFew { what: "predictors".into(), n: 0, min: 1 });
    }
    let p = predictors.len() + 1;
    check_finite("y", y, p + 1)?;
    let n = y.len();
    for (name, col) in predictors {
        check_len(name, col, n)?;
        check_finite(name, col, p + 1)?;
        if col.iter().all(|&v| v == col[0]) {
            return Err(StatsError::Constant {
                what: format!("predictor `{name}`"),
                value: col[0],
                consequence: "it is collinear with the intercept",
            });
        }
    }
    // Design matrix, column-major: intercept then predictors.
    let mut a: Vec<Vec<f64>> =
        std::iter::once(vec![1.0; n]).chain(predictors.iter().map(|(_, c)| c.to_vec())).collect();
    let norms: Vec<f64> = a.iter().map(|c| c.iter().map(|v| v * v).sum::<f64>().sqrt()).collect();
    let mut qty = y.to_vec();
    // Householder QR: a becomes R in its upper triangle; the reflections are applied to y.
    for k in 0..p {
        let alpha = a[k][k..].iter().map(|v| v * v).sum::<f64>().sqrt();
        if alpha <= 1e-10 * norms[k] {
            let name = if k == 0 { "const" } else { predictors[k - 1].0 };
            return Err(StatsError::Collinear { predictor: name.to_string() });
        }
        let alpha = if a[k][k] > 0.0 { -alpha } else { alpha };
        let mut v: Vec<f64> = a[k][k..].to_vec();
        v[0] -= alpha;
        let vnorm2: f64 = v.iter().map(|x| x * x).sum();
        let reflect = |col: &mut [f64]| {
            let dot: f64 = v.iter().zip(col.iter()).map(|(a, b)| a * b).sum();
            let s = 2.0 * dot / vnorm2;
            for (c, vi) in col.iter_mut().zip(&v) {
                *c -= s * vi;
            }
        };
        for col in a.iter_mut().skip(k) {
            reflect(&mut col[k..]);
        }
        reflect(&mut qty[k..]);
    }
    let r = |i: usize, j: usize| a[j][i];
    // Back substitution for the coefficients; R^-1 for their covariance.
    let mut beta = vec![0.0; p];
    for i in (0..p).rev() {
        let s: f64 = (i + 1..p).map(|j| r(i, j) * beta[j]).sum();
        beta[i] = (qty[i] - s) / r(i, i);
    }
    let mut rinv = vec![vec![0.0; p]; p]; // rinv[i][j], upper triangular
    for j in 0..p {
        rinv[j][j] = 1.0 / r(j, j);
        for i in (0..j).rev() {
            let s: f64 = (i + 1..=j).map(|k| r(i, k) * rinv[k][j]).sum();
            rinv[i][j] = -s / r(i, i);
        }
    }
    let df = n - p;
    let fitted: Vec<f64> =
        (0..n).map(|i| (0..p).map(|j| beta[j] * if j == 0 { 1.0 } else { predictors[j - 1].1[i] }).sum()).collect();
    let ssr: f64 = y.iter().zip(&fitted).map(|(yi, fi)| (yi - fi).powi(2)).sum();
    let y_mean = y.iter().sum::<f64>() / n as f64;
    let sst: f64 = y.iter().map(|yi| (yi - y_mean).powi(2)).sum();
    let sigma2 = ssr / df as f64;
    let coefficients = (0..p)
        .map(|i| {
            let var = sigma2 * (i..p).map(|j| rinv[i][j] * rinv[i][j]).sum::<f64>();
            Estimate::new(beta[i], var.sqrt(), df as f64, level)
        })
        .collect();
    let r2 = if sst > 0.0 { 1.0 - ssr / sst } else { 0.0 };
    let k = (p - 1) as f64;
    let f = ((sst - ssr) / k) / sigma2;
    Ok(MultipleOls {
        n,
        names: std::iter::once("const".to_string()).chain(predictors.iter().map(|(n, _)| n.to_string())).collect(),
        coefficients,
        r2,
        r2_adjusted: 1.0 - (1.0 - r2) * (n - 1) as f64 / df as f64,
        f,
        f_p: f_sf(f, k, df as f64),
        df_residual: df,
        residual_se: sigma2.sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_and_multiple_agree_with_one_predictor() {
        let x = [1.0, 2.0, 3.5, 4.0, 6.0, 7.5];
        let y = [2.1, 2.9, 4.2, 4.1, 6.3, 7.0];
        let s = ols(&x, &y, 0.9).unwrap();
        let m = ols_multiple(&[("x", &x)], &y, 0.9).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1.0 + a.abs());
        assert!(close(s.slope.value, m.coefficients[1].value));
        assert!(close(s.slope.se, m.coefficients[1].se));
        assert!(close(s.intercept.se, m.coefficients[0].se));
        assert!(close(s.slope.ci.lo, m.coefficients[1].ci.lo));
        assert!(close(s.r2, m.r2));
        // F = t² with one predictor, same p.
        assert!(close(m.f, s.slope.t * s.slope.t));
        assert!(close(m.f_p, s.slope.p));
        // The line's CI at mean x is the intercept-free part only.
        let ci = s.line_ci(s.x_mean);
        assert!(ci.lo < s.predict(s.x_mean) && s.predict(s.x_mean) < ci.hi);
    }

    #[test]
    fn degenerate_inputs_are_named() {
        assert!(matches!(ols(&[1.0, 2.0], &[1.0, 2.0], 0.95), Err(StatsError::TooFew { n: 2, min: 3, .. })));
        let e = ols(&[3.0, 3.0, 3.0], &[1.0, 2.0, 3.0], 0.95).unwrap_err();
        assert!(e.to_string().starts_with("x is constant (3 everywhere)"), "{e}");
        assert!(matches!(
            ols(&[1.0, 2.0, 3.0], &[1.0, f64::NAN, 3.0], 0.95),
            Err(StatsError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(ols(&[1.0, 2.0, 3.0], &[1.0, 3.0], 0.95), Err(StatsError::LengthMismatch { .. })));
        let flat = ols(&[1.0, 2.0, 3.0], &[5.0, 5.0, 5.0], 0.95).unwrap();
        assert_eq!((flat.slope.value, flat.slope.t, flat.slope.p, flat.r), (0.0, 0.0, 1.0, 0.0));
        let exact = ols(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 5.0, 7.0], 0.95).unwrap();
        assert_eq!(exact.slope.p, 0.0);
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let twice: Vec<f64> = x.iter().map(|v| 2.0 * v + 1.0).collect();
        let e = ols_multiple(&[("a", &x), ("b", &twice)], &[1.0, 0.0, 2.0, 1.0, 3.0], 0.95).unwrap_err();
        assert_eq!(e, StatsError::Collinear { predictor: "b".into() });
        let e = ols_multiple(&[("a", &x), ("c", &[1.0; 5])], &[1.0, 0.0, 2.0, 1.0, 3.0], 0.95).unwrap_err();
        assert!(e.to_string().contains("predictor `c` is constant"), "{e}");
    }
}
