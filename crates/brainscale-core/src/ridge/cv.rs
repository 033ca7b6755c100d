//! Cross-validation of ridge over runs (SPEC 5), batched over voxels.
//!
//! The algebra is done once per training set, not once per alpha: per-run Gram blocks (primal)
//! or one kernel matrix (dual) are built once on the host in f64; each training set is
//! eigendecomposed once; for every alpha at once a "predictor" matrix (query rows x features, or
//! x samples in the dual) is formed on the host; the backend then only multiplies predictors
//! by per-batch cross-products `X_Tᵀ Y_T` (primal, sums of per-run blocks) or by `Y` itself
//! (dual), and correlates the predictions with the targets column by column. Voxels are
//! processed in batches of [`RidgeCvParams::voxel_batch`] columns so that device and host
//! memory stay bounded whatever the number of voxels.

use std::collections::HashMap;
use std::sync::Arc;

use faer::{Mat, MatRef};
use rayon::prelude::*;

use super::factor::{Form, Spectrum, mm, mm_tn};
use super::path::{AlphaPath, centred_norms};
use crate::backend::Backend;
use crate::error::{CoreError, Result, shape_err};

/// How the alpha is chosen inside each outer fold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CvMode {
    /// The paper's procedure: the lowest-numbered training run validates one alpha for all
    /// voxels (highest mean r), then the model is refit on all training runs.
    #[default]
    Paper,
    /// One alpha per voxel by inner leave-one-run-out over the training runs (highest mean r
    /// over the inner folds), as himalaya's `RidgeCV` with a run-wise splitter and correlation
    /// scoring.
    Voxelwise,
}

impl CvMode {
    /// The name used on the command line and in metadata.
    pub fn name(self) -> &'static str {
        match self {
            CvMode::Paper => "paper",
            CvMode::Voxelwise => "voxelwise",
        }
    }

    /// Parses [`CvMode::name`].
    pub fn from_name(name: &str) -> Option<CvMode> {
        [CvMode::Paper, CvMode::Voxelwise].into_iter().find(|m| m.name() == name)
    }
}

/// `numpy.logspace(lo, hi, n)`: `n` values from 10^lo to 10^hi, evenly spaced in log10.
pub fn logspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    crate::hrf::linspace(lo, hi, n).into_iter().map(|e| 10f64.powf(e)).collect()
}

/// Parameters of [`RidgeCv`].
#[derive(Clone, Debug, PartialEq)]
pub struct RidgeCvParams {
    /// The alpha grid (the paper's: `logspace(2, 7, 16)`).
    pub alphas: Vec<f64>,
    /// How alphas are chosen.
    pub mode: CvMode,
    /// Primal, dual, or automatic (primal when n_features <= the smallest training set).
    pub form: Form,
    /// Voxels per batch (memory grows linearly with it).
    pub voxel_batch: usize,
}

impl Default for RidgeCvParams {
    fn default() -> Self {
        Self { alphas: logspace(2.0, 7.0, 16), mode: CvMode::Paper, form: Form::Auto, voxel_batch: 4096 }
    }
}

/// The regressors and responses of every run: `x[r]` (n_samples_r x n_features) and `y[r]`
/// (n_samples_r x n_voxels), both already trimmed and z-scored within the run.
#[derive(Clone, Debug)]
pub struct RunData<'a> {
    x: Vec<MatRef<'a, f32>>,
    y: Vec<MatRef<'a, f32>>,
}

impl<'a> RunData<'a> {
    /// Checks shapes: as many x as y runs, at least 3, equal rows per run, one feature count,
    /// one voxel count, finite values.
    pub fn new(x: Vec<MatRef<'a, f32>>, y: Vec<MatRef<'a, f32>>) -> Result<Self> {
        if x.len() != y.len() {
            return Err(shape_err("runs", format!("{} response runs (one per design run)", x.len()), y.len()));
        }
        if x.len() < 3 {
            return Err(CoreError::TooFewRuns { min: 3, got: x.len() });
        }
        let (p, v) = (x[0].ncols(), y[0].ncols());
        for (r, (xr, yr)) in x.iter().zip(&y).enumerate() {
            if xr.nrows() != yr.nrows() {
                return Err(shape_err(
                    &format!("run {}", r + 1),
                    format!("{} samples in y (as in x)", xr.nrows()),
                    yr.nrows(),
                ));
            }
            if xr.ncols() != p {
                return Err(shape_err(&format!("run {} features", r + 1), p, xr.ncols()));
            }
            if yr.ncols() != v {
                return Err(shape_err(&format!("run {} voxels", r + 1), v, yr.ncols()));
            }
            if xr.nrows() < 2 {
                return Err(shape_err(&format!("run {}", r + 1), "at least 2 samples", xr.nrows()));
            }
            if !crate::stats::all_finite(*xr) {
                return Err(CoreError::NonFinite { what: format!("the design of run {}", r + 1) });
            }
            if !crate::stats::all_finite(*yr) {
                return Err(CoreError::NonFinite { what: format!("the responses of run {}", r + 1) });
            }
        }
        Ok(Self { x, y })
    }

    /// Number of runs.
    pub fn n_runs(&self) -> usize {
        self.x.len()
    }
    /// Number of features (columns of x).
    pub fn n_features(&self) -> usize {
        self.x[0].ncols()
    }
    /// Number of voxels (columns of y).
    pub fn n_voxels(&self) -> usize {
        self.y[0].ncols()
    }
}

/// The alpha chosen in one outer fold.
#[derive(Clone, Debug, PartialEq)]
pub enum FoldAlpha {
    /// One alpha for every voxel (paper mode).
    Global(f64),
    /// One alpha per voxel (voxelwise mode).
    PerVoxel(Vec<f64>),
}

/// What happened in one outer fold.
#[derive(Clone, Debug)]
pub struct FoldResult {
    /// The test run (0-based).
    pub test_run: usize,
    /// The validation run (paper mode; 0-based).
    pub validation_run: Option<usize>,
    /// The chosen alpha(s).
    pub alpha: FoldAlpha,
    /// Mean validation r over voxels, per alpha (paper mode).
    pub val_scores: Option<Vec<f64>>,
}

/// A fitted [`RidgeCv`]: per-voxel scores.
#[derive(Clone, Debug)]
pub struct RidgeCvFit {
    /// Per-voxel score: mean over test runs of the test-run Pearson r.
    pub r: Vec<f32>,
    /// Per fold (test run), per voxel r.
    pub r_folds: Vec<Vec<f32>>,
    /// Per fold details.
    pub folds: Vec<FoldResult>,
    /// The form used.
    pub form: Form,
    /// The backend used.
    pub backend: String,
    /// Warnings (alpha on the edge of the grid, ...). Returned, not logged: a study fits many
    /// layers and folds, and the caller knows how to summarise them (the toolkit prints one
    /// line per model).
    pub warnings: Vec<String>,
}

/// Ridge with cross-validation over runs (SPEC 5).
///
/// ```
/// use brainscale_core::{Cpu, ridge::{RidgeCv, RidgeCvParams, RunData}};
/// use faer::Mat;
/// let x: Vec<Mat<f32>> = (0..3).map(|r| Mat::from_fn(20, 2, |i, j| ((i * (j + 2) + r) as f32).sin())).collect();
/// let y: Vec<Mat<f32>> = x.iter().map(|x| Mat::from_fn(20, 4, |i, v| x[(i, v % 2)])).collect();
/// let data = RunData::new(x.iter().map(|m| m.as_ref()).collect(), y.iter().map(|m| m.as_ref()).collect())?;
/// let fit = RidgeCv::new(RidgeCvParams { alphas: vec![0.01, 1.0], ..Default::default() })?.fit(&Cpu, &data)?;
/// assert!(fit.r.iter().all(|&r| r > 0.99));
/// # Ok::<(), brainscale_core::CoreError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RidgeCv {
    params: RidgeCvParams,
}

impl RidgeCv {
    /// Validates the parameters.
    pub fn new(params: RidgeCvParams) -> Result<Self> {
        if params.alphas.is_empty() {
            return Err(CoreError::InvalidAlphas { reason: "the grid is empty".into() });
        }
        if let Some(a) = params.alphas.iter().find(|a| !(a.is_finite() && **a > 0.0)) {
            return Err(CoreError::InvalidAlphas { reason: format!("{a} is not a positive finite number") });
        }
        if params.voxel_batch == 0 {
            return Err(CoreError::InvalidAlphas { reason: "voxel_batch must be >= 1".into() });
        }
        Ok(Self { params })
    }

    /// The parameters.
    pub fn params(&self) -> &RidgeCvParams {
        &self.params
    }

    /// Fits and scores every voxel.
    pub fn fit<B: Backend>(&self, backend: &B, data: &RunData<'_>) -> Result<RidgeCvFit> {
        self.fit_with_progress(backend, data, &mut |_, _| {})
    }

    /// As [`RidgeCv::fit`], calling `progress(done, total)` after each voxel batch.
    pub fn fit_with_progress<B: Backend>(
        &self,
        backend: &B,
        data: &RunData<'_>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<RidgeCvFit> {
        self.run(backend, data, None, progress)
    }

    /// As [`RidgeCv::fit_with_progress`], with the responses already on the device
    /// ([`Resident::upload`] of the same `y`): a device backend then moves only the layer's
    /// regressors and predictors.
    pub fn fit_resident<B: Backend>(
        &self,
        backend: &B,
        data: &RunData<'_>,
        resident: &Resident<B>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<RidgeCvFit> {
        self.run(backend, data, Some(resident), progress)
    }

    fn run<B: Backend>(
        &self,
        backend: &B,
        data: &RunData<'_>,
        resident: Option<&Resident<B>>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<RidgeCvFit> {
        let solver = Solver::new(backend, data, &self.params, resident)?;
        let fit = match self.params.mode {
            CvMode::Paper => solver.paper(progress)?,
            CvMode::Voxelwise => solver.voxelwise(progress)?,
        };
        Ok(fit)
    }
}

/// Host-side precomputations shared by every fold.
pub(super) struct Solver<'d, 'b, B: Backend> {
    pub(super) backend: &'b B,
    pub(super) data: &'d RunData<'d>,
    pub(super) params: &'d RidgeCvParams,
    form: Form,
    /// Row offset of each run in the stacked samples.
    offsets: Vec<usize>,
    /// Per-run design in f64 (host).
    x64: Vec<Mat<f64>>,
    /// Primal: per-run Gram blocks `X_rᵀ X_r`.
    gram: Vec<Mat<f64>>,
    /// Dual: kernel `X Xᵀ` over all stacked samples.
    kernel: Option<Mat<f64>>,
    /// Primal: per-run design on the backend.
    x_dev: Vec<B::Matrix>,
    /// The responses already on the device, when the caller keeps them there.
    resident: Option<&'d Resident<B>>,
}

/// The responses of every run uploaded once, to fit many layers (and models) without moving
/// them again: [`RidgeCv::fit_resident`].
pub struct Resident<B: Backend> {
    y: Vec<B::Matrix>,
    n_voxels: usize,
    rows: Vec<usize>,
}

impl<B: Backend> Resident<B> {
    /// Uploads `y` (one matrix per run, as in [`RunData`]).
    pub fn upload(backend: &B, y: &[MatRef<'_, f32>]) -> Result<Self> {
        let n_voxels = y.first().map_or(0, |m| m.ncols());
        let rows = y.iter().map(|m| m.nrows()).collect();
        let y = y.iter().map(|m| backend.upload(*m)).collect::<Result<_>>()?;
        Ok(Self { y, n_voxels, rows })
    }

    /// Bytes held on the device.
    pub fn bytes(&self) -> u64 {
        self.rows.iter().map(|&r| (r * self.n_voxels * 4) as u64).sum()
    }

    fn matches(&self, data: &RunData<'_>) -> bool {
        self.n_voxels == data.n_voxels() && self.rows == data.y.iter().map(|y| y.nrows()).collect::<Vec<_>>()
    }
}

/// One voxel batch on the backend.
pub(super) struct Batch<B: Backend> {
    /// Per-run responses, (n_samples_r x batch).
    pub(super) y: Vec<B::Matrix>,
    /// Primal: per-run `X_rᵀ Y_r` and their sum.
    xty: Vec<B::Matrix>,
    xty_sum: Option<B::Matrix>,
}

/// A predictor built on the host, before its upload.
enum HostPredictor {
    /// The predictor itself.
    Direct(Mat<f32>),
    /// Stacked `W D_a` and the basis `Vᵀ` (or `Uᵀ`), multiplied on the backend.
    Factored { scaled: Mat<f32>, basis_t: Mat<f32> },
}

/// Training sets (sorted run indices) and their spectra.
pub(super) type Spectra = HashMap<Vec<usize>, Arc<Spectrum>>;

impl<'d, 'b, B: Backend> Solver<'d, 'b, B> {
    fn new(
        backend: &'b B,
        data: &'d RunData<'d>,
        params: &'d RidgeCvParams,
        resident: Option<&'d Resident<B>>,
    ) -> Result<Self> {
        if let Some(res) = resident
            && !res.matches(data)
        {
            return Err(shape_err("resident responses", "the runs and voxels of the data", "other shapes"));
        }
        let n_runs = data.n_runs();
        let sizes: Vec<usize> = data.x.iter().map(|x| x.nrows()).collect();
        let total: usize = sizes.iter().sum();
        // The smallest training set: all runs but the two largest.
        let mut sorted = sizes.clone();
        sorted.sort_unstable();
        let smallest_train = total - sorted[n_runs - 1] - sorted[n_runs - 2];
        let form = params.form.resolve(smallest_train, data.n_features());
        let mut offsets = Vec::with_capacity(n_runs);
        let mut acc = 0;
        for s in &sizes {
            offsets.push(acc);
            acc += s;
        }
        let (mut x64, mut gram, mut kernel, mut x_dev) = (Vec::new(), Vec::new(), None, Vec::new());
        match form {
            Form::Dual => kernel = Some(stacked_kernel(&data.x, total)),
            _ => {
                x64 = data.x.iter().map(|x| Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] as f64)).collect();
                gram = x64.iter().map(|x| mm_tn(x.as_ref(), x.as_ref())).collect();
                x_dev = data.x.iter().map(|x| backend.upload(*x)).collect::<Result<_>>()?;
            }
        }
        Ok(Self { backend, data, params, form, offsets, x64, gram, kernel, x_dev, resident })
    }

    pub(super) fn n_runs(&self) -> usize {
        self.data.n_runs()
    }

    /// The stacked sample indices of the runs `train`, in order.
    fn rows_of(&self, train: &[usize]) -> Vec<usize> {
        train.iter().flat_map(|&r| self.offsets[r]..self.offsets[r] + self.data.x[r].nrows()).collect()
    }

    /// The matrix whose spectrum serves every alpha on the training runs `train`: the Gram
    /// matrix (primal) or the training kernel (dual).
    fn train_matrix(&self, train: &[usize]) -> Result<Mat<f64>> {
        match self.form {
            Form::Dual => {
                let k = self.kernel.as_ref().ok_or_else(|| internal("dual kernel missing"))?;
                let rows = self.rows_of(train);
                Ok(Mat::from_fn(rows.len(), rows.len(), |i, j| k[(rows[i], rows[j])]))
            }
            _ => {
                let p = self.data.n_features();
                let mut g = Mat::<f64>::zeros(p, p);
                for &r in train {
                    g += &self.gram[r];
                }
                Ok(g)
            }
        }
    }

    /// Adds to `cache` the spectra of the training sets `sets` it lacks, several at once
    /// ([`Backend::spectra`]).
    pub(super) fn add_spectra(&self, cache: &mut Spectra, sets: &[Vec<usize>]) -> Result<()> {
        let mut missing: Vec<Vec<usize>> = Vec::new();
        for s in sets {
            if !cache.contains_key(s) && !missing.contains(s) {
                missing.push(s.clone());
            }
        }
        // At most a few matrices at a time: dual kernels of ~2,000 samples are 30 MB each.
        let what = if self.form == Form::Dual { "kernel" } else { "Gram" };
        for group in missing.chunks(rayon::current_num_threads().max(1)) {
            let matrices: Vec<Mat<f64>> = group.iter().map(|s| self.train_matrix(s)).collect::<Result<_>>()?;
            let refs: Vec<MatRef<'_, f64>> = matrices.iter().map(|m| m.as_ref()).collect();
            let spectra = self.backend.spectra(&refs, what)?;
            if spectra.len() != group.len() {
                return Err(internal("the backend returned a wrong number of spectra"));
            }
            for (s, spectrum) in group.iter().zip(spectra) {
                cache.insert(s.clone(), Arc::new(spectrum));
            }
        }
        Ok(())
    }

    /// For training runs `train` and query run `q`: the stacked predictors of `alphas`,
    /// (alphas.len() * n_q) x width, uploaded as f32. Width: n_features (primal) or the
    /// training samples (dual, runs in the order of `train`). With one alpha, `spectrum` may be
    /// None (a Cholesky solve then serves).
    pub(super) fn predictor(
        &self,
        train: &[usize],
        q: usize,
        alphas: &[f64],
        spectrum: Option<&Spectrum>,
    ) -> Result<B::Matrix> {
        let host = self.host_predictor(train, q, alphas, spectrum)?;
        self.upload_predictor(host)
    }

    fn upload_predictor(&self, host: HostPredictor) -> Result<B::Matrix> {
        let be = self.backend;
        match host {
            HostPredictor::Direct(f) => be.upload(f.as_ref()),
            HostPredictor::Factored { scaled, basis_t } => {
                be.matmul(&be.upload(scaled.as_ref())?, &be.upload(basis_t.as_ref())?)
            }
        }
    }

    fn host_predictor(
        &self,
        train: &[usize],
        q: usize,
        alphas: &[f64],
        spectrum: Option<&Spectrum>,
    ) -> Result<HostPredictor> {
        let nq = self.data.x[q].nrows();
        if let [alpha] = alphas {
            // One alpha: a Cholesky solve is cheaper than an eigendecomposition.
            let solved = match self.form {
                Form::Dual => self.dual_solve(train, q, *alpha),
                _ => self.primal_solve(train, q, *alpha),
            };
            if let Some(f) = solved {
                return Ok(HostPredictor::Direct(f));
            }
        }
        let owned;
        let spectrum = match spectrum {
            Some(s) => s,
            None => {
                owned = Spectrum::of(self.train_matrix(train)?.as_ref(), "training")?;
                &owned
            }
        };
        // Host, f64: the query rows in the eigenbasis (W).
        let (w, basis_t) = match self.form {
            Form::Dual => {
                let k = self.kernel.as_ref().ok_or_else(|| internal("dual kernel missing"))?;
                let rows = self.rows_of(train);
                let k_qt = Mat::from_fn(nq, rows.len(), |i, j| k[(self.offsets[q] + i, rows[j])]);
                let w = mm(k_qt.as_ref(), spectrum.vectors.as_ref());
                let n = rows.len();
                (w, Mat::from_fn(n, n, |i, j| spectrum.vectors[(j, i)] as f32))
            }
            _ => {
                let p = self.data.n_features();
                let w = mm(self.x64[q].as_ref(), spectrum.vectors.as_ref());
                (w, Mat::from_fn(p, p, |i, j| spectrum.vectors[(j, i)] as f32))
            }
        };
        // Per alpha, W diag(1/(λ+α)), stacked; then one product with the basis on the backend.
        let m = spectrum.values.len();
        let mut scaled = Mat::<f32>::zeros(alphas.len() * nq, m);
        for (a, &alpha) in alphas.iter().enumerate() {
            for (e, &lambda) in spectrum.values.iter().enumerate() {
                let d = 1.0 / (lambda + alpha);
                for i in 0..nq {
                    scaled[(a * nq + i, e)] = (w[(i, e)] * d) as f32;
                }
            }
        }
        Ok(HostPredictor::Factored { scaled, basis_t })
    }

    /// Single-alpha predictors of several (training runs, query run) pairs, built on the host
    /// concurrently and uploaded in order.
    pub(super) fn refit_predictors(&self, jobs: &[(Vec<usize>, usize, f64)]) -> Result<Vec<B::Matrix>> {
        let host: Vec<HostPredictor> = jobs
            .par_iter()
            .map(|(train, q, alpha)| self.host_predictor(train, *q, &[*alpha], None))
            .collect::<Result<_>>()?;
        host.into_iter().map(|h| self.upload_predictor(h)).collect()
    }

    pub(super) fn batch(&self, start: usize, len: usize) -> Result<Batch<B>> {
        let be = self.backend;
        let y: Vec<B::Matrix> = match self.resident {
            Some(res) => res.y.iter().map(|y| be.cols(y, start, len)).collect::<Result<_>>()?,
            None => self.data.y.iter().map(|y| be.upload(y.subcols(start, len))).collect::<Result<_>>()?,
        };
        match self.form {
            Form::Dual => Ok(Batch { y, xty: Vec::new(), xty_sum: None }),
            _ => {
                let xty: Vec<B::Matrix> =
                    self.x_dev.iter().zip(&y).map(|(x, y)| be.matmul_tn(x, y)).collect::<Result<_>>()?;
                let terms: Vec<(f32, &B::Matrix)> = xty.iter().map(|m| (1.0, m)).collect();
                let sum = be.lin_comb(&terms)?;
                Ok(Batch { y, xty, xty_sum: Some(sum) })
            }
        }
    }

    /// Primal: `X_Tᵀ Y_T` of the batch for all runs but `excluded`.
    fn cross_products(&self, batch: &Batch<B>, excluded: &[usize]) -> Result<B::Matrix> {
        let sum = batch.xty_sum.as_ref().ok_or_else(|| internal("no cross-products in a dual batch"))?;
        let mut terms: Vec<(f32, &B::Matrix)> = vec![(1.0, sum)];
        terms.extend(excluded.iter().map(|&r| (-1.0, &batch.xty[r])));
        self.backend.lin_comb(&terms)
    }

    /// Predictions of `predictor` trained on all runs but `excluded` (dual: the runs not
    /// excluded, in increasing order, are the predictor's column blocks).
    pub(super) fn predict(&self, batch: &Batch<B>, predictor: &B::Matrix, excluded: &[usize]) -> Result<B::Matrix> {
        match self.form {
            Form::Dual => {
                let blocks: Vec<&B::Matrix> =
                    batch.y.iter().enumerate().filter(|(r, _)| !excluded.contains(r)).map(|(_, y)| y).collect();
                self.backend.matmul_stacked(predictor, &blocks)
            }
            _ => self.backend.matmul(predictor, &self.cross_products(batch, excluded)?),
        }
    }

    /// Primal, one alpha: `X_q (G + α I)⁻¹` by Cholesky (None if the factorisation fails, e.g.
    /// on a numerically indefinite matrix; the caller then uses the eigendecomposition).
    fn primal_solve(&self, train: &[usize], q: usize, alpha: f64) -> Option<Mat<f32>> {
        use faer::linalg::solvers::Solve;
        let mut g = self.train_matrix(train).ok()?;
        for k in 0..g.nrows() {
            g[(k, k)] += alpha;
        }
        let llt = g.llt(faer::Side::Lower).ok()?;
        let ft = llt.solve(self.x64[q].transpose());
        Some(Mat::from_fn(ft.ncols(), ft.nrows(), |i, j| ft[(j, i)] as f32))
    }

    /// Dual, one alpha: `K_qT (K_TT + α I)⁻¹` (training samples in the order of `train`), by
    /// Cholesky (None if the factorisation fails).
    fn dual_solve(&self, train: &[usize], q: usize, alpha: f64) -> Option<Mat<f32>> {
        use faer::linalg::solvers::Solve;
        let k = self.kernel.as_ref()?;
        let rows = self.rows_of(train);
        let nq = self.data.x[q].nrows();
        let k_tt =
            Mat::from_fn(rows.len(), rows.len(), |i, j| k[(rows[i], rows[j])] + if i == j { alpha } else { 0.0 });
        let k_tq = Mat::from_fn(rows.len(), nq, |i, j| k[(rows[i], self.offsets[q] + j)]);
        let llt = k_tt.llt(faer::Side::Lower).ok()?;
        let ft = llt.solve(k_tq.as_ref());
        Some(Mat::from_fn(nq, rows.len(), |i, c| ft[(c, i)] as f32))
    }

    /// The voxel batches: `voxel_batch` columns, fewer where the device's free memory says so
    /// (`per_voxel` bytes each).
    pub(super) fn batches(&self, per_voxel: u64) -> Result<Vec<(usize, usize)>> {
        let n = self.data.n_voxels();
        let mut b = self.params.voxel_batch.min(n.max(1));
        if let Some(mem) = self.backend.memory()? {
            const RESERVE: u64 = 512 << 20;
            let usable = (mem.free as f64 * 0.8) as u64;
            let fit = (usable.saturating_sub(RESERVE) / per_voxel.max(1)) as usize;
            if fit < b {
                let rounded = fit / 128 * 128;
                if rounded < 256.min(n) {
                    return Err(CoreError::Backend {
                        backend: self.backend.name(),
                        message: format!(
                            "not enough free device memory for a batch of 256 voxels ({} MiB free, {} kB per voxel): \
                             free the device or use a smaller layer",
                            mem.free >> 20,
                            per_voxel / 1000
                        ),
                    });
                }
                b = rounded.max(1);
            }
        }
        Ok((0..n.div_ceil(b)).map(|i| (i * b, b.min(n - i * b))).collect())
    }

    /// Device bytes per voxel of a batch while `n_alpha_rows` stacked prediction rows are
    /// scored (responses, cross-products, predictions and the scoring temporaries).
    pub(super) fn per_voxel_bytes(&self, n_alpha_rows: usize) -> u64 {
        let n: usize = self.data.y.iter().map(|y| y.nrows()).sum();
        let p = self.data.n_features();
        let words = match self.form {
            Form::Dual => n + 6 * n_alpha_rows,
            _ => n + (self.n_runs() + 2) * p + 6 * n_alpha_rows,
        };
        4 * words as u64
    }

    /// Rows of the largest stacked prediction: all alphas of the largest run.
    pub(super) fn max_alpha_rows(&self) -> usize {
        self.params.alphas.len() * self.data.x.iter().map(|x| x.nrows()).max().unwrap_or(0)
    }

    fn paper(&self, progress: &mut dyn FnMut(usize, usize)) -> Result<RidgeCvFit> {
        let (n_runs, n_vox) = (self.n_runs(), self.data.n_voxels());
        let alphas = &self.params.alphas;
        let folds: Vec<(usize, Vec<usize>)> =
            (0..n_runs).map(|t| (t, (0..n_runs).filter(|&r| r != t).collect())).collect();

        // Pass 1: validation scores of every alpha in every fold: by stacked predictions in
        // the dual form and on devices that prefer it, by partial fractions (path.rs) in the
        // primal form on the host. Folds 1 and 2 train on the same runs: one spectrum each
        // for the distinct training sets, computed concurrently.
        let inner_sets: Vec<Vec<usize>> = folds.iter().map(|(_, train)| train[1..].to_vec()).collect();
        let direct = self.form == Form::Dual || self.backend.direct_scoring();
        // The dual form goes fold by fold, so that one stacked predictor (A x n_q x n_T) is
        // alive at a time instead of nine (0.4 GB at the study's shape); its batches only
        // copy the responses. The primal form goes batch by batch, sharing each batch's
        // cross-products between the folds.
        let fold_major = self.form == Form::Dual;
        let batches = self.batches(self.per_voxel_bytes(self.max_alpha_rows()))?;
        let pass1_steps = if fold_major { n_runs * batches.len() } else { batches.len() };
        let total_steps = pass1_steps + batches.len();
        let mut val_sum = vec![vec![0.0f64; alphas.len()]; n_runs];
        let score = |scorer: &Scorer<B>, batch: &Batch<B>, t: usize, v: usize, start: usize, len: usize| match scorer {
            Scorer::Predict(pred) => {
                let pred = self.predict(batch, pred, &[t, v])?;
                self.backend.column_pearson_blocks(&pred, &batch.y[v])
            }
            Scorer::Path(path) => {
                let norms = centred_norms(self.data.y[v].subcols(start, len));
                path.score(self.backend, self.cross_products(batch, &[t, v])?, &batch.y[v], &norms)
            }
        };
        let add = |sums: &mut [f64], r: &[f64], len: usize| {
            for (a, sum) in sums.iter_mut().enumerate() {
                *sum += r[a * len..(a + 1) * len].iter().sum::<f64>();
            }
        };
        // A few folds at a time (as many as threads), each spectrum dropped after its last
        // use: dual spectra are ~70 MB each.
        let mut spectra = Spectra::new();
        let mut scorers: Vec<Scorer<B>> = Vec::with_capacity(n_runs);
        let group = rayon::current_num_threads().max(1);
        let mut step = 0;
        for first in (0..n_runs).step_by(group) {
            let last = (first + group).min(n_runs);
            self.add_spectra(&mut spectra, &inner_sets[first..last])?;
            for ((t, train), set) in folds[first..last].iter().zip(&inner_sets[first..last]) {
                let s = spectra.get(set).ok_or_else(|| internal("spectrum missing"))?;
                let scorer = if direct {
                    Scorer::Predict(self.predictor(set, train[0], alphas, Some(s))?)
                } else {
                    Scorer::Path(Box::new(AlphaPath::new(self.backend, s, self.x64[train[0]].as_ref(), alphas)?))
                };
                if fold_major {
                    for &(start, len) in &batches {
                        let batch = self.batch(start, len)?;
                        add(&mut val_sum[*t], &score(&scorer, &batch, *t, train[0], start, len)?, len);
                        step += 1;
                        progress(step, total_steps);
                    }
                } else {
                    scorers.push(scorer);
                }
            }
            spectra.retain(|set, _| inner_sets[last..].contains(set));
        }
        drop(spectra);
        if !fold_major {
            for &(start, len) in &batches {
                let batch = self.batch(start, len)?;
                for (t, train) in &folds {
                    add(&mut val_sum[*t], &score(&scorers[*t], &batch, *t, train[0], start, len)?, len);
                }
                step += 1;
                progress(step, total_steps);
            }
        }
        drop(scorers);
        let val_scores: Vec<Vec<f64>> =
            val_sum.into_iter().map(|s| s.into_iter().map(|v| v / n_vox as f64).collect()).collect();
        let best: Vec<f64> = val_scores.iter().map(|s| alphas[argmax_first(s)]).collect();

        // Pass 2: refit with the chosen alpha on all training runs, score the test run.
        let jobs: Vec<(Vec<usize>, usize, f64)> =
            folds.iter().map(|(t, train)| (train.clone(), *t, best[*t])).collect();
        let test_pred = self.refit_predictors(&jobs)?;
        let offset = pass1_steps;
        let mut r_folds = vec![vec![0.0f32; n_vox]; n_runs];
        for (step, &(start, len)) in batches.iter().enumerate() {
            let batch = self.batch(start, len)?;
            for (t, _) in &folds {
                let pred = self.predict(&batch, &test_pred[*t], &[*t])?;
                let r = self.backend.column_pearson_blocks(&pred, &batch.y[*t])?;
                for (j, v) in r.into_iter().enumerate() {
                    r_folds[*t][start + j] = v as f32;
                }
            }
            progress(offset + step + 1, total_steps);
        }

        let mut warnings = Vec::new();
        let (lo, hi) = (alphas[0], alphas[alphas.len() - 1]);
        let folds_out: Vec<FoldResult> = folds
            .iter()
            .map(|(t, train)| {
                if alphas.len() > 1 && (best[*t] == lo || best[*t] == hi) {
                    warnings.push(format!(
                        "fold {} (test run {}): the chosen alpha {:.4e} is on the edge of the grid [{lo:.4e}, {hi:.4e}]; \
                         consider widening --alphas",
                        t + 1,
                        t + 1,
                        best[*t]
                    ));
                }
                FoldResult {
                    test_run: *t,
                    validation_run: Some(train[0]),
                    alpha: FoldAlpha::Global(best[*t]),
                    val_scores: Some(val_scores[*t].clone()),
                }
            })
            .collect();
        Ok(self.finish(r_folds, folds_out, warnings))
    }

    pub(super) fn finish(&self, r_folds: Vec<Vec<f32>>, folds: Vec<FoldResult>, warnings: Vec<String>) -> RidgeCvFit {
        let n_vox = self.data.n_voxels();
        let n = r_folds.len() as f64;
        let r = (0..n_vox).map(|j| (r_folds.iter().map(|f| f[j] as f64).sum::<f64>() / n) as f32).collect();
        RidgeCvFit { r, r_folds, folds, form: self.form, backend: self.backend.name(), warnings }
    }
}

/// The kernel `X Xᵀ` of all runs' samples stacked, in f64, from f32 designs: a block of
/// feature columns at a time, so that no f64 copy of the design is held (the reliability fit
/// of `prepare` has 25,870 "features").
fn stacked_kernel(x: &[MatRef<'_, f32>], total: usize) -> Mat<f64> {
    const BLOCK: usize = 1024;
    let p = x.first().map_or(0, |m| m.ncols());
    let mut k = Mat::<f64>::zeros(total, total);
    let mut block = Mat::<f64>::zeros(total, BLOCK.min(p));
    for start in (0..p).step_by(BLOCK) {
        let width = BLOCK.min(p - start);
        let mut row = 0;
        for xr in x {
            block.as_mut().subrows_mut(row, xr.nrows()).subcols_mut(0, width).copy_from(&Mat::<f64>::from_fn(
                xr.nrows(),
                width,
                |i, j| xr[(i, start + j)] as f64,
            ));
            row += xr.nrows();
        }
        let b = block.as_ref().subcols(0, width);
        faer::linalg::matmul::matmul(
            k.as_mut(),
            if start == 0 { faer::Accum::Replace } else { faer::Accum::Add },
            b,
            b.transpose(),
            1.0,
            faer::Par::rayon(0),
        );
    }
    k
}

/// How a fold's validation run is scored for every alpha.
enum Scorer<B: Backend> {
    /// Stacked predictors (query rows x width), applied to each batch.
    Predict(B::Matrix),
    /// Partial fractions of the primal solution.
    Path(Box<AlphaPath<B>>),
}

/// Index of the largest value, the first one on ties (numpy's `argmax`); NaN never wins.
pub(super) fn argmax_first(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || (values[best].is_nan() && !v.is_nan()) {
            best = i;
        }
    }
    best
}

fn internal(what: &str) -> CoreError {
    CoreError::Backend { backend: "solver".into(), message: format!("internal error: {what}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_tie() {
        assert_eq!(argmax_first(&[0.1, 0.3, 0.3, 0.2]), 1);
        assert_eq!(argmax_first(&[f64::NAN, 0.3]), 1);
    }

    #[test]
    fn logspace_matches_the_paper_grid() {
        let a = logspace(2.0, 7.0, 16);
        assert_eq!(a.len(), 16);
        assert!((a[0] - 100.0).abs() < 1e-9 && (a[15] - 1e7).abs() < 1e-3);
    }
}
