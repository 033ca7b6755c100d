//! Word-event regressors, exactly as nilearn's `compute_regressor(..., hrf_model="glover")`.
//!
//! The regressor of one feature column is linear in the word amplitudes, so a run's regressors
//! are one matrix product: `R = O · A`, where `O` (n_scans x n_events) is the [regressor
//! operator] of the run's word timings and `A` (n_events x n_features) holds the word features.
//! Column `e` of `O` is nilearn's regressor for a single unit-amplitude event `e`.
//!
//! nilearn's discretisation is reproduced step by step (`_sample_condition`,
//! `np.convolve(...)[:n]`, `interp1d`): the high-resolution grid is
//! `linspace(t0 - 24, t_last * (1 + 1 / (n - 1)), rint(n_hr))`; an event covers the samples from
//! `searchsorted(onset)` up to (excluding) `searchsorted(onset + duration)`, at least one sample;
//! the kernel is [`Hrf::kernel`] with `tr = min(diff(frame_times))`; scans are read off the
//! convolved signal by linear interpolation.
//!
//! [regressor operator]: regressor_operator

use faer::{Mat, MatRef};

use crate::error::{CoreError, Result};
use crate::hrf::{Hrf, linspace};

/// nilearn's default temporal oversampling.
pub const OVERSAMPLING: usize = 50;
/// nilearn's `min_onset`: the high-resolution grid starts this many seconds before the first scan.
const MIN_ONSET: f64 = -24.0;

/// Timing of one run: what nilearn needs besides the events.
#[derive(Clone, Debug, PartialEq)]
pub struct RegressorParams {
    /// Repetition time in seconds.
    pub tr: f64,
    /// Number of scans in the run (before trimming).
    pub n_scans: usize,
    /// The HRF.
    pub hrf: Hrf,
    /// Temporal oversampling (nilearn's default 50).
    pub oversampling: usize,
}

impl RegressorParams {
    /// Parameters with nilearn's default oversampling.
    pub fn new(tr: f64, n_scans: usize, hrf: Hrf) -> Self {
        Self { tr, n_scans, hrf, oversampling: OVERSAMPLING }
    }

    /// Scan times: `arange(n_scans) * tr + tr / 2` (the middle of each acquisition).
    pub fn frame_times(&self) -> Vec<f64> {
        (0..self.n_scans).map(|i| i as f64 * self.tr + self.tr / 2.0).collect()
    }

    fn validate(&self) -> Result<()> {
        if !(self.tr.is_finite() && self.tr > 0.0) {
            return Err(CoreError::InvalidTiming { reason: format!("tr must be > 0 seconds, got {}", self.tr) });
        }
        if self.n_scans < 2 {
            return Err(CoreError::InvalidTiming {
                reason: format!("a run needs at least 2 scans, got {}", self.n_scans),
            });
        }
        if self.oversampling == 0 {
            return Err(CoreError::InvalidTiming { reason: "oversampling must be >= 1".into() });
        }
        Ok(())
    }
}

/// Scans removed at each end of a run before fitting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trim {
    /// Scans dropped at the start.
    pub start: usize,
    /// Scans dropped at the end.
    pub end: usize,
}

impl Trim {
    /// The paper's trims: 10 scans at each end.
    pub const PAPER: Trim = Trim { start: 10, end: 10 };

    /// Number of scans left out of `n_scans`, or an error if nothing (or a single scan) is left.
    pub fn kept(self, n_scans: usize) -> Result<usize> {
        let kept = n_scans.saturating_sub(self.start + self.end);
        if kept < 2 {
            return Err(CoreError::InvalidTiming {
                reason: format!(
                    "trimming {} + {} scans leaves {kept} of {n_scans}: at least 2 are needed",
                    self.start, self.end
                ),
            });
        }
        Ok(kept)
    }
}

/// The linear operator (n_scans x n_events) mapping event amplitudes to the run's regressor.
///
/// `onsets` and `durations` are in seconds from the start of the run. Durations must be >= 0;
/// a zero-length event lasts one high-resolution sample, as in nilearn.
///
/// ```
/// use brainscale_core::design::{regressor_operator, RegressorParams};
/// use brainscale_core::hrf::Hrf;
/// let op = regressor_operator(&[3.0, 4.5], &[0.3, 0.2], &RegressorParams::new(2.0, 20, Hrf::Glover))?;
/// assert_eq!((op.nrows(), op.ncols()), (20, 2));
/// # Ok::<(), brainscale_core::CoreError>(())
/// ```
pub fn regressor_operator(onsets: &[f64], durations: &[f64], params: &RegressorParams) -> Result<Mat<f64>> {
    params.validate()?;
    if onsets.len() != durations.len() {
        return Err(crate::error::shape_err(
            "regressor events",
            format!("{} durations (one per onset)", onsets.len()),
            format!("{} durations", durations.len()),
        ));
    }
    for (index, (&onset, &duration)) in onsets.iter().zip(durations).enumerate() {
        if !onset.is_finite() || !duration.is_finite() {
            return Err(CoreError::InvalidEvent {
                index,
                reason: format!("onset {onset} / duration {duration} is not finite"),
            });
        }
        if duration < 0.0 {
            return Err(CoreError::InvalidEvent { index, reason: format!("negative duration {duration} s") });
        }
    }
    let frame_times = params.frame_times();
    let n = frame_times.len();
    let (t_first, t_last) = (frame_times[0], frame_times[n - 1]);
    // nilearn: `tr = min(diff(frame_times))`.
    let tr = frame_times.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min);
    let kernel = params.hrf.kernel(tr, params.oversampling);
    // Cumulative kernel: conv(box[a, b), h)[t] = cum[t - a] - cum[t - b].
    let mut cum = Vec::with_capacity(kernel.len());
    let mut acc = 0.0;
    for &h in &kernel {
        acc += h;
        cum.push(acc);
    }
    let cum_at = |k: isize| -> f64 { if k < 0 { 0.0 } else { cum[(k as usize).min(cum.len() - 1)] } };

    // nilearn `_sample_condition`: the high-resolution grid.
    let nm1 = (n - 1) as f64;
    let hr_stop = t_last * (1.0 + 1.0 / nm1);
    let n_hr = (nm1 * 1.0 / (t_last - t_first) * (hr_stop - t_first - MIN_ONSET) * params.oversampling as f64) + 1.0;
    let hr_times = linspace(t_first + MIN_ONSET, hr_stop, n_hr.round_ties_even() as usize);
    let tmax = hr_times.len();
    let searchsorted = |x: f64| hr_times.partition_point(|&h| h < x);

    // `interp1d`: for each scan, the bracketing high-resolution samples.
    let brackets: Vec<(usize, usize, f64)> = frame_times
        .iter()
        .map(|&f| {
            let hi = searchsorted(f).clamp(1, tmax - 1);
            (hi - 1, hi, f)
        })
        .collect();

    let mut op = Mat::<f64>::zeros(n, onsets.len());
    for (e, (&onset, &duration)) in onsets.iter().zip(durations).enumerate() {
        let t_on = searchsorted(onset).min(tmax - 1);
        let mut t_off = searchsorted(onset + duration).min(tmax - 1);
        if t_off < tmax - 1 && t_off == t_on {
            t_off += 1;
        }
        let (a, b) = (t_on as isize, t_off as isize);
        let conv = |t: usize| cum_at(t as isize - a) - cum_at(t as isize - b);
        for (s, &(lo, hi, f)) in brackets.iter().enumerate() {
            let (y_lo, y_hi) = (conv(lo), conv(hi));
            let slope = (y_hi - y_lo) / (hr_times[hi] - hr_times[lo]);
            op[(s, e)] = slope * (f - hr_times[lo]) + y_lo;
        }
    }
    Ok(op)
}

/// A run's regressors: `operator · amplitudes`, then trimmed and z-scored per column.
///
/// `amplitudes` is (n_events x n_features), e.g. one layer's word features for the run. The
/// result is (n_scans - trims) x n_features in f32; a constant column becomes 0.
pub fn design_run(operator: MatRef<'_, f64>, amplitudes: MatRef<'_, f32>, trim: Trim) -> Result<Mat<f32>> {
    if operator.ncols() != amplitudes.nrows() {
        return Err(crate::error::shape_err(
            "design matrix",
            format!("{} feature rows (one per word)", operator.ncols()),
            format!("{} rows", amplitudes.nrows()),
        ));
    }
    let kept = trim.kept(operator.nrows())?;
    let op = operator.subrows(trim.start, kept);
    let amp = Mat::<f64>::from_fn(amplitudes.nrows(), amplitudes.ncols(), |i, j| amplitudes[(i, j)] as f64);
    let mut reg = Mat::<f64>::zeros(kept, amp.ncols());
    faer::linalg::matmul::matmul(reg.as_mut(), faer::Accum::Replace, op, amp.as_ref(), 1.0, faer::Par::rayon(0));
    crate::stats::zscore_columns_f64(reg.as_mut());
    Ok(Mat::from_fn(kept, reg.ncols(), |i, j| reg[(i, j)] as f32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_is_linear_and_causal() {
        let p = RegressorParams::new(2.0, 30, Hrf::Glover);
        let op = regressor_operator(&[20.0], &[0.5], &p).unwrap();
        // Nothing before the event, a positive response ~5 s later.
        for s in 0..9 {
            assert!(op[(s, 0)].abs() < 1e-12, "scan {s}: {}", op[(s, 0)]);
        }
        assert!(op[(12, 0)] > 0.0);
        let both = regressor_operator(&[20.0, 20.0], &[0.5, 0.5], &p).unwrap();
        assert_eq!(both[(12, 0)], both[(12, 1)]);
    }

    #[test]
    fn zero_duration_events_still_count() {
        let p = RegressorParams::new(2.0, 30, Hrf::Glover);
        let op = regressor_operator(&[10.0], &[0.0], &p).unwrap();
        assert!(op.col(0).iter().any(|v| v.abs() > 0.0));
    }

    #[test]
    fn bad_events_are_errors() {
        let p = RegressorParams::new(2.0, 30, Hrf::Glover);
        assert!(matches!(regressor_operator(&[1.0], &[-0.5], &p), Err(CoreError::InvalidEvent { index: 0, .. })));
        assert!(regressor_operator(&[1.0], &[], &p).is_err());
        assert!(regressor_operator(&[1.0], &[1.0], &RegressorParams::new(0.0, 30, Hrf::Glover)).is_err());
        assert!(Trim { start: 10, end: 10 }.kept(21).is_err());
    }
}
