//! The C boundary between brainscale and a **compute backend library** of the encoding core
//! (`libbrainscale_backend_NAME.so`): the large-matrix operations of `brainscale_core::Backend`
//! as a table of C functions, so that a GPU build (candle with CUDA, which needs the driver's
//! `libcuda`) stays out of the CPU-only host binary.
//!
//! The conventions are those of the model plugins (crate docs): one entry symbol,
//! [`BACKEND_ENTRY_SYMBOL`], returning a static [`BackendTable`] whose first three fields are
//! the frozen [`TableHeader`]; its own [`BACKEND_ABI_MAJOR`] / [`BACKEND_ABI_MINOR`]; every
//! call returns a [`Status`] with a per-thread `last_error`; panics are caught inside the
//! library; the host never unloads it. Backend libraries live in the plugin folders, but under
//! their own name prefix, so the model-plugin scan skips them.
//!
//! Matrices are f32, owned by the library ([`DeviceMatrix`] handles, freed with
//! `free_matrix`). Host buffers cross as a pointer plus `(rows, cols, row_stride,
//! col_stride)` in elements on upload, and as a column-major buffer of `rows * cols` on
//! download. Every entry is thread-safe for distinct output handles.

use core::ffi::c_char;

use crate::{FreeStringFn, LastErrorFn, Status};

/// Major version of the backend ABI.
pub const BACKEND_ABI_MAJOR: u32 = 1;

/// Minor version of the backend ABI: fields appended to [`BackendTable`].
pub const BACKEND_ABI_MINOR: u32 = 0;

/// The symbol every backend library exports.
pub const BACKEND_ENTRY_SYMBOL: &str = "brainscale_backend_entry";

/// [`BACKEND_ENTRY_SYMBOL`], NUL-terminated.
pub const BACKEND_ENTRY_SYMBOL_NUL: &[u8] = b"brainscale_backend_entry\0";

/// The file-name prefix of backend libraries, after the platform's `lib`: the plugin scan
/// skips these names.
pub const BACKEND_FILE_PREFIX: &str = "brainscale_backend_";

/// The entry point: a pointer to the library's static table, or null.
pub type BackendEntryFn = unsafe extern "C" fn() -> *const BackendTable;

/// An opaque backend context (one device), created by `create`, freed by `destroy`.
#[repr(C)]
pub struct BackendContext {
    _private: [u8; 0],
}

/// An opaque f32 matrix on the backend's device.
#[repr(C)]
pub struct DeviceMatrix {
    _private: [u8; 0],
}

/// `create(options_json, out)`: opens a device. Options (JSON object): `device` (`"cpu"` or
/// `"cuda:N"`), and library-specific keys; unknown keys are an error.
pub type BackendCreateFn = unsafe extern "C" fn(options_json: *const c_char, out: *mut *mut BackendContext) -> Status;

/// `describe(ctx, out_json)`: a JSON object (freed with `free_string`): `name` (e.g.
/// `"cuda:0"`), `device`, `direct_scoring` (bool), versions and device facts for `fit.json`.
pub type BackendDescribeFn = unsafe extern "C" fn(ctx: *const BackendContext, out_json: *mut *mut c_char) -> Status;

/// `destroy(ctx)`: closes the context (null is ignored). Its matrices must be freed first.
pub type BackendDestroyFn = unsafe extern "C" fn(ctx: *mut BackendContext);

/// `upload(ctx, data, rows, cols, row_stride, col_stride, out)`: copies a host matrix
/// (element `(i, j)` at `data[i * row_stride + j * col_stride]`) to the device.
pub type UploadFn = unsafe extern "C" fn(
    ctx: *const BackendContext,
    data: *const f32,
    rows: usize,
    cols: usize,
    row_stride: isize,
    col_stride: isize,
    out: *mut *mut DeviceMatrix,
) -> Status;

/// `download(ctx, m, out, len)`: copies `m` into the host buffer `out` of `len = rows * cols`
/// floats, column-major.
pub type DownloadFn =
    unsafe extern "C" fn(ctx: *const BackendContext, m: *const DeviceMatrix, out: *mut f32, len: usize) -> Status;

/// `free_matrix(ctx, m)`: frees a matrix (null is ignored).
pub type FreeDeviceMatrixFn = unsafe extern "C" fn(ctx: *const BackendContext, m: *mut DeviceMatrix);

/// `shape(ctx, m, rows, cols)`.
pub type ShapeFn = unsafe extern "C" fn(
    ctx: *const BackendContext,
    m: *const DeviceMatrix,
    rows: *mut usize,
    cols: *mut usize,
) -> Status;

/// `cols(ctx, m, start, len, out)`: a copy of columns `start..start + len`.
pub type ColsFn = unsafe extern "C" fn(
    ctx: *const BackendContext,
    m: *const DeviceMatrix,
    start: usize,
    len: usize,
    out: *mut *mut DeviceMatrix,
) -> Status;

/// `matmul(ctx, a, b, out)` (`a · b`) and `matmul_tn` (`aᵀ · b`).
pub type MatmulFn = unsafe extern "C" fn(
    ctx: *const BackendContext,
    a: *const DeviceMatrix,
    b: *const DeviceMatrix,
    out: *mut *mut DeviceMatrix,
) -> Status;

/// `matmul_stacked(ctx, a, blocks, n, out)`: `a` times the row-wise stack of `n` blocks.
pub type MatmulStackedFn = unsafe extern "C" fn(
    ctx: *const BackendContext,
    a: *const DeviceMatrix,
    blocks: *const *const DeviceMatrix,
    n: usize,
    out: *mut *mut DeviceMatrix,
) -> Status;

/// `lin_comb(ctx, coefficients, matrices, n, out)`: `Σ cᵢ · mᵢ` (n ≥ 1, one shape).
pub type LinCombFn = unsafe extern "C" fn(
    ctx: *const BackendContext,
    coefficients: *const f32,
    matrices: *const *const DeviceMatrix,
    n: usize,
    out: *mut *mut DeviceMatrix,
) -> Status;

/// `column_pearson_blocks(ctx, pred, target, out, len)`: as the trait's, into `out` of `len`
/// = blocks x columns f64 values, block-major.
pub type ColumnPearsonFn = unsafe extern "C" fn(
    ctx: *const BackendContext,
    pred: *const DeviceMatrix,
    target: *const DeviceMatrix,
    out: *mut f64,
    len: usize,
) -> Status;

/// `mem_info(ctx, free, total)`: the device's memory in bytes (`free = total = 0` when the
/// device is the host's memory).
pub type MemInfoFn = unsafe extern "C" fn(ctx: *const BackendContext, free: *mut u64, total: *mut u64) -> Status;

/// `synchronize(ctx)`: waits for the device's queued work (timing only).
pub type SynchronizeFn = unsafe extern "C" fn(ctx: *const BackendContext) -> Status;

/// The table of a backend library. Fields are only appended; the first three are frozen.
#[repr(C)]
#[derive(Debug)]
pub struct BackendTable {
    /// [`BACKEND_ABI_MAJOR`] of the library.
    pub abi_major: u32,
    /// [`BACKEND_ABI_MINOR`] of the library.
    pub abi_minor: u32,
    /// `size_of::<BackendTable>()` as the library was built.
    pub table_size: usize,
    /// Library name (static, NUL-terminated), e.g. `brainscale-backend-candle`.
    pub name: *const c_char,
    /// Library version.
    pub version: *const c_char,
    /// The devices it was built for, comma-separated (`"cpu"` or `"cpu,cuda"`).
    pub devices: *const c_char,
    /// See [`LastErrorFn`].
    pub last_error: Option<LastErrorFn>,
    /// See [`BackendCreateFn`].
    pub create: Option<BackendCreateFn>,
    /// See [`BackendDescribeFn`].
    pub describe: Option<BackendDescribeFn>,
    /// See [`FreeStringFn`].
    pub free_string: Option<FreeStringFn>,
    /// See [`BackendDestroyFn`].
    pub destroy: Option<BackendDestroyFn>,
    /// See [`UploadFn`].
    pub upload: Option<UploadFn>,
    /// See [`DownloadFn`].
    pub download: Option<DownloadFn>,
    /// See [`FreeDeviceMatrixFn`].
    pub free_matrix: Option<FreeDeviceMatrixFn>,
    /// See [`ShapeFn`].
    pub shape: Option<ShapeFn>,
    /// See [`ColsFn`].
    pub cols: Option<ColsFn>,
    /// `a · b`; see [`MatmulFn`].
    pub matmul: Option<MatmulFn>,
    /// `aᵀ · b`; see [`MatmulFn`].
    pub matmul_tn: Option<MatmulFn>,
    /// See [`MatmulStackedFn`].
    pub matmul_stacked: Option<MatmulStackedFn>,
    /// See [`LinCombFn`].
    pub lin_comb: Option<LinCombFn>,
    /// See [`ColumnPearsonFn`].
    pub column_pearson_blocks: Option<ColumnPearsonFn>,
    /// See [`MemInfoFn`].
    pub mem_info: Option<MemInfoFn>,
    /// See [`SynchronizeFn`] (null: nothing to wait for).
    pub synchronize: Option<SynchronizeFn>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TableHeader;
    use core::mem::offset_of;

    #[test]
    fn the_header_is_the_prefix_of_the_backend_table() {
        assert_eq!(offset_of!(BackendTable, abi_major), offset_of!(TableHeader, abi_major));
        assert_eq!(offset_of!(BackendTable, abi_minor), offset_of!(TableHeader, abi_minor));
        assert_eq!(offset_of!(BackendTable, table_size), offset_of!(TableHeader, table_size));
        let n = BACKEND_ENTRY_SYMBOL.len();
        assert_eq!(&BACKEND_ENTRY_SYMBOL_NUL[..n], BACKEND_ENTRY_SYMBOL.as_bytes());
        assert_eq!(BACKEND_ENTRY_SYMBOL_NUL[n], 0);
    }
}
