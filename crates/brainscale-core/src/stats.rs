//! Column statistics: z-scoring and Pearson correlation, the conventions of SPEC 4-5.
//!
//! Standard deviations are population ones (ddof = 0, numpy's default). A constant column
//! z-scores to 0, and a correlation with a constant column is 0.

use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{MatMut, MatRef};

/// Z-scores each column in place (f32 data, f64 accumulation). Returns the number of constant
/// columns, which are set to 0.
pub fn zscore_columns(mut m: MatMut<'_, f32>) -> usize {
    let mut n_constant = 0;
    for j in 0..m.ncols() {
        let mut col = m.rb_mut().col_mut(j);
        let vals: Vec<f64> = col.rb().iter().map(|&v| v as f64).collect();
        let (mean, std) = mean_std(&vals);
        if std > 0.0 && std.is_finite() {
            for v in col.iter_mut() {
                *v = ((*v as f64 - mean) / std) as f32;
            }
        } else {
            n_constant += 1;
            col.fill(0.0);
        }
    }
    n_constant
}

/// Z-scores each column of an f64 matrix in place; constant columns become 0.
pub fn zscore_columns_f64(mut m: MatMut<'_, f64>) -> usize {
    let mut n_constant = 0;
    for j in 0..m.ncols() {
        let mut col = m.rb_mut().col_mut(j);
        let vals: Vec<f64> = col.rb().iter().copied().collect();
        let (mean, std) = mean_std(&vals);
        if std > 0.0 && std.is_finite() {
            for v in col.iter_mut() {
                *v = (*v - mean) / std;
            }
        } else {
            n_constant += 1;
            col.fill(0.0);
        }
    }
    n_constant
}

/// Two-pass mean and population standard deviation. A column whose spread is below the
/// rounding noise of its values counts as constant (std 0).
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
    let scale = values.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let std = var.sqrt();
    if std <= scale * 1e-12 { (mean, 0.0) } else { (mean, std) }
}

/// Pearson correlation of two equally long series; 0 when either has zero variance.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n == 0 {
        return 0.0;
    }
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (dx, dy) = (x[i] - mx, y[i] - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= 0.0 || syy <= 0.0 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}

/// True when every value is finite.
pub fn all_finite(m: MatRef<'_, f32>) -> bool {
    m.col_iter().all(|c| c.iter().all(|v| v.is_finite()))
}

/// Column-wise Pearson r between `pred` and `target` (same shape), in f64.
pub fn column_pearson(pred: MatRef<'_, f32>, target: MatRef<'_, f32>) -> Vec<f64> {
    (0..pred.ncols())
        .map(|j| {
            let p: Vec<f64> = pred.col(j).iter().map(|&v| v as f64).collect();
            let t: Vec<f64> = target.col(j).iter().map(|&v| v as f64).collect();
            pearson(&p, &t)
        })
        .collect()
}

/// `numpy.percentile(values, q)` with its default linear interpolation (q in 0..=100); NaNs are
/// ignored. None when no finite value is left.
pub fn percentile(values: &[f32], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().map(|&x| x as f64).filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pos = (q.clamp(0.0, 100.0) / 100.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

/// The voxels whose value is strictly above the `q`-th percentile of all values (the paper's
/// "reliable voxels": `q = 75`), as a mask, and the threshold.
pub fn above_percentile(values: &[f32], q: f64) -> (Vec<bool>, f64) {
    match percentile(values, q) {
        Some(t) => (values.iter().map(|&v| (v as f64) > t).collect(), t),
        None => (vec![false; values.len()], f64::NAN),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentile_is_numpy_linear() {
        let v = [1.0f32, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(super::percentile(&v, 75.0), Some(4.0));
        assert_eq!(super::percentile(&v, 50.0), Some(3.0));
        assert!((super::percentile(&[1.0, 2.0], 75.0).unwrap_or(0.0) - 1.75).abs() < 1e-12);
        let (mask, t) = super::above_percentile(&v, 75.0);
        assert_eq!((mask, t), (vec![false, false, false, false, true], 4.0));
    }

    use super::*;
    use faer::Mat;

    #[test]
    fn zscore_and_constant_columns() {
        let mut m = Mat::<f32>::from_fn(4, 2, |i, j| if j == 0 { i as f32 } else { 3.0 });
        assert_eq!(zscore_columns(m.as_mut()), 1);
        let col: Vec<f32> = m.col(0).iter().copied().collect();
        let s = 1.118034; // population std of 0..3
        assert!((col[0] + 1.5 / s).abs() < 1e-5);
        assert!(m.col(1).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn pearson_conventions() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 7.0]) - 0.9933992677987828).abs() < 1e-12);
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[2.0, 4.0, 7.0]), 0.0);
    }
}
