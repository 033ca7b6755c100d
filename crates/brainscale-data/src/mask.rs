//! The brain mask: which voxels are analysed, in which order, and where they are.
//!
//! Voxel order is the order of the nonzero mask voxels in C order over (i, j, k), i slowest and
//! k fastest: what nibabel's `data[mask]` and nilearn's `NiftiMasker` give. Every per-voxel
//! vector and every matrix column in brainscale follows this order.

use std::path::{Path, PathBuf};

use faer::{Mat, MatRef};
use flate2::Compression;
use ndarray::Array3;
use nifti::NiftiHeader;

use crate::error::{DataError, Result};
use crate::nifti_io::{self, Affine, Grid, Image, VolumeReader};

/// How to split the voxels into hemispheres.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HemisphereRule {
    /// The paper's split: the first `n_voxels / 2` voxels in mask order versus the rest (the
    /// first half is left when world x grows with i, right otherwise). Exact on a symmetric
    /// mask; no voxel is midline.
    #[default]
    Paper,
    /// By world coordinate: x < 0 left, x > 0 right, x = 0 midline (excluded from both).
    World,
}

impl HemisphereRule {
    /// The name used on the command line and in tables (`paper`, `world`).
    pub fn name(self) -> &'static str {
        match self {
            HemisphereRule::Paper => "paper",
            HemisphereRule::World => "world",
        }
    }
}

/// Which side of the brain a voxel is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hemisphere {
    /// Left hemisphere.
    Left,
    /// Right hemisphere.
    Right,
    /// On the midline (world rule only).
    Midline,
}

/// World x within this distance of 0 (mm) counts as midline.
const MIDLINE_TOLERANCE: f64 = 1e-6;

/// A 3D brain mask with its voxels in analysis order.
///
/// ```
/// use brainscale_data::{Mask, HemisphereRule, Hemisphere};
/// let affine = [[4.0, 0.0, 0.0, -8.0], [0.0, 4.0, 0.0, 0.0], [0.0, 0.0, 4.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
/// let mask = Mask::from_fn([5, 2, 2], affine, |[i, _, k]| k == 0 && i != 2)?;
/// assert_eq!(mask.n_voxels(), 8);
/// assert_eq!(mask.ijk()[1], [0, 1, 0]);
/// let hemi = mask.hemispheres(HemisphereRule::World);
/// assert_eq!(hemi[0], Hemisphere::Left);
/// # Ok::<(), brainscale_data::DataError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Mask {
    grid: Grid,
    header: NiftiHeader,
    path: Option<PathBuf>,
    ijk: Vec<[usize; 3]>,
    xyz: Vec<[f64; 3]>,
    /// Fortran-order offset of each voxel in a volume.
    offsets: Vec<usize>,
    /// For each Fortran-order cell, the voxel index + 1 (0 = outside).
    lookup: Vec<u32>,
}

impl Mask {
    /// Reads a mask image: a 3D NIfTI whose nonzero (and non-NaN) voxels are analysed.
    pub fn load(path: &Path) -> Result<Mask> {
        let image = nifti_io::read_image(path)?;
        image.info.require_3d()?;
        let grid = image.info.grid.clone();
        let [nx, ny, _] = grid.dims;
        let inside = |[i, j, k]: [usize; 3]| {
            let v = image.data[i + nx * (j + ny * k)];
            v != 0.0 && !v.is_nan()
        };
        let mut mask = Self::build(grid, image.info.header.clone(), inside);
        if mask.n_voxels() == 0 {
            return Err(DataError::nifti(path, "the mask has no nonzero voxel"));
        }
        mask.path = Some(path.to_path_buf());
        Ok(mask)
    }

    /// A mask from a predicate on (i, j, k); the header gets the affine as sform and qform
    /// (code 4, MNI152).
    pub fn from_fn(dims: [usize; 3], affine: Affine, inside: impl Fn([usize; 3]) -> bool) -> Result<Mask> {
        if dims.iter().any(|&d| d == 0 || d > i16::MAX as usize) {
            return Err(DataError::shape("mask dimensions", "three sizes in 1..=32767", format!("{dims:?}")));
        }
        let grid = Grid { dims, affine };
        let header = nifti_io::header_for_grid(&grid, 4);
        Ok(Self::build(grid, header, inside))
    }

    /// A mask from flags in C order over (i, j, k) (as numpy's `mask.ravel()`), for synthetic
    /// data and tests.
    pub fn from_parts(dims: [usize; 3], affine: Affine, inside: &[bool]) -> Result<Mask> {
        let n: usize = dims.iter().product();
        if inside.len() != n {
            return Err(DataError::shape("mask flags", format!("{n} values ({dims:?})"), inside.len()));
        }
        Self::from_fn(dims, affine, |[i, j, k]| inside[(i * dims[1] + j) * dims[2] + k])
    }

    fn build(grid: Grid, header: NiftiHeader, inside: impl Fn([usize; 3]) -> bool) -> Mask {
        let [nx, ny, nz] = grid.dims;
        let mut mask = Mask {
            header,
            path: None,
            ijk: Vec::new(),
            xyz: Vec::new(),
            offsets: Vec::new(),
            lookup: vec![0; nx * ny * nz],
            grid,
        };
        for i in 0..nx {
            for j in 0..ny {
                for k in 0..nz {
                    if inside([i, j, k]) {
                        let offset = i + nx * (j + ny * k);
                        mask.ijk.push([i, j, k]);
                        mask.xyz.push(mask.grid.world([i, j, k]));
                        mask.offsets.push(offset);
                        mask.lookup[offset] = mask.ijk.len() as u32;
                    }
                }
            }
        }
        mask
    }

    /// Number of voxels in the mask.
    pub fn n_voxels(&self) -> usize {
        self.ijk.len()
    }

    /// The grid (dimensions and affine).
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Volume dimensions (nx, ny, nz).
    pub fn dims(&self) -> [usize; 3] {
        self.grid.dims
    }

    /// Voxel-to-world affine (from the sform, else the qform, as nibabel).
    pub fn affine(&self) -> &Affine {
        &self.grid.affine
    }

    /// The header images written on this grid copy (sform and qform included).
    pub fn header(&self) -> &NiftiHeader {
        &self.header
    }

    /// The file the mask was read from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Voxel indices (i, j, k) in mask order.
    pub fn ijk(&self) -> &[[usize; 3]] {
        &self.ijk
    }

    /// World coordinates (x, y, z) = affine · (i, j, k, 1), in mask order.
    pub fn xyz(&self) -> &[[f64; 3]] {
        &self.xyz
    }

    /// The mask index of voxel (i, j, k), if it is in the mask.
    pub fn index_of(&self, [i, j, k]: [usize; 3]) -> Option<usize> {
        let [nx, ny, nz] = self.grid.dims;
        if i >= nx || j >= ny || k >= nz {
            return None;
        }
        self.lookup[i + nx * (j + ny * k)].checked_sub(1).map(|v| v as usize)
    }

    /// Hemisphere of each voxel under `rule`.
    pub fn hemispheres(&self, rule: HemisphereRule) -> Vec<Hemisphere> {
        match rule {
            HemisphereRule::Paper => {
                let half = self.n_voxels() / 2;
                let (first, second) = if self.grid.affine[0][0] > 0.0 {
                    (Hemisphere::Left, Hemisphere::Right)
                } else {
                    (Hemisphere::Right, Hemisphere::Left)
                };
                (0..self.n_voxels()).map(|v| if v < half { first } else { second }).collect()
            }
            HemisphereRule::World => self
                .xyz
                .iter()
                .map(|&[x, _, _]| {
                    if x < -MIDLINE_TOLERANCE {
                        Hemisphere::Left
                    } else if x > MIDLINE_TOLERANCE {
                        Hemisphere::Right
                    } else {
                        Hemisphere::Midline
                    }
                })
                .collect(),
        }
    }

    /// For each voxel, the index of its left-right mirror (i' = nx - 1 - i, same j, k) if that
    /// voxel is in the mask. On a symmetric mask every entry is `Some`.
    pub fn mirror_index(&self) -> Vec<Option<usize>> {
        let nx = self.grid.dims[0];
        self.ijk.iter().map(|&[i, j, k]| self.index_of([nx - 1 - i, j, k])).collect()
    }

    /// The masked values of an image on this grid: (n_volumes x n_voxels), one row per scan.
    pub fn mask_volume(&self, image: &Image) -> Result<Mat<f32>> {
        image.info.require_grid(&self.grid)?;
        let n_cells = self.grid.n_cells();
        let n_volumes = image.info.n_volumes();
        if image.data.len() != n_cells * n_volumes {
            return Err(DataError::shape(
                format!("data of {}", image.info.path.display()),
                format!("{n_volumes} volumes of {n_cells} values"),
                format!("{} values", image.data.len()),
            ));
        }
        Ok(Mat::from_fn(n_volumes, self.n_voxels(), |t, v| image.data[t * n_cells + self.offsets[v]]))
    }

    /// Reads an image on this grid and masks it, one volume at a time: (n_volumes x n_voxels).
    /// A NaN or infinite value inside the mask is an error naming the scan and the voxel.
    pub fn mask_file(&self, path: &Path) -> Result<Mat<f32>> {
        let mut reader = VolumeReader::open(path)?;
        reader.info().require_grid(&self.grid)?;
        let mut out = Mat::<f32>::zeros(reader.info().n_volumes(), self.n_voxels());
        let mut volume = vec![0f32; self.grid.n_cells()];
        while let Some(t) = reader.read_next(&mut volume)? {
            for (v, &offset) in self.offsets.iter().enumerate() {
                let value = volume[offset];
                if !value.is_finite() {
                    return Err(DataError::NonFinite { path: path.to_path_buf(), scan: t, voxel: self.ijk[v], value });
                }
                out[(t, v)] = value;
            }
        }
        Ok(out)
    }

    /// Reads a 3D map on this grid and returns its values in mask order.
    pub fn load_map(&self, path: &Path) -> Result<Vec<f32>> {
        let info = nifti_io::read_info(path)?;
        info.require_3d()?;
        let m = self.mask_file(path)?;
        Ok((0..m.ncols()).map(|v| m[(0, v)]).collect())
    }

    /// Puts per-voxel values back into a volume (C-order array indexed `[i, j, k]`), 0 outside.
    pub fn unmask(&self, values: &[f32]) -> Result<Array3<f32>> {
        self.check_len(values)?;
        let mut out = Array3::<f32>::zeros(self.grid.dims);
        for (&[i, j, k], &v) in self.ijk.iter().zip(values) {
            out[[i, j, k]] = v;
        }
        Ok(out)
    }

    fn check_len(&self, values: &[f32]) -> Result<()> {
        if values.len() != self.n_voxels() {
            return Err(DataError::shape(
                "per-voxel values",
                format!("{} (one per mask voxel)", self.n_voxels()),
                values.len(),
            ));
        }
        Ok(())
    }

    /// Writes a 3D float32 map (0 outside the mask) atomically, with the mask's affine (sform
    /// and qform, codes and values). `.nii.gz` paths are gzip-compressed.
    pub fn write_map(&self, path: &Path, values: &[f32]) -> Result<()> {
        self.check_len(values)?;
        let dims = self.grid.dims;
        nifti_io::write_f32(path, &self.header, &dims, None, Compression::default(), |_, volume| {
            for (&offset, &v) in self.offsets.iter().zip(values) {
                volume[offset] = v;
            }
            Ok(())
        })
    }

    /// Writes a 4D float32 series (rows of `data` = scans, columns = voxels), 0 outside the
    /// mask, atomically, with the mask's affine and `tr` seconds as the time step.
    pub fn write_series(&self, path: &Path, data: MatRef<'_, f32>, tr: f64, level: Compression) -> Result<()> {
        if data.ncols() != self.n_voxels() || data.nrows() == 0 {
            return Err(DataError::shape(
                "series to write",
                format!("n_scans x {} (one column per mask voxel)", self.n_voxels()),
                format!("{} x {}", data.nrows(), data.ncols()),
            ));
        }
        let [nx, ny, nz] = self.grid.dims;
        nifti_io::write_f32(path, &self.header, &[nx, ny, nz, data.nrows()], Some(tr), level, |t, volume| {
            for (v, &offset) in self.offsets.iter().enumerate() {
                volume[offset] = data[(t, v)];
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFFINE: Affine = [[4.0, 0.0, 0.0, -8.0], [0.0, 4.0, 0.0, -10.0], [0.0, 0.0, 4.0, 2.0], [0.0, 0.0, 0.0, 1.0]];

    /// 5 x 3 x 2 grid, asymmetric: flags chosen so C order and Fortran order differ.
    fn small() -> Mask {
        Mask::from_fn([5, 3, 2], AFFINE, |[i, j, k]| (i + 2 * j + 3 * k) % 3 != 0 || i == 4).unwrap()
    }

    #[test]
    fn voxels_are_in_c_order_i_slowest() {
        let m = small();
        let mut expected = Vec::new();
        for i in 0..5 {
            for j in 0..3 {
                for k in 0..2 {
                    if (i + 2 * j + 3 * k) % 3 != 0 || i == 4 {
                        expected.push([i, j, k]);
                    }
                }
            }
        }
        assert_eq!(m.ijk(), &expected[..]);
        assert_eq!(
            m.xyz()[0],
            [
                -8.0 + 4.0 * expected[0][0] as f64,
                -10.0 + 4.0 * expected[0][1] as f64,
                2.0 + 4.0 * expected[0][2] as f64
            ]
        );
        for (v, &ijk) in m.ijk().iter().enumerate() {
            assert_eq!(m.index_of(ijk), Some(v));
        }
    }

    #[test]
    fn file_round_trip_keeps_order_and_affine() {
        let dir = tempfile::tempdir().unwrap();
        let m = small();
        let values: Vec<f32> = (0..m.n_voxels()).map(|v| v as f32 + 1.0).collect();
        let path = dir.path().join("map.nii.gz");
        m.write_map(&path, &values).unwrap();
        // The written map is itself a mask with the same voxels.
        let back = Mask::load(&path).unwrap();
        assert_eq!(back.ijk(), m.ijk());
        assert_eq!(back.affine(), m.affine());
        assert_eq!(back.header().sform_code, 4);
        assert_eq!(back.header().qform_code, 4);
        assert_eq!(m.load_map(&path).unwrap(), values);
        let vol = m.unmask(&values).unwrap();
        let [i, j, k] = m.ijk()[3];
        assert_eq!(vol[[i, j, k]], 4.0);
        assert_eq!(vol.iter().filter(|&&x| x != 0.0).count(), m.n_voxels());
        assert!(m.write_map(&path, &values[1..]).is_err());
    }

    #[test]
    fn hemisphere_rules() {
        // x = -8 + 4 i: i = 0, 1 left; i = 2 midline; i = 3, 4 right.
        let m = Mask::from_fn([5, 1, 2], AFFINE, |[i, _, k]| !(i == 4 && k == 1)).unwrap();
        use Hemisphere::*;
        assert_eq!(
            m.hemispheres(HemisphereRule::World),
            vec![Left, Left, Left, Left, Midline, Midline, Right, Right, Right]
        );
        assert_eq!(
            m.hemispheres(HemisphereRule::Paper),
            vec![Left, Left, Left, Left, Right, Right, Right, Right, Right]
        );
        // A flipped x axis puts the first half on the right.
        let mut flipped = AFFINE;
        flipped[0][0] = -4.0;
        flipped[0][3] = 8.0;
        let f = Mask::from_fn([5, 1, 2], flipped, |_| true).unwrap();
        assert_eq!(f.hemispheres(HemisphereRule::Paper)[..5], [Right; 5]);
        assert_eq!(f.hemispheres(HemisphereRule::World)[0], Right);
    }

    #[test]
    fn mirror_index_maps_i_to_nx_minus_1_minus_i() {
        let m = Mask::from_fn([5, 1, 2], AFFINE, |[i, _, k]| !(i == 4 && k == 1)).unwrap();
        let mirror = m.mirror_index();
        assert_eq!(mirror[0], m.index_of([4, 0, 0]));
        assert_eq!(mirror[1], None); // (0, 0, 1) -> (4, 0, 1) is outside
        assert_eq!(mirror[4], Some(4)); // midline maps to itself
    }

    #[test]
    fn mask_volume_and_non_finite_values() {
        let dir = tempfile::tempdir().unwrap();
        let m = small();
        let data = Mat::<f32>::from_fn(3, m.n_voxels(), |t, v| (t * 100 + v) as f32);
        let path = dir.path().join("bold.nii.gz");
        m.write_series(&path, data.as_ref(), 2.0, Compression::fast()).unwrap();
        let img = nifti_io::read_image(&path).unwrap();
        assert_eq!(m.mask_volume(&img).unwrap(), data);
        assert_eq!(m.mask_file(&path).unwrap(), data);
        let mut bad = data.clone();
        bad[(2, 5)] = f32::NAN;
        m.write_series(&path, bad.as_ref(), 2.0, Compression::fast()).unwrap();
        let err = m.mask_file(&path).unwrap_err();
        assert!(matches!(err, DataError::NonFinite { scan: 2, voxel, .. } if voxel == m.ijk()[5]), "{err}");
        let other = Mask::from_fn([5, 3, 3], AFFINE, |_| true).unwrap();
        assert!(matches!(other.mask_file(&path), Err(DataError::GridMismatch { .. })));
    }
}
