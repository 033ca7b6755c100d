//! safetensors files: reading F32 tensors one at a time into matrices, writing matrices.

use std::borrow::Cow;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use faer::{Mat, MatRef};
use safetensors::tensor::Metadata;
use safetensors::{Dtype, View};

use crate::atomic::write_atomic_path;
use crate::error::{DataError, Result};

/// A safetensors file opened for reading tensor by tensor.
pub(super) struct LayerFile {
    path: PathBuf,
    file: File,
    pub(super) metadata: Metadata,
    data_start: u64,
}

impl LayerFile {
    pub(super) fn open(path: &Path) -> Result<Self> {
        let bad = |reason: String| DataError::Safetensors { path: path.to_path_buf(), reason };
        let mut file = File::open(path).map_err(|e| DataError::read(path, e))?;
        let file_len = file.metadata().map_err(|e| DataError::read(path, e))?.len();
        let mut n = [0u8; 8];
        file.read_exact(&mut n).map_err(|_| bad("shorter than its 8-byte header length".into()))?;
        let n = u64::from_le_bytes(n);
        if n > 100_000_000 || 8 + n > file_len {
            return Err(bad(format!("header length {n} does not fit in a file of {file_len} bytes")));
        }
        let mut header = vec![0u8; n as usize];
        file.read_exact(&mut header).map_err(|e| DataError::read(path, e))?;
        let metadata: Metadata = serde_json::from_slice(&header).map_err(|e| bad(format!("bad header ({e})")))?;
        let data_start = 8 + n;
        if data_start + metadata.data_len() as u64 != file_len {
            return Err(bad(format!(
                "the header describes {} data bytes but the file holds {}: the file is truncated or corrupt",
                metadata.data_len(),
                file_len - data_start
            )));
        }
        Ok(Self { path: path.to_path_buf(), file, metadata, data_start })
    }

    pub(super) fn read(&mut self, name: &str, dim: usize, rows: Option<usize>) -> Result<Mat<f32>> {
        let bad = |reason: String| DataError::Tensor { path: self.path.clone(), tensor: name.to_string(), reason };
        let info = self.metadata.info(name).ok_or_else(|| bad("missing".into()))?.clone();
        if info.dtype != Dtype::F32 {
            return Err(bad(format!("dtype {:?}, expected F32", info.dtype)));
        }
        let want = match rows {
            Some(r) => format!("[{r}, {dim}] (n_words_in_run, dim)"),
            None => format!("[n_words_in_run, {dim}]"),
        };
        let (n_rows, n_cols) = match info.shape[..] {
            [r, c] if c == dim && rows.is_none_or(|n| n == r) => (r, c),
            _ => return Err(bad(format!("shape {:?}, expected {want}", info.shape))),
        };
        let (start, end) = info.data_offsets;
        let mut bytes = vec![0u8; end - start];
        self.file
            .seek(SeekFrom::Start(self.data_start + start as u64))
            .and_then(|_| self.file.read_exact(&mut bytes))
            .map_err(|e| DataError::read(&self.path, e))?;
        let value = |i: usize, j: usize| {
            let o = 4 * (i * n_cols + j);
            f32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]])
        };
        Ok(Mat::from_fn(n_rows, n_cols, value))
    }
}

/// A matrix viewed as a row-major F32 tensor of the given shape, converted to bytes only
/// when written.
struct RowMajor<'a>(MatRef<'a, f32>, Vec<usize>);

impl View for RowMajor<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.1
    }

    fn data(&self) -> Cow<'_, [u8]> {
        let m = self.0;
        let mut out = Vec::with_capacity(self.data_len());
        for i in 0..m.nrows() {
            for j in 0..m.ncols() {
                out.extend_from_slice(&m[(i, j)].to_le_bytes());
            }
        }
        Cow::Owned(out)
    }

    fn data_len(&self) -> usize {
        self.0.nrows() * self.0.ncols() * 4
    }
}

/// Writes F32 tensors to a safetensors file atomically: each `(name, matrix, shape)` is stored
/// row-major with `shape` (whose product must be the matrix's size; e.g. `[nrows, ncols]`, or
/// `[n]` for a one-row matrix).
pub fn write_tensors(path: &Path, tensors: &[(&str, MatRef<'_, f32>, Vec<usize>)]) -> Result<()> {
    for (name, m, shape) in tensors {
        if shape.iter().product::<usize>() != m.nrows() * m.ncols() {
            return Err(DataError::Tensor {
                path: path.to_path_buf(),
                tensor: name.to_string(),
                reason: format!("shape {shape:?} does not hold a {} x {} matrix", m.nrows(), m.ncols()),
            });
        }
    }
    let views: Vec<(&str, RowMajor<'_>)> = tensors.iter().map(|(n, m, s)| (*n, RowMajor(*m, s.clone()))).collect();
    write_atomic_path(path, |tmp| {
        safetensors::serialize_to_file(views, None, tmp)
            .map_err(|e| DataError::Safetensors { path: path.to_path_buf(), reason: e.to_string() })?;
        File::open(tmp).and_then(|f| f.sync_all()).map_err(|e| DataError::write(path, e))
    })
}
