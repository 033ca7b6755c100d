//! Parity with nilearn 0.10.4 (scipy 1.13.1, numpy 1.26.4) on the fixtures of
//! `tests/fixtures/prep/` (made by `tests/fixtures/prep/generate.sh`; versions in each file's
//! metadata and in `tests/fixtures/prep/README.md`).
//!
//! * resampling vs `nilearn.image.resample_img(img, target_affine, target_shape,
//!   interpolation)`: max |diff| <= 1e-4 x the image's value range (|values| up to 1200 here),
//!   NaNs at the same voxels;
//! * cleaning vs `NiftiMasker(detrend=True, standardize=True, high_pass=1/128, t_r=2)` and
//!   `nilearn.signal.clean`: max |diff| <= 1e-4 (absolute, on z-scores);
//! * masks vs `compute_epi_mask` / `compute_multi_epi_mask(threshold=0.5)` and that mask
//!   intersected with its left-right mirror: equal voxel for voxel;
//! * smoothing vs `nilearn.image.smooth_img(img, fwhm)`: max |diff| <= 1e-6 x the image's
//!   largest |value| (float32 rounding of scipy's passes);
//! * one subject as the paper's `fit_individual_subject.py`: `compute_multi_epi_mask` over its
//!   runs, `intersect_masks([mask, swap_img_hemispheres(mask)], threshold=1)` (equal voxel for
//!   voxel), then `NiftiMasker(mask, detrend=True, standardize=True, smoothing_fwhm=4,
//!   high_pass=1/128, t_r=2)`: max |diff| <= 1e-4 on z-scores.
//!
//! Run with `--nocapture` to see the measured differences.

use std::collections::HashMap;
use std::path::PathBuf;

use brainscale_data::{Affine, Grid};
use brainscale_prep::clean::{CleanParams, Cleaner, Standardize};
use brainscale_prep::mask::{EpiMaskParams, MeanVolume, MultiEpiMask, compute_epi_mask, mirror_intersect, symmetrize};
use brainscale_prep::resample::{ClipRange, Interpolation, Resampler, resample_img};
use brainscale_prep::smooth::Smoothing;
use faer::Mat;
use safetensors::{Dtype, SafeTensors};

const NILEARN: &str = "0.10.4";

struct Fixture {
    name: String,
    tensors: HashMap<String, (Vec<usize>, Vec<f64>)>,
    metadata: HashMap<String, String>,
}

impl Fixture {
    fn load(name: &str) -> Fixture {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/prep").join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (_, meta) = SafeTensors::read_metadata(&bytes).expect("fixture header");
        let st = SafeTensors::deserialize(&bytes).expect("fixture");
        let mut tensors = HashMap::new();
        for (tname, view) in st.tensors() {
            let d = view.data();
            let vals: Vec<f64> = match view.dtype() {
                Dtype::F64 => d.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))).collect(),
                Dtype::F32 => {
                    d.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64).collect()
                }
                Dtype::I64 => {
                    d.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64).collect()
                }
                Dtype::U8 => d.iter().map(|&b| b as f64).collect(),
                other => panic!("{tname}: unexpected dtype {other:?}"),
            };
            tensors.insert(tname, (view.shape().to_vec(), vals));
        }
        let metadata = meta.metadata().clone().unwrap_or_default();
        assert_eq!(metadata.get("version.nilearn").map(String::as_str), Some(NILEARN), "{name}: nilearn version");
        Fixture { name: name.to_string(), tensors, metadata }
    }

    fn get(&self, key: &str) -> &(Vec<usize>, Vec<f64>) {
        self.tensors.get(key).unwrap_or_else(|| panic!("{}: tensor {key} missing", self.name))
    }

    fn f32s(&self, key: &str) -> Vec<f32> {
        self.get(key).1.iter().map(|&v| v as f32).collect()
    }

    fn flags(&self, key: &str) -> Vec<bool> {
        self.get(key).1.iter().map(|&v| v != 0.0).collect()
    }

    fn affine(&self, key: &str) -> Affine {
        let v = &self.get(key).1;
        std::array::from_fn(|r| std::array::from_fn(|c| v[r * 4 + c]))
    }

    fn dims(&self, key: &str) -> [usize; 3] {
        let v = &self.get(key).1;
        [v[0] as usize, v[1] as usize, v[2] as usize]
    }

    fn meta(&self, key: &str) -> &str {
        self.metadata.get(key).unwrap_or_else(|| panic!("{}: metadata {key} missing", self.name))
    }

    fn cases(&self) -> Vec<String> {
        self.meta("cases").split(',').map(str::to_string).collect()
    }
}

#[test]
fn resampling_matches_nilearn_resample_img() {
    let fx = Fixture::load("resample.safetensors");
    let mut report = Vec::new();
    for case in fx.cases() {
        let source = Grid { dims: source_dims(&fx, &case), affine: fx.affine(&format!("{case}.source_affine")) };
        let target = Grid {
            dims: fx.dims(&format!("{case}.target_shape")),
            affine: fx.affine(&format!("{case}.target_affine")),
        };
        let data = fx.f32s(&format!("{case}.source"));
        let scale = data.iter().filter(|v| v.is_finite()).fold(0f32, |m, v| m.max(v.abs())) as f64;
        for interp in [Interpolation::Continuous, Interpolation::Linear, Interpolation::Nearest] {
            let key = format!("{case}.{}", interp.name());
            if !fx.tensors.contains_key(&key) {
                continue;
            }
            let got = resample_img(&source, &data, &target, interp).unwrap_or_else(|e| panic!("{key}: {e}"));
            let forced = format!("{key}.force_resample");
            if fx.tensors.contains_key(&forced) {
                // Integer translations: nilearn's padding shortcut vs its interpolation.
                let worst = max_diff(&key, &got, &fx.f32s(&forced));
                report.push(format!("{key}: max |diff| {worst:.2e} vs force_resample=True"));
                assert!(worst <= 1e-4 * scale, "{forced}: max |diff| {worst:e} > 1e-4 x {scale}");
                let default = fx.f32s(&key);
                let n_differ =
                    got.iter().zip(&default).filter(|(g, e)| (**g - **e).abs() as f64 > 1e-4 * scale).count();
                if case == "shift_inside" {
                    // nilearn 0.10.4 misplaces the copied block (see the module docs).
                    assert!(n_differ > 0, "{key}: nilearn's shortcut now agrees; update the docs");
                    report.push(format!("{key}: {n_differ} of {} values differ from nilearn's shortcut", got.len()));
                    continue;
                }
                assert_eq!(n_differ, 0, "{key}: differs from nilearn's default");
                continue;
            }
            let worst = max_diff(&key, &got, &fx.f32s(&key));
            report.push(format!("{key}: max |diff| {worst:.2e} (scale {scale:.0})"));
            assert!(worst <= 1e-4 * scale, "{key}: max |diff| {worst:e} > 1e-4 x {scale}");
        }
    }
    eprintln!("resample vs nilearn {NILEARN}:\n  {}", report.join("\n  "));
}

/// Max |got - expected| over finite values; NaNs must sit at the same places.
fn max_diff(key: &str, got: &[f32], expected: &[f32]) -> f64 {
    assert_eq!(got.len(), expected.len(), "{key}: length");
    let mut worst = 0f64;
    for (n, (g, e)) in got.iter().zip(expected).enumerate() {
        assert_eq!(g.is_nan(), e.is_nan(), "{key}: NaN mismatch at value {n}: {g} vs {e}");
        if e.is_finite() {
            worst = worst.max((*g as f64 - *e as f64).abs());
        }
    }
    worst
}

fn source_dims(fx: &Fixture, case: &str) -> [usize; 3] {
    // Stored as (nt, nz, ny, nx).
    let shape = &fx.get(&format!("{case}.source")).0;
    [shape[3], shape[2], shape[1]]
}

#[test]
fn streaming_resampler_equals_whole_image_resampling() {
    // The pipeline's route: volume by volume, merge the clip ranges, clip at the end.
    let fx = Fixture::load("resample.safetensors");
    let case = "oblique";
    let source = Grid { dims: source_dims(&fx, case), affine: fx.affine(&format!("{case}.source_affine")) };
    let target =
        Grid { dims: fx.dims(&format!("{case}.target_shape")), affine: fx.affine(&format!("{case}.target_affine")) };
    let data = fx.f32s(&format!("{case}.source"));
    let whole = resample_img(&source, &data, &target, Interpolation::Continuous).expect("resample");
    let mut resampler = Resampler::new(&source, &target, Interpolation::Continuous).expect("plan");
    let mut streamed = Vec::new();
    let mut range = ClipRange::default();
    let mut out = vec![0f32; target.n_cells()];
    for volume in data.chunks_exact(source.n_cells()) {
        range.merge(resampler.resample(volume, &mut out).expect("volume"));
        streamed.extend_from_slice(&out);
    }
    range.clip(&mut streamed);
    assert_eq!(whole, streamed);
}

fn clean_params(fx: &Fixture, case: &str) -> CleanParams {
    let opt = |key: &str| match fx.meta(&format!("{case}.{key}")) {
        "none" => None,
        v => Some(v.parse::<f64>().unwrap_or_else(|e| panic!("{case}.{key}: {e}"))),
    };
    let standardize = match fx.meta(&format!("{case}.standardize")) {
        "zscore" | "True" => Standardize::ZScore,
        "zscore_sample" => Standardize::ZScoreSample,
        "False" => Standardize::None,
        other => panic!("{case}: standardize {other}"),
    };
    CleanParams {
        detrend: fx.meta(&format!("{case}.detrend")) == "True",
        standardize,
        high_pass: opt("high_pass"),
        low_pass: opt("low_pass"),
        t_r: opt("t_r").expect("t_r"),
    }
}

#[test]
fn cleaning_matches_nilearn_signal_clean_and_nifti_masker() {
    let fx = Fixture::load("clean.safetensors");
    let mut report = Vec::new();
    for case in fx.cases() {
        let params = clean_params(&fx, &case);
        let (shape, signals) = fx.get(&format!("{case}.signals"));
        let (n_samples, n_voxels) = (shape[0], shape[1]);
        let expected = &fx.get(&format!("{case}.expected")).1;
        let cleaner = Cleaner::new(&params, n_samples).unwrap_or_else(|e| panic!("{case}: {e}"));
        // f32 fixtures through the f32 API (as the pipeline), f64 ones through the f64 API.
        let got: Mat<f64> = if case.contains("f32") {
            let mut m = Mat::<f32>::from_fn(n_samples, n_voxels, |t, v| signals[t * n_voxels + v] as f32);
            cleaner.clean(m.as_mut()).unwrap_or_else(|e| panic!("{case}: {e}"));
            Mat::from_fn(n_samples, n_voxels, |t, v| m[(t, v)] as f64)
        } else {
            let mut m = Mat::<f64>::from_fn(n_samples, n_voxels, |t, v| signals[t * n_voxels + v]);
            cleaner.clean_f64(m.as_mut()).unwrap_or_else(|e| panic!("{case}: {e}"));
            m
        };
        let mut worst = 0f64;
        for t in 0..n_samples {
            for v in 0..n_voxels {
                worst = worst.max((got[(t, v)] - expected[t * n_voxels + v]).abs());
            }
        }
        report.push(format!(
            "{case} ({}, {n_samples} x {n_voxels}): max |diff| {worst:.2e}",
            fx.meta(&format!("{case}.via"))
        ));
        // The float64 references carry no float32 rounding of nilearn's own: they agree closely.
        let bound = if case.contains("f32") { 1e-4 } else { 1e-8 };
        assert!(worst <= bound, "{case}: max |diff| {worst:e} > {bound:e}");
    }
    eprintln!(
        "clean vs nilearn {NILEARN} (nilearn float32 vs float64 on masker_f32_60: {}):\n  {}",
        fx.meta("masker_f32_60.nilearn_f32_vs_f64_max_abs"),
        report.join("\n  ")
    );
}

/// The per-subject mean volume on the target grid, as nilearn's `compute_epi_mask` builds it
/// (`_compute_mean`): mean over every volume of every run, resampled (continuous, clipped to
/// the mean's range) when the images are not on the target grid.
fn subject_mean(fx: &Fixture, case: &str, s: usize, source: &Grid, target: &Grid) -> Vec<f32> {
    let data = fx.f32s(&format!("{case}.subject{s}.data"));
    let mut mean = MeanVolume::new(source.n_cells());
    for volume in data.chunks_exact(source.n_cells()) {
        mean.add(volume).expect("volume");
    }
    let n_runs: f64 = fx.get(&format!("{case}.subject{s}.runs")).1.iter().sum();
    assert_eq!(mean.n_volumes(), n_runs as usize);
    let mean = mean.finish();
    if source.matches(target, 1e-9) {
        return mean;
    }
    resample_img(source, &mean, target, Interpolation::Continuous).expect("resample mean")
}

fn diff_list(got: &[bool], expected: &[bool], dims: [usize; 3]) -> Vec<([usize; 3], bool)> {
    let [nx, ny, _] = dims;
    got.iter()
        .zip(expected)
        .enumerate()
        .filter(|(_, (g, e))| g != e)
        .map(|(c, (g, _))| ([c % nx, (c / nx) % ny, c / (nx * ny)], *g))
        .collect()
}

#[test]
fn multi_subject_mask_matches_nilearn_compute_multi_epi_mask() {
    let fx = Fixture::load("mask.safetensors");
    let target = Grid { dims: fx.dims("grid.shape"), affine: fx.affine("grid.affine") };
    for case in fx.cases() {
        let source = Grid {
            dims: fx.dims(&format!("{case}.source_shape")),
            affine: fx.affine(&format!("{case}.source_affine")),
        };
        let n_subjects: usize = fx.meta(&format!("{case}.n_subjects")).parse().expect("n_subjects");
        let mut multi = MultiEpiMask::new(&target, EpiMaskParams::default(), 0.5).expect("accumulator");
        for s in 0..n_subjects {
            let mean = subject_mean(&fx, &case, s, &source, &target);
            let (mask, _) = compute_epi_mask(&mean, target.dims, &EpiMaskParams::default(), s).expect("subject mask");
            let diffs = diff_list(&mask, &fx.flags(&format!("{case}.subject{s}.mask")), target.dims);
            assert!(diffs.is_empty(), "{case} subject {s}: voxels differing from compute_epi_mask: {diffs:?}");
            let info = multi.add(&mean).expect("add");
            assert_eq!(info.n_voxels, mask.iter().filter(|&&m| m).count());
        }
        let mask = multi.finish().expect("multi mask");
        let diffs = diff_list(&mask, &fx.flags(&format!("{case}.multi")), target.dims);
        assert!(diffs.is_empty(), "{case}: voxels differing from compute_multi_epi_mask: {diffs:?}");
        let sym = symmetrize(&mask, &target).expect("symmetrize");
        let diffs = diff_list(&sym, &fx.flags(&format!("{case}.symmetric")), target.dims);
        assert!(diffs.is_empty(), "{case}: voxels differing from the symmetric mask: {diffs:?}");
        eprintln!(
            "{case}: multi-subject mask {} voxels, symmetric {} voxels, equal to nilearn {NILEARN}",
            mask.iter().filter(|&&m| m).count(),
            sym.iter().filter(|&&m| m).count()
        );
    }
}

#[test]
fn smoothing_matches_nilearn_smooth_img() {
    let fx = Fixture::load("smooth.safetensors");
    let mut report = Vec::new();
    for case in fx.cases() {
        let source = fx.f32s(&format!("{case}.source"));
        let shape = &fx.get(&format!("{case}.source")).0;
        let grid = Grid { dims: [shape[3], shape[2], shape[1]], affine: fx.affine(&format!("{case}.affine")) };
        let fwhm: f64 = fx.meta(&format!("{case}.fwhm")).parse().expect("fwhm");
        let smoothing = Smoothing::new(&grid, fwhm).unwrap_or_else(|e| panic!("{case}: {e}"));
        let mut got = source.clone();
        smoothing.smooth_volumes(&mut got).unwrap_or_else(|e| panic!("{case}: {e}"));
        let expected = fx.f32s(&format!("{case}.expected"));
        let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
        let worst = max_diff(&case, &got, &expected);
        let n_differ = got.iter().zip(&expected).filter(|(g, e)| g != e).count();
        report.push(format!(
            "{case} ({} mm FWHM, sigma {:.3?} voxels, radius {:?}): max |diff| {worst:.2e} (scale {scale:.0}), \
             {n_differ} of {} values not bit-equal",
            fwhm,
            smoothing.sigma_voxels(),
            smoothing.radius(),
            got.len()
        ));
        assert!(worst <= 1e-6 * scale, "{case}: max |diff| {worst:e} > 1e-6 x {scale}");
    }
    eprintln!("smooth_img vs nilearn {NILEARN}:\n  {}", report.join("\n  "));
}

#[test]
fn one_subject_as_the_paper_own_mask_then_smoothing_masker() {
    let fx = Fixture::load("smooth.safetensors");
    let grid = Grid { dims: fx.dims("subject.shape"), affine: fx.affine("subject.affine") };
    let n = grid.n_cells();
    let data = fx.f32s("subject.data");
    let runs: Vec<usize> = fx.get("subject.runs").1.iter().map(|&v| v as usize).collect();
    // The mask: compute_multi_epi_mask over the runs (one image each), then the mirror.
    let mut multi = MultiEpiMask::new(&grid, EpiMaskParams::default(), 0.5).expect("accumulator");
    let mut start = 0;
    for &len in &runs {
        let mut mean = MeanVolume::new(n);
        for volume in data[start * n..(start + len) * n].chunks_exact(n) {
            mean.add(volume).expect("volume");
        }
        multi.add(&mean.finish()).expect("run");
        start += len;
    }
    let multi = multi.finish().expect("multi mask");
    let diffs = diff_list(&multi, &fx.flags("subject.multi"), grid.dims);
    assert!(diffs.is_empty(), "voxels differing from compute_multi_epi_mask: {diffs:?}");
    let mask = mirror_intersect(&multi, &grid).expect("mirror");
    let diffs = diff_list(&mask, &fx.flags("subject.mask"), grid.dims);
    assert!(diffs.is_empty(), "voxels differing from intersect_masks with the mirror: {diffs:?}");
    // The masker on run 0: smooth each volume, keep the mask voxels (C order), clean.
    let [nx, ny, nz] = grid.dims;
    let mut offsets = Vec::new();
    for i in 0..nx {
        for j in 0..ny {
            for k in 0..nz {
                let c = i + nx * (j + ny * k);
                if mask[c] {
                    offsets.push(c);
                }
            }
        }
    }
    let smoothing = Smoothing::new(&grid, 4.0).expect("smoothing");
    let n_scans = runs[0];
    let mut signals = Mat::<f32>::zeros(n_scans, offsets.len());
    for t in 0..n_scans {
        let mut volume = data[t * n..(t + 1) * n].to_vec();
        smoothing.smooth(&mut volume).expect("smooth");
        for (v, &c) in offsets.iter().enumerate() {
            signals[(t, v)] = volume[c];
        }
    }
    Cleaner::new(&CleanParams::paper(2.0), n_scans).expect("cleaner").clean(signals.as_mut()).expect("clean");
    let (shape, expected) = fx.get("subject.masker");
    assert_eq!(shape, &vec![n_scans, offsets.len()]);
    let mut worst = 0f64;
    for t in 0..n_scans {
        for v in 0..offsets.len() {
            worst = worst.max((signals[(t, v)] as f64 - expected[t * offsets.len() + v]).abs());
        }
    }
    eprintln!(
        "one subject vs nilearn {NILEARN}: own mask {} voxels ({} before the mirror), equal; NiftiMasker(smoothing_fwhm=4, \
         ...) {n_scans} x {} max |diff| {worst:.2e} (nilearn float32 vs float64: {})",
        offsets.len(),
        multi.iter().filter(|&&m| m).count(),
        offsets.len(),
        fx.meta("subject.nilearn_f32_vs_f64_max_abs")
    );
    assert!(worst <= 1e-4, "masker: max |diff| {worst:e} > 1e-4");
}

#[test]
fn mirror_intersection_keeps_the_largest_component_as_intersect_masks() {
    let fx = Fixture::load("smooth.safetensors");
    let grid = Grid { dims: fx.dims("subject.shape"), affine: fx.affine("subject.affine") };
    let drawn = fx.flags("drawn.mask");
    let got = mirror_intersect(&drawn, &grid).expect("mirror");
    let diffs = diff_list(&got, &fx.flags("drawn.symmetric"), grid.dims);
    assert!(diffs.is_empty(), "voxels differing from intersect_masks: {diffs:?}");
    // The plain mirror intersection has a second, smaller part that nilearn drops.
    let both = symmetrize(&drawn, &grid).expect("symmetrize");
    let n = |m: &[bool]| m.iter().filter(|&&v| v).count().to_string();
    assert_eq!(n(&both), fx.meta("drawn.n_mirror_and"));
    assert_eq!(n(&got), fx.meta("drawn.n_symmetric"));
    assert_ne!(n(&both), n(&got));
}
