//! Validation scores of every alpha at once, by partial fractions (primal form, paper mode).
//!
//! For a training set with Gram matrix `G = V diag(λ) Vᵀ`, cross-products `S = X_Tᵀ Y_T` and a
//! validation run `X_v`, the prediction of alpha `a` is `P_a = W D_a B` with `W = X_v V`,
//! `D_a = diag(1/(λ+α_a))`, `B = Vᵀ S`. Its Pearson r with the validation responses needs, per
//! voxel `j`, the numerator `Σ_k d_k B_kj C_kj` (`C = W_cᵀ Y_v`, `W_c` = `W` centred over rows)
//! and the variance `b_jᵀ D_a Q D_a b_j` with `Q = W_cᵀ W_c`. For `λ_k != λ_l`,
//! `d_k d_l = (d_k - d_l) / (λ_l - λ_k)`, so the variance is
//!
//! ```text
//! var_a(j) = Σ_k d_k² B_kj (Q_c B)_kj + 2 Σ_k d_k B_kj (M B)_kj,   M_kl = Q_kl / (λ_l - λ_k)
//! ```
//!
//! where `M` keeps the pairs with well separated eigenvalues and `Q_c` the others (the
//! diagonal and near-equal pairs, for which `d_l ≈ d_k` within `CLOSE` relatively). `B` and `C`
//! are f32 products on the backend; `M B` and the sums over `k` are done in f64 on the host,
//! since the split terms are larger than their sum by up to `1 / CLOSE`. The cost per fold is
//! two `p x p x n_voxels` products instead of one `n_alphas * n_v x p x n_voxels` product: about
//! half the work of scoring every alpha directly at the study's shapes. The results agree with
//! the direct computation to ~1e-7 (tests).

use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

use super::factor::{Spectrum, mm};
use crate::backend::Backend;
use crate::error::Result;

/// Eigenvalues closer than this (relative to `λ + α_min`) are treated as equal.
const CLOSE: f64 = 1e-7;

/// Scores a validation run for every alpha of a grid, given the training set's spectrum.
pub(crate) struct AlphaPath<B: Backend> {
    vt: B::Matrix,
    wct: B::Matrix,
    m: Mat<f64>,
    /// `Q_kk`.
    q_diag: Vec<f64>,
    /// (k, l, Q_kl) for near-equal eigenvalue pairs, k != l.
    close: Vec<(usize, usize, f64)>,
    /// n_alphas x p: 1/(λ_k + α_a) (f64 and f32), and its square.
    d: Mat<f64>,
    d32: Mat<f32>,
    d2: Mat<f64>,
}

impl<B: Backend> AlphaPath<B> {
    pub(crate) fn new(backend: &B, spectrum: &Spectrum, x_q: MatRef<'_, f64>, alphas: &[f64]) -> Result<Self> {
        let (p, nq) = (spectrum.values.len(), x_q.nrows());
        let lambda = &spectrum.values;
        let mut w = mm(x_q, spectrum.vectors.as_ref());
        for k in 0..p {
            let mean = (0..nq).map(|i| w[(i, k)]).sum::<f64>() / nq as f64;
            for i in 0..nq {
                w[(i, k)] -= mean;
            }
        }
        let mut q = Mat::<f64>::zeros(p, p);
        faer::linalg::matmul::matmul(q.as_mut(), Accum::Replace, w.transpose(), w.as_ref(), 1.0, Par::rayon(0));
        let alpha_min = alphas.iter().copied().fold(f64::INFINITY, f64::min);
        let is_close =
            |k: usize, l: usize| (lambda[k] - lambda[l]).abs() <= CLOSE * (lambda[k].max(lambda[l]) + alpha_min);
        let mut close = Vec::new();
        let m =
            Mat::<f64>::from_fn(p, p, |k, l| if is_close(k, l) { 0.0 } else { q[(k, l)] / (lambda[l] - lambda[k]) });
        // Eigenvalues are sorted: near-equal pairs are neighbours.
        for k in 0..p {
            for l in (k + 1)..p {
                if !is_close(k, l) {
                    break;
                }
                close.push((k, l, q[(k, l)]));
                close.push((l, k, q[(l, k)]));
            }
        }
        let d = Mat::<f64>::from_fn(alphas.len(), p, |a, k| 1.0 / (lambda[k] + alphas[a]));
        let d2 = Mat::<f64>::from_fn(alphas.len(), p, |a, k| d[(a, k)] * d[(a, k)]);
        let vt = Mat::<f32>::from_fn(p, p, |i, j| spectrum.vectors[(j, i)] as f32);
        let wct = Mat::<f32>::from_fn(p, nq, |k, i| w[(i, k)] as f32);
        let q_diag = (0..p).map(|k| q[(k, k)]).collect();
        let d32 = Mat::<f32>::from_fn(d.nrows(), d.ncols(), |a, k| d[(a, k)] as f32);
        Ok(Self { vt: backend.upload(vt.as_ref())?, wct: backend.upload(wct.as_ref())?, m, q_diag, close, d, d32, d2 })
    }

    /// Pearson r of every alpha, `r[a * n_voxels + j]`, for cross-products `s` (p x n_voxels)
    /// of the training set, the validation responses `y` (n_v x n_voxels) and their centred
    /// column norms `y_norms`. The host part runs on column chunks in parallel.
    pub(crate) fn score(&self, backend: &B, s: B::Matrix, y: &B::Matrix, y_norms: &[f64]) -> Result<Vec<f64>> {
        let b32 = backend.take_host(backend.matmul(&self.vt, &s)?)?;
        drop(s);
        let e3 = backend.take_host(backend.matmul(&self.wct, y)?)?;
        let (p, nv) = (b32.nrows(), b32.ncols());
        let n_alphas = self.d.nrows();
        const CHUNK: usize = 256;
        let chunks: Vec<Vec<f64>> = (0..nv.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let (start, len) = (c * CHUNK, CHUNK.min(nv - c * CHUNK));
                let b32 = b32.as_ref().subcols(start, len);
                // Numerator: Σ_k d_k B_kj C_kj (no cancellation: f32 is enough).
                let mut e = e3.as_ref().subcols(start, len).to_owned();
                faer::zip!(e.as_mut(), b32).for_each(|faer::unzip!(e, b)| *e *= *b);
                let mut num = Mat::<f32>::zeros(n_alphas, len);
                faer::linalg::matmul::matmul(
                    num.as_mut(),
                    Accum::Replace,
                    self.d32.as_ref(),
                    e.as_ref(),
                    1.0,
                    Par::Seq,
                );
                // Variance: f64, the split terms cancel.
                let mut b = Mat::<f64>::zeros(p, len);
                faer::zip!(b.as_mut(), b32).for_each(|faer::unzip!(o, v)| *o = *v as f64);
                let mut mb = Mat::<f64>::zeros(p, len);
                faer::linalg::matmul::matmul(mb.as_mut(), Accum::Replace, self.m.as_ref(), b.as_ref(), 1.0, Par::Seq);
                // E1 = B ∘ (Q_c B), E2 = B ∘ (M B), in place.
                let mut e1 = Mat::<f64>::zeros(p, len);
                for j in 0..len {
                    let (bj, e1j) = (b.col(j), e1.col_mut(j));
                    for (k, out) in e1j.iter_mut().enumerate() {
                        *out = self.q_diag[k] * bj[k];
                    }
                }
                for &(k, l, q) in &self.close {
                    for j in 0..len {
                        e1[(k, j)] += q * b[(l, j)];
                    }
                }
                faer::zip!(e1.as_mut(), b.as_ref()).for_each(|faer::unzip!(e, b)| *e *= *b);
                faer::zip!(mb.as_mut(), b.as_ref()).for_each(|faer::unzip!(e, b)| *e *= *b);
                let mut var = Mat::<f64>::zeros(n_alphas, len);
                faer::linalg::matmul::matmul(
                    var.as_mut(),
                    Accum::Replace,
                    self.d2.as_ref(),
                    e1.as_ref(),
                    1.0,
                    Par::Seq,
                );
                faer::linalg::matmul::matmul(var.as_mut(), Accum::Add, self.d.as_ref(), mb.as_ref(), 2.0, Par::Seq);
                let mut r = vec![0.0f64; n_alphas * len];
                for a in 0..n_alphas {
                    for j in 0..len {
                        let (v, norm) = (var[(a, j)], y_norms[start + j]);
                        if v > 0.0 && norm > 0.0 {
                            r[a * len + j] = num[(a, j)] as f64 / (v.sqrt() * norm);
                        }
                    }
                }
                r
            })
            .collect();
        let mut r = vec![0.0f64; n_alphas * nv];
        for (c, chunk) in chunks.iter().enumerate() {
            let (start, len) = (c * CHUNK, CHUNK.min(nv - c * CHUNK));
            for a in 0..n_alphas {
                r[a * nv + start..a * nv + start + len].copy_from_slice(&chunk[a * len..(a + 1) * len]);
            }
        }
        Ok(r)
    }
}

/// Centred norm of each column, `sqrt(Σ (y - ȳ)²)`, in f64.
pub(crate) fn centred_norms(y: MatRef<'_, f32>) -> Vec<f64> {
    (0..y.ncols())
        .into_par_iter()
        .map(|j| {
            let n = y.nrows() as f64;
            let mean = y.col(j).iter().map(|&v| v as f64).sum::<f64>() / n;
            y.col(j).iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>().sqrt()
        })
        .collect()
}
