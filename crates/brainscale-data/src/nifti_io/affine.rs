//! Affines from headers (nibabel's rules) and headers from affines (sform and qform).

use nifti::{Endianness, NiftiHeader};

use super::{Affine, Grid};

/// nibabel's `get_best_affine`: sform if `sform_code > 0`, else qform if `qform_code > 0`,
/// else the base affine from the voxel sizes.
pub fn affine_from_header(h: &NiftiHeader) -> Affine {
    if h.sform_code > 0 {
        let r = |row: &[f32; 4]| [row[0] as f64, row[1] as f64, row[2] as f64, row[3] as f64];
        [r(&h.srow_x), r(&h.srow_y), r(&h.srow_z), [0.0, 0.0, 0.0, 1.0]]
    } else if h.qform_code > 0 {
        qform_affine(h)
    } else {
        // nibabel `shape_zoom_affine(shape, zooms, x_flip=True)`.
        let zooms = [-(h.pixdim[1] as f64), h.pixdim[2] as f64, h.pixdim[3] as f64];
        let mut a = [[0.0; 4]; 4];
        for d in 0..3 {
            let origin = (h.dim[d + 1].max(1) as f64 - 1.0) / 2.0;
            a[d][d] = zooms[d];
            a[d][3] = -origin * zooms[d];
        }
        a[3][3] = 1.0;
        a
    }
}

/// The qform affine (nibabel `get_qform`): quaternion rotation, voxel sizes, qfac, offsets.
pub(super) fn qform_affine(h: &NiftiHeader) -> Affine {
    let (b, c, d) = (h.quatern_b as f64, h.quatern_c as f64, h.quatern_d as f64);
    let w = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
    let rot = quat_to_rotation([w, b, c, d]);
    let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
    let zooms = [h.pixdim[1] as f64, h.pixdim[2] as f64, h.pixdim[3] as f64 * qfac];
    let offsets = [h.quatern_x as f64, h.quatern_y as f64, h.quatern_z as f64];
    let mut a = [[0.0; 4]; 4];
    for r in 0..3 {
        for col in 0..3 {
            a[r][col] = rot[r][col] * zooms[col];
        }
        a[r][3] = offsets[r];
    }
    a[3][3] = 1.0;
    a
}

fn quat_to_rotation([w, x, y, z]: [f64; 4]) -> [[f64; 3]; 3] {
    let n = w * w + x * x + y * y + z * z;
    if n < f64::EPSILON {
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    let s = 2.0 / n;
    let (xs, ys, zs) = (x * s, y * s, z * s);
    let (wx, wy, wz) = (w * xs, w * ys, w * zs);
    let (xx, xy, xz) = (x * xs, x * ys, x * zs);
    let (yy, yz, zz) = (y * ys, y * zs, z * zs);
    [[1.0 - (yy + zz), xy - wz, xz + wy], [xy + wz, 1.0 - (xx + zz), yz - wx], [xz - wy, yz + wx, 1.0 - (xx + yy)]]
}

/// Quaternion (w >= 0) of an orthogonal rotation matrix with determinant +1.
fn rotation_to_quat(r: &[[f64; 3]; 3]) -> [f64; 4] {
    let trace = r[0][0] + r[1][1] + r[2][2];
    let q = if trace > 0.0 {
        let s = (trace + 1.0).sqrt() * 2.0;
        [0.25 * s, (r[2][1] - r[1][2]) / s, (r[0][2] - r[2][0]) / s, (r[1][0] - r[0][1]) / s]
    } else if r[0][0] > r[1][1] && r[0][0] > r[2][2] {
        let s = (1.0 + r[0][0] - r[1][1] - r[2][2]).sqrt() * 2.0;
        [(r[2][1] - r[1][2]) / s, 0.25 * s, (r[0][1] + r[1][0]) / s, (r[0][2] + r[2][0]) / s]
    } else if r[1][1] > r[2][2] {
        let s = (1.0 + r[1][1] - r[0][0] - r[2][2]).sqrt() * 2.0;
        [(r[0][2] - r[2][0]) / s, (r[0][1] + r[1][0]) / s, 0.25 * s, (r[1][2] + r[2][1]) / s]
    } else {
        let s = (1.0 + r[2][2] - r[0][0] - r[1][1]).sqrt() * 2.0;
        [(r[1][0] - r[0][1]) / s, (r[0][2] + r[2][0]) / s, (r[1][2] + r[2][1]) / s, 0.25 * s]
    };
    if q[0] < 0.0 { [-q[0], -q[1], -q[2], -q[3]] } else { q }
}

/// A fresh header for an image on `grid`: sform = the affine with `code` (e.g. 4 = MNI152), and
/// the same affine as a qform (same code) when it is a rotation and scaling (no shear).
pub fn header_for_grid(grid: &Grid, code: i16) -> NiftiHeader {
    let a = &grid.affine;
    let mut h = NiftiHeader { endianness: Endianness::Little, ..NiftiHeader::default() };
    h.dim = [3, grid.dims[0] as u16, grid.dims[1] as u16, grid.dims[2] as u16, 1, 1, 1, 1];
    let row = |r: usize| [a[r][0] as f32, a[r][1] as f32, a[r][2] as f32, a[r][3] as f32];
    (h.srow_x, h.srow_y, h.srow_z) = (row(0), row(1), row(2));
    h.sform_code = code;
    h.xyzt_units = 2; // millimetres
    let zooms: Vec<f64> = (0..3).map(|c| (0..3).map(|r| a[r][c] * a[r][c]).sum::<f64>().sqrt()).collect();
    let mut rot = [[0.0; 3]; 3];
    for r in 0..3 {
        for c in 0..3 {
            rot[r][c] = if zooms[c] > 0.0 { a[r][c] / zooms[c] } else { 0.0 };
        }
    }
    let det = rot[0][0] * (rot[1][1] * rot[2][2] - rot[1][2] * rot[2][1])
        - rot[0][1] * (rot[1][0] * rot[2][2] - rot[1][2] * rot[2][0])
        + rot[0][2] * (rot[1][0] * rot[2][1] - rot[1][1] * rot[2][0]);
    let qfac = if det < 0.0 { -1.0 } else { 1.0 };
    if qfac < 0.0 {
        for row in rot.iter_mut() {
            row[2] = -row[2];
        }
    }
    let orthogonal = (0..3).all(|i| {
        (0..3).all(|j| {
            let dot: f64 = (0..3).map(|k| rot[k][i] * rot[k][j]).sum();
            (dot - if i == j { 1.0 } else { 0.0 }).abs() < 1e-5
        })
    });
    h.pixdim = [qfac as f32, zooms[0] as f32, zooms[1] as f32, zooms[2] as f32, 1.0, 1.0, 1.0, 1.0];
    (h.quatern_x, h.quatern_y, h.quatern_z) = (a[0][3] as f32, a[1][3] as f32, a[2][3] as f32);
    if orthogonal {
        let q = rotation_to_quat(&rot);
        (h.quatern_b, h.quatern_c, h.quatern_d) = (q[1] as f32, q[2] as f32, q[3] as f32);
        h.qform_code = code;
    } else {
        h.qform_code = 0;
    }
    h
}
