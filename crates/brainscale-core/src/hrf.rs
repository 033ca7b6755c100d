//! The haemodynamic response function, sampled exactly as nilearn samples it.
//!
//! nilearn's `glover_hrf` is a difference of two gamma densities (peak: shape 6/0.9, scale 0.9;
//! undershoot: shape 12/0.9, scale 0.9) sampled on `linspace(0, 32, rint(32 / dt))` with
//! `dt = tr / oversampling`, both densities shifted one high-resolution sample late (`loc=dt`),
//! normalised to sum to one. nilearn 0.10 (used by the paper) weighs the undershoot by 0.35;
//! nilearn 0.11 changed that to 0.48.
//!
//! Reference: `nilearn/glm/first_level/hemodynamic_models.py` (`_gamma_difference_hrf`).

use std::fmt;

/// Which HRF to convolve the word events with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Hrf {
    /// nilearn 0.10.x `glover` (undershoot ratio 0.35): the paper's HRF and the default.
    #[default]
    Glover,
    /// nilearn >= 0.11 `glover` (undershoot ratio 0.48).
    GloverNilearn011,
}

impl Hrf {
    /// Every HRF, in the order the command line lists them.
    pub const ALL: [Hrf; 2] = [Hrf::Glover, Hrf::GloverNilearn011];

    /// The name used on the command line and in metadata.
    pub fn name(self) -> &'static str {
        match self {
            Hrf::Glover => "glover",
            Hrf::GloverNilearn011 => "glover-nilearn-0.11",
        }
    }

    /// Parses a name given by [`Hrf::name`].
    pub fn from_name(name: &str) -> Option<Hrf> {
        Hrf::ALL.into_iter().find(|h| h.name() == name)
    }

    /// Weight of the undershoot gamma density.
    pub fn undershoot_ratio(self) -> f64 {
        match self {
            Hrf::Glover => 0.35,
            Hrf::GloverNilearn011 => 0.48,
        }
    }

    /// The kernel sampled every `tr / oversampling` seconds over 32 s, summing to one.
    pub fn kernel(self, tr: f64, oversampling: usize) -> Vec<f64> {
        let dt = tr / oversampling as f64;
        let time_length = 32.0;
        let n = (time_length / dt).round_ties_even() as usize;
        let times = linspace(0.0, time_length, n);
        let (delay, undershoot, dispersion) = (6.0, 12.0, 0.9);
        let ratio = self.undershoot_ratio();
        let mut h: Vec<f64> = times
            .iter()
            .map(|&t| {
                gamma_pdf(t, delay / dispersion, dt, dispersion)
                    - ratio * gamma_pdf(t, undershoot / dispersion, dt, dispersion)
            })
            .collect();
        let total: f64 = h.iter().sum();
        for v in &mut h {
            *v /= total;
        }
        h
    }
}

impl fmt::Display for Hrf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `numpy.linspace(start, stop, n)` with the same floating-point operations.
pub(crate) fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let step = (stop - start) / (n - 1) as f64;
            let mut v: Vec<f64> = (0..n).map(|i| i as f64 * step + start).collect();
            v[n - 1] = stop;
            v
        }
    }
}

/// Gamma density with shape `a`, location `loc` and scale `scale` (scipy's parametrisation).
fn gamma_pdf(x: f64, a: f64, loc: f64, scale: f64) -> f64 {
    let y = (x - loc) / scale;
    if y < 0.0 {
        return 0.0;
    }
    if y == 0.0 {
        return if a > 1.0 { 0.0 } else { f64::INFINITY };
    }
    ((a - 1.0) * y.ln() - y - libm::lgamma(a)).exp() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_sums_to_one_with_nilearn_length() {
        let h = Hrf::Glover.kernel(2.0, 50);
        assert_eq!(h.len(), 800);
        assert!((h.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(h[0], 0.0, "shifted one sample late: the first sample is zero");
        let peak = h
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i as f64 * 32.0 / 799.0)
            .unwrap_or_default();
        assert!((4.0..6.0).contains(&peak), "glover peaks ~5 s, got {peak}");
    }

    #[test]
    fn nilearn_011_has_a_deeper_undershoot() {
        let a = Hrf::Glover.kernel(2.0, 50);
        let b = Hrf::GloverNilearn011.kernel(2.0, 50);
        let min = |h: &[f64]| h.iter().cloned().fold(f64::INFINITY, f64::min);
        assert!(min(&b) < min(&a));
        assert_eq!(Hrf::from_name("glover-nilearn-0.11"), Some(Hrf::GloverNilearn011));
        assert_eq!(Hrf::from_name("spm"), None);
    }

    #[test]
    fn linspace_matches_numpy_endpoints() {
        let v = linspace(-23.0, 61.0, 5);
        assert_eq!(v, vec![-23.0, -2.0, 19.0, 40.0, 61.0]);
    }
}
