//! Benchmarks of the encoding core, named `<backend>_<op>_<shape>`, at the study's shapes
//! (9 runs x 290 scans after trimming, 768-5,120 features, 25,870 voxels).
//!
//! `cargo bench -p brainscale-core --bench ridge` (add `-- cpu_paper_cv_9x290x768x25870` for
//! the headline case). The side-by-side comparison with scikit-learn and himalaya, with the
//! numerical drift of the scores, is `scripts/bench_reference.py`.

use brainscale_core::Cpu;
use brainscale_core::design::{RegressorParams, Trim, design_run, regressor_operator};
use brainscale_core::hrf::Hrf;
use brainscale_core::ridge::{RidgeCv, RidgeCvParams, RunData};
use divan::Bencher;
use faer::Mat;
use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::StandardNormal;

fn main() {
    divan::main();
}

fn paper_cv(bencher: Bencher, n_runs: usize, n: usize, p: usize, v: usize) {
    let (xs, ys) = brainscale_core::simulate::random_runs(n_runs, n, p, v, 2.0, 0);
    let data =
        RunData::new(xs.iter().map(|m| m.as_ref()).collect(), ys.iter().map(|m| m.as_ref()).collect()).expect("data");
    let cv = RidgeCv::new(RidgeCvParams::default()).expect("params");
    bencher.bench_local(|| cv.fit(&Cpu, &data).expect("fit"));
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn cpu_paper_cv_9x290x768x2048(bencher: Bencher) {
    paper_cv(bencher, 9, 290, 768, 2048);
}

#[divan::bench(sample_count = 1, sample_size = 1)]
fn cpu_paper_cv_9x290x768x25870(bencher: Bencher) {
    paper_cv(bencher, 9, 290, 768, 25870);
}

#[divan::bench(sample_count = 1, sample_size = 1)]
fn cpu_paper_cv_9x290x2048x25870(bencher: Bencher) {
    paper_cv(bencher, 9, 290, 2048, 25870);
}

#[divan::bench(sample_count = 1, sample_size = 1)]
fn cpu_paper_cv_9x290x5120x25870(bencher: Bencher) {
    paper_cv(bencher, 9, 290, 5120, 25870);
}

/// One run's regressor operator: 310 scans, ~775 words (2.5 words/s).
#[divan::bench]
fn cpu_regressor_operator_310x775(bencher: Bencher) {
    let onsets: Vec<f64> = (0..775).map(|i| i as f64 * 0.8).collect();
    let durations = vec![0.3; 775];
    let params = RegressorParams::new(2.0, 310, Hrf::Glover);
    bencher.bench_local(|| regressor_operator(&onsets, &durations, &params).expect("operator"));
}

/// One run's regressors of a 768-d layer: operator x features, trimmed and z-scored.
#[divan::bench]
fn cpu_design_run_310x775x768(bencher: Bencher) {
    let onsets: Vec<f64> = (0..775).map(|i| i as f64 * 0.8).collect();
    let op =
        regressor_operator(&onsets, &vec![0.3; 775], &RegressorParams::new(2.0, 310, Hrf::Glover)).expect("operator");
    let mut rng = StdRng::seed_from_u64(1);
    let features = Mat::<f32>::from_fn(775, 768, |_, _| rng.sample(StandardNormal));
    bencher.bench_local(|| design_run(op.as_ref(), features.as_ref(), Trim::PAPER).expect("design"));
}
