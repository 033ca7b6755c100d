//! The conformance suite of a [`Backend`]: the solver's identities and its agreement with naive
//! loops, run on any backend (feature `testing`).
//!
//! Every backend runs the same checks: the faer [`Cpu`] backend in this crate's tests, the
//! candle backend in-process, and the candle library loaded through the backend ABI by the
//! toolkit (on candle's CPU device in CI, on a GPU in `scripts/gpu-check.sh`).
//!
//! ```
//! let report = brainscale_core::testing::check_backend(&brainscale_core::Cpu).unwrap();
//! assert!(report.iter().any(|line| line.starts_with("paper cv")));
//! ```
#![allow(clippy::needless_range_loop)]
// index loops read like the maths
// A test harness: its reference fits on generated data cannot fail unless the harness is wrong.
#![allow(clippy::expect_used)]

use faer::Mat;
use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::StandardNormal;

use crate::backend::{Backend, Cpu};
use crate::ridge::{
    CvMode, FoldAlpha, Form, Ridge, RidgeCv, RidgeCvFit, RidgeCvParams, RidgeParams, RunData, logspace,
};
use crate::stats::{pearson, zscore_columns};

/// A failed check, in words.
pub type Failure = String;

/// A seeded Gaussian matrix.
pub fn randn(rng: &mut StdRng, n: usize, p: usize) -> Mat<f64> {
    Mat::from_fn(n, p, |_, _| rng.sample::<f64, _>(StandardNormal))
}

/// Runs with a planted signal of varying strength (voxel `j` carries `j / v` of it), z-scored
/// per run: (regressors, responses).
pub fn planted_runs(seed: u64, sizes: &[usize], p: usize, v: usize) -> (Vec<Mat<f32>>, Vec<Mat<f32>>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let w = randn(&mut rng, p, v);
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for &n in sizes {
        let x = randn(&mut rng, n, p);
        let noise = randn(&mut rng, n, v);
        let signal = &x * &w;
        let mut y =
            Mat::<f32>::from_fn(n, v, |i, j| (signal[(i, j)] * (j as f64 / v as f64) + 3.0 * noise[(i, j)]) as f32);
        let mut x32 = Mat::<f32>::from_fn(n, p, |i, j| x[(i, j)] as f32);
        zscore_columns(x32.as_mut());
        zscore_columns(y.as_mut());
        xs.push(x32);
        ys.push(y);
    }
    (xs, ys)
}

/// The row-wise stack of `ms`, in f64.
pub fn stack(ms: &[&Mat<f32>]) -> Mat<f64> {
    let n: usize = ms.iter().map(|m| m.nrows()).sum();
    let mut out = Mat::<f64>::zeros(n, ms[0].ncols());
    let mut o = 0;
    for m in ms {
        for i in 0..m.nrows() {
            for j in 0..m.ncols() {
                out[(o + i, j)] = m[(i, j)] as f64;
            }
        }
        o += m.nrows();
    }
    out
}

fn col_r(pred: &Mat<f64>, y: &Mat<f32>, j: usize) -> f64 {
    let p: Vec<f64> = pred.col(j).iter().copied().collect();
    let t: Vec<f64> = y.col(j).iter().map(|&v| v as f64).collect();
    pearson(&p, &t)
}

fn fit_predict(train_x: &[&Mat<f32>], train_y: &[&Mat<f32>], alpha: f64, query: &Mat<f32>) -> Mat<f64> {
    let fit = Ridge::new(RidgeParams { alpha, form: Form::Auto })
        .fit(stack(train_x).as_ref(), stack(train_y).as_ref())
        .expect("a reference ridge fit");
    fit.predict(stack(&[query]).as_ref()).expect("a reference prediction")
}

/// SPEC 5's paper procedure written as plainly as possible, in f64 on the host: per-voxel r
/// and the alpha of each fold.
pub fn naive_paper(xs: &[Mat<f32>], ys: &[Mat<f32>], alphas: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n_runs = xs.len();
    let v = ys[0].ncols();
    let mut r_sum = vec![0.0; v];
    let mut best_alphas = Vec::new();
    for t in 0..n_runs {
        let train: Vec<usize> = (0..n_runs).filter(|&r| r != t).collect();
        let (val, inner) = (train[0], &train[1..]);
        let xi: Vec<&Mat<f32>> = inner.iter().map(|&r| &xs[r]).collect();
        let yi: Vec<&Mat<f32>> = inner.iter().map(|&r| &ys[r]).collect();
        let scores: Vec<f64> = alphas
            .iter()
            .map(|&alpha| {
                let pred = fit_predict(&xi, &yi, alpha, &xs[val]);
                (0..v).map(|j| col_r(&pred, &ys[val], j)).sum::<f64>() / v as f64
            })
            .collect();
        let mut best = 0;
        for (i, s) in scores.iter().enumerate() {
            if *s > scores[best] {
                best = i;
            }
        }
        best_alphas.push(alphas[best]);
        let xt: Vec<&Mat<f32>> = train.iter().map(|&r| &xs[r]).collect();
        let yt: Vec<&Mat<f32>> = train.iter().map(|&r| &ys[r]).collect();
        let pred = fit_predict(&xt, &yt, alphas[best], &xs[t]);
        for (j, r) in r_sum.iter_mut().enumerate() {
            *r += col_r(&pred, &ys[t], j);
        }
    }
    (r_sum.into_iter().map(|r| r / n_runs as f64).collect(), best_alphas)
}

/// The voxelwise procedure's inner scores, plainly: `scores[t][j][a]` = mean over the inner
/// folds of outer fold `t` of voxel `j`'s r at alpha `a`.
pub fn naive_voxelwise_scores(xs: &[Mat<f32>], ys: &[Mat<f32>], alphas: &[f64]) -> Vec<Vec<Vec<f64>>> {
    let n_runs = xs.len();
    (0..n_runs)
        .map(|t| {
            let train: Vec<usize> = (0..n_runs).filter(|&r| r != t).collect();
            let mut scores = vec![vec![0.0; alphas.len()]; ys[0].ncols()];
            for &u in &train {
                let rest: Vec<usize> = train.iter().copied().filter(|&r| r != u).collect();
                let rx: Vec<&Mat<f32>> = rest.iter().map(|&r| &xs[r]).collect();
                let ry: Vec<&Mat<f32>> = rest.iter().map(|&r| &ys[r]).collect();
                for (a, &alpha) in alphas.iter().enumerate() {
                    let pred = fit_predict(&rx, &ry, alpha, &xs[u]);
                    for (j, s) in scores.iter_mut().enumerate() {
                        s[a] += col_r(&pred, &ys[u], j) / train.len() as f64;
                    }
                }
            }
            scores
        })
        .collect()
}

/// Fits `RidgeCv` with `params` on `backend`.
pub fn run_cv<B: Backend>(backend: &B, xs: &[Mat<f32>], ys: &[Mat<f32>], params: RidgeCvParams) -> RidgeCvFit {
    let data = RunData::new(xs.iter().map(|m| m.as_ref()).collect(), ys.iter().map(|m| m.as_ref()).collect())
        .expect("valid run data");
    RidgeCv::new(params).expect("valid parameters").fit(backend, &data).expect("a fit")
}

fn global_alphas(fit: &RidgeCvFit) -> Vec<f64> {
    fit.folds.iter().map(|f| if let FoldAlpha::Global(a) = f.alpha { a } else { f64::NAN }).collect()
}

fn max_diff(a: &[f32], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max)
}

fn max_diff_f32(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(a, b)| (*a as f64 - *b as f64).abs()).fold(0.0, f64::max)
}

fn max_abs(a: &Mat<f32>, b: &Mat<f32>) -> f64 {
    let mut m = 0.0f64;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            m = m.max((a[(i, j)] as f64 - b[(i, j)] as f64).abs());
        }
    }
    m
}

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), Failure> {
    if ok { Ok(()) } else { Err(what()) }
}

/// Each operation of `backend` against the faer [`Cpu`] backend: transposed products, column
/// slices, stacked products, linear combinations, Pearson blocks with a zero-variance column.
pub fn check_ops<B: Backend>(backend: &B) -> Result<String, Failure> {
    let name = backend.name();
    let e = |op: &str, err: crate::CoreError| format!("{name}: {op}: {err}");
    let mut rng = StdRng::seed_from_u64(17);
    let to32 = |m: Mat<f64>| Mat::<f32>::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] as f32);
    let a = to32(randn(&mut rng, 37, 23));
    let b = to32(randn(&mut rng, 23, 19));
    let c = to32(randn(&mut rng, 37, 19));
    let (da, db, dc) = (
        backend.upload(a.as_ref()).map_err(|x| e("upload", x))?,
        backend.upload(b.as_ref()).map_err(|x| e("upload", x))?,
        backend.upload(c.as_ref()).map_err(|x| e("upload", x))?,
    );
    let cpu = Cpu;
    let mut worst = 0.0f64;
    let mut compare = |op: &str, got: Mat<f32>, want: Mat<f32>, tol: f64| -> Result<(), Failure> {
        ensure((got.nrows(), got.ncols()) == (want.nrows(), want.ncols()), || {
            format!("{name}: {op}: shape {}x{}, expected {}x{}", got.nrows(), got.ncols(), want.nrows(), want.ncols())
        })?;
        let d = max_abs(&got, &want);
        worst = worst.max(d);
        ensure(d <= tol, || format!("{name}: {op}: max |difference| {d:.3e} > {tol:.1e}"))
    };
    compare("upload/download", backend.download(&da).map_err(|x| e("download", x))?, a.clone(), 0.0)?;
    ensure(backend.shape(&da) == (37, 23), || format!("{name}: shape: {:?}, expected (37, 23)", backend.shape(&da)))?;
    let ab = backend.matmul(&da, &db).map_err(|x| e("matmul", x))?;
    compare("matmul", backend.take_host(ab).map_err(|x| e("take_host", x))?, &a * &b, 1e-4)?;
    let atc = backend.matmul_tn(&da, &dc).map_err(|x| e("matmul_tn", x))?;
    compare("matmul_tn", backend.download(&atc).map_err(|x| e("download", x))?, a.transpose() * &c, 1e-4)?;
    let slice = backend.cols(&da, 5, 11).map_err(|x| e("cols", x))?;
    compare("cols", backend.download(&slice).map_err(|x| e("download", x))?, a.subcols(5, 11).to_owned(), 0.0)?;
    ensure(backend.cols(&da, 20, 4).is_err(), || format!("{name}: cols past the end is not an error"))?;
    // A sliced operand in a product (a copy made by `cols`, then a transposed product).
    let sliced = backend.matmul_tn(&slice, &dc).map_err(|x| e("matmul_tn of a slice", x))?;
    compare(
        "matmul_tn of a slice",
        backend.download(&sliced).map_err(|x| e("download", x))?,
        a.subcols(5, 11).transpose() * &c,
        1e-4,
    )?;
    let (b1, b2) = (b.subrows(0, 9).to_owned(), b.subrows(9, 14).to_owned());
    let (d1, d2) = (
        backend.upload(b1.as_ref()).map_err(|x| e("upload", x))?,
        backend.upload(b2.as_ref()).map_err(|x| e("upload", x))?,
    );
    let st = backend.matmul_stacked(&da, &[&d1, &d2]).map_err(|x| e("matmul_stacked", x))?;
    compare("matmul_stacked", backend.download(&st).map_err(|x| e("download", x))?, &a * &b, 1e-4)?;
    ensure(backend.matmul_stacked(&da, &[&d1]).is_err(), || {
        format!("{name}: matmul_stacked with too few rows is not an error")
    })?;
    let lc = backend.lin_comb(&[(0.5, &dc), (-2.0, &dc), (1.25, &dc)]).map_err(|x| e("lin_comb", x))?;
    let want = Mat::<f32>::from_fn(37, 19, |i, j| c[(i, j)] * (0.5 - 2.0 + 1.25));
    compare("lin_comb", backend.download(&lc).map_err(|x| e("download", x))?, want, 1e-5)?;
    ensure(backend.lin_comb(&[(1.0, &da), (1.0, &dc)]).is_err(), || {
        format!("{name}: lin_comb of two shapes is not an error")
    })?;
    // Pearson: 3 blocks of 37 rows; target column 4 constant, block 1 column 2 constant.
    let mut target = c.clone();
    target.col_mut(4).fill(0.25);
    let mut pred = to32(randn(&mut rng, 3 * 37, 19));
    for i in 0..37 {
        pred[(37 + i, 2)] = -1.5;
        pred[(2 * 37 + i, 7)] = target[(i, 7)] * 3.0 + 1.0;
    }
    let (dp, dt) = (
        backend.upload(pred.as_ref()).map_err(|x| e("upload", x))?,
        backend.upload(target.as_ref()).map_err(|x| e("upload", x))?,
    );
    let got = backend.column_pearson_blocks(&dp, &dt).map_err(|x| e("column_pearson_blocks", x))?;
    let want = cpu.column_pearson_blocks(&pred, &target).map_err(|x| e("cpu column_pearson_blocks", x))?;
    ensure(got.len() == want.len(), || {
        format!("{name}: column_pearson_blocks: {} values, expected {}", got.len(), want.len())
    })?;
    let d = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    ensure(d <= 1e-6, || format!("{name}: column_pearson_blocks: max |dr| {d:.3e} > 1e-6"))?;
    ensure(got[4] == 0.0 && got[19 + 2] == 0.0, || format!("{name}: zero variance must give r = 0"))?;
    ensure((got[2 * 19 + 7] - 1.0).abs() < 1e-6, || {
        format!("{name}: a perfect prediction gives r = {}", got[2 * 19 + 7])
    })?;
    ensure(backend.column_pearson_blocks(&dp, &da).is_err(), || {
        format!("{name}: column_pearson_blocks of mismatched shapes is not an error")
    })?;
    let g = Mat::<f64>::from_fn(23, 23, |i, j| (0..37).map(|k| a[(k, i)] as f64 * a[(k, j)] as f64).sum());
    let spectra =
        backend.spectra(&[g.as_ref(), Mat::<f64>::identity(3, 3).as_ref()], "test").map_err(|x| e("spectra", x))?;
    let want = crate::ridge::Spectrum::of(g.as_ref(), "test").map_err(|x| e("faer spectrum", x))?;
    ensure(spectra.len() == 2, || format!("{name}: spectra: {} results for 2 matrices", spectra.len()))?;
    let d = spectra[0].values.iter().zip(&want.values).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    ensure(d <= 1e-9 * want.values.last().copied().unwrap_or(1.0), || {
        format!("{name}: spectra: eigenvalues off by {d:.3e}")
    })?;
    ensure(spectra[1].values.iter().all(|&v| (v - 1.0).abs() < 1e-12), || format!("{name}: spectra of the identity"))?;
    Ok(format!("ops: max |difference| to faer {worst:.2e}"))
}

/// The cross-validation on `backend` against plain loops (paper mode, both forms, several
/// batch sizes; voxelwise) and against the faer [`Cpu`] backend (9 runs of 40-60 samples,
/// 24 and 420 features, both modes): r within 1e-5 of faer's, the same alphas.
pub fn check_cv<B: Backend>(backend: &B) -> Result<Vec<String>, Failure> {
    let name = backend.name();
    let mut report = Vec::new();
    // Against the naive procedure.
    for &(p, label) in &[(6usize, "primal"), (90, "dual")] {
        let (xs, ys) = planted_runs(7, &[30, 34, 28, 31], p, 23);
        let alphas = logspace(-1.0, 4.0, 11);
        let (r_ref, a_ref) = naive_paper(&xs, &ys, &alphas);
        let mut worst = 0.0f64;
        for (form, batch) in [(Form::Auto, 4096), (Form::Primal, 5), (Form::Dual, 7)] {
            let fit = run_cv(
                backend,
                &xs,
                &ys,
                RidgeCvParams { alphas: alphas.clone(), mode: CvMode::Paper, form, voxel_batch: batch },
            );
            ensure(global_alphas(&fit) == a_ref, || {
                format!("{name}: paper cv ({label} data, {form:?}): alphas {:?}, naive {a_ref:?}", global_alphas(&fit))
            })?;
            let d = max_diff(&fit.r, &r_ref);
            worst = worst.max(d);
            ensure(d < 2e-4, || {
                format!("{name}: paper cv ({label} data, {form:?}, batch {batch}): max |dr| {d:.3e} to the naive loop")
            })?;
        }
        report.push(format!("paper cv vs naive loop ({label} data): max |dr| {worst:.2e}, alphas equal"));
    }
    // Voxelwise against the naive inner loop, on decisive voxels.
    let (xs, ys) = planted_runs(11, &[26, 30, 27, 29], 5, 9);
    let alphas = logspace(-1.0, 3.0, 5);
    let fit = run_cv(
        backend,
        &xs,
        &ys,
        RidgeCvParams { alphas: alphas.clone(), mode: CvMode::Voxelwise, form: Form::Auto, voxel_batch: 4 },
    );
    let scores = naive_voxelwise_scores(&xs, &ys, &alphas);
    let mut decisive = 0;
    for (t, fold) in scores.iter().enumerate() {
        let FoldAlpha::PerVoxel(chosen) = &fit.folds[t].alpha else {
            return Err(format!("{name}: voxelwise cv returned one alpha per fold"));
        };
        for (j, s) in fold.iter().enumerate() {
            let mut best = 0;
            for (i, v) in s.iter().enumerate() {
                if *v > s[best] + 1e-9 {
                    best = i;
                }
            }
            let mut sorted = s.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            if sorted[0] - sorted[1] > 1e-6 {
                decisive += 1;
                ensure(chosen[j] == alphas[best], || {
                    format!("{name}: voxelwise cv, fold {t} voxel {j}: alpha {} vs naive {}", chosen[j], alphas[best])
                })?;
            }
        }
    }
    report.push(format!("voxelwise cv vs naive loop: {decisive} decisive voxel-folds, alphas equal"));
    // Constant voxels.
    let (xs, mut ys) = planted_runs(5, &[20, 22, 21], 4, 6);
    for y in &mut ys {
        y.col_mut(2).fill(0.0);
    }
    let fit = run_cv(backend, &xs, &ys, RidgeCvParams { alphas: vec![1.0, 10.0], ..Default::default() });
    ensure(fit.r[2] == 0.0, || format!("{name}: a constant voxel scores {}, not 0", fit.r[2]))?;
    // Against faer at a study-like shape: 9 runs of 40-60 samples.
    let sizes = [44, 52, 40, 60, 47, 55, 41, 58, 49];
    for &(p, v) in &[(24usize, 64usize), (420, 40)] {
        let (xs, ys) = planted_runs(31 + p as u64, &sizes, p, v);
        for mode in [CvMode::Paper, CvMode::Voxelwise] {
            for batch in [4096, 13] {
                let params =
                    RidgeCvParams { alphas: logspace(-1.0, 5.0, 9), mode, form: Form::Auto, voxel_batch: batch };
                let ours = run_cv(backend, &xs, &ys, params.clone());
                let faer = run_cv(&Cpu, &xs, &ys, params);
                let d = max_diff_f32(&ours.r, &faer.r);
                ensure(d <= 1e-5, || {
                    format!("{name}: {} cv, {p} features, batch {batch}: max |dr| {d:.3e} to faer", mode.name())
                })?;
                let same = ours.folds.iter().zip(&faer.folds).all(|(a, b)| match (&a.alpha, &b.alpha) {
                    (FoldAlpha::Global(a), FoldAlpha::Global(b)) => a == b,
                    (FoldAlpha::PerVoxel(a), FoldAlpha::PerVoxel(b)) => {
                        a.iter().zip(b).filter(|(x, y)| x != y).count() * 100 <= a.len()
                    }
                    _ => false,
                });
                ensure(same, || format!("{name}: {} cv, {p} features: alphas differ from faer's", mode.name()))?;
                if batch == 13 {
                    report.push(format!(
                        "{} cv vs faer ({p} features, {}): max |dr| {d:.2e}",
                        mode.name(),
                        ours.form.name()
                    ));
                }
            }
        }
    }
    Ok(report)
}

/// [`check_ops`] then [`check_cv`]: the whole suite, one line per check.
pub fn check_backend<B: Backend>(backend: &B) -> Result<Vec<String>, Failure> {
    let mut report = vec![check_ops(backend)?];
    report.extend(check_cv(backend)?);
    Ok(report)
}

/// The faer backend with the device hints of a GPU (direct scoring, a memory limit): the
/// solver's device paths, checked on the host.
#[derive(Clone, Copy, Debug)]
pub struct DeviceLike {
    /// Free bytes reported by [`Backend::memory`].
    pub free: u64,
}

impl Backend for DeviceLike {
    type Matrix = Mat<f32>;
    fn name(&self) -> String {
        "cpu (device-like)".into()
    }
    fn upload(&self, m: faer::MatRef<'_, f32>) -> crate::Result<Mat<f32>> {
        Cpu.upload(m)
    }
    fn download(&self, m: &Mat<f32>) -> crate::Result<Mat<f32>> {
        Cpu.download(m)
    }
    fn shape(&self, m: &Mat<f32>) -> (usize, usize) {
        Cpu.shape(m)
    }
    fn cols(&self, m: &Mat<f32>, start: usize, len: usize) -> crate::Result<Mat<f32>> {
        Cpu.cols(m, start, len)
    }
    fn matmul(&self, a: &Mat<f32>, b: &Mat<f32>) -> crate::Result<Mat<f32>> {
        Cpu.matmul(a, b)
    }
    fn matmul_tn(&self, a: &Mat<f32>, b: &Mat<f32>) -> crate::Result<Mat<f32>> {
        Cpu.matmul_tn(a, b)
    }
    fn lin_comb(&self, terms: &[(f32, &Mat<f32>)]) -> crate::Result<Mat<f32>> {
        Cpu.lin_comb(terms)
    }
    fn column_pearson_blocks(&self, pred: &Mat<f32>, target: &Mat<f32>) -> crate::Result<Vec<f64>> {
        Cpu.column_pearson_blocks(pred, target)
    }
    fn memory(&self) -> crate::Result<Option<crate::backend::DeviceMemory>> {
        Ok(Some(crate::backend::DeviceMemory { free: self.free, total: self.free }))
    }
    fn direct_scoring(&self) -> bool {
        true
    }
}
