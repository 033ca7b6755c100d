//! Compute backends: the few operations the ridge solver needs on large matrices.
//!
//! The solver is written against [`Backend`]: matrix products, row slices, in-place linear
//! combinations and column-wise Pearson correlation, all in f32. The small eigendecompositions
//! (p x p or n x n) always run on the host in f64 with faer, whatever the backend. The CPU
//! backend ([`Cpu`]) uses faer; a GPU backend is a separately loaded library built on candle
//! (a CUDA build links the driver's `libcuda`, which the host binary must not need), which
//! implements the same trait. The backend is an explicit value passed to every fit: there is no
//! global "current backend".

use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

use crate::error::{Result, shape_err};

/// Large-matrix operations of the encoding core, in f32.
pub trait Backend {
    /// A matrix living on the backend's device.
    type Matrix: Send + Sync;

    /// A short name for messages and metadata (`"cpu"`, `"cuda:0"`).
    fn name(&self) -> String;
    /// Copies a host matrix to the device.
    fn upload(&self, m: MatRef<'_, f32>) -> Result<Self::Matrix>;
    /// Copies a device matrix to the host.
    fn download(&self, m: &Self::Matrix) -> Result<Mat<f32>>;
    /// (rows, columns).
    fn shape(&self, m: &Self::Matrix) -> (usize, usize);
    /// A copy of rows `start..start + len`.
    fn rows(&self, m: &Self::Matrix, start: usize, len: usize) -> Result<Self::Matrix>;
    /// `a · b`.
    fn matmul(&self, a: &Self::Matrix, b: &Self::Matrix) -> Result<Self::Matrix>;
    /// `aᵀ · b`.
    fn matmul_tn(&self, a: &Self::Matrix, b: &Self::Matrix) -> Result<Self::Matrix>;
    /// `Σ cᵢ · mᵢ` over `terms` (all of one shape; at least one term).
    fn lin_comb(&self, terms: &[(f32, &Self::Matrix)]) -> Result<Self::Matrix>;
    /// Pearson r between each column of each row block of `pred` and the same column of
    /// `target`. `pred` stacks `k` blocks of `n` rows (`n` = rows of `target`); the result
    /// holds `k * n_columns` values, block-major: `r[b * n_columns + j]`. Zero variance gives 0.
    fn column_pearson_blocks(&self, pred: &Self::Matrix, target: &Self::Matrix) -> Result<Vec<f64>>;
}

/// The CPU backend: faer matrix products on all cores (rayon).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu;

impl Cpu {
    fn check_product(what: &str, inner_a: usize, inner_b: usize) -> Result<()> {
        if inner_a != inner_b {
            return Err(shape_err(what, format!("inner dimension {inner_a}"), format!("{inner_b}")));
        }
        Ok(())
    }
}

impl Backend for Cpu {
    type Matrix = Mat<f32>;

    fn name(&self) -> String {
        "cpu".into()
    }

    fn upload(&self, m: MatRef<'_, f32>) -> Result<Mat<f32>> {
        Ok(m.to_owned())
    }

    fn download(&self, m: &Mat<f32>) -> Result<Mat<f32>> {
        Ok(m.clone())
    }

    fn shape(&self, m: &Mat<f32>) -> (usize, usize) {
        (m.nrows(), m.ncols())
    }

    fn rows(&self, m: &Mat<f32>, start: usize, len: usize) -> Result<Mat<f32>> {
        if start + len > m.nrows() {
            return Err(shape_err("row slice", format!("rows {start}..{} within", start + len), m.nrows()));
        }
        Ok(m.subrows(start, len).to_owned())
    }

    fn matmul(&self, a: &Mat<f32>, b: &Mat<f32>) -> Result<Mat<f32>> {
        Self::check_product("matmul", a.ncols(), b.nrows())?;
        let mut c = Mat::<f32>::zeros(a.nrows(), b.ncols());
        faer::linalg::matmul::matmul(c.as_mut(), Accum::Replace, a.as_ref(), b.as_ref(), 1.0, Par::rayon(0));
        Ok(c)
    }

    fn matmul_tn(&self, a: &Mat<f32>, b: &Mat<f32>) -> Result<Mat<f32>> {
        Self::check_product("matmul_tn", a.nrows(), b.nrows())?;
        let mut c = Mat::<f32>::zeros(a.ncols(), b.ncols());
        faer::linalg::matmul::matmul(c.as_mut(), Accum::Replace, a.transpose(), b.as_ref(), 1.0, Par::rayon(0));
        Ok(c)
    }

    fn lin_comb(&self, terms: &[(f32, &Mat<f32>)]) -> Result<Mat<f32>> {
        let Some(&(c0, first)) = terms.first() else {
            return Err(shape_err("lin_comb", "at least one term", 0));
        };
        let mut out = first * faer::Scale(c0);
        for &(c, m) in &terms[1..] {
            if (m.nrows(), m.ncols()) != (out.nrows(), out.ncols()) {
                return Err(shape_err(
                    "lin_comb",
                    format!("{} x {}", out.nrows(), out.ncols()),
                    format!("{} x {}", m.nrows(), m.ncols()),
                ));
            }
            faer::zip!(out.as_mut(), m.as_ref()).for_each(|faer::unzip!(o, m)| *o += c * *m);
        }
        Ok(out)
    }

    fn column_pearson_blocks(&self, pred: &Mat<f32>, target: &Mat<f32>) -> Result<Vec<f64>> {
        let (n, n_cols) = (target.nrows(), target.ncols());
        if n == 0 || pred.ncols() != n_cols || pred.nrows() % n != 0 {
            return Err(shape_err(
                "column_pearson_blocks",
                format!("k blocks of {n} rows x {n_cols} columns"),
                format!("{} x {}", pred.nrows(), pred.ncols()),
            ));
        }
        let k = pred.nrows() / n;
        let mut out = vec![0.0f64; k * n_cols];
        // Column-parallel: each column's target statistics are computed once for all blocks.
        let per_col: Vec<Vec<f64>> = (0..n_cols)
            .into_par_iter()
            .map(|j| {
                let t: Vec<f32> = target.col(j).iter().copied().collect();
                let target = CenteredTarget::new(&t);
                match pred.col(j).try_as_col_major() {
                    Some(p) => {
                        let p = p.as_slice();
                        (0..k).map(|b| target.pearson(&p[b * n..(b + 1) * n])).collect()
                    }
                    None => {
                        let p: Vec<f32> = pred.col(j).iter().copied().collect();
                        (0..k).map(|b| target.pearson(&p[b * n..(b + 1) * n])).collect()
                    }
                }
            })
            .collect();
        for (j, rs) in per_col.into_iter().enumerate() {
            for (b, r) in rs.into_iter().enumerate() {
                out[b * n_cols + j] = r;
            }
        }
        Ok(out)
    }
}

/// A target series, centred once, to correlate with many predictions.
pub struct CenteredTarget {
    centred: Vec<f32>,
    norm: f64,
}

impl CenteredTarget {
    /// Centres `y` (f64 accumulation).
    pub fn new(y: &[f32]) -> Self {
        let mean = y.iter().map(|&v| v as f64).sum::<f64>() / y.len().max(1) as f64;
        let centred: Vec<f32> = y.iter().map(|&v| (v as f64 - mean) as f32).collect();
        let norm = centred.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>().sqrt();
        Self { centred, norm }
    }

    /// Pearson r with `p` (same length); 0 when either has zero variance. Accumulates in eight
    /// f32 lanes (vectorised) over short blocks, then in f64.
    pub fn pearson(&self, p: &[f32]) -> f64 {
        let n = self.centred.len().min(p.len());
        if n == 0 || self.norm == 0.0 {
            return 0.0;
        }
        let (p, y) = (&p[..n], &self.centred[..n]);
        let mut sp = [0.0f32; 8];
        let (mut spy, mut spp) = ([0.0f32; 8], [0.0f32; 8]);
        let chunks = n / 8;
        for c in 0..chunks {
            for l in 0..8 {
                let (a, b) = (p[c * 8 + l], y[c * 8 + l]);
                sp[l] += a;
                spy[l] += a * b;
                spp[l] += a * a;
            }
        }
        let (mut s_p, mut s_py, mut s_pp) = (0.0f64, 0.0f64, 0.0f64);
        for l in 0..8 {
            s_p += sp[l] as f64;
            s_py += spy[l] as f64;
            s_pp += spp[l] as f64;
        }
        for i in chunks * 8..n {
            let (a, b) = (p[i] as f64, y[i] as f64);
            s_p += a;
            s_py += a * b;
            s_pp += a * a;
        }
        // Σ (p - p̄)(y - ȳ) = Σ p (y - ȳ) since y is centred; Σ (p - p̄)² = Σ p² - n p̄².
        let var_p = s_pp - s_p * s_p / n as f64;
        if var_p <= s_pp * 1e-10 || var_p <= 0.0 {
            return 0.0;
        }
        s_py / (var_p.sqrt() * self.norm)
    }
}

/// Pearson r of two f32 slices with f64 accumulation; 0 when either has zero variance.
pub fn pearson_f32(x: &[f32], y: &[f32]) -> f64 {
    let n = x.len().min(y.len());
    if n == 0 {
        return 0.0;
    }
    let (mut sx, mut sy) = (0.0f64, 0.0f64);
    for i in 0..n {
        sx += x[i] as f64;
        sy += y[i] as f64;
    }
    let (mx, my) = (sx / n as f64, sy / n as f64);
    let (mut sxy, mut sxx, mut syy) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..n {
        let (dx, dy) = (x[i] as f64 - mx, y[i] as f64 - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= 0.0 || syy <= 0.0 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}
