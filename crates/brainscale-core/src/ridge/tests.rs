//! Identities of the solver and agreement of the cross-validation with a naive loop.
#![allow(clippy::needless_range_loop)] // index loops read like the maths in tests

use faer::Mat;
use faer::linalg::solvers::SolveLstsq;
use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::StandardNormal;

use super::factor::{mm, mm_tn};
use super::*;
use crate::Cpu;
use crate::testing::{naive_paper, planted_runs};

fn run_cv(xs: &[Mat<f32>], ys: &[Mat<f32>], params: RidgeCvParams) -> RidgeCvFit {
    crate::testing::run_cv(&Cpu, xs, ys, params)
}

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

/// The conformance suite on faer, and on faer with a GPU's hints (direct stacked scoring in
/// the primal form, a device memory limit that splits the voxels into batches).
#[test]
fn the_conformance_suite_passes_on_faer_and_with_device_hints() {
    for line in crate::testing::check_backend(&Cpu).unwrap() {
        println!("cpu: {line}");
    }
    for free in [u64::MAX / 2, 1 << 30] {
        for line in crate::testing::check_backend(&crate::testing::DeviceLike { free }).unwrap() {
            println!("device-like ({free} B free): {line}");
        }
    }
}

#[test]
fn too_little_device_memory_is_a_clear_error() {
    let (xs, ys) = planted_runs(3, &[30, 31, 32], 4, 600);
    let data = RunData::new(xs.iter().map(|m| m.as_ref()).collect(), ys.iter().map(|m| m.as_ref()).collect()).unwrap();
    let err = RidgeCv::new(RidgeCvParams::default())
        .unwrap()
        .fit(&crate::testing::DeviceLike { free: 1 << 20 }, &data)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not enough free device memory"), "{err}");
    // A limit that leaves room for a few hundred voxels: batches of 256, faer's r.
    let limited = crate::testing::DeviceLike { free: ((512u64 << 20) + 3_500_000) * 10 / 8 };
    let cv = RidgeCv::new(RidgeCvParams::default()).unwrap();
    let (a, b) = (cv.fit(&Cpu, &data).unwrap(), cv.fit(&limited, &data).unwrap());
    let d = a.r.iter().zip(&b.r).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(d < 1e-5, "{d}");
    let mut steps = 0;
    cv.fit_with_progress(&limited, &data, &mut |_, total| steps = total).unwrap();
    assert!(steps > 2, "the voxels were not split into batches ({steps} steps)");
}

#[test]
fn resident_responses_give_the_same_fit() {
    let (xs, ys) = planted_runs(9, &[30, 34, 28, 31], 6, 23);
    let data = RunData::new(xs.iter().map(|m| m.as_ref()).collect(), ys.iter().map(|m| m.as_ref()).collect()).unwrap();
    let resident = Resident::upload(&Cpu, &ys.iter().map(|m| m.as_ref()).collect::<Vec<_>>()).unwrap();
    assert_eq!(resident.bytes(), (123 * 23 * 4) as u64);
    for mode in [CvMode::Paper, CvMode::Voxelwise] {
        let cv = RidgeCv::new(RidgeCvParams { mode, voxel_batch: 5, ..Default::default() }).unwrap();
        let a = cv.fit(&Cpu, &data).unwrap();
        let b = cv.fit_resident(&Cpu, &data, &resident, &mut |_, _| {}).unwrap();
        assert_eq!(a.r, b.r);
    }
    let other = Resident::upload(&Cpu, &ys[..3].iter().map(|m| m.as_ref()).collect::<Vec<_>>()).unwrap();
    let cv = RidgeCv::new(RidgeCvParams::default()).unwrap();
    assert!(cv.fit_resident(&Cpu, &data, &other, &mut |_, _| {}).is_err());
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
        let params = RidgeCvParams { alphas: alphas.clone(), mode: CvMode::Paper, form: Form::Primal, voxel_batch: 4 };
        let direct = crate::testing::run_cv(&crate::testing::DeviceLike { free: u64::MAX / 2 }, x, &ys, params.clone());
        let fit = run_cv(x, &ys, params);
        let d = fit.r.iter().zip(&direct.r).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(d < 1e-5, "{label}: direct scoring differs by {d}");
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
