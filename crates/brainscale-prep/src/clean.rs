//! Signal cleaning as `NiftiMasker(detrend=True, standardize=True, high_pass=1/128, t_r=2)`
//! calls `nilearn.signal.clean` (nilearn 0.10.4, scipy 1.13): one run, no confounds, no
//! censoring.
//!
//! For each voxel's time series `x` (one column of a time x voxels matrix), in this order:
//!
//! 1. NaN and infinite values become 0 (NiftiMasker's `apply_mask(..., ensure_finite=True)`
//!    does this while masking, before `clean`).
//! 2. Linear detrend (`detrend`): subtract the mean, then the projection on the centred,
//!    normalised ramp `0, 1, ..., n - 1` (nilearn's `_detrend(type="linear")`).
//! 3. Butterworth filter (`high_pass` and/or `low_pass`, Hz): `scipy.signal.butter(5, ...,
//!    output="ba", fs=1 / t_r)` (high-pass, low-pass, or an order-10 band-pass when both are
//!    given), applied forwards and backwards by `scipy.signal.filtfilt` with odd padding of
//!    `3 * max(len(a), len(b))` samples (18 for high- or low-pass, 33 for band-pass) and the
//!    steady-state initial conditions of `lfilter_zi`. After filtering nilearn adds the
//!    original mean back (it matters only without standardisation).
//! 4. Standardise: [`Standardize::ZScore`] (NiftiMasker's `standardize=True`, nilearn 0.10's
//!    `"zscore"`): subtract the mean and divide by the population standard deviation (ddof 0);
//!    a standard deviation below `f64::EPSILON` is replaced by 1. [`Standardize::ZScoreSample`]
//!    uses ddof 1.
//!
//! Differences from nilearn, all deliberate:
//! * arithmetic is f64 throughout (nilearn keeps float32 images in float32 between steps, which
//!   moves z-scores by up to ~1e-5 on BOLD-like data);
//! * a column whose values are all equal gives zeros after standardisation (nilearn's float32
//!   mean can leave rounding noise there that it then scales up);
//! * invalid settings that nilearn warns about and works around are errors here: a cut-off
//!   frequency at or above Nyquist (nilearn lowers it), a single-scan run (nilearn skips the
//!   step), a run no longer than the filter's padding (scipy raises too).
//!
//! ```
//! use brainscale_prep::clean::{CleanParams, Cleaner};
//! use faer::Mat;
//!
//! let params = CleanParams::paper(2.0); // detrend, high-pass 1/128 Hz, z-score
//! let mut signals = Mat::<f32>::from_fn(120, 3, |t, v| (t as f32 * 0.3 + v as f32).sin() + 0.01 * t as f32);
//! Cleaner::new(&params, signals.nrows())?.clean(signals.as_mut())?;
//! let mean: f32 = (0..120).map(|t| signals[(t, 0)]).sum::<f32>() / 120.0;
//! assert!(mean.abs() < 1e-5);
//! # Ok::<(), brainscale_prep::clean::CleanError>(())
//! ```

use faer::MatMut;
use faer::reborrow::ReborrowMut;

mod butterworth;
#[cfg(test)]
mod tests;

pub use butterworth::{ButterworthFilter, FilterBand};

/// How the cleaned signals are scaled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Standardize {
    /// No scaling (nilearn `standardize=False`).
    None,
    /// Mean 0, population standard deviation 1 (nilearn 0.10 `standardize=True` / `"zscore"`).
    #[default]
    ZScore,
    /// Mean 0, sample standard deviation (ddof 1) 1 (nilearn `"zscore_sample"`).
    ZScoreSample,
}

/// Settings of [`clean`], named as `nilearn.signal.clean`'s arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct CleanParams {
    /// Remove a linear trend (and the mean).
    pub detrend: bool,
    /// Scaling after filtering.
    pub standardize: Standardize,
    /// High-pass cut-off in Hz (`None`: no high-pass).
    pub high_pass: Option<f64>,
    /// Low-pass cut-off in Hz (`None`: no low-pass).
    pub low_pass: Option<f64>,
    /// Repetition time in seconds (the sampling period of the rows).
    pub t_r: f64,
}

impl CleanParams {
    /// The paper's cleaning (`NiftiMasker(detrend=True, standardize=True, high_pass=1/128,
    /// t_r=t_r)`).
    pub fn paper(t_r: f64) -> CleanParams {
        CleanParams {
            detrend: true,
            standardize: Standardize::ZScore,
            high_pass: Some(1.0 / 128.0),
            low_pass: None,
            t_r,
        }
    }
}

/// Why signals cannot be cleaned with the given settings.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum CleanError {
    /// The repetition time is not a positive number.
    #[error("t_r = {t_r} s: the repetition time must be a positive number of seconds")]
    InvalidTr {
        /// The value given.
        t_r: f64,
    },
    /// A cut-off frequency outside (0, Nyquist).
    #[error(
        "{which} = {value} Hz: a cut-off must lie strictly between 0 and the Nyquist frequency \
         1 / (2 t_r) = {nyquist} Hz"
    )]
    InvalidFrequency {
        /// `"high_pass"` or `"low_pass"`.
        which: &'static str,
        /// The value given.
        value: f64,
        /// The Nyquist frequency.
        nyquist: f64,
    },
    /// Band-pass cut-offs in the wrong order.
    #[error("high_pass = {high_pass} Hz must be below low_pass = {low_pass} Hz for a band-pass filter")]
    BandOrder {
        /// High-pass cut-off.
        high_pass: f64,
        /// Low-pass cut-off.
        low_pass: f64,
    },
    /// Too few scans for the requested cleaning.
    #[error("a run of {n_samples} scans is too short: {reason} needs at least {min} scans")]
    TooShort {
        /// Scans in the run.
        n_samples: usize,
        /// Minimum.
        min: usize,
        /// Which step.
        reason: &'static str,
    },
    /// A signals matrix whose row count differs from the one the cleaner was built for.
    #[error("signals have {found} rows (scans), the cleaner was built for {expected}")]
    Shape {
        /// Rows expected.
        expected: usize,
        /// Rows found.
        found: usize,
    },
}

/// A cleaning plan for runs of a fixed length: the filter is designed once.
#[derive(Clone, Debug)]
pub struct Cleaner {
    params: CleanParams,
    n_samples: usize,
    filter: Option<ButterworthFilter>,
    /// The centred, normalised ramp of the linear detrend.
    ramp: Vec<f64>,
}

impl Cleaner {
    /// Checks the settings against a run of `n_samples` scans and designs the filter.
    pub fn new(params: &CleanParams, n_samples: usize) -> Result<Cleaner, CleanError> {
        let filter = ButterworthFilter::for_params(params)?;
        if (params.detrend || params.standardize != Standardize::None) && n_samples < 2 {
            return Err(CleanError::TooShort { n_samples, min: 2, reason: "detrending or standardising" });
        }
        if let Some(f) = &filter {
            if n_samples <= f.padlen() {
                return Err(CleanError::TooShort {
                    n_samples,
                    min: f.padlen() + 1,
                    reason: "the Butterworth filter (filtfilt pads the run on each side)",
                });
            }
        }
        let centre = (n_samples as f64 - 1.0) / 2.0;
        let mut ramp: Vec<f64> = (0..n_samples).map(|t| t as f64 - centre).collect();
        let norm = ramp.iter().map(|r| r * r).sum::<f64>().sqrt();
        if norm >= f64::EPSILON {
            ramp.iter_mut().for_each(|r| *r /= norm);
        }
        Ok(Cleaner { params: params.clone(), n_samples, filter, ramp })
    }

    /// The settings.
    pub fn params(&self) -> &CleanParams {
        &self.params
    }

    /// The run length this cleaner expects.
    pub fn n_samples(&self) -> usize {
        self.n_samples
    }

    /// The Butterworth filter, if any.
    pub fn filter(&self) -> Option<&ButterworthFilter> {
        self.filter.as_ref()
    }

    /// Cleans every column of `signals` (rows: scans, columns: voxels) in place; the arithmetic
    /// is f64.
    pub fn clean(&self, signals: MatMut<'_, f32>) -> Result<(), CleanError> {
        self.clean_columns(signals, |v| v as f64, |v| v as f32)
    }

    /// [`Cleaner::clean`] on f64 signals.
    pub fn clean_f64(&self, signals: MatMut<'_, f64>) -> Result<(), CleanError> {
        self.clean_columns(signals, |v| v, |v| v)
    }

    fn clean_columns<T: Copy>(
        &self,
        mut signals: MatMut<'_, T>,
        to_f64: impl Fn(T) -> f64,
        from_f64: impl Fn(f64) -> T,
    ) -> Result<(), CleanError> {
        if signals.nrows() != self.n_samples {
            return Err(CleanError::Shape { expected: self.n_samples, found: signals.nrows() });
        }
        let mut x = vec![0f64; self.n_samples];
        let mut work = Vec::new();
        for j in 0..signals.ncols() {
            let mut col = signals.rb_mut().col_mut(j);
            for (t, v) in x.iter_mut().enumerate() {
                *v = to_f64(col[t]);
            }
            self.clean_series(&mut x, &mut work);
            for (t, v) in x.iter().enumerate() {
                col[t] = from_f64(*v);
            }
        }
        Ok(())
    }

    /// Cleans one time series (length [`Cleaner::n_samples`]) in place, in f64; `work` is
    /// scratch space reused between calls.
    pub fn clean_series(&self, x: &mut [f64], work: &mut Vec<f64>) {
        debug_assert_eq!(x.len(), self.n_samples);
        let n = x.len() as f64;
        for v in x.iter_mut() {
            if !v.is_finite() {
                *v = 0.0;
            }
        }
        let constant = x.windows(2).all(|w| w[0] == w[1]);
        let mean = x.iter().sum::<f64>() / n;
        if self.params.detrend {
            x.iter_mut().for_each(|v| *v -= mean);
            let slope: f64 = x.iter().zip(&self.ramp).map(|(v, r)| v * r).sum();
            x.iter_mut().zip(&self.ramp).for_each(|(v, r)| *v -= slope * r);
        }
        if let Some(filter) = &self.filter {
            filter.filtfilt(x, work);
            // nilearn standardises `signals + mean_signals` after Butterworth filtering.
            x.iter_mut().for_each(|v| *v += mean);
        }
        let ddof = match self.params.standardize {
            Standardize::None => return,
            Standardize::ZScore => 0.0,
            Standardize::ZScoreSample => 1.0,
        };
        if constant {
            x.fill(0.0);
            return;
        }
        let m = x.iter().sum::<f64>() / n;
        x.iter_mut().for_each(|v| *v -= m);
        let var = x.iter().map(|v| v * v).sum::<f64>() / (n - ddof);
        let std = var.sqrt();
        let std = if std < f64::EPSILON { 1.0 } else { std };
        x.iter_mut().for_each(|v| *v /= std);
    }
}

/// Cleans `signals` (rows: scans, columns: voxels) in place with `params`; see the module docs.
pub fn clean(signals: MatMut<'_, f32>, params: &CleanParams) -> Result<(), CleanError> {
    Cleaner::new(params, signals.nrows())?.clean(signals)
}
