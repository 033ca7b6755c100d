//! Eigen-factorisations of a training set, shared by every alpha.
//!
//! Ridge without intercept on training rows `X_T` (n_T x p) has, for every alpha, the
//! prediction on query rows `X_q`:
//!
//! * primal: `X_q (X_Tᵀ X_T + α I)⁻¹ X_Tᵀ Y_T = [X_q V diag(1/(λ+α)) Vᵀ] · (X_Tᵀ Y_T)`, with
//!   `X_Tᵀ X_T = V diag(λ) Vᵀ` (p x p);
//! * dual: `X_q X_Tᵀ (X_T X_Tᵀ + α I)⁻¹ Y_T = [K_qT U diag(1/(λ+α)) Uᵀ] · Y_T`, with
//!   `K_TT = X_T X_Tᵀ = U diag(λ) Uᵀ` (n_T x n_T).
//!
//! One eigendecomposition serves all alphas; the bracketed "predictor" matrix does not depend
//! on the voxels, so it is built once on the host (f64) and applied to every voxel batch by the
//! backend.

use faer::{Accum, Mat, MatRef, Par, Side};

use crate::error::{CoreError, Result};

/// Which side of the normal equations is factorised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Form {
    /// Primal when n_features <= n_samples, dual otherwise.
    #[default]
    Auto,
    /// Factorise the p x p Gram matrix `XᵀX`.
    Primal,
    /// Factorise the n x n kernel matrix `XXᵀ`.
    Dual,
}

impl Form {
    /// Resolves `Auto` for a problem shape.
    pub fn resolve(self, n_samples: usize, n_features: usize) -> Form {
        match self {
            Form::Auto if n_features <= n_samples => Form::Primal,
            Form::Auto => Form::Dual,
            other => other,
        }
    }

    /// "primal" or "dual" ("auto" if unresolved).
    pub fn name(self) -> &'static str {
        match self {
            Form::Auto => "auto",
            Form::Primal => "primal",
            Form::Dual => "dual",
        }
    }
}

/// Eigendecomposition of a symmetric positive semi-definite matrix (eigenvalues >= 0).
#[derive(Clone, Debug)]
pub struct Spectrum {
    /// Eigenvectors as columns.
    pub vectors: Mat<f64>,
    /// Eigenvalues, nondecreasing, clamped at 0.
    pub values: Vec<f64>,
}

impl Spectrum {
    /// Decomposes `m` (only its lower triangle is read).
    pub fn of(m: MatRef<'_, f64>, what: &str) -> Result<Spectrum> {
        let n = m.nrows();
        if m.col_iter().any(|c| c.iter().any(|v| !v.is_finite())) {
            return Err(CoreError::NonFinite { what: format!("the {what} matrix") });
        }
        let evd = m.self_adjoint_eigen(Side::Lower).map_err(|e| CoreError::Eigen {
            what: what.to_string(),
            n,
            reason: format!("{e:?}"),
        })?;
        let values = evd.S().column_vector().iter().map(|&v| v.max(0.0)).collect();
        Ok(Spectrum { vectors: evd.U().to_owned(), values })
    }
}

/// `a · b` in f64 on all cores.
pub(crate) fn mm(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut c = Mat::<f64>::zeros(a.nrows(), b.ncols());
    faer::linalg::matmul::matmul(c.as_mut(), Accum::Replace, a, b, 1.0, Par::rayon(0));
    c
}

/// `aᵀ · b` in f64 on all cores.
pub(crate) fn mm_tn(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut c = Mat::<f64>::zeros(a.ncols(), b.ncols());
    faer::linalg::matmul::matmul(c.as_mut(), Accum::Replace, a.transpose(), b, 1.0, Par::rayon(0));
    c
}

/// `a · bᵀ` in f64 on all cores.
pub(crate) fn mm_nt(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut c = Mat::<f64>::zeros(a.nrows(), b.nrows());
    faer::linalg::matmul::matmul(c.as_mut(), Accum::Replace, a, b.transpose(), 1.0, Par::rayon(0));
    c
}
