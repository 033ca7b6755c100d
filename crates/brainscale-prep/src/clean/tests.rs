// The coefficients are scipy's printed digits, kept verbatim.
#![allow(clippy::excessive_precision)]

use faer::Mat;

use super::*;

/// `scipy.signal.butter(5, Wn, btype, output="ba", fs)` and `lfilter_zi(b, a)` printed by scipy
/// 1.13.1 (17 significant digits).
const HIGH_B: [f64; 6] =
    [0.853056897425061, -4.265284487125305, 8.53056897425061, -8.53056897425061, 4.265284487125305, -0.853056897425061];
const HIGH_A: [f64; 6] =
    [1.0, -4.682336887610735, 8.779218538042493, -8.238863495302658, 3.8696957264016483, -0.7277060702444111];
const HIGH_ZI: [f64; 5] =
    [-0.8530568975342688, 3.4122275901023844, -5.1183413851069846, 3.412227590043374, -0.8530568975045323];
const BAND_A: [f64; 11] = [
    1.0,
    -5.8228425322396378,
    15.393444728020921,
    -24.752785984312851,
    27.228392000815532,
    -21.549731193344595,
    12.380503397966933,
    -5.0684687084725706,
    1.4178354897068259,
    -0.24579447885526712,
    0.019470205558553635,
];
const BAND_B0: f64 = 0.0144399190370605;
const LOW_B: [f64; 6] = [
    0.0027669275766474,
    0.01383463788323703,
    0.02766927576647405,
    0.02766927576647405,
    0.01383463788323703,
    0.0027669275766474,
];
const LOW_A: [f64; 6] =
    [1.0, -2.574415321045998, 2.9938686286465117, -1.8507074844311489, 0.6006667476899853, -0.08087088840663356];

fn assert_close(got: &[f64], expected: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    for (n, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!((g - e).abs() <= tol * e.abs().max(1.0), "{what}[{n}]: {g} vs scipy {e}");
    }
}

#[test]
fn filter_design_matches_scipy_butter() {
    let high = ButterworthFilter::new(FilterBand::HighPass(1.0 / 128.0), 0.5).unwrap();
    assert_close(high.b(), &HIGH_B, 1e-13, "high-pass b");
    assert_close(high.a(), &HIGH_A, 1e-13, "high-pass a");
    assert_close(high.zi(), &HIGH_ZI, 1e-9, "high-pass zi");
    assert_eq!(high.padlen(), 18);
    let band = ButterworthFilter::new(FilterBand::BandPass { high_pass: 0.01, low_pass: 0.1 }, 0.5).unwrap();
    assert_close(band.a(), &BAND_A, 1e-12, "band-pass a");
    let band_b: Vec<f64> =
        [1.0, 0.0, -5.0, 0.0, 10.0, 0.0, -10.0, 0.0, 5.0, 0.0, -1.0].iter().map(|c| c * BAND_B0).collect();
    assert_close(band.b(), &band_b, 1e-12, "band-pass b");
    assert_eq!(band.padlen(), 33);
    let low = ButterworthFilter::new(FilterBand::LowPass(0.08), 1.0 / 1.5).unwrap();
    assert_close(low.b(), &LOW_B, 1e-13, "low-pass b");
    assert_close(low.a(), &LOW_A, 1e-13, "low-pass a");
}

#[test]
fn high_pass_removes_a_constant_and_low_pass_keeps_it() {
    let mut work = Vec::new();
    let high = ButterworthFilter::new(FilterBand::HighPass(0.01), 0.5).unwrap();
    let mut x = vec![3.5; 40];
    high.filtfilt(&mut x, &mut work);
    assert!(x.iter().all(|v| v.abs() < 1e-9), "{x:?}");
    let low = ButterworthFilter::new(FilterBand::LowPass(0.1), 0.5).unwrap();
    let mut x = vec![3.5; 40];
    low.filtfilt(&mut x, &mut work);
    assert!(x.iter().all(|v| (v - 3.5).abs() < 1e-9), "{x:?}");
}

#[test]
fn detrend_removes_a_linear_trend_exactly() {
    let params =
        CleanParams { detrend: true, standardize: Standardize::None, high_pass: None, low_pass: None, t_r: 2.0 };
    let mut m = Mat::<f32>::from_fn(30, 2, |t, v| 5.0 + (v as f32 + 1.0) * 0.25 * t as f32);
    clean(m.as_mut(), &params).unwrap();
    for t in 0..30 {
        assert!(m[(t, 0)].abs() < 1e-5 && m[(t, 1)].abs() < 1e-5, "scan {t}: {} {}", m[(t, 0)], m[(t, 1)]);
    }
}

#[test]
fn zscore_gives_mean_zero_and_unit_std_and_constants_give_zero() {
    let n = 50;
    let mut m =
        Mat::<f32>::from_fn(
            n,
            3,
            |t, v| if v == 2 { 1000.1 } else { 800.0 + 10.0 * ((t * (v + 3)) as f32 * 0.37).sin() },
        );
    for std in [Standardize::ZScore, Standardize::ZScoreSample] {
        let mut x = m.clone();
        clean(x.as_mut(), &CleanParams { standardize: std, ..CleanParams::paper(2.0) }).unwrap();
        let ddof = if std == Standardize::ZScore { 0.0 } else { 1.0 };
        for v in 0..2 {
            let col: Vec<f64> = (0..n).map(|t| x[(t, v)] as f64).collect();
            let mean = col.iter().sum::<f64>() / n as f64;
            let var = col.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (n as f64 - ddof);
            assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "{std:?} column {v}: mean {mean}, var {var}");
        }
        assert!((0..n).all(|t| x[(t, 2)] == 0.0), "a constant column gives zeros");
    }
    // Non-finite values are set to 0 first (as NiftiMasker does while masking).
    m[(4, 0)] = f32::NAN;
    clean(m.as_mut(), &CleanParams::paper(2.0)).unwrap();
    assert!((0..n).all(|t| m[(t, 0)].is_finite()));
}

#[test]
fn without_standardisation_the_mean_is_added_back_after_filtering() {
    // nilearn standardises `filtered + mean`; with standardize=False that is the output.
    let params =
        CleanParams { detrend: false, standardize: Standardize::None, high_pass: Some(0.01), low_pass: None, t_r: 2.0 };
    let mut m = Mat::<f32>::from_fn(40, 1, |_, _| 7.0);
    clean(m.as_mut(), &params).unwrap();
    assert!((0..40).all(|t| (m[(t, 0)] - 7.0).abs() < 1e-5));
}

#[test]
fn invalid_settings_are_errors() {
    let paper = CleanParams::paper(2.0);
    assert_eq!(
        Cleaner::new(&CleanParams { t_r: 0.0, ..paper.clone() }, 100).unwrap_err(),
        CleanError::InvalidTr { t_r: 0.0 }
    );
    assert!(matches!(
        Cleaner::new(&CleanParams { t_r: f64::NAN, ..paper.clone() }, 100),
        Err(CleanError::InvalidTr { .. })
    ));
    for hp in [0.0, -0.1, 0.25, 0.3, f64::INFINITY] {
        let err = Cleaner::new(&CleanParams { high_pass: Some(hp), ..paper.clone() }, 100).unwrap_err();
        assert!(matches!(err, CleanError::InvalidFrequency { which: "high_pass", nyquist: 0.25, .. }), "{err}");
    }
    let err = Cleaner::new(&CleanParams { low_pass: Some(0.25), ..paper.clone() }, 100).unwrap_err();
    assert!(matches!(err, CleanError::InvalidFrequency { which: "low_pass", .. }), "{err}");
    let err =
        Cleaner::new(&CleanParams { high_pass: Some(0.1), low_pass: Some(0.05), ..paper.clone() }, 100).unwrap_err();
    assert_eq!(err, CleanError::BandOrder { high_pass: 0.1, low_pass: 0.05 });
    // filtfilt pads 18 scans on each side: a run needs at least 19.
    let err = Cleaner::new(&paper, 18).unwrap_err();
    assert!(matches!(err, CleanError::TooShort { n_samples: 18, min: 19, .. }), "{err}");
    assert!(Cleaner::new(&paper, 19).is_ok());
    let band = CleanParams { low_pass: Some(0.1), ..paper.clone() };
    assert!(matches!(Cleaner::new(&band, 33), Err(CleanError::TooShort { min: 34, .. })));
    let detrend_only = CleanParams { high_pass: None, ..paper.clone() };
    assert!(matches!(Cleaner::new(&detrend_only, 1), Err(CleanError::TooShort { min: 2, .. })));
    let cleaner = Cleaner::new(&paper, 40).unwrap();
    let mut m = Mat::<f32>::zeros(39, 2);
    assert_eq!(cleaner.clean(m.as_mut()).unwrap_err(), CleanError::Shape { expected: 40, found: 39 });
}
