//! Gaussian smoothing as nilearn 0.10.4 does it (`nilearn.image.smooth_img`, and
//! `NiftiMasker(smoothing_fwhm=...)`, which smooths the whole 4D image before masking), on
//! scipy 1.13's `gaussian_filter1d`.
//!
//! nilearn's `_smooth_array(arr, affine, fwhm, ensure_finite=True)`:
//!
//! 1. non-finite values (NaN, ±inf) become 0 (`ensure_finite`);
//! 2. sigma in millimetres is `fwhm / sqrt(8 ln 2)`; per voxel axis, sigma in voxels is that
//!    divided by the voxel size, the norm of the affine's column (so an oblique affine's voxel
//!    sizes are used, not its diagonal);
//! 3. `scipy.ndimage.gaussian_filter1d(arr, sigma, axis=n, output=arr)` along the three spatial
//!    axes in turn (time points are independent): a kernel of radius `int(4 sigma + 0.5)`
//!    (`truncate=4.0`), `mode="reflect"` (`d c b a | a b c d | d c b a`, repeated when the
//!    kernel is longer than the line). scipy computes each line in f64 and writes it back into
//!    the float32 array, so every pass is rounded to f32; its symmetric-kernel sum
//!    `x[0] w[0] + sum over j = r..1 of (x[-j] + x[j]) w[j]` is reproduced term for term.
//!
//! In `NiftiMasker` the order is: (resampling), smoothing of the 4D image, masking (non-finite
//! values to 0 again), then `signal.clean` (detrend, filter, standardise).
//!
//! ```
//! use brainscale_data::Grid;
//! use brainscale_prep::smooth::Smoothing;
//!
//! let grid = Grid { dims: [5, 5, 5], affine: [[4.0, 0.0, 0.0, -8.0], [0.0, 4.0, 0.0, -8.0],
//!     [0.0, 0.0, 4.0, -8.0], [0.0, 0.0, 0.0, 1.0]] };
//! let smoothing = Smoothing::new(&grid, 4.0)?; // 4 mm FWHM, as the paper's single subjects
//! let mut volume = vec![0f32; 125];
//! volume[62] = 1.0; // the centre voxel
//! smoothing.smooth(&mut volume)?;
//! assert!(volume[62] < 1.0 && volume[61] > 0.0);
//! assert!((volume.iter().sum::<f32>() - 1.0).abs() < 1e-6);
//! # Ok::<(), brainscale_prep::smooth::SmoothError>(())
//! ```

use brainscale_data::Grid;

/// `sqrt(8 ln 2)`: FWHM / sigma of a Gaussian.
pub fn fwhm_over_sigma() -> f64 {
    (8.0 * 2f64.ln()).sqrt()
}

/// Why a smoothing cannot be set up or applied.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum SmoothError {
    /// A FWHM that is not a positive number of millimetres.
    #[error("smoothing FWHM = {fwhm} mm: expected a positive number of millimetres (0 means no smoothing)")]
    InvalidFwhm {
        /// The value given.
        fwhm: f64,
    },
    /// A grid whose voxel size along an axis is zero or not finite.
    #[error("grid {grid}: the voxel size along axis {axis} is {size} mm; a smoothing needs finite, non-zero voxels")]
    VoxelSize {
        /// The grid.
        grid: Box<Grid>,
        /// The voxel axis (0, 1, 2).
        axis: usize,
        /// The column norm of the affine.
        size: f64,
    },
    /// A volume of the wrong length.
    #[error("volume of {found} values, expected {expected} (the grid's voxels)")]
    VolumeLength {
        /// Expected length.
        expected: usize,
        /// Length found.
        found: usize,
    },
}

/// A Gaussian smoothing of a given FWHM (mm) on a given grid: nilearn's `smooth_img(img, fwhm)`
/// volume by volume. The kernels are computed once.
#[derive(Clone, Debug, PartialEq)]
pub struct Smoothing {
    fwhm: f64,
    dims: [usize; 3],
    sigma: [f64; 3],
    /// Per axis, the kernel's half `w[0..=radius]` (`w[0]` the centre); empty: axis skipped.
    kernels: [Vec<f64>; 3],
}

impl Smoothing {
    /// A smoothing of `fwhm_mm` millimetres FWHM for volumes on `grid`.
    pub fn new(grid: &Grid, fwhm_mm: f64) -> Result<Smoothing, SmoothError> {
        if !(fwhm_mm.is_finite() && fwhm_mm > 0.0) {
            return Err(SmoothError::InvalidFwhm { fwhm: fwhm_mm });
        }
        let a = &grid.affine;
        let mut sigma = [0.0; 3];
        for (axis, s) in sigma.iter_mut().enumerate() {
            // numpy: sqrt(sum(affine[:3, :3] ** 2, axis=0)).
            let size = (a[0][axis] * a[0][axis] + a[1][axis] * a[1][axis] + a[2][axis] * a[2][axis]).sqrt();
            if !(size.is_finite() && size > 0.0) {
                return Err(SmoothError::VoxelSize { grid: Box::new(grid.clone()), axis, size });
            }
            *s = fwhm_mm / (fwhm_over_sigma() * size);
        }
        Ok(Smoothing { fwhm: fwhm_mm, dims: grid.dims, sigma, kernels: sigma.map(half_kernel) })
    }

    /// The FWHM in millimetres.
    pub fn fwhm(&self) -> f64 {
        self.fwhm
    }

    /// Sigma in voxels along each voxel axis.
    pub fn sigma_voxels(&self) -> [f64; 3] {
        self.sigma
    }

    /// The kernel radius in voxels along each axis (`int(4 sigma + 0.5)`).
    pub fn radius(&self) -> [usize; 3] {
        std::array::from_fn(|a| self.kernels[a].len().saturating_sub(1))
    }

    /// Smooths one volume (Fortran order on the grid) in place: non-finite values to 0, then
    /// the three 1D Gaussian passes.
    pub fn smooth(&self, volume: &mut [f32]) -> Result<(), SmoothError> {
        let expected = self.dims.iter().product::<usize>();
        if volume.len() != expected {
            return Err(SmoothError::VolumeLength { expected, found: volume.len() });
        }
        for v in volume.iter_mut() {
            if !v.is_finite() {
                *v = 0.0;
            }
        }
        filter_axes(volume, self.dims, &self.kernels);
        Ok(())
    }

    /// Smooths every volume of `data` (volumes one after the other, each in Fortran order), as
    /// `smooth_img` on a 4D image.
    pub fn smooth_volumes(&self, data: &mut [f32]) -> Result<(), SmoothError> {
        let n = self.dims.iter().product::<usize>();
        if n == 0 || data.len() % n != 0 {
            return Err(SmoothError::VolumeLength { expected: n, found: data.len() });
        }
        data.chunks_exact_mut(n).try_for_each(|v| self.smooth(v))
    }
}

/// `scipy.ndimage.gaussian_filter1d(data, sigma[a], axis=a, output=data)` for a = 0, 1, 2 on a
/// float32 volume in Fortran order (`truncate=4.0`, `mode="reflect"`); an axis whose sigma is
/// not positive is skipped, as nilearn does. Non-finite values are not touched here.
pub fn gaussian_filter(data: &mut [f32], dims: [usize; 3], sigma: [f64; 3]) {
    filter_axes(data, dims, &sigma.map(half_kernel));
}

/// scipy's `_gaussian_kernel1d(sigma, 0, int(4 sigma + 0.5))`, normalised with numpy's
/// pairwise sum; only its half `w[0..=radius]` (it is symmetric). Empty for sigma <= 0.
fn half_kernel(sigma: f64) -> Vec<f64> {
    if sigma.is_nan() || sigma <= 0.0 {
        return Vec::new();
    }
    let radius = (4.0 * sigma + 0.5) as usize;
    let c2 = -0.5 / (sigma * sigma);
    let full: Vec<f64> = (0..=2 * radius)
        .map(|m| {
            let x = m as f64 - radius as f64;
            // numpy's Polynomial([0, 0, c2])(x) = 0 + x * (0 + x * c2).
            (x * (x * c2)).exp()
        })
        .collect();
    let total = pairwise_sum(&full);
    full[radius..].iter().map(|w| w / total).collect()
}

/// numpy's `pairwise_sum` of a contiguous float64 array (blocks of 8 partial sums up to 128
/// values, halves beyond).
fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        return a.iter().fold(0.0, |s, v| s + v);
    }
    if n <= 128 {
        let mut r = [0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i + 8 <= n {
            for (j, rj) in r.iter_mut().enumerate() {
                *rj += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for v in &a[i..] {
            res += v;
        }
        return res;
    }
    let mut n2 = n / 2;
    n2 -= n2 % 8;
    pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
}

fn filter_axes(data: &mut [f32], dims: [usize; 3], kernels: &[Vec<f64>; 3]) {
    let strides = [1, dims[0], dims[0] * dims[1]];
    let mut line = Vec::new();
    let mut out = Vec::new();
    for axis in 0..3 {
        let w = &kernels[axis];
        if w.is_empty() {
            continue;
        }
        let (n, stride) = (dims[axis], strides[axis]);
        let others: Vec<usize> = (0..3).filter(|&a| a != axis).collect();
        for u in 0..dims[others[0]] {
            for v in 0..dims[others[1]] {
                let base = u * strides[others[0]] + v * strides[others[1]];
                correlate_line(data, base, stride, n, w, &mut line, &mut out);
            }
        }
    }
}

/// One line of scipy's `NI_Correlate1D` with a symmetric kernel, in place (f64 inside, the
/// result rounded to f32).
fn correlate_line(
    data: &mut [f32],
    base: usize,
    stride: usize,
    n: usize,
    w: &[f64],
    line: &mut Vec<f64>,
    out: &mut Vec<f64>,
) {
    let r = w.len() - 1;
    // The line extended by r values on each side (scipy's reflect extension).
    line.clear();
    line.extend((0..n + 2 * r).map(|p| data[base + reflect(p as i64 - r as i64, n as i64) * stride] as f64));
    out.clear();
    out.extend((0..n).map(|m| {
        let c = m + r;
        let mut s = line[c] * w[0];
        for j in (1..=r).rev() {
            s += (line[c - j] + line[c + j]) * w[j];
        }
        s
    }));
    for (m, s) in out.iter().enumerate() {
        data[base + m * stride] = *s as f32;
    }
}

/// scipy's `mode="reflect"` (half-sample symmetric: `d c b a | a b c d | d c b a`).
fn reflect(idx: i64, len: i64) -> usize {
    let period = 2 * len;
    let i = idx.rem_euclid(period);
    (if i >= len { period - 1 - i } else { i }) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(sizes: [f64; 3], dims: [usize; 3]) -> Grid {
        Grid {
            dims,
            affine: [
                [sizes[0], 0.0, 0.0, 0.0],
                [0.0, sizes[1], 0.0, 0.0],
                [0.0, 0.0, sizes[2], 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
        }
    }

    #[test]
    fn sigma_is_fwhm_over_sqrt_8_ln2_over_the_column_norms() {
        let s = Smoothing::new(&grid([4.0, 4.0, 4.0], [3, 3, 3]), 4.0).unwrap();
        let expected = 1.0 / (8.0 * 2f64.ln()).sqrt();
        assert!(s.sigma_voxels().iter().all(|v| (v - expected).abs() < 1e-15));
        assert_eq!(s.radius(), [2, 2, 2]);
        // A rotation about z keeps the voxel sizes (column norms), not the diagonal.
        let (c, si) = (0.6f64, 0.8f64);
        let g = Grid {
            dims: [3, 3, 3],
            affine: [
                [2.0 * c, -3.0 * si, 0.0, 0.0],
                [2.0 * si, 3.0 * c, 0.0, 0.0],
                [0.0, 0.0, 5.0, 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
        };
        let s = Smoothing::new(&g, 6.0).unwrap();
        for (v, size) in s.sigma_voxels().iter().zip([2.0, 3.0, 5.0]) {
            assert!((v - 6.0 / (fwhm_over_sigma() * size)).abs() < 1e-12);
        }
    }

    #[test]
    fn the_kernel_sums_to_one_and_mass_is_kept_away_from_the_edges() {
        for sigma in [0.3, 0.42, 1.0, 4.2, 40.0] {
            let w = half_kernel(sigma);
            let total = w[0] + 2.0 * w[1..].iter().sum::<f64>();
            assert!((total - 1.0).abs() < 1e-12, "sigma {sigma}: {total}");
        }
        // Reflect mode keeps the sum of a line exactly: each value is spread over the line and
        // its mirror images, which fold back onto it.
        let dims = [7, 6, 5];
        let mut v: Vec<f32> = (0..210).map(|i| ((i * 37) % 11) as f32).collect();
        let before: f64 = v.iter().map(|&x| x as f64).sum();
        gaussian_filter(&mut v, dims, [1.5, 0.0, 9.0]);
        let after: f64 = v.iter().map(|&x| x as f64).sum();
        assert!((before - after).abs() < 1e-3, "{before} vs {after}");
    }

    #[test]
    fn constant_volumes_stay_constant_and_non_finite_values_become_zero() {
        let g = grid([2.0, 3.2, 4.5], [6, 5, 4]);
        let s = Smoothing::new(&g, 6.0).unwrap();
        let mut v = vec![7.0f32; 120];
        s.smooth(&mut v).unwrap();
        assert!(v.iter().all(|x| (x - 7.0).abs() < 1e-5), "{v:?}");
        let mut v = vec![0.0f32; 120];
        v[0] = f32::NAN;
        v[1] = f32::INFINITY;
        s.smooth(&mut v).unwrap();
        assert!(v.iter().all(|&x| x == 0.0));
        let mut two = vec![1.0f32; 240];
        s.smooth_volumes(&mut two).unwrap();
        assert_eq!(s.smooth(&mut [0.0; 3]), Err(SmoothError::VolumeLength { expected: 120, found: 3 }));
        assert!(s.smooth_volumes(&mut vec![0.0; 121]).is_err());
    }

    #[test]
    fn invalid_settings_are_errors() {
        let g = grid([4.0, 4.0, 4.0], [3, 3, 3]);
        for fwhm in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(Smoothing::new(&g, fwhm), Err(SmoothError::InvalidFwhm { .. })), "{fwhm}");
        }
        let flat = grid([4.0, 0.0, 4.0], [3, 3, 3]);
        let e = Smoothing::new(&flat, 4.0).unwrap_err();
        assert!(matches!(e, SmoothError::VoxelSize { axis: 1, .. }), "{e}");
    }

    #[test]
    fn pairwise_sum_is_numpys_blocking() {
        let a: Vec<f64> = (0..300).map(|i| 1.0 / (i as f64 + 1.0)).collect();
        let seq: f64 = a.iter().sum();
        assert!((pairwise_sum(&a) - seq).abs() < 1e-13);
        assert_eq!(pairwise_sum(&a[..5]), a[..5].iter().fold(0.0, |s, v| s + v));
    }
}
