//! A safe reader for numpy arrays saved with `joblib.dump(arr, path, compress=...)`: the
//! format of the paper's published ISC estimates and average-subject BOLD series.
//!
//! joblib files are Python pickles, and unpickling runs arbitrary code. This reader never
//! unpickles: a tiny stack machine walks the opcodes and accepts only what joblib writes for
//! **one** plain `float32`/`float64` array, in C or Fortran order and either byte order:
//!
//! * the container, told by its magic bytes: a zlib stream (joblib's default for
//!   `compress=<int>`), one gzip member (`compress=("gzip", n)`, or an int with a `.gz` name)
//!   or an uncompressed pickle (`compress=0`). lz4, xz, lzma, bz2 and joblib < 0.10 files are
//!   refused with a message saying how to re-save them.
//! * the pickle: a `joblib.numpy_pickle.NumpyArrayWrapper` built with a state dict
//!   (`subclass` = `numpy.ndarray`, `shape`, `order`, `dtype` = a `numpy.dtype` made by REDUCE
//!   of `("f4" | "f8", ...)` and BUILD with numpy's state tuple carrying the byte order,
//!   `allow_mmap`, and since joblib 1.2 `numpy_array_alignment_bytes`), followed right after
//!   its BUILD by a padding-length byte and that much padding (when the alignment is an int;
//!   `None` or absent means no padding), the raw array bytes, and STOP.
//! * nothing else: any other global (`os.system`, `builtins.eval`, ...), a REDUCE of anything
//!   but `numpy.dtype`, object arrays (which joblib pickles inline), other dtypes, lists and
//!   dicts of arrays, unknown opcodes, truncated streams and bytes after the end are refused
//!   with [`DataError::Joblib`] naming the file and what was found, e.g.
//!
//! ```text
//! evil.gz: refused pickle global `posix.system` at byte 28: only joblib's NumpyArrayWrapper of
//! a float32/float64 numpy array is read
//! ```
//!
//! No input makes it panic, and every allocation is bounded by the bytes actually present: the
//! container is inflated into memory under a cap ([`MAX_DECOMPRESSED_BYTES`], 8 GiB, or the
//! `limit` of [`parse_joblib_array_with_limit`]), and the array is only allocated once its byte
//! count has been checked against what the stream still holds.
//!
//! **Why not a crate.** `serde-pickle` is the well-kept Rust pickle reader and it is safe (it
//! resolves only a few builtin globals and errors on the others by default), but it cannot
//! read joblib files: it would have to accept joblib's own class, and it parses the raw array
//! bytes that joblib writes in the middle of the pickle (not a pickle construct at all) as
//! opcodes. The subset needed here is small (about 30 opcodes), so it is written out in
//! `joblib/pickle.rs`, with joblib's `numpy_pickle.py` (1.6) as the reference for the layout.
//!
//! ```
//! use brainscale_data::joblib::{self, NpyData};
//! let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
//!     .join("../../tests/fixtures/joblib/f32_c_2d_zlib3.joblib");
//! let array = joblib::read_joblib_array(&path)?;        // never executes the pickle
//! assert_eq!(array.shape, [3, 4]);
//! assert!(matches!(array.data, NpyData::F32(_)));
//! let rows = array.to_mat_f32()?;                          // 3 x 4, row-major semantics
//! assert_eq!(rows.nrows(), 3);
//! # Ok::<(), brainscale_data::DataError>(())
//! ```

mod container;
mod numpy;
mod opcodes;
mod pickle;
mod problem;

#[cfg(test)]
mod tests;

use std::path::Path;

use faer::Mat;

use crate::error::{DataError, Result};
pub use problem::JoblibProblem;

/// Default cap on the decompressed size of a joblib file (8 GiB).
pub const MAX_DECOMPRESSED_BYTES: u64 = 8 << 30;

/// A numpy array read from a joblib file, always in C order (last index fastest).
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// numpy's `shape` (empty for a 0-D array, which holds one value).
    pub shape: Vec<usize>,
    /// The values in C order, in the file's precision.
    pub data: NpyData,
}

/// The values of an [`NpyArray`], in the precision the file stores.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// A `float32` array.
    F32(Vec<f32>),
    /// A `float64` array.
    F64(Vec<f64>),
}

impl NpyData {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            NpyData::F32(v) => v.len(),
            NpyData::F64(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// numpy's name of the dtype: `"float32"` or `"float64"`.
    pub fn dtype_name(&self) -> &'static str {
        match self {
            NpyData::F32(_) => "float32",
            NpyData::F64(_) => "float64",
        }
    }

    /// The value at a C-order position, widened to f64.
    pub fn get_f64(&self, index: usize) -> Option<f64> {
        match self {
            NpyData::F32(v) => v.get(index).map(|&x| x as f64),
            NpyData::F64(v) => v.get(index).copied(),
        }
    }

    /// All values widened to f64 (exact).
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            NpyData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::F64(v) => v.clone(),
        }
    }

    /// All values as f32 (f64 values rounded to nearest).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            NpyData::F32(v) => v.clone(),
            NpyData::F64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// Reorders values stored in Fortran order (first index fastest) into C order.
    fn fortran_to_c(self, shape: &[usize]) -> Self {
        match self {
            NpyData::F32(v) => NpyData::F32(fortran_to_c(shape, v)),
            NpyData::F64(v) => NpyData::F64(fortran_to_c(shape, v)),
        }
    }
}

impl NpyArray {
    /// numpy's `ndim`.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// The two dimensions of a 2-D array (rows, columns), `None` for any other `ndim`.
    pub fn dims_2d(&self) -> Option<[usize; 2]> {
        match self.shape.as_slice() {
            &[rows, cols] => Some([rows, cols]),
            _ => None,
        }
    }

    /// A 2-D array as a (rows x columns) matrix of f32 (f64 values rounded to nearest), e.g.
    /// (n_samples x n_voxels) for an average-subject BOLD series.
    pub fn to_mat_f32(&self) -> Result<Mat<f32>> {
        let [rows, cols] = self.require_2d()?;
        Ok(match &self.data {
            NpyData::F32(v) => Mat::from_fn(rows, cols, |i, j| v[i * cols + j]),
            NpyData::F64(v) => Mat::from_fn(rows, cols, |i, j| v[i * cols + j] as f32),
        })
    }

    /// A 2-D array as a (rows x columns) matrix of f64 (f32 values widened exactly).
    pub fn to_mat_f64(&self) -> Result<Mat<f64>> {
        let [rows, cols] = self.require_2d()?;
        Ok(match &self.data {
            NpyData::F32(v) => Mat::from_fn(rows, cols, |i, j| v[i * cols + j] as f64),
            NpyData::F64(v) => Mat::from_fn(rows, cols, |i, j| v[i * cols + j]),
        })
    }

    fn require_2d(&self) -> Result<[usize; 2]> {
        match self.dims_2d() {
            Some(dims) if dims[0].checked_mul(dims[1]) == Some(self.data.len()) => Ok(dims),
            _ => Err(DataError::shape("joblib array", "a 2-D array", format!("shape {:?}", self.shape))),
        }
    }
}

/// Reads the one float32/float64 array of a joblib file, without executing its pickle (see the
/// [module docs](self) for what is accepted). Errors name `path` and what was found.
pub fn read_joblib_array(path: &Path) -> Result<NpyArray> {
    let size = std::fs::metadata(path).map_err(|e| DataError::read(path, e))?.len();
    if size > MAX_DECOMPRESSED_BYTES {
        return Err(joblib_error(path, JoblibProblem::TooLarge { limit: MAX_DECOMPRESSED_BYTES }));
    }
    let bytes = std::fs::read(path).map_err(|e| DataError::read(path, e))?;
    parse_joblib_array(path, &bytes)
}

/// [`read_joblib_array`] on bytes already in memory; `path_for_messages` only names the source
/// in errors.
///
/// ```
/// use std::path::Path;
/// // The classic malicious pickle: os.system("id"). Refused by name, never called.
/// let evil = b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.";
/// let err = brainscale_data::joblib::parse_joblib_array(Path::new("evil.pkl"), evil).unwrap_err();
/// assert!(err.to_string().starts_with("evil.pkl: refused pickle global `os.system` at byte 14"));
/// ```
pub fn parse_joblib_array(path_for_messages: &Path, bytes: &[u8]) -> Result<NpyArray> {
    parse_joblib_array_with_limit(path_for_messages, bytes, MAX_DECOMPRESSED_BYTES)
}

/// [`parse_joblib_array`] with a cap of `limit` bytes on the decompressed pickle (an
/// uncompressed input larger than `limit` is refused too).
pub fn parse_joblib_array_with_limit(path_for_messages: &Path, bytes: &[u8], limit: u64) -> Result<NpyArray> {
    let pickle = container::unwrap_pickle(bytes, limit).map_err(|p| joblib_error(path_for_messages, p))?;
    pickle::parse(&pickle).map_err(|p| joblib_error(path_for_messages, p))
}

fn joblib_error(path: &Path, problem: JoblibProblem) -> DataError {
    DataError::Joblib { path: path.to_path_buf(), problem }
}

/// Reorders `data`, stored with the first index fastest, so that the last index is fastest.
fn fortran_to_c<T: Copy>(shape: &[usize], data: Vec<T>) -> Vec<T> {
    if shape.len() < 2 || data.is_empty() {
        return data;
    }
    let n = shape.len();
    let mut c_strides = vec![1usize; n];
    for k in (0..n - 1).rev() {
        c_strides[k] = c_strides[k + 1] * shape[k + 1];
    }
    let mut out = data.clone();
    let mut index = vec![0usize; n];
    let mut c = 0usize;
    for &value in &data {
        out[c] = value;
        // Next multi-index in Fortran order: dimension 0 fastest.
        for k in 0..n {
            index[k] += 1;
            c += c_strides[k];
            if index[k] < shape[k] {
                break;
            }
            c -= c_strides[k] * shape[k];
            index[k] = 0;
        }
    }
    out
}
