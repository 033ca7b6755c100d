//! Writing float32 NIfTI-1 images atomically, volume by volume.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use nifti::NiftiHeader;

use crate::atomic::write_atomic;
use crate::error::{DataError, Result};

/// Writes a float32 image atomically: `fill(t, volume)` fills each 3D volume (Fortran order)
/// in turn. `dims` is (nx, ny, nz) or (nx, ny, nz, nt); `template` gives every header field but
/// the dimensions, data type and scaling (in particular sform and qform, codes and values).
/// `tr` (seconds), when given, is stored as the fourth voxel size of a 4D image.
pub fn write_f32(
    path: &Path,
    template: &NiftiHeader,
    dims: &[usize],
    tr: Option<f64>,
    level: Compression,
    mut fill: impl FnMut(usize, &mut [f32]) -> Result<()>,
) -> Result<()> {
    if !(dims.len() == 3 || dims.len() == 4) || dims.iter().any(|&d| d == 0 || d > i16::MAX as usize) {
        return Err(DataError::shape(
            format!("image dimensions for {}", path.display()),
            "3 or 4 sizes in 1..=32767",
            format!("{dims:?}"),
        ));
    }
    let header = header_bytes(template, dims, tr);
    let n_cells: usize = dims[..3].iter().product();
    let n_volumes = if dims.len() == 4 { dims[3] } else { 1 };
    let gz = path.extension().is_some_and(|e| e == "gz");
    write_atomic(path, |file| {
        let mut volume = vec![0f32; n_cells];
        let mut bytes = vec![0u8; n_cells * 4];
        let mut body = |out: &mut dyn Write| -> Result<()> {
            out.write_all(&header).map_err(|e| DataError::write(path, e))?;
            for t in 0..n_volumes {
                volume.fill(0.0);
                fill(t, &mut volume)?;
                for (b, v) in bytes.chunks_exact_mut(4).zip(&volume) {
                    b.copy_from_slice(&v.to_le_bytes());
                }
                out.write_all(&bytes).map_err(|e| DataError::write(path, e))?;
            }
            Ok(())
        };
        if gz {
            let mut enc = GzEncoder::new(file, level);
            body(&mut enc)?;
            enc.finish().map_err(|e| DataError::write(path, e))?;
        } else {
            body(file)?;
        }
        Ok(())
    })
}

/// Serialises a little-endian NIfTI-1 header (348 bytes) plus an empty extension flag.
fn header_bytes(t: &NiftiHeader, dims: &[usize], tr: Option<f64>) -> Vec<u8> {
    let mut b: Vec<u8> = Vec::with_capacity(352);
    let i16s = |b: &mut Vec<u8>, v: i16| b.extend_from_slice(&v.to_le_bytes());
    let f32s = |b: &mut Vec<u8>, v: f32| b.extend_from_slice(&v.to_le_bytes());
    let mut dim = [1u16; 8];
    dim[0] = dims.len() as u16;
    for (d, &n) in dims.iter().enumerate() {
        dim[d + 1] = n as u16;
    }
    let mut pixdim = t.pixdim;
    if pixdim[0] != 1.0 && pixdim[0] != -1.0 {
        pixdim[0] = 1.0;
    }
    if dims.len() == 4 {
        pixdim[4] = tr.map(|t| t as f32).unwrap_or(if pixdim[4] > 0.0 { pixdim[4] } else { 1.0 });
    }
    b.extend_from_slice(&348i32.to_le_bytes());
    b.extend_from_slice(&[0u8; 10]); // data_type
    b.extend_from_slice(&[0u8; 18]); // db_name
    b.extend_from_slice(&0i32.to_le_bytes()); // extents
    i16s(&mut b, 0); // session_error
    b.push(b'r'); // regular
    b.push(t.dim_info);
    for d in dim {
        b.extend_from_slice(&d.to_le_bytes());
    }
    f32s(&mut b, 0.0); // intent_p1..3
    f32s(&mut b, 0.0);
    f32s(&mut b, 0.0);
    i16s(&mut b, 0); // intent_code
    i16s(&mut b, 16); // datatype float32
    i16s(&mut b, 32); // bitpix
    i16s(&mut b, 0); // slice_start
    for p in pixdim {
        f32s(&mut b, p);
    }
    f32s(&mut b, 352.0); // vox_offset
    f32s(&mut b, 1.0); // scl_slope
    f32s(&mut b, 0.0); // scl_inter
    i16s(&mut b, 0); // slice_end
    b.push(0); // slice_code
    let units = if dims.len() == 4 { (t.xyzt_units & 0x07) | 0x08 } else { t.xyzt_units & 0x07 };
    b.push(if units & 0x07 == 0 { units | 0x02 } else { units });
    f32s(&mut b, 0.0); // cal_max
    f32s(&mut b, 0.0); // cal_min
    f32s(&mut b, 0.0); // slice_duration
    f32s(&mut b, 0.0); // toffset
    b.extend_from_slice(&0i32.to_le_bytes()); // glmax
    b.extend_from_slice(&0i32.to_le_bytes()); // glmin
    let mut descrip = [0u8; 80];
    let text = b"brainscale";
    descrip[..text.len()].copy_from_slice(text);
    b.extend_from_slice(&descrip);
    b.extend_from_slice(&[0u8; 24]); // aux_file
    i16s(&mut b, t.qform_code);
    i16s(&mut b, t.sform_code);
    for v in [t.quatern_b, t.quatern_c, t.quatern_d, t.quatern_x, t.quatern_y, t.quatern_z] {
        f32s(&mut b, v);
    }
    for v in t.srow_x.iter().chain(&t.srow_y).chain(&t.srow_z) {
        f32s(&mut b, *v);
    }
    b.extend_from_slice(&[0u8; 16]); // intent_name
    b.extend_from_slice(b"n+1\0");
    debug_assert_eq!(b.len(), 348);
    b.extend_from_slice(&[0u8; 4]); // no extensions
    b
}

/// Writes the bytes of `data` to a file, not atomically (tests only).
#[cfg(test)]
pub(super) fn write_plain(path: &Path, data: &[u8]) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| DataError::write(path, e))?;
    let mut w = std::io::BufWriter::new(file);
    w.write_all(data).and_then(|_| w.flush()).map_err(|e| DataError::write(path, e))
}
