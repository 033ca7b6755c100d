//! Compute backends: the few operations the ridge solver needs on large matrices.
//!
//! The solver is written against [`Backend`]: matrix products, row slices, in-place linear
//! combinations and column-wise Pearson correlation, all in f32. The small eigendecompositions
//! (p x p or n x n) always run on the host in f64 with faer, whatever the backend. The CPU
//! backend ([`Cpu`]) uses faer; a GPU backend is a separately loaded library built on candle
//! (a CUDA build links the driver's `libcuda`, which the host binary must not need), which
//! implements the same trait. The backend is an explicit value passed to every fit: there is no
//! global "current backend".

use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

use crate::error::{Result, shape_err};
use crate::ridge::Spectrum;

/// Memory of a backend's device, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceMemory {
    /// Free now.
    pub free: u64,
    /// In total.
    pub total: u64,
}

/// Large-matrix operations of the encoding core, in f32.
///
/// The required operations are the products, linear combinations and column-wise Pearson
/// sums the solver runs on every voxel batch. The provided ones have host defaults that a
/// device backend may replace: [`Backend::spectra`] (the f64 eigendecompositions, by default on
/// the host with faer, several at once on the rayon pool), [`Backend::memory`] (device memory,
/// for sizing voxel batches) and [`Backend::direct_scoring`] (a hint for the solver's choice of
/// validation scorer). The conformance suite of every implementation is
/// [`crate::testing::check_backend`].
pub trait Backend: Sync {
    /// A matrix living on the backend's device.
    type Matrix: Send + Sync;

    /// A short name for messages and metadata (`"cpu"`, `"cuda:0"`).
    fn name(&self) -> String;
    /// Copies a host matrix to the device.
    fn upload(&self, m: MatRef<'_, f32>) -> Result<Self::Matrix>;
    /// Copies a device matrix to the host.
    fn download(&self, m: &Self::Matrix) -> Result<Mat<f32>>;
    /// Moves a device matrix to the host (a copy on a device; no copy on the host backend).
    fn take_host(&self, m: Self::Matrix) -> Result<Mat<f32>> {
        self.download(&m)
    }
    /// (rows, columns).
    fn shape(&self, m: &Self::Matrix) -> (usize, usize);
    /// A copy of columns `start..start + len`.
    fn cols(&self, m: &Self::Matrix, start: usize, len: usize) -> Result<Self::Matrix>;
    /// `a · b`.
    fn matmul(&self, a: &Self::Matrix, b: &Self::Matrix) -> Result<Self::Matrix>;
    /// `aᵀ · b`.
    fn matmul_tn(&self, a: &Self::Matrix, b: &Self::Matrix) -> Result<Self::Matrix>;
    /// `a · [b₀; b₁; …]`: `a` times the row-wise stack of `blocks` (the columns of `a` split
    /// into consecutive groups of `rows(bᵢ)`). The default multiplies column slices of `a` and
    /// sums; backends override it to avoid the temporaries.
    fn matmul_stacked(&self, a: &Self::Matrix, blocks: &[&Self::Matrix]) -> Result<Self::Matrix> {
        let (_, width) = self.shape(a);
        let total: usize = blocks.iter().map(|b| self.shape(b).0).sum();
        if blocks.is_empty() || total != width {
            return Err(shape_err("matmul_stacked", format!("blocks of {width} rows in all"), total));
        }
        let mut products = Vec::with_capacity(blocks.len());
        let mut offset = 0;
        for b in blocks {
            let rows = self.shape(b).0;
            products.push(self.matmul(&self.cols(a, offset, rows)?, b)?);
            offset += rows;
        }
        let terms: Vec<(f32, &Self::Matrix)> = products.iter().map(|m| (1.0, m)).collect();
        self.lin_comb(&terms)
    }
    /// `Σ cᵢ · mᵢ` over `terms` (all of one shape; at least one term).
    fn lin_comb(&self, terms: &[(f32, &Self::Matrix)]) -> Result<Self::Matrix>;
    /// Pearson r between each column of each row block of `pred` and the same column of
    /// `target`. `pred` stacks `k` blocks of `n` rows (`n` = rows of `target`); the result
    /// holds `k * n_columns` values, block-major: `r[b * n_columns + j]`. Zero variance gives 0.
    fn column_pearson_blocks(&self, pred: &Self::Matrix, target: &Self::Matrix) -> Result<Vec<f64>>;

    /// Eigendecompositions of symmetric positive semi-definite f64 matrices (lower triangles
    /// read), in order. The default runs them on the host with faer, concurrently on the rayon
    /// pool (faer's eigensolver does not use a second core by itself).
    fn spectra(&self, matrices: &[MatRef<'_, f64>], what: &str) -> Result<Vec<Spectrum>> {
        matrices.par_iter().map(|m| Spectrum::of(*m, what)).collect()
    }
    /// The device's memory, when it has its own (None: host memory, no batch limit).
    fn memory(&self) -> Result<Option<DeviceMemory>> {
        Ok(None)
    }
    /// Waits until the device has finished the work queued so far (for timing; a no-op on the
    /// host).
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
    /// Whether validation scores are best computed by stacked predictions on the device
    /// (true for GPUs, where products are cheap and host round trips are not) rather than by
    /// the host-side partial fractions of the primal form.
    fn direct_scoring(&self) -> bool {
        false
    }
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

    fn take_host(&self, m: Mat<f32>) -> Result<Mat<f32>> {
        Ok(m)
    }

    fn cols(&self, m: &Mat<f32>, start: usize, len: usize) -> Result<Mat<f32>> {
        if start + len > m.ncols() {
            return Err(shape_err("column slice", format!("columns {start}..{} within", start + len), m.ncols()));
        }
        Ok(m.subcols(start, len).to_owned())
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

    fn matmul_stacked(&self, a: &Mat<f32>, blocks: &[&Mat<f32>]) -> Result<Mat<f32>> {
        let total: usize = blocks.iter().map(|b| b.nrows()).sum();
        if blocks.is_empty() || total != a.ncols() {
            return Err(shape_err("matmul_stacked", format!("blocks of {} rows in all", a.ncols()), total));
        }
        let n_cols = blocks[0].ncols();
        if let Some(b) = blocks.iter().find(|b| b.ncols() != n_cols) {
            return Err(shape_err("matmul_stacked", format!("{n_cols} columns in every block"), b.ncols()));
        }
        let mut c = Mat::<f32>::zeros(a.nrows(), n_cols);
        let mut offset = 0;
        for (i, b) in blocks.iter().enumerate() {
            let accum = if i == 0 { Accum::Replace } else { Accum::Add };
            let a_block = a.as_ref().subcols(offset, b.nrows());
            faer::linalg::matmul::matmul(c.as_mut(), accum, a_block, b.as_ref(), 1.0, Par::rayon(0));
            offset += b.nrows();
        }
        Ok(c)
    }

    fn lin_comb(&self, terms: &[(f32, &Mat<f32>)]) -> Result<Mat<f32>> {
        let Some(&(_, first)) = terms.first() else {
            return Err(shape_err("lin_comb", "at least one term", 0));
        };
        let (rows, cols) = (first.nrows(), first.ncols());
        if let Some((_, m)) = terms.iter().find(|(_, m)| (m.nrows(), m.ncols()) != (rows, cols)) {
            return Err(shape_err("lin_comb", format!("{rows} x {cols}"), format!("{} x {}", m.nrows(), m.ncols())));
        }
        let mut out = Mat::<f32>::zeros(rows, cols);
        // Memory-bound: split the columns over the cores.
        const CHUNK: usize = 64;
        out.as_mut().par_col_chunks_mut(CHUNK).enumerate().for_each(|(i, mut chunk)| {
            let start = i * CHUNK;
            for &(c, m) in terms {
                let m = m.as_ref().subcols(start, chunk.ncols());
                faer::zip!(chunk.rb_mut(), m).for_each(|faer::unzip!(o, m)| *o += c * *m);
            }
        });
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

/// Seconds spent per stage by a [`Timed`] backend.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimes {
    /// Host to device and back (`upload`, `download`, `take_host`).
    pub transfers: f64,
    /// Products and linear combinations (`matmul*`, `lin_comb`, `cols`).
    pub products: f64,
    /// The f64 eigendecompositions (`spectra`).
    pub factorizations: f64,
    /// Pearson sums (`column_pearson_blocks`).
    pub scoring: f64,
    /// The lowest free device memory seen, in bytes (None on the host).
    pub min_free: Option<u64>,
}

/// A backend that times each operation of another, waiting for the device after each one
/// ([`Backend::synchronize`]), so that the stages of a fit can be told apart (at the cost of
/// the overlap a device would otherwise get). Everything else is forwarded unchanged.
pub struct Timed<'a, B: Backend> {
    inner: &'a B,
    times: std::sync::Mutex<StageTimes>,
}

impl<'a, B: Backend> Timed<'a, B> {
    /// Wraps `inner`.
    pub fn new(inner: &'a B) -> Self {
        Self { inner, times: std::sync::Mutex::new(StageTimes::default()) }
    }

    /// The times so far.
    pub fn times(&self) -> StageTimes {
        self.times.lock().map(|t| *t).unwrap_or_default()
    }

    fn time<T>(&self, stage: fn(&mut StageTimes) -> &mut f64, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let start = std::time::Instant::now();
        let out = f()?;
        self.inner.synchronize()?;
        let seconds = start.elapsed().as_secs_f64();
        if let Ok(mut t) = self.times.lock() {
            *stage(&mut t) += seconds;
        }
        Ok(out)
    }
}

impl<B: Backend> Backend for Timed<'_, B> {
    type Matrix = B::Matrix;

    fn name(&self) -> String {
        self.inner.name()
    }
    fn upload(&self, m: MatRef<'_, f32>) -> Result<B::Matrix> {
        self.time(|t| &mut t.transfers, || self.inner.upload(m))
    }
    fn download(&self, m: &B::Matrix) -> Result<Mat<f32>> {
        self.time(|t| &mut t.transfers, || self.inner.download(m))
    }
    fn take_host(&self, m: B::Matrix) -> Result<Mat<f32>> {
        self.time(|t| &mut t.transfers, || self.inner.take_host(m))
    }
    fn shape(&self, m: &B::Matrix) -> (usize, usize) {
        self.inner.shape(m)
    }
    fn cols(&self, m: &B::Matrix, start: usize, len: usize) -> Result<B::Matrix> {
        self.time(|t| &mut t.products, || self.inner.cols(m, start, len))
    }
    fn matmul(&self, a: &B::Matrix, b: &B::Matrix) -> Result<B::Matrix> {
        self.time(|t| &mut t.products, || self.inner.matmul(a, b))
    }
    fn matmul_tn(&self, a: &B::Matrix, b: &B::Matrix) -> Result<B::Matrix> {
        self.time(|t| &mut t.products, || self.inner.matmul_tn(a, b))
    }
    fn matmul_stacked(&self, a: &B::Matrix, blocks: &[&B::Matrix]) -> Result<B::Matrix> {
        self.time(|t| &mut t.products, || self.inner.matmul_stacked(a, blocks))
    }
    fn lin_comb(&self, terms: &[(f32, &B::Matrix)]) -> Result<B::Matrix> {
        self.time(|t| &mut t.products, || self.inner.lin_comb(terms))
    }
    fn column_pearson_blocks(&self, pred: &B::Matrix, target: &B::Matrix) -> Result<Vec<f64>> {
        let free = self.inner.memory()?.map(|m| m.free);
        if let (Some(free), Ok(mut t)) = (free, self.times.lock()) {
            t.min_free = Some(t.min_free.map_or(free, |m| m.min(free)));
        }
        self.time(|t| &mut t.scoring, || self.inner.column_pearson_blocks(pred, target))
    }
    fn spectra(&self, matrices: &[MatRef<'_, f64>], what: &str) -> Result<Vec<Spectrum>> {
        self.time(|t| &mut t.factorizations, || self.inner.spectra(matrices, what))
    }
    fn memory(&self) -> Result<Option<DeviceMemory>> {
        self.inner.memory()
    }
    fn synchronize(&self) -> Result<()> {
        self.inner.synchronize()
    }
    fn direct_scoring(&self) -> bool {
        self.inner.direct_scoring()
    }
}
