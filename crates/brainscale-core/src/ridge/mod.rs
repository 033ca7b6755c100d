//! Ridge regression without intercept, and its cross-validation over runs.
//!
//! * [`Ridge`]: one fit on host f64 data (identities, small problems, reference).
//! * [`RidgeCv`]: the study's cross-validation (SPEC 5) on a [`Backend`](crate::Backend):
//!   [`CvMode::Paper`] (one alpha per fold, chosen on a validation run) and
//!   [`CvMode::Voxelwise`] (one alpha per voxel, inner leave-one-run-out).

mod cv;
mod factor;
mod path;
mod voxelwise;

pub use cv::{CvMode, FoldAlpha, FoldResult, Resident, RidgeCv, RidgeCvFit, RidgeCvParams, RunData, logspace};
pub use factor::{Form, Spectrum};

use faer::{Mat, MatRef};

use crate::error::{Result, shape_err};
use factor::{mm, mm_nt, mm_tn};

/// Parameters of a single ridge fit.
#[derive(Clone, Debug, PartialEq)]
pub struct RidgeParams {
    /// Regularisation strength (>= 0; 0 is least squares, which needs full rank).
    pub alpha: f64,
    /// Which side to factorise.
    pub form: Form,
}

impl Default for RidgeParams {
    fn default() -> Self {
        Self { alpha: 1.0, form: Form::Auto }
    }
}

/// Ridge regression without intercept: `min ||Y - XB||² + α ||B||²`.
///
/// ```
/// use brainscale_core::ridge::{Ridge, RidgeParams};
/// use faer::mat;
/// let x = mat![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
/// let y = mat![[1.0], [2.0], [3.0]];
/// let fit = Ridge::new(RidgeParams { alpha: 1e-12, ..Default::default() }).fit(x.as_ref(), y.as_ref())?;
/// assert!((fit.coef[(0, 0)] - 1.0).abs() < 1e-9 && (fit.coef[(1, 0)] - 2.0).abs() < 1e-9);
/// # Ok::<(), brainscale_core::CoreError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Ridge {
    params: RidgeParams,
}

/// A fitted [`Ridge`].
#[derive(Clone, Debug)]
pub struct RidgeFit {
    /// Coefficients, n_features x n_targets.
    pub coef: Mat<f64>,
    /// The form that was used.
    pub form: Form,
}

impl Ridge {
    /// A ridge estimator with these parameters.
    pub fn new(params: RidgeParams) -> Self {
        Self { params }
    }

    /// Fits `y` (n_samples x n_targets) on `x` (n_samples x n_features).
    pub fn fit(&self, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<RidgeFit> {
        if x.nrows() != y.nrows() {
            return Err(shape_err("ridge fit", format!("{} rows in y (as in x)", x.nrows()), y.nrows()));
        }
        let alpha = self.params.alpha;
        if !(alpha.is_finite() && alpha >= 0.0) {
            return Err(crate::CoreError::InvalidAlphas { reason: format!("alpha must be >= 0, got {alpha}") });
        }
        let form = self.params.form.resolve(x.nrows(), x.ncols());
        let coef = match form {
            Form::Dual => {
                let s = Spectrum::of(mm_nt(x, x).as_ref(), "kernel")?;
                let uty = mm_tn(s.vectors.as_ref(), y);
                let scaled = Mat::from_fn(uty.nrows(), uty.ncols(), |k, j| uty[(k, j)] / (s.values[k] + alpha));
                let dual_coef = mm(s.vectors.as_ref(), scaled.as_ref());
                mm_tn(x, dual_coef.as_ref())
            }
            _ => {
                let s = Spectrum::of(mm_tn(x, x).as_ref(), "Gram")?;
                let xty = mm_tn(x, y);
                let vtxty = mm_tn(s.vectors.as_ref(), xty.as_ref());
                let scaled = Mat::from_fn(vtxty.nrows(), vtxty.ncols(), |k, j| vtxty[(k, j)] / (s.values[k] + alpha));
                mm(s.vectors.as_ref(), scaled.as_ref())
            }
        };
        Ok(RidgeFit { coef, form })
    }
}

impl RidgeFit {
    /// Predictions `x · coef`.
    pub fn predict(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        if x.ncols() != self.coef.nrows() {
            return Err(shape_err("ridge predict", format!("{} features", self.coef.nrows()), x.ncols()));
        }
        Ok(mm(x, self.coef.as_ref()))
    }
}

#[cfg(test)]
mod tests;
