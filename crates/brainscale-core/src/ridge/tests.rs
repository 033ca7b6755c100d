//! Identities of the solver and agreement of the cross-validation with a naive loop.
#![allow(clippy::needless_range_loop)] // index loops read like the maths in tests

use faer::Mat;
use faer::linalg::solvers::SolveLstsq;
use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::StandardNormal;

use super::factor::{mm, mm_tn};
use super::*;
use crate::Cpu;
use crate::stats::{pearson, zscore_columns};

fn randn(rng: &mut StdRng, n: usize, p: usize) -> Mat<f64> {
    Mat::from_fn(n, p, |_, _| rng.sample::<f64, _>(StandardNormal))
}

fn max_abs(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    let mut m = 0.0f64;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            m = m.max((a[(i, j)] - b[(i, j)]).abs());
        }
    }
    m
}

#[test]
fn normal_equations_hold_in_both_forms() {
    let mut rng = StdRng::seed_from_u64(1);
    for &(n, p) in &[(40, 8), (25, 60)] {
        let (x, y) = (randn(&mut rng, n, p), randn(&mut rng, n, 3));
        for form in [Form::Primal, Form::Dual] {
            let alpha = 2.5;
            let fit = Ridge::new(RidgeParams { alpha, form }).fit(x.as_ref(), y.as_ref()).unwrap();
            let mut lhs = mm(mm_tn(x.as_ref(), x.as_ref()).as_ref(), fit.coef.as_ref());
            lhs += &(&fit.coef * faer::Scale(alpha));
            let rhs = mm_tn(x.as_ref(), y.as_ref());
            let tol = 1e-9 * (n * p) as f64;
            assert!(max_abs(&lhs, &rhs) < tol, "{n}x{p} {form:?}: {}", max_abs(&lhs, &rhs));
        }
    }
}

#[test]
fn primal_and_dual_agree() {
    let mut rng = StdRng::seed_from_u64(2);
    for &(n, p) in &[(50, 10), (20, 45), (30, 30)] {
        let (x, y) = (randn(&mut rng, n, p), randn(&mut rng, n, 4));
        let fit = |form| Ridge::new(RidgeParams { alpha: 0.7, form }).fit(x.as_ref(), y.as_ref()).unwrap().coef;
        let (a, b) = (fit(Form::Primal), fit(Form::Dual));
        assert!(max_abs(&a, &b) < 1e-9, "{n}x{p}: {}", max_abs(&a, &b));
    }
}

#[test]
fn alpha_to_zero_is_least_squares() {
    let mut rng = StdRng::seed_from_u64(3);
    let (x, y) = (randn(&mut rng, 60, 6), randn(&mut rng, 60, 2));
    let fit = Ridge::new(RidgeParams { alpha: 1e-12, form: Form::Primal }).fit(x.as_ref(), y.as_ref()).unwrap();
    let lstsq = x.qr().solve_lstsq(&y);
    assert!(max_abs(&fit.coef, &lstsq) < 1e-9, "{}", max_abs(&fit.coef, &lstsq));
}

/// Runs with a planted signal of varying strength, z-scored per run.
fn planted_runs(seed: u64, sizes: &[usize], p: usize, v: usize) -> (Vec<Mat<f32>>, Vec<Mat<f32>>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let w = randn(&mut rng, p, v);
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for &n in sizes {
        let x = randn(&mut rng, n, p);
        let noise = randn(&mut rng, n, v);
        let signal = mm(x.as_ref(), w.as_ref());
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

fn stack(ms: &[&Mat<f32>]) -> Mat<f64> {
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

/// SPEC 5's paper procedure written as plainly as possible.
fn naive_paper(xs: &[Mat<f32>], ys: &[Mat<f32>], alphas: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n_runs = xs.len();
    let v = ys[0].ncols();
    let mut r_sum = vec![0.0; v];
    let mut best_alphas = Vec::new();
    for t in 0..n_runs {
        let train: Vec<usize> = (0..n_runs).filter(|&r| r != t).collect();
        let (val, inner) = (train[0], &train[1..]);
        let xi = stack(&inner.iter().map(|&r| &xs[r]).collect::<Vec<_>>());
        let yi = stack(&inner.iter().map(|&r| &ys[r]).collect::<Vec<_>>());
        let xv = stack(&[&xs[val]]);
        let scores: Vec<f64> = alphas
            .iter()
            .map(|&alpha| {
                let fit = Ridge::new(RidgeParams { alpha, form: Form::Auto }).fit(xi.as_ref(), yi.as_ref()).unwrap();
                let pred = fit.predict(xv.as_ref()).unwrap();
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
        let xt = stack(&train.iter().map(|&r| &xs[r]).collect::<Vec<_>>());
        let yt = stack(&train.iter().map(|&r| &ys[r]).collect::<Vec<_>>());
        let fit =
            Ridge::new(RidgeParams { alpha: alphas[best], form: Form::Auto }).fit(xt.as_ref(), yt.as_ref()).unwrap();
        let pred = fit.predict(stack(&[&xs[t]]).as_ref()).unwrap();
        for (j, r) in r_sum.iter_mut().enumerate() {
            *r += col_r(&pred, &ys[t], j);
        }
    }
    (r_sum.into_iter().map(|r| r / n_runs as f64).collect(), best_alphas)
}

fn run_cv(xs: &[Mat<f32>], ys: &[Mat<f32>], params: RidgeCvParams) -> RidgeCvFit {
    let data = RunData::new(xs.iter().map(|m| m.as_ref()).collect(), ys.iter().map(|m| m.as_ref()).collect()).unwrap();
    RidgeCv::new(params).unwrap().fit(&Cpu, &data).unwrap()
}

#[test]
fn paper_cv_matches_the_naive_procedure_in_both_forms_and_any_batch() {
    for &(p, label) in &[(6usize, "primal"), (90, "dual")] {
        let (xs, ys) = planted_runs(7, &[30, 34, 28, 31], p, 23);
        let alphas = logspace(-1.0, 4.0, 11);
        let (r_ref, a_ref) = naive_paper(&xs, &ys, &alphas);
        for (form, batch) in [(Form::Auto, 4096), (Form::Primal, 5), (Form::Dual, 7)] {
            let fit = run_cv(
                &xs,
                &ys,
                RidgeCvParams { alphas: alphas.clone(), mode: CvMode::Paper, form, voxel_batch: batch },
            );
            let chosen: Vec<f64> = fit
                .folds
                .iter()
                .map(|f| match f.alpha {
                    FoldAlpha::Global(a) => a,
                    FoldAlpha::PerVoxel(_) => f64::NAN,
                })
                .collect();
            assert_eq!(chosen, a_ref, "{label} {form:?}");
            let diff = fit.r.iter().zip(&r_ref).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
            assert!(diff < 2e-4, "{label} {form:?} batch {batch}: max |dr| = {diff}");
        }
    }
}

#[test]
fn voxelwise_matches_a_naive_inner_loop() {
    let (xs, ys) = planted_runs(11, &[26, 30, 27, 29], 5, 9);
    let alphas = logspace(-1.0, 3.0, 5);
    let fit = run_cv(
        &xs,
        &ys,
        RidgeCvParams { alphas: alphas.clone(), mode: CvMode::Voxelwise, form: Form::Auto, voxel_batch: 4 },
    );
    let n_runs = xs.len();
    for t in 0..n_runs {
        let train: Vec<usize> = (0..n_runs).filter(|&r| r != t).collect();
        let FoldAlpha::PerVoxel(chosen) = &fit.folds[t].alpha else { panic!("per-voxel alphas expected") };
        for j in 0..ys[0].ncols() {
            let scores: Vec<f64> = alphas
                .iter()
                .map(|&alpha| {
                    train
                        .iter()
                        .map(|&u| {
                            let rest: Vec<&Mat<f32>> = train.iter().filter(|&&r| r != u).map(|&r| &xs[r]).collect();
                            let rest_y: Vec<&Mat<f32>> = train.iter().filter(|&&r| r != u).map(|&r| &ys[r]).collect();
                            let f = Ridge::new(RidgeParams { alpha, form: Form::Auto })
                                .fit(stack(&rest).as_ref(), stack(&rest_y).as_ref())
                                .unwrap();
                            col_r(&f.predict(stack(&[&xs[u]]).as_ref()).unwrap(), &ys[u], j)
                        })
                        .sum::<f64>()
                        / train.len() as f64
                })
                .collect();
            let mut best = 0;
            for (i, s) in scores.iter().enumerate() {
                if *s > scores[best] + 1e-9 {
                    best = i;
                }
            }
            let gap = {
                let mut s = scores.clone();
                s.sort_by(|a, b| b.total_cmp(a));
                s[0] - s[1]
            };
            if gap > 1e-6 {
                assert_eq!(chosen[j], alphas[best], "fold {t} voxel {j}");
            }
        }
    }
}

#[test]
fn constant_voxels_score_zero() {
    let (xs, mut ys) = planted_runs(5, &[20, 22, 21], 4, 6);
    for y in &mut ys {
        y.col_mut(2).fill(0.0);
    }
    let fit = run_cv(&xs, &ys, RidgeCvParams { alphas: vec![1.0, 10.0], ..Default::default() });
    assert_eq!(fit.r[2], 0.0);
}

#[test]
fn bad_inputs_are_typed_errors() {
    let (xs, ys) = planted_runs(5, &[20, 22], 4, 6);
    let data = RunData::new(xs.iter().map(|m| m.as_ref()).collect(), ys.iter().map(|m| m.as_ref()).collect());
    assert!(matches!(data, Err(crate::CoreError::TooFewRuns { min: 3, got: 2 })));
    assert!(RidgeCv::new(RidgeCvParams { alphas: vec![], ..Default::default() }).is_err());
    assert!(RidgeCv::new(RidgeCvParams { alphas: vec![-1.0], ..Default::default() }).is_err());
}

/// Hard spectra for the partial-fraction validation path: duplicated feature columns (exactly
/// repeated and zero eigenvalues) and an orthogonal design (all eigenvalues equal).
#[test]
fn paper_cv_on_degenerate_spectra_matches_the_naive_procedure() {
    let (xs, ys) = planted_runs(21, &[30, 33, 29, 32], 6, 11);
    // Duplicated columns: features 6..12 repeat 0..6.
    let dup: Vec<Mat<f32>> = xs.iter().map(|x| Mat::from_fn(x.nrows(), 12, |i, j| x[(i, j % 6)])).collect();
    // Orthogonal design: the same orthonormal-ish columns (Hadamard-like signs) in every run.
    let orth: Vec<Mat<f32>> = xs
        .iter()
        .map(|x| {
            Mat::from_fn(x.nrows(), 4, |i, j| if ((i >> j) & 1) == 0 { 1.0 } else { -1.0 })
                + Mat::from_fn(x.nrows(), 4, |i, j| 1e-3 * x[(i, j)])
        })
        .collect();
    for (label, x) in [("duplicated", &dup), ("orthogonal", &orth)] {
        let alphas = logspace(-1.0, 4.0, 11);
        let (r_ref, a_ref) = naive_paper(x, &ys, &alphas);
        let fit = run_cv(
            x,
            &ys,
            RidgeCvParams { alphas: alphas.clone(), mode: CvMode::Paper, form: Form::Primal, voxel_batch: 4 },
        );
        let chosen: Vec<f64> =
            fit.folds.iter().map(|f| if let FoldAlpha::Global(a) = f.alpha { a } else { f64::NAN }).collect();
        assert_eq!(chosen, a_ref, "{label}");
        let diff = fit.r.iter().zip(&r_ref).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
        assert!(diff < 2e-4, "{label}: max |dr| = {diff}");
        for f in &fit.folds {
            let ours = f.val_scores.as_ref().expect("scores");
            assert!(ours.iter().all(|v| v.is_finite()), "{label}: {ours:?}");
        }
    }
}
