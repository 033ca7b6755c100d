//! Cross-validated ridge vs the reference tools, on `tests/fixtures/ridge_cv.safetensors`
//! (scikit-learn 1.5.2 `Ridge(fit_intercept=False)` in SPEC 5's paper procedure; himalaya 0.4.11
//! `RidgeCV` with a leave-one-run-out splitter and correlation scoring; numpy backend, f64).
//! Tolerances: r within 2e-3; alphas equal wherever the best two validation (or inner-CV)
//! scores differ by more than 1e-4.

use brainscale::core::ridge::{CvMode, FoldAlpha, Form, RidgeCv, RidgeCvParams, RunData};
use brainscale::core::{Backend, Cpu};
use faer::Mat;

use crate::fixtures::Fixture;

fn load(fx: &Fixture, d: &str) -> (Vec<Mat<f32>>, Vec<Mat<f32>>, Vec<f64>) {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for r in 1.. {
        let (x, y) = (format!("{d}.X.run-{r:02}"), format!("{d}.Y.run-{r:02}"));
        if !fx.has(&x) {
            break;
        }
        xs.push(fx.mat32(&x));
        ys.push(fx.mat32(&y));
    }
    (xs, ys, fx.vec(&format!("{d}.alphas")))
}

fn fit<B: Backend>(
    backend: &B,
    xs: &[Mat<f32>],
    ys: &[Mat<f32>],
    alphas: &[f64],
    mode: CvMode,
    form: Form,
) -> brainscale::core::ridge::RidgeCvFit {
    let data =
        RunData::new(xs.iter().map(|m| m.as_ref()).collect(), ys.iter().map(|m| m.as_ref()).collect()).expect("data");
    RidgeCv::new(RidgeCvParams { alphas: alphas.to_vec(), mode, form, voxel_batch: 50 })
        .expect("params")
        .fit(backend, &data)
        .expect("fit")
}

fn gap_top2(scores: &[f64]) -> f64 {
    let mut s = scores.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    if s.len() < 2 { f64::INFINITY } else { s[0] - s[1] }
}

#[test]
fn paper_cv_matches_scikit_learn() {
    paper_cv_matches_scikit_learn_on(&Cpu);
}

/// The same fixtures through the candle backend library, loaded as `--backend candle` loads it.
#[test]
fn the_loaded_candle_backend_matches_scikit_learn_and_himalaya() {
    let backend = crate::backend::loaded_candle_cpu();
    paper_cv_matches_scikit_learn_on(&backend);
    voxelwise_cv_matches_himalaya_on(&backend);
}

fn paper_cv_matches_scikit_learn_on<B: Backend>(backend: &B) {
    let fx = Fixture::load("ridge_cv.safetensors");
    for d in ["primal", "dual"] {
        let (xs, ys, alphas) = load(&fx, d);
        let expected_r = fx.vec(&format!("{d}.paper.r"));
        let expected_alpha = fx.vec(&format!("{d}.paper.best_alpha"));
        let val = fx.mat(&format!("{d}.paper.val_scores"));
        for form in [Form::Auto, Form::Primal, Form::Dual] {
            let got = fit(backend, &xs, &ys, &alphas, CvMode::Paper, form);
            let mut compared = 0;
            for (t, fold) in got.folds.iter().enumerate() {
                let FoldAlpha::Global(a) = fold.alpha else { panic!("global alpha expected") };
                let scores: Vec<f64> = (0..alphas.len()).map(|k| val[(t, k)]).collect();
                let ours = fold.val_scores.as_ref().expect("validation scores");
                let dv = ours.iter().zip(&scores).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                assert!(dv < 2e-3, "{d} {form:?} fold {t}: validation means differ by {dv:.2e}");
                if gap_top2(&scores) > 1e-4 {
                    assert_eq!(a, expected_alpha[t], "{d} {form:?} fold {t}: alpha");
                    compared += 1;
                }
            }
            assert!(compared >= 3, "{d}: too few decisive folds ({compared}) to test the alpha choice");
            let dr = got.r.iter().zip(&expected_r).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
            eprintln!("{}: paper {d} {form:?}: max |dr| = {dr:.2e}, alphas {:?}", backend.name(), expected_alpha);
            assert!(dr <= 2e-3, "{d} {form:?}: max |dr| = {dr:.2e}");
        }
    }
}

#[test]
fn voxelwise_cv_matches_himalaya() {
    voxelwise_cv_matches_himalaya_on(&Cpu);
}

fn voxelwise_cv_matches_himalaya_on<B: Backend>(backend: &B) {
    let fx = Fixture::load("ridge_cv.safetensors");
    for d in ["primal", "dual"] {
        let (xs, ys, alphas) = load(&fx, d);
        let expected_r = fx.vec(&format!("{d}.voxelwise.r"));
        let best = fx.mat(&format!("{d}.voxelwise.best_alphas"));
        let (shape, cv) = fx.tensors[&format!("{d}.voxelwise.cv_scores")].clone();
        let (n_alphas, n_vox) = (shape[1], shape[2]);
        let got = fit(backend, &xs, &ys, &alphas, CvMode::Voxelwise, Form::Auto);
        let (mut compared, mut ties) = (0, 0);
        for (t, fold) in got.folds.iter().enumerate() {
            let FoldAlpha::PerVoxel(a) = &fold.alpha else { panic!("per-voxel alphas expected") };
            for j in 0..n_vox {
                let scores: Vec<f64> = (0..n_alphas).map(|k| cv[(t * n_alphas + k) * n_vox + j]).collect();
                if gap_top2(&scores) > 1e-4 {
                    assert_eq!(a[j], best[(t, j)], "{d} fold {t} voxel {j}: alpha");
                    compared += 1;
                } else {
                    ties += 1;
                }
            }
        }
        let dr = got.r.iter().zip(&expected_r).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
        eprintln!(
            "{}: voxelwise {d}: max |dr| = {dr:.2e}; {compared} alphas compared, {ties} near-ties skipped",
            backend.name()
        );
        assert!(compared > ties, "{d}: most alphas must be decisive");
        assert!(dr <= 2e-3, "{d}: max |dr| = {dr:.2e}");
    }
}
