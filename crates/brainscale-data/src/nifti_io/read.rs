//! Reading NIfTI-1 headers and voxel data, one 3D volume at a time.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use flate2::bufread::GzDecoder;
use nifti::{Endianness, NiftiHeader};

use super::{Grid, Image, NiftiInfo, affine_from_header};
use crate::error::{DataError, Result};

/// Reads only the header of a NIfTI-1 image.
pub fn read_info(path: &Path) -> Result<NiftiInfo> {
    let mut reader = open_reader(path)?;
    read_header(path, &mut reader)
}

/// Reads a whole image as f32 (scaled by `scl_slope` / `scl_inter` as nibabel does).
pub fn read_image(path: &Path) -> Result<Image> {
    let mut data = Vec::new();
    let info = for_each_volume(path, |_, volume| {
        data.extend_from_slice(volume);
        Ok(())
    })?;
    Ok(Image { info, data })
}

/// Streams the volumes of an image: `visit(t, volume)` for each 3D volume in turn, each in
/// Fortran order. Returns the header information.
pub fn for_each_volume(path: &Path, mut visit: impl FnMut(usize, &[f32]) -> Result<()>) -> Result<NiftiInfo> {
    let mut reader = VolumeReader::open(path)?;
    let mut volume = vec![0f32; reader.info().grid.n_cells()];
    while let Some(t) = reader.read_next(&mut volume)? {
        visit(t, &volume)?;
    }
    Ok(reader.info)
}

/// Reads an image one 3D volume at a time: the header first, then each volume on demand.
pub struct VolumeReader {
    info: NiftiInfo,
    reader: Box<dyn Read + Send>,
    decoder: Decoder,
    raw: Vec<u8>,
    next: usize,
}

impl fmt::Debug for VolumeReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VolumeReader").field("path", &self.info.path).field("next", &self.next).finish()
    }
}

impl VolumeReader {
    /// Opens `path` and reads its header; no voxel data are read yet.
    pub fn open(path: &Path) -> Result<Self> {
        let mut reader = open_reader(path)?;
        let info = read_header(path, &mut reader)?;
        let h = &info.header;
        let decoder = Decoder::new(path, h)?;
        // Data start at vox_offset (at least 352 in a single .nii file: header + extension flag).
        let offset = if h.vox_offset.is_finite() && h.vox_offset >= 352.0 { h.vox_offset as u64 } else { 352 };
        let skip = offset - 348;
        let skipped =
            std::io::copy(&mut (&mut reader).take(skip), &mut std::io::sink()).map_err(|e| DataError::read(path, e))?;
        if skipped != skip {
            return Err(DataError::nifti(path, "file ends before the voxel data"));
        }
        let raw = vec![0u8; info.grid.n_cells() * decoder.width];
        Ok(Self { info, reader, decoder, raw, next: 0 })
    }

    /// The header information.
    pub fn info(&self) -> &NiftiInfo {
        &self.info
    }

    /// Reads the next volume into `out` (length nx * ny * nz, Fortran order) and returns its
    /// index, or `None` after the last volume.
    pub fn read_next(&mut self, out: &mut [f32]) -> Result<Option<usize>> {
        let path = &self.info.path;
        let t = self.next;
        if t >= self.info.n_volumes() {
            return Ok(None);
        }
        if out.len() != self.info.grid.n_cells() {
            return Err(DataError::shape("volume buffer", self.info.grid.n_cells(), out.len()));
        }
        self.reader.read_exact(&mut self.raw).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                DataError::nifti(path, format!("truncated: data end inside volume {t} of {}", self.info.n_volumes()))
            } else {
                DataError::read(path, e)
            }
        })?;
        self.decoder.decode(&self.raw, out);
        self.next += 1;
        Ok(Some(t))
    }
}

fn open_reader(path: &Path) -> Result<Box<dyn Read + Send>> {
    let file = File::open(path).map_err(|e| DataError::read(path, e))?;
    let mut file = BufReader::with_capacity(1 << 16, file);
    let magic = {
        use std::io::BufRead;
        let buf = file.fill_buf().map_err(|e| DataError::read(path, e))?;
        buf.len() >= 2 && buf[0] == 0x1f && buf[1] == 0x8b
    };
    if magic { Ok(Box::new(BufReader::with_capacity(1 << 16, GzDecoder::new(file)))) } else { Ok(Box::new(file)) }
}

fn read_header(path: &Path, reader: &mut impl Read) -> Result<NiftiInfo> {
    let header = NiftiHeader::from_reader(reader).map_err(|e| DataError::nifti(path, format!("bad header ({e})")))?;
    let ndim = header.dim[0] as usize;
    if !(1..=7).contains(&ndim) {
        return Err(DataError::nifti(path, format!("dim[0] = {ndim}, expected 1..7")));
    }
    let dims: Vec<usize> = header.dim[1..=ndim].iter().map(|&d| d as usize).collect();
    if ndim < 3 || dims.contains(&0) {
        return Err(DataError::WrongDimensionality { path: path.to_path_buf(), expected: "3D or 4D", found: dims });
    }
    let grid = Grid { dims: [dims[0], dims[1], dims[2]], affine: affine_from_header(&header) };
    Ok(NiftiInfo { path: path.to_path_buf(), dims, grid, header })
}

/// Converts raw voxel bytes to f32.
struct Decoder {
    datatype: i16,
    width: usize,
    little: bool,
    slope: f64,
    inter: f64,
}

impl Decoder {
    fn new(path: &Path, h: &NiftiHeader) -> Result<Self> {
        let width = match h.datatype {
            2 | 256 => 1,
            4 | 512 => 2,
            8 | 16 | 768 => 4,
            64 | 1024 | 1280 => 8,
            other => {
                return Err(DataError::nifti(
                    path,
                    format!(
                        "unsupported data type code {other} (supported: uint8, int8, int16, uint16, int32, \
                         uint32, int64, uint64, float32, float64)"
                    ),
                ));
            }
        };
        // nibabel: a slope of 0 or NaN means "no scaling".
        let (slope, inter) = if h.scl_slope.is_finite() && h.scl_slope != 0.0 {
            (h.scl_slope as f64, if h.scl_inter.is_finite() { h.scl_inter as f64 } else { 0.0 })
        } else {
            (1.0, 0.0)
        };
        Ok(Self { datatype: h.datatype, width, little: h.endianness == Endianness::Little, slope, inter })
    }

    fn decode(&self, raw: &[u8], out: &mut [f32]) {
        let w = self.width;
        let little = self.little;
        macro_rules! conv {
            ($t:ty) => {
                for (o, c) in out.iter_mut().zip(raw.chunks_exact(w)) {
                    let mut b = [0u8; std::mem::size_of::<$t>()];
                    b.copy_from_slice(c);
                    let v = if little { <$t>::from_le_bytes(b) } else { <$t>::from_be_bytes(b) };
                    *o = v as f32;
                }
            };
        }
        match self.datatype {
            2 => conv!(u8),
            256 => conv!(i8),
            4 => conv!(i16),
            512 => conv!(u16),
            8 => conv!(i32),
            768 => conv!(u32),
            1024 => conv!(i64),
            1280 => conv!(u64),
            64 => conv!(f64),
            _ => conv!(f32),
        }
        if self.slope != 1.0 || self.inter != 0.0 {
            for o in out.iter_mut() {
                *o = (*o as f64 * self.slope + self.inter) as f32;
            }
        }
    }
}

/// Errors unless the image's data type is one [`VolumeReader`] can read.
pub fn check_data_type(info: &NiftiInfo) -> Result<()> {
    Decoder::new(&info.path, &info.header).map(|_| ())
}
