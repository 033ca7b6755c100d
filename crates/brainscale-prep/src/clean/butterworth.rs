//! The Butterworth filter nilearn 0.10.4 builds and applies: `scipy.signal.butter(5, Wn,
//! btype, output="ba", fs)` then `scipy.signal.filtfilt(b, a, x, padtype="odd")` (scipy 1.13).
//!
//! Design, as scipy's `iirfilter`: the analog prototype's poles `-exp(i pi m / 10)`
//! (m = -4, -2, ..., 4), frequencies pre-warped with `4 tan(pi Wn / 2)` (`Wn` in units of
//! Nyquist), the low-pass / high-pass / band-pass transform of the zeros, poles and gain, the
//! bilinear transform at `fs = 2`, then the polynomial coefficients (`numpy.poly`).

use num_complex::Complex64;

use super::{CleanError, CleanParams};

/// Butterworth order nilearn uses.
pub const ORDER: usize = 5;

/// Which frequencies the filter keeps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FilterBand {
    /// Above the cut-off (Hz).
    HighPass(f64),
    /// Below the cut-off (Hz).
    LowPass(f64),
    /// Between `high_pass` and `low_pass` (Hz).
    BandPass {
        /// Lower edge (nilearn's `high_pass`).
        high_pass: f64,
        /// Upper edge (nilearn's `low_pass`).
        low_pass: f64,
    },
}

/// A digital Butterworth filter in transfer-function form, applied forwards and backwards.
#[derive(Clone, Debug)]
pub struct ButterworthFilter {
    band: FilterBand,
    b: Vec<f64>,
    a: Vec<f64>,
    /// `lfilter_zi(b, a)`: the steady state of a unit step.
    zi: Vec<f64>,
}

impl ButterworthFilter {
    /// The filter `clean` applies for `params`, or `None` when neither cut-off is set.
    pub fn for_params(params: &CleanParams) -> Result<Option<ButterworthFilter>, CleanError> {
        if !(params.t_r.is_finite() && params.t_r > 0.0) {
            return Err(CleanError::InvalidTr { t_r: params.t_r });
        }
        let band = match (params.high_pass, params.low_pass) {
            (None, None) => return Ok(None),
            (Some(h), None) => FilterBand::HighPass(h),
            (None, Some(l)) => FilterBand::LowPass(l),
            (Some(high_pass), Some(low_pass)) => FilterBand::BandPass { high_pass, low_pass },
        };
        ButterworthFilter::new(band, 1.0 / params.t_r).map(Some)
    }

    /// Designs the order-5 filter for `band` at `sampling_rate` Hz.
    pub fn new(band: FilterBand, sampling_rate: f64) -> Result<ButterworthFilter, CleanError> {
        let nyquist = sampling_rate / 2.0;
        let check = |which: &'static str, value: f64| {
            if value.is_finite() && value > 0.0 && value < nyquist {
                Ok(2.0 * value / sampling_rate)
            } else {
                Err(CleanError::InvalidFrequency { which, value, nyquist })
            }
        };
        // The analog prototype: no zeros, gain 1.
        let proto: Vec<Complex64> = (0..ORDER)
            .map(|m| {
                let m = 2.0 * m as f64 - (ORDER as f64 - 1.0);
                -(Complex64::i() * std::f64::consts::PI * m / (2.0 * ORDER as f64)).exp()
            })
            .collect();
        let warp = |wn: f64| 2.0 * 2.0 * (std::f64::consts::PI * wn / 2.0).tan();
        let (zeros, poles, gain) = match band {
            FilterBand::HighPass(f) => {
                let wo = warp(check("high_pass", f)?);
                let poles: Vec<Complex64> = proto.iter().map(|p| wo / p).collect();
                let gain = (Complex64::new(1.0, 0.0) / product(proto.iter().map(|p| -p))).re;
                (vec![Complex64::new(0.0, 0.0); ORDER], poles, gain)
            }
            FilterBand::LowPass(f) => {
                let wo = warp(check("low_pass", f)?);
                let poles = proto.iter().map(|p| wo * p).collect();
                (Vec::new(), poles, wo.powi(ORDER as i32))
            }
            FilterBand::BandPass { high_pass, low_pass } => {
                let lo = warp(check("high_pass", high_pass)?);
                let hi = warp(check("low_pass", low_pass)?);
                if high_pass >= low_pass {
                    return Err(CleanError::BandOrder { high_pass, low_pass });
                }
                let (bw, wo) = (hi - lo, (lo * hi).sqrt());
                let scaled: Vec<Complex64> = proto.iter().map(|p| p * bw / 2.0).collect();
                let root = |p: &Complex64| (p * p - wo * wo).sqrt();
                let poles = scaled.iter().map(|p| p + root(p)).chain(scaled.iter().map(|p| p - root(p))).collect();
                (vec![Complex64::new(0.0, 0.0); ORDER], poles, bw.powi(ORDER as i32))
            }
        };
        // Bilinear transform at fs = 2.
        let fs2 = Complex64::new(4.0, 0.0);
        let degree = poles.len() - zeros.len();
        let gain = gain * (product(zeros.iter().map(|z| fs2 - z)) / product(poles.iter().map(|p| fs2 - p))).re;
        let mut zeros_z: Vec<Complex64> = zeros.iter().map(|z| (fs2 + z) / (fs2 - z)).collect();
        zeros_z.extend(std::iter::repeat_n(Complex64::new(-1.0, 0.0), degree));
        let poles_z: Vec<Complex64> = poles.iter().map(|p| (fs2 + p) / (fs2 - p)).collect();
        let b: Vec<f64> = poly(&zeros_z).iter().map(|c| gain * c.re).collect();
        let a: Vec<f64> = poly(&poles_z).iter().map(|c| c.re).collect();
        let zi = lfilter_zi(&b, &a);
        Ok(ButterworthFilter { band, b, a, zi })
    }

    /// The band.
    pub fn band(&self) -> FilterBand {
        self.band
    }

    /// Numerator coefficients (scipy's `b`).
    pub fn b(&self) -> &[f64] {
        &self.b
    }

    /// Denominator coefficients (scipy's `a`, `a[0] = 1`).
    pub fn a(&self) -> &[f64] {
        &self.a
    }

    /// `scipy.signal.lfilter_zi(b, a)`: the filter state after a unit step has settled.
    pub fn zi(&self) -> &[f64] {
        &self.zi
    }

    /// Samples of odd padding on each side: `3 * max(len(a), len(b))`; a series must be longer.
    pub fn padlen(&self) -> usize {
        3 * self.a.len().max(self.b.len())
    }

    /// `scipy.signal.filtfilt(b, a, x, padtype="odd")` in place. `x` must be longer than
    /// [`ButterworthFilter::padlen`]; `work` is scratch space.
    pub fn filtfilt(&self, x: &mut [f64], work: &mut Vec<f64>) {
        let n = x.len();
        let pad = self.padlen();
        debug_assert!(n > pad);
        work.clear();
        work.extend((1..=pad).rev().map(|m| 2.0 * x[0] - x[m]));
        work.extend_from_slice(x);
        work.extend((1..=pad).map(|m| 2.0 * x[n - 1] - x[n - 1 - m]));
        let x0 = work[0];
        self.lfilter(work, x0);
        work.reverse();
        let y0 = work[0];
        self.lfilter(work, y0);
        work.reverse();
        x.copy_from_slice(&work[pad..pad + n]);
    }

    /// `scipy.signal.lfilter(b, a, x, zi=zi * x0)` in place (direct form II transposed).
    fn lfilter(&self, x: &mut [f64], x0: f64) {
        let (b, a) = (&self.b, &self.a);
        let m = self.zi.len();
        let mut state: Vec<f64> = self.zi.iter().map(|z| z * x0).collect();
        for v in x.iter_mut() {
            let xn = *v;
            let yn = state[0] + b[0] * xn;
            for k in 0..m - 1 {
                state[k] = state[k + 1] + b[k + 1] * xn - a[k + 1] * yn;
            }
            state[m - 1] = b[m] * xn - a[m] * yn;
            *v = yn;
        }
    }
}

fn product(values: impl Iterator<Item = Complex64>) -> Complex64 {
    values.fold(Complex64::new(1.0, 0.0), |acc, v| acc * v)
}

/// `numpy.poly`: coefficients of the monic polynomial with these roots, highest power first.
fn poly(roots: &[Complex64]) -> Vec<Complex64> {
    let mut c = vec![Complex64::new(1.0, 0.0)];
    for r in roots {
        let mut next = vec![Complex64::new(0.0, 0.0); c.len() + 1];
        for (k, ck) in c.iter().enumerate() {
            next[k] += ck;
            next[k + 1] -= ck * r;
        }
        c = next;
    }
    c
}

/// `scipy.signal.lfilter_zi(b, a)` for `a[0] = 1`, `len(a) = len(b)`: solves
/// `(I - companion(a)^T) zi = b[1:] - a[1:] b[0]` by Gaussian elimination with partial pivoting.
fn lfilter_zi(b: &[f64], a: &[f64]) -> Vec<f64> {
    let m = a.len() - 1;
    let mut mat = vec![vec![0.0; m]; m];
    let mut rhs: Vec<f64> = (0..m).map(|r| b[r + 1] - a[r + 1] * b[0]).collect();
    for r in 0..m {
        mat[r][r] = 1.0;
        mat[r][0] += a[r + 1];
        if r + 1 < m {
            mat[r][r + 1] -= 1.0;
        }
    }
    for col in 0..m {
        let pivot = (col..m).max_by(|&x, &y| mat[x][col].abs().total_cmp(&mat[y][col].abs())).unwrap_or(col);
        mat.swap(col, pivot);
        rhs.swap(col, pivot);
        let (top, bottom) = mat.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (off, row) in bottom.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            if f != 0.0 {
                row.iter_mut().zip(pivot_row).skip(col).for_each(|(v, p)| *v -= f * p);
                rhs[col + 1 + off] -= f * rhs[col];
            }
        }
    }
    let mut zi = vec![0.0; m];
    for r in (0..m).rev() {
        let s: f64 = (r + 1..m).map(|c| mat[r][c] * zi[c]).sum();
        zi[r] = (rhs[r] - s) / mat[r][r];
    }
    zi
}
