use super::*;

fn diag(s: [f64; 3], o: [f64; 3]) -> [[f64; 4]; 4] {
    [[s[0], 0.0, 0.0, o[0]], [0.0, s[1], 0.0, o[1]], [0.0, 0.0, s[2], o[2]], [0.0, 0.0, 0.0, 1.0]]
}

fn grid(dims: [usize; 3], affine: [[f64; 4]; 4]) -> Grid {
    Grid { dims, affine }
}

/// A smooth test volume: value = f(i, j, k).
fn volume(dims: [usize; 3], f: impl Fn(f64, f64, f64) -> f64) -> Vec<f32> {
    let mut v = Vec::with_capacity(dims.iter().product());
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                v.push(f(i as f64, j as f64, k as f64) as f32);
            }
        }
    }
    v
}

#[test]
fn same_grid_copies_the_volume() {
    let g = grid([4, 5, 3], diag([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]));
    let src = volume(g.dims, |i, j, k| i + 10.0 * j - 3.0 * k);
    for interp in [Interpolation::Continuous, Interpolation::Linear, Interpolation::Nearest] {
        assert_eq!(resample_img(&g, &src, &g, interp).unwrap(), src);
    }
}

#[test]
fn integer_translation_copies_and_pads_with_zero() {
    let src_grid = grid([4, 4, 4], diag([3.0, 3.0, 3.0], [0.0, 0.0, 0.0]));
    // Target voxel (i, j, k) sits on source voxel (i + 1, j - 1, k).
    let tgt_grid = grid([4, 4, 4], diag([3.0, 3.0, 3.0], [3.0, -3.0, 0.0]));
    let src = volume(src_grid.dims, |i, j, k| 1.0 + i + 4.0 * j + 16.0 * k);
    let out = resample_img(&src_grid, &src, &tgt_grid, Interpolation::Continuous).unwrap();
    for k in 0..4 {
        for j in 0..4 {
            for i in 0..4 {
                let got = out[i + 4 * (j + 4 * k)];
                let expected = if i + 1 < 4 && j >= 1 { src[(i + 1) + 4 * ((j - 1) + 4 * k)] } else { 0.0 };
                assert_eq!(got, expected, "voxel ({i}, {j}, {k})");
            }
        }
    }
}

#[test]
fn spline_at_the_knots_reproduces_the_data_and_preserves_constants() {
    // x flipped: target i sits exactly on source nx - 1 - i, through the spline path.
    let src_grid = grid([6, 5, 4], diag([2.0, 2.0, 2.0], [-5.0, 0.0, 0.0]));
    let tgt_grid = grid([6, 5, 4], diag([-2.0, 2.0, 2.0], [5.0, 0.0, 0.0]));
    let src = volume(src_grid.dims, |i, j, k| (i * 0.7).sin() * 100.0 + j * j - 4.0 * k);
    let out = resample_img(&src_grid, &src, &tgt_grid, Interpolation::Continuous).unwrap();
    for k in 0..4 {
        for j in 0..5 {
            for i in 0..6 {
                let (g, e) = (out[i + 6 * (j + 5 * k)], src[(5 - i) + 6 * (j + 5 * k)]);
                assert!((g - e).abs() < 1e-4, "({i}, {j}, {k}): {g} vs {e}");
            }
        }
    }
    // A constant volume stays constant wherever the target sees the source.
    let oblique = {
        let (c, s) = (0.3f64.cos(), 0.3f64.sin());
        [[2.5 * c, -2.5 * s, 0.0, 1.0], [2.5 * s, 2.5 * c, 0.0, -1.0], [0.0, 0.0, 3.0, 0.5], [0.0, 0.0, 0.0, 1.0]]
    };
    let constant = vec![42.0f32; src_grid.n_cells()];
    let mut r = Resampler::new(&src_grid, &grid([5, 5, 4], oblique), Interpolation::Continuous).unwrap();
    let mut out = vec![0f32; 100];
    r.resample(&constant, &mut out).unwrap();
    let inside = out.iter().filter(|&&v| v != 0.0).count();
    assert_eq!(inside, r.n_inside());
    assert!(inside > 10 && inside < 100, "partly outside: {inside}");
    assert!(out.iter().all(|&v| v == 0.0 || (v - 42.0).abs() < 1e-4), "{out:?}");
}

#[test]
fn linear_interpolation_is_exact_for_affine_functions() {
    let src_grid = grid([7, 6, 5], diag([2.0, 3.0, 2.5], [0.0, 0.0, 0.0]));
    let (c, s) = (0.2f64.cos(), 0.2f64.sin());
    let tgt_grid = grid(
        [5, 5, 4],
        [[2.0 * c, -2.0 * s, 0.0, 1.3], [2.0 * s, 2.0 * c, 0.0, 0.7], [0.0, 0.0, 2.2, 0.4], [0.0, 0.0, 0.0, 1.0]],
    );
    let f = |x: f64, y: f64, z: f64| 5.0 + 2.0 * x - 1.5 * y + 0.5 * z;
    let src = volume(src_grid.dims, |i, j, k| f(2.0 * i, 3.0 * j, 2.5 * k));
    let out = resample_img(&src_grid, &src, &tgt_grid, Interpolation::Linear).unwrap();
    let mut n_inside = 0;
    for k in 0..4 {
        for j in 0..5 {
            for i in 0..5 {
                let [x, y, z] = tgt_grid.world([i, j, k]);
                let inside = (0.0..=12.0).contains(&x) && (0.0..=15.0).contains(&y) && (0.0..=10.0).contains(&z);
                let got = out[i + 5 * (j + 5 * k)];
                if inside {
                    n_inside += 1;
                    assert!((got as f64 - f(x, y, z)).abs() < 1e-4, "({i}, {j}, {k}): {got} vs {}", f(x, y, z));
                } else {
                    assert_eq!(got, 0.0);
                }
            }
        }
    }
    assert!(n_inside > 0);
}

#[test]
fn non_finite_values_are_extrapolated_and_put_back_as_nan() {
    let g = grid([6, 6, 6], diag([2.0, 2.0, 2.0], [0.0, 0.0, 0.0]));
    let t = grid([6, 6, 6], diag([2.0, 2.0, 2.0], [0.5, 0.3, 0.2]));
    let mut src = volume(g.dims, |i, j, k| 100.0 + i + j + k);
    src[3 + 6 * (3 + 6 * 3)] = f32::NAN;
    let out = resample_img(&g, &src, &t, Interpolation::Continuous).unwrap();
    // The nearest source voxel of target (3, 3, 3) is (3, 3, 3) (offset 0.25 voxel): NaN.
    assert!(out[3 + 6 * (3 + 6 * 3)].is_nan());
    let n_nan = out.iter().filter(|v| v.is_nan()).count();
    assert_eq!(n_nan, 1, "only voxels whose nearest source voxel is NaN");
    assert!(out.iter().filter(|v| !v.is_nan()).all(|v| v.is_finite()));
}

#[test]
fn clip_range_includes_zero_and_ignores_nan() {
    let r = ClipRange::of(&[3.0, f32::NAN, 5.0]);
    assert_eq!(r, ClipRange { min: 0.0, max: 5.0 });
    let mut merged = r;
    merged.merge(ClipRange::of(&[-2.0]));
    assert_eq!(merged, ClipRange { min: -2.0, max: 5.0 });
    let mut v = [-3.0, 6.0, f32::NAN, 1.0];
    merged.clip(&mut v);
    assert_eq!(v[..2], [-2.0, 5.0]);
    assert!(v[2].is_nan());
    assert_eq!(v[3], 1.0);
}

#[test]
fn bad_grids_and_buffers_are_errors() {
    let good = grid([4, 4, 4], diag([2.0, 2.0, 2.0], [0.0, 0.0, 0.0]));
    let singular = grid([4, 4, 4], diag([2.0, 0.0, 2.0], [0.0, 0.0, 0.0]));
    let err = Resampler::new(&singular, &good, Interpolation::Continuous).unwrap_err();
    assert!(matches!(err, ResampleError::SingularAffine { role: GridRole::Source, .. }), "{err}");
    let err = Resampler::new(&good, &singular, Interpolation::Linear).unwrap_err();
    assert!(matches!(err, ResampleError::SingularAffine { role: GridRole::Target, .. }), "{err}");
    let mut nan = good.clone();
    nan.affine[1][3] = f64::NAN;
    let err = Resampler::new(&nan, &good, Interpolation::Continuous).unwrap_err();
    assert!(matches!(err, ResampleError::NonFiniteAffine { role: GridRole::Source, .. }), "{err}");
    let mut projective = good.clone();
    projective.affine[3][0] = 0.1;
    assert!(matches!(
        Resampler::new(&good, &projective, Interpolation::Continuous),
        Err(ResampleError::SingularAffine { .. })
    ));
    let empty = grid([4, 0, 4], good.affine);
    assert!(matches!(Resampler::new(&empty, &good, Interpolation::Continuous), Err(ResampleError::EmptyGrid { .. })));
    // Entirely outside the field of view, below (nilearn's BoundingBoxError) and above (nilearn
    // returns zeros; an error here).
    for origin in [-100.0, 100.0] {
        let far = grid([4, 4, 4], diag([2.0, 2.0, 2.0], [origin, 0.0, 0.0]));
        let err = Resampler::new(&good, &far, Interpolation::Continuous).unwrap_err();
        assert!(matches!(err, ResampleError::OutsideFieldOfView { .. }), "{err}");
        assert!(err.to_string().contains("does not overlap"));
    }
    // Same for an integer translation (the copy path).
    let shifted = grid([4, 4, 4], diag([2.0, 2.0, 2.0], [8.0, 0.0, 0.0]));
    assert!(matches!(
        Resampler::new(&good, &shifted, Interpolation::Continuous),
        Err(ResampleError::OutsideFieldOfView { .. })
    ));
    let mut r = Resampler::new(&good, &good, Interpolation::Continuous).unwrap();
    let mut out = vec![0f32; 64];
    assert!(matches!(
        r.resample(&[0.0; 63], &mut out),
        Err(ResampleError::VolumeLength { what: "source volume", expected: 64, found: 63 })
    ));
    assert!(matches!(
        r.resample(&[0.0; 64], &mut out[..10]),
        Err(ResampleError::VolumeLength { what: "output volume", .. })
    ));
    assert!(matches!(
        resample_img(&good, &[0.0; 65], &good, Interpolation::Linear),
        Err(ResampleError::VolumeLength { .. })
    ));
}

#[test]
fn mirror_matches_scipy_whole_sample_symmetry() {
    // len 4: ... 2 1 | 0 1 2 3 | 2 1 0 ...
    let expected = [(-3, 3), (-2, 2), (-1, 1), (0, 0), (3, 3), (4, 2), (5, 1), (6, 0), (7, 1)];
    for (idx, want) in expected {
        assert_eq!(spline::mirror(idx, 4), want, "index {idx}");
    }
    assert_eq!(spline::mirror(-5, 1), 0);
}
