//! Regressors vs nilearn `compute_regressor(..., "glover", oversampling=50)`, both HRF versions.
//! Fixtures: `tests/fixtures/regressors_nilearn-0.10.safetensors` (nilearn 0.10.4) and
//! `regressors_nilearn-0.11.safetensors` (nilearn 0.11.x); tolerance: max |diff| <= 1e-4 after
//! trimming and z-scoring (observed: see the assertion messages with `--nocapture`).

use brainscale::core::design::{RegressorParams, Trim, design_run, regressor_operator};
use brainscale::core::hrf::Hrf;
use faer::Mat;

use crate::fixtures::Fixture;

fn check(file: &str, hrf: Hrf) {
    let fx = Fixture::load(file);
    let n_cases: usize = fx.metadata.get("n_cases").and_then(|v| v.parse().ok()).expect("n_cases");
    assert!(n_cases >= 5);
    let mut worst_z = 0.0f64;
    let mut worst_raw = 0.0f64;
    for c in 0..n_cases {
        let p = fx.vec(&format!("case{c}.params"));
        let (tr, n_scans, trim) = (p[0], p[1] as usize, Trim { start: p[2] as usize, end: p[3] as usize });
        let onsets = fx.vec(&format!("case{c}.onsets"));
        let durations = fx.vec(&format!("case{c}.durations"));
        let amplitudes = fx.mat(&format!("case{c}.amplitudes"));
        let op = regressor_operator(&onsets, &durations, &RegressorParams::new(tr, n_scans, hrf)).expect("operator");
        // Raw regressors (before trimming / z-scoring), relative to the column scale.
        let raw = &op * &amplitudes;
        let expected_raw = fx.mat(&format!("case{c}.raw"));
        for j in 0..raw.ncols() {
            let scale = (0..n_scans).map(|i| expected_raw[(i, j)].abs()).fold(1e-12, f64::max);
            for i in 0..n_scans {
                worst_raw = worst_raw.max((raw[(i, j)] - expected_raw[(i, j)]).abs() / scale);
            }
        }
        let amp32 = Mat::<f32>::from_fn(amplitudes.nrows(), amplitudes.ncols(), |i, j| amplitudes[(i, j)] as f32);
        let z = design_run(op.as_ref(), amp32.as_ref(), trim).expect("design");
        let expected = fx.mat(&format!("case{c}.zscored"));
        assert_eq!((z.nrows(), z.ncols()), (expected.nrows(), expected.ncols()), "case {c} shape");
        for j in 0..z.ncols() {
            for i in 0..z.nrows() {
                let d = (z[(i, j)] as f64 - expected[(i, j)]).abs();
                assert!(
                    d <= 1e-4,
                    "{file} case {c} ({}) scan {i} column {j}: {} vs {}",
                    fx.metadata.get(&format!("case{c}.name")).map_or("", |s| s),
                    z[(i, j)],
                    expected[(i, j)]
                );
                worst_z = worst_z.max(d);
            }
        }
    }
    eprintln!("{file}: max |diff| z-scored {worst_z:.2e}, raw (relative) {worst_raw:.2e}");
    assert!(worst_raw < 1e-6, "raw regressors differ from nilearn by {worst_raw:.2e} (relative)");
}

#[test]
fn regressors_match_nilearn_0_10_glover() {
    check("regressors_nilearn-0.10.safetensors", Hrf::Glover);
}

#[test]
fn regressors_match_nilearn_0_11_glover() {
    check("regressors_nilearn-0.11.safetensors", Hrf::GloverNilearn011);
}

#[test]
fn hrf_kernels_match_nilearn() {
    for (file, hrf) in [
        ("regressors_nilearn-0.10.safetensors", Hrf::Glover),
        ("regressors_nilearn-0.11.safetensors", Hrf::GloverNilearn011),
    ] {
        let fx = Fixture::load(file);
        for c in 0..6 {
            let name = format!("case{c}.hrf_kernel");
            if !fx.has(&name) {
                continue;
            }
            let expected = fx.vec(&name);
            let tr: f64 = fx.metadata[&format!("case{c}.tr_nilearn")].parse().expect("tr");
            let k = hrf.kernel(tr, 50);
            assert_eq!(k.len(), expected.len(), "{file} case {c}: kernel length");
            let worst = k.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-12, "{file} case {c}: kernel differs by {worst:.2e}");
        }
    }
}
