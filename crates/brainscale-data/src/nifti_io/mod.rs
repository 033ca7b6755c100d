//! Reading and writing NIfTI-1 images (`.nii` and `.nii.gz`), as nibabel does.
//!
//! Headers are parsed by the `nifti` crate; the voxel data are streamed here one 3D volume at a
//! time, so a 4D run never needs more than one volume of scratch memory besides its output.
//! Volumes are handed out in the file's own order: Fortran order over (i, j, k), i fastest,
//! i.e. the value of voxel (i, j, k) is at `i + nx * (j + ny * k)`.
//!
//! The affine follows nibabel's `get_best_affine`: the sform when `sform_code > 0`, else the
//! qform when `qform_code > 0`, else the base affine built from the voxel sizes. Written images
//! are float32, little-endian, and copy the sform and qform (codes and values) of a template
//! header, so nibabel reads back the same affine.

mod affine;
mod read;
#[cfg(test)]
mod tests;
mod write;

use std::fmt;
use std::path::PathBuf;

use nifti::NiftiHeader;

pub use affine::{affine_from_header, header_for_grid};
pub use read::{VolumeReader, check_data_type, for_each_volume, read_image, read_info};
pub use write::write_f32;

use crate::error::{DataError, Result};

/// A 4x4 voxel-to-world matrix, row-major: `world = affine · (i, j, k, 1)`.
pub type Affine = [[f64; 4]; 4];

/// Tolerance on affine elements when comparing grids (millimetres).
pub const AFFINE_TOLERANCE: f64 = 1e-4;

/// A voxel grid: the first three dimensions and the affine of an image.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// Number of voxels along i, j, k.
    pub dims: [usize; 3],
    /// Voxel-to-world affine.
    pub affine: Affine,
}

impl Grid {
    /// Whether `other` has the same dimensions and an affine equal within `tolerance`.
    pub fn matches(&self, other: &Grid, tolerance: f64) -> bool {
        self.dims == other.dims
            && self.affine.iter().flatten().zip(other.affine.iter().flatten()).all(|(a, b)| (a - b).abs() <= tolerance)
    }

    /// World coordinates of voxel (i, j, k).
    pub fn world(&self, ijk: [usize; 3]) -> [f64; 3] {
        world(&self.affine, ijk)
    }

    /// Number of voxels in one volume.
    pub fn n_cells(&self) -> usize {
        self.dims.iter().product()
    }
}

impl fmt::Display for Grid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [nx, ny, nz] = self.dims;
        write!(f, "{nx} x {ny} x {nz}, affine [")?;
        for (r, row) in self.affine.iter().take(3).enumerate() {
            if r > 0 {
                write!(f, ", ")?;
            }
            write!(f, "[{}, {}, {}, {}]", row[0], row[1], row[2], row[3])?;
        }
        write!(f, "]")
    }
}

/// World coordinates of voxel (i, j, k) under `affine`.
pub fn world(affine: &Affine, ijk: [usize; 3]) -> [f64; 3] {
    let v = [ijk[0] as f64, ijk[1] as f64, ijk[2] as f64];
    let mut out = [0.0; 3];
    for (r, o) in out.iter_mut().enumerate() {
        *o = affine[r][0] * v[0] + affine[r][1] * v[1] + affine[r][2] * v[2] + affine[r][3];
    }
    out
}

/// What a NIfTI header says about an image (no voxel data).
#[derive(Clone, Debug)]
pub struct NiftiInfo {
    /// The file.
    pub path: PathBuf,
    /// All dimensions (`dim[1..=dim[0]]`).
    pub dims: Vec<usize>,
    /// The spatial grid.
    pub grid: Grid,
    /// The raw header (template for images written on the same grid).
    pub header: NiftiHeader,
}

impl NiftiInfo {
    /// Number of dimensions (`dim[0]`).
    pub fn ndim(&self) -> usize {
        self.dims.len()
    }

    /// Number of 3D volumes (product of the dimensions after the third; 1 for a 3D image).
    pub fn n_volumes(&self) -> usize {
        self.dims.iter().skip(3).product()
    }

    /// Whether the image is 3D or 4D with a single volume (what a mask or a map may be).
    pub fn is_3d(&self) -> bool {
        self.ndim() == 3 || (self.ndim() == 4 && self.dims[3] == 1)
    }

    /// Errors unless the image is 3D (or 4D with one volume).
    pub fn require_3d(&self) -> Result<()> {
        if self.is_3d() {
            Ok(())
        } else {
            Err(DataError::WrongDimensionality { path: self.path.clone(), expected: "3D", found: self.dims.clone() })
        }
    }

    /// Errors unless the image is 4D.
    pub fn require_4d(&self) -> Result<()> {
        if self.ndim() == 4 {
            Ok(())
        } else {
            Err(DataError::WrongDimensionality { path: self.path.clone(), expected: "4D", found: self.dims.clone() })
        }
    }

    /// Errors unless the image is on `grid` (dimensions equal, affine within [`AFFINE_TOLERANCE`]).
    pub fn require_grid(&self, grid: &Grid) -> Result<()> {
        if self.grid.matches(grid, AFFINE_TOLERANCE) {
            Ok(())
        } else {
            Err(DataError::GridMismatch {
                path: self.path.clone(),
                expected: Box::new(grid.clone()),
                found: Box::new(self.grid.clone()),
            })
        }
    }
}

/// A whole image in memory, as f32 in file (Fortran) order.
#[derive(Clone, Debug)]
pub struct Image {
    /// Header information.
    pub info: NiftiInfo,
    /// All values, volume after volume, each volume in Fortran order (i fastest).
    pub data: Vec<f32>,
}
