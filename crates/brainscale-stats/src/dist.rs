//! Tail probabilities and quantiles of Student's t and Fisher's F, on `statrs`.
//!
//! Tails are computed from the regularised incomplete beta function directly (never as
//! `1 - cdf`), so small p-values keep their relative precision: the two-sided t p-value is
//! `I_{df / (df + t^2)}(df / 2, 1 / 2)`, the F upper tail is `I_{d2 / (d2 + d1 F)}(d2 / 2, d1 / 2)`.

use statrs::distribution::{ContinuousCDF, StudentsT};
use statrs::function::beta::beta_reg;

/// Two-sided p-value of a t statistic with `df` degrees of freedom (`df > 0`, may be
/// fractional, as in Welch's test). `t = ±inf` gives 0; NaN gives NaN.
///
/// ```
/// let p = brainscale_stats::dist::t_two_sided_p(2.0, 10.0);
/// assert!((p - 0.07338803477074039).abs() < 1e-12); // scipy.stats.t.sf(2, 10) * 2
/// ```
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() || !(df > 0.0) {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    beta_reg(df / 2.0, 0.5, df / (df + t * t)).clamp(0.0, 1.0)
}

/// The `q`-quantile of Student's t with `df` degrees of freedom (`0 < q < 1`), refined by two
/// Newton steps on the cdf so it is accurate to a few ulps.
///
/// ```
/// let t = brainscale_stats::dist::t_quantile(0.975, 26.0);
/// assert!((t - 2.055529438642871).abs() < 1e-12); // scipy.stats.t.ppf(0.975, 26)
/// ```
pub fn t_quantile(q: f64, df: f64) -> f64 {
    if !(q > 0.0 && q < 1.0 && df > 0.0) {
        return f64::NAN;
    }
    let Ok(dist) = StudentsT::new(0.0, 1.0, df) else { return f64::NAN };
    let mut x = dist.inverse_cdf(q);
    for _ in 0..2 {
        let density = t_pdf(x, df);
        if !(density > 0.0) || !x.is_finite() {
            break;
        }
        x -= (dist.cdf(x) - q) / density;
    }
    x
}

/// Density of Student's t with `df` degrees of freedom.
fn t_pdf(x: f64, df: f64) -> f64 {
    use statrs::function::beta::ln_beta;
    (-(0.5 * (df + 1.0)) * (1.0 + x * x / df).ln() - 0.5 * df.ln() - ln_beta(0.5 * df, 0.5)).exp()
}

/// Upper-tail probability `P(F > f)` of Fisher's F with (`d1`, `d2`) degrees of freedom.
///
/// ```
/// let p = brainscale_stats::dist::f_sf(3.0, 3.0, 24.0);
/// assert!((p - 0.05043961245388986).abs() < 1e-12); // scipy.stats.f.sf(3, 3, 24)
/// ```
pub fn f_sf(f: f64, d1: f64, d2: f64) -> f64 {
    if f.is_nan() || !(d1 > 0.0 && d2 > 0.0) {
        return f64::NAN;
    }
    if f <= 0.0 {
        return 1.0;
    }
    if f.is_infinite() {
        return 0.0;
    }
    beta_reg(d2 / 2.0, d1 / 2.0, d2 / (d2 + d1 * f)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_inverts_the_tail() {
        for df in [1.0, 2.5, 5.0, 26.0, 300.0] {
            for q in [0.6, 0.9, 0.975, 0.995, 0.9999] {
                let t = t_quantile(q, df);
                let p = t_two_sided_p(t, df);
                assert!((p - 2.0 * (1.0 - q)).abs() < 1e-12 * (1.0 + 1.0 / (1.0 - q)), "df {df} q {q}: {p}");
            }
        }
    }

    #[test]
    fn edge_values() {
        assert_eq!(t_two_sided_p(0.0, 5.0), 1.0);
        assert_eq!(t_two_sided_p(f64::INFINITY, 5.0), 0.0);
        assert!(t_two_sided_p(1.0, 0.0).is_nan());
        assert_eq!(f_sf(0.0, 2.0, 3.0), 1.0);
        // A tiny tail keeps its relative precision: scipy.stats.t.sf(40, 26) * 2.
        let p = t_two_sided_p(40.0, 26.0);
        assert!((p / 6.976113904247161e-25 - 1.0).abs() < 1e-9, "{p:e}");
    }
}
