//! Loading a compute backend library of the encoding core (the host side of
//! `brainscale_plugin_abi::backend`), behind `brainscale_core::Backend`.
//!
//! `libbrainscale_backend_NAME.so` is searched in the plugin folders ([`super::search_dirs`]),
//! loaded with the four stages of the model plugins ([`LoadStage`]: open, entry symbol, ABI
//! version, init), never unloaded. [`LoadedBackend`] forwards every operation through the C
//! table; its matrices ([`RemoteMatrix`]) are freed by the library when dropped.

use std::ffi::{CStr, CString, c_char};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use brainscale_core::backend::{Backend, DeviceMemory};
use brainscale_core::{CoreError, Result as CoreResult};
use brainscale_plugin_abi::backend::{
    BACKEND_ABI_MAJOR, BACKEND_ABI_MINOR, BACKEND_ENTRY_SYMBOL, BACKEND_ENTRY_SYMBOL_NUL, BACKEND_FILE_PREFIX,
    BackendContext, BackendEntryFn, BackendTable, DeviceMatrix,
};
use brainscale_plugin_abi::{Status, TableHeader};
use faer::{Mat, MatRef};

use super::{LoadFailure, LoadStage};

/// The candle backend library's name (`--backend candle`, `--device cuda`).
pub const CANDLE_BACKEND: &str = "candle";

/// The file name of backend library `name`: `libbrainscale_backend_NAME.so` (platform prefix
/// and suffix).
pub fn backend_file_name(name: &str) -> String {
    format!("{}{BACKEND_FILE_PREFIX}{name}{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX)
}

/// The table's functions, checked to be present.
#[derive(Clone, Copy, Debug)]
struct Functions {
    last_error: brainscale_plugin_abi::LastErrorFn,
    create: brainscale_plugin_abi::backend::BackendCreateFn,
    describe: brainscale_plugin_abi::backend::BackendDescribeFn,
    free_string: brainscale_plugin_abi::FreeStringFn,
    destroy: brainscale_plugin_abi::backend::BackendDestroyFn,
    upload: brainscale_plugin_abi::backend::UploadFn,
    download: brainscale_plugin_abi::backend::DownloadFn,
    free_matrix: brainscale_plugin_abi::backend::FreeDeviceMatrixFn,
    shape: brainscale_plugin_abi::backend::ShapeFn,
    cols: brainscale_plugin_abi::backend::ColsFn,
    matmul: brainscale_plugin_abi::backend::MatmulFn,
    matmul_tn: brainscale_plugin_abi::backend::MatmulFn,
    matmul_stacked: brainscale_plugin_abi::backend::MatmulStackedFn,
    lin_comb: brainscale_plugin_abi::backend::LinCombFn,
    column_pearson_blocks: brainscale_plugin_abi::backend::ColumnPearsonFn,
    mem_info: Option<brainscale_plugin_abi::backend::MemInfoFn>,
    synchronize: Option<brainscale_plugin_abi::backend::SynchronizeFn>,
}

/// A loaded backend library (its table; never unloaded).
#[derive(Clone, Debug)]
pub struct BackendLibrary {
    f: Functions,
    /// Its file.
    pub path: PathBuf,
    /// Its name and version.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The devices it was built for (`cpu`, `cuda`).
    pub devices: Vec<String>,
}

/// Finds backend library `name` in `dirs` (first match) and loads it.
pub fn find_backend(name: &str, dirs: &[PathBuf]) -> Result<BackendLibrary, LoadFailure> {
    let file = backend_file_name(name);
    match dirs.iter().map(|d| d.join(&file)).find(|p| p.is_file()) {
        Some(path) => load_backend(&path),
        None => Err(LoadFailure {
            path: PathBuf::from(&file),
            stage: LoadStage::Open,
            message: format!(
                "no {file} in {}: `cargo build --workspace` builds the CPU one beside the brainscale binary, \
                 scripts/gpu-kit.sh the CUDA one; or point --plugin-dir / $BRAINSCALE_PLUGIN_PATH at its folder",
                dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

/// Loads one backend library (never unloaded).
pub fn load_backend(path: &Path) -> Result<BackendLibrary, LoadFailure> {
    let fail = |stage, message: String| LoadFailure { path: path.to_path_buf(), stage, message };
    // SAFETY: as for model plugins, the libraries in the plugin folders are trusted code.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| {
        let hint = if e.to_string().contains("libcuda") {
            ": this is a CUDA build and this machine has no NVIDIA driver (libcuda.so.1); use --device cpu"
        } else {
            ""
        };
        fail(LoadStage::Open, format!("{e}{hint}"))
    })?;
    let library: &'static libloading::Library = Box::leak(Box::new(library));
    // SAFETY: the symbol, if present, has the ABI's type.
    let entry = unsafe { library.get::<BackendEntryFn>(BACKEND_ENTRY_SYMBOL_NUL) }.map_err(|e| {
        fail(LoadStage::Symbol, format!("no `{BACKEND_ENTRY_SYMBOL}` symbol ({e}): not a brainscale backend library"))
    })?;
    // SAFETY: no arguments; returns a static table or null.
    let table = unsafe { entry() };
    if table.is_null() {
        return Err(fail(LoadStage::Init, "the entry point returned no table".into()));
    }
    // SAFETY: every version starts with the header.
    let header = unsafe { *table.cast::<TableHeader>() };
    if header.abi_major != BACKEND_ABI_MAJOR || header.table_size < size_of::<BackendTable>() {
        return Err(fail(
            LoadStage::Abi,
            format!(
                "backend ABI {}.{} ({} bytes), but this brainscale speaks backend ABI {BACKEND_ABI_MAJOR}.{BACKEND_ABI_MINOR} \
                 ({} bytes): rebuild the library against this brainscale",
                header.abi_major,
                header.abi_minor,
                header.table_size,
                size_of::<BackendTable>()
            ),
        ));
    }
    // SAFETY: same major, large enough.
    let table: &'static BackendTable = unsafe { &*table };
    let missing = |what: &str| fail(LoadStage::Init, format!("the table has no `{what}` function"));
    let f = Functions {
        last_error: table.last_error.ok_or_else(|| missing("last_error"))?,
        create: table.create.ok_or_else(|| missing("create"))?,
        describe: table.describe.ok_or_else(|| missing("describe"))?,
        free_string: table.free_string.ok_or_else(|| missing("free_string"))?,
        destroy: table.destroy.ok_or_else(|| missing("destroy"))?,
        upload: table.upload.ok_or_else(|| missing("upload"))?,
        download: table.download.ok_or_else(|| missing("download"))?,
        free_matrix: table.free_matrix.ok_or_else(|| missing("free_matrix"))?,
        shape: table.shape.ok_or_else(|| missing("shape"))?,
        cols: table.cols.ok_or_else(|| missing("cols"))?,
        matmul: table.matmul.ok_or_else(|| missing("matmul"))?,
        matmul_tn: table.matmul_tn.ok_or_else(|| missing("matmul_tn"))?,
        matmul_stacked: table.matmul_stacked.ok_or_else(|| missing("matmul_stacked"))?,
        lin_comb: table.lin_comb.ok_or_else(|| missing("lin_comb"))?,
        column_pearson_blocks: table.column_pearson_blocks.ok_or_else(|| missing("column_pearson_blocks"))?,
        mem_info: table.mem_info,
        synchronize: table.synchronize,
    };
    let text = |p: *const c_char, what: &str| -> Result<String, LoadFailure> {
        if p.is_null() {
            return Err(fail(LoadStage::Init, format!("the library's {what} is a null pointer")));
        }
        // SAFETY: static NUL-terminated strings (ABI contract).
        unsafe { CStr::from_ptr(p) }
            .to_str()
            .map(str::to_owned)
            .map_err(|_| fail(LoadStage::Init, format!("the library's {what} is not UTF-8")))
    };
    Ok(BackendLibrary {
        f,
        path: path.to_path_buf(),
        name: text(table.name, "name")?,
        version: text(table.version, "version")?,
        devices: text(table.devices, "devices")?.split(',').map(str::to_owned).collect(),
    })
}

impl BackendLibrary {
    /// Opens `device` (`cpu` or `cuda:N`) with extra JSON `options`.
    pub fn create(&self, device: &str, options: serde_json::Value) -> crate::Result<LoadedBackend> {
        let mut options = match options {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        options.insert("device".into(), device.into());
        let c = CString::new(serde_json::Value::Object(options).to_string())
            .map_err(|e| crate::Error::Invalid(format!("backend options: {e}")))?;
        let mut ctx: *mut BackendContext = std::ptr::null_mut();
        // SAFETY: NUL-terminated options and a writable out pointer.
        let status = unsafe { (self.f.create)(c.as_ptr(), &mut ctx) };
        let Some(ctx) = NonNull::new(ctx).filter(|_| status.is_ok()) else {
            return Err(crate::Error::Plugin {
                plugin: format!("{} ({})", self.name, self.path.display()),
                call: format!("create {device}"),
                status: if status.is_ok() { Status::INTERNAL } else { status },
                message: last_error_of(&self.f),
            });
        };
        let inner = Arc::new(Inner { lib: self.clone(), ctx });
        let info = inner.describe().map_err(|e| crate::Error::Invalid(e.to_string()))?;
        let name = info.get("name").and_then(|v| v.as_str()).unwrap_or(device).to_owned();
        let direct = info.get("direct_scoring").and_then(|v| v.as_bool()).unwrap_or(false);
        Ok(LoadedBackend { inner, name, direct, info })
    }
}

/// The library's last-error message for this thread.
fn last_error_of(f: &Functions) -> String {
    // SAFETY: returns a NUL-terminated string owned by the library (or null).
    unsafe {
        let p = (f.last_error)();
        if p.is_null() { String::new() } else { CStr::from_ptr(p).to_string_lossy().into_owned() }
    }
}

/// A backend context and its library; destroyed when the last matrix and backend handle go.
struct Inner {
    lib: BackendLibrary,
    ctx: NonNull<BackendContext>,
}

// SAFETY: the backend ABI makes every entry thread-safe; the context is only ever passed back.
unsafe impl Send for Inner {}
// SAFETY: as above.
unsafe impl Sync for Inner {}

impl Inner {
    fn last_error(&self) -> String {
        last_error_of(&self.lib.f)
    }

    fn check(&self, status: Status, call: &str) -> CoreResult<()> {
        if status.is_ok() {
            return Ok(());
        }
        Err(CoreError::Backend {
            backend: self.lib.name.clone(),
            message: format!("{call}: {} ({})", self.last_error(), status.name()),
        })
    }

    fn describe(&self) -> CoreResult<serde_json::Value> {
        let mut out: *mut c_char = std::ptr::null_mut();
        // SAFETY: a live context and a writable out pointer.
        let status = unsafe { (self.lib.f.describe)(self.ctx.as_ptr(), &mut out) };
        self.check(status, "describe")?;
        if out.is_null() {
            return Err(CoreError::Backend {
                backend: self.lib.name.clone(),
                message: "describe returned no JSON".into(),
            });
        }
        // SAFETY: a NUL-terminated string from the library, copied then freed once.
        let text = unsafe {
            let t = CStr::from_ptr(out).to_string_lossy().into_owned();
            (self.lib.f.free_string)(out);
            t
        };
        serde_json::from_str(&text).map_err(|e| CoreError::Backend {
            backend: self.lib.name.clone(),
            message: format!("describe: {e}: {text}"),
        })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: created by this library's `create`, destroyed once, after all its matrices.
        unsafe { (self.lib.f.destroy)(self.ctx.as_ptr()) };
    }
}

/// A matrix living in a backend library.
pub struct RemoteMatrix {
    ptr: NonNull<DeviceMatrix>,
    shape: (usize, usize),
    owner: Arc<Inner>,
}

// SAFETY: the backend ABI makes every entry thread-safe; the handle is only passed back.
unsafe impl Send for RemoteMatrix {}
// SAFETY: as above.
unsafe impl Sync for RemoteMatrix {}

impl std::fmt::Debug for RemoteMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteMatrix({} x {})", self.shape.0, self.shape.1)
    }
}

impl Drop for RemoteMatrix {
    fn drop(&mut self) {
        // SAFETY: a live matrix of this context, freed once.
        unsafe { (self.owner.lib.f.free_matrix)(self.owner.ctx.as_ptr(), self.ptr.as_ptr()) };
    }
}

/// A backend inside a loaded library: the encoding core's `Backend` over the C table.
#[derive(Clone)]
pub struct LoadedBackend {
    inner: Arc<Inner>,
    name: String,
    direct: bool,
    info: serde_json::Value,
}

impl std::fmt::Debug for LoadedBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedBackend").field("name", &self.name).field("info", &self.info).finish_non_exhaustive()
    }
}

impl LoadedBackend {
    /// What the library says about its device (kept in `fit.json`).
    pub fn info(&self) -> &serde_json::Value {
        &self.info
    }

    /// The library.
    pub fn library(&self) -> &BackendLibrary {
        &self.inner.lib
    }

    fn f(&self) -> &Functions {
        &self.inner.lib.f
    }

    fn ctx(&self) -> *const BackendContext {
        self.inner.ctx.as_ptr()
    }

    fn wrap(&self, status: Status, out: *mut DeviceMatrix, call: &str) -> CoreResult<RemoteMatrix> {
        self.inner.check(status, call)?;
        let ptr = NonNull::new(out).ok_or_else(|| CoreError::Backend {
            backend: self.name.clone(),
            message: format!("{call} returned OK but no matrix (a library bug)"),
        })?;
        let mut shape = (0usize, 0usize);
        // SAFETY: a live matrix of this context and two writable outputs.
        let s = unsafe { (self.f().shape)(self.ctx(), ptr.as_ptr(), &mut shape.0, &mut shape.1) };
        let m = RemoteMatrix { ptr, shape, owner: self.inner.clone() };
        self.inner.check(s, "shape")?;
        Ok(m)
    }

    fn binary(
        &self,
        f: brainscale_plugin_abi::backend::MatmulFn,
        a: &RemoteMatrix,
        b: &RemoteMatrix,
        call: &str,
    ) -> CoreResult<RemoteMatrix> {
        let mut out: *mut DeviceMatrix = std::ptr::null_mut();
        // SAFETY: live matrices of this context and a writable out pointer.
        let status = unsafe { (f)(self.ctx(), a.ptr.as_ptr(), b.ptr.as_ptr(), &mut out) };
        self.wrap(status, out, call)
    }
}

impl Backend for LoadedBackend {
    type Matrix = RemoteMatrix;

    fn name(&self) -> String {
        self.name.clone()
    }

    fn upload(&self, m: MatRef<'_, f32>) -> CoreResult<RemoteMatrix> {
        let mut out: *mut DeviceMatrix = std::ptr::null_mut();
        // SAFETY: `m`'s pointer and strides describe its elements for the call's duration.
        let status = unsafe {
            (self.f().upload)(self.ctx(), m.as_ptr(), m.nrows(), m.ncols(), m.row_stride(), m.col_stride(), &mut out)
        };
        self.wrap(status, out, "upload")
    }

    fn download(&self, m: &RemoteMatrix) -> CoreResult<Mat<f32>> {
        let (r, c) = m.shape;
        let mut buf = vec![0.0f32; r * c];
        // SAFETY: a live matrix and a buffer of rows * cols floats.
        let status = unsafe { (self.f().download)(self.ctx(), m.ptr.as_ptr(), buf.as_mut_ptr(), buf.len()) };
        self.inner.check(status, "download")?;
        Ok(Mat::from_fn(r, c, |i, j| buf[j * r + i]))
    }

    fn shape(&self, m: &RemoteMatrix) -> (usize, usize) {
        m.shape
    }

    fn cols(&self, m: &RemoteMatrix, start: usize, len: usize) -> CoreResult<RemoteMatrix> {
        let mut out: *mut DeviceMatrix = std::ptr::null_mut();
        // SAFETY: a live matrix and a writable out pointer.
        let status = unsafe { (self.f().cols)(self.ctx(), m.ptr.as_ptr(), start, len, &mut out) };
        self.wrap(status, out, "cols")
    }

    fn matmul(&self, a: &RemoteMatrix, b: &RemoteMatrix) -> CoreResult<RemoteMatrix> {
        self.binary(self.f().matmul, a, b, "matmul")
    }

    fn matmul_tn(&self, a: &RemoteMatrix, b: &RemoteMatrix) -> CoreResult<RemoteMatrix> {
        self.binary(self.f().matmul_tn, a, b, "matmul_tn")
    }

    fn matmul_stacked(&self, a: &RemoteMatrix, blocks: &[&RemoteMatrix]) -> CoreResult<RemoteMatrix> {
        let ptrs: Vec<*const DeviceMatrix> = blocks.iter().map(|b| b.ptr.as_ptr().cast_const()).collect();
        let mut out: *mut DeviceMatrix = std::ptr::null_mut();
        // SAFETY: live matrices and a writable out pointer.
        let status =
            unsafe { (self.f().matmul_stacked)(self.ctx(), a.ptr.as_ptr(), ptrs.as_ptr(), ptrs.len(), &mut out) };
        self.wrap(status, out, "matmul_stacked")
    }

    fn lin_comb(&self, terms: &[(f32, &RemoteMatrix)]) -> CoreResult<RemoteMatrix> {
        let coefs: Vec<f32> = terms.iter().map(|t| t.0).collect();
        let ptrs: Vec<*const DeviceMatrix> = terms.iter().map(|t| t.1.ptr.as_ptr().cast_const()).collect();
        let mut out: *mut DeviceMatrix = std::ptr::null_mut();
        // SAFETY: as above.
        let status = unsafe { (self.f().lin_comb)(self.ctx(), coefs.as_ptr(), ptrs.as_ptr(), ptrs.len(), &mut out) };
        self.wrap(status, out, "lin_comb")
    }

    fn column_pearson_blocks(&self, pred: &RemoteMatrix, target: &RemoteMatrix) -> CoreResult<Vec<f64>> {
        let (n, c) = target.shape;
        if n == 0 || pred.shape.1 != c || pred.shape.0 % n != 0 {
            return Err(CoreError::ShapeMismatch {
                what: "column_pearson_blocks".into(),
                expected: format!("k blocks of {n} rows x {c} columns"),
                got: format!("{} x {}", pred.shape.0, pred.shape.1),
            });
        }
        let mut out = vec![0.0f64; pred.shape.0 / n * c];
        // SAFETY: live matrices and a buffer of the announced length.
        let status = unsafe {
            (self.f().column_pearson_blocks)(
                self.ctx(),
                pred.ptr.as_ptr(),
                target.ptr.as_ptr(),
                out.as_mut_ptr(),
                out.len(),
            )
        };
        self.inner.check(status, "column_pearson_blocks")?;
        Ok(out)
    }

    fn memory(&self) -> CoreResult<Option<DeviceMemory>> {
        let Some(f) = self.f().mem_info else { return Ok(None) };
        let (mut free, mut total) = (0u64, 0u64);
        // SAFETY: a live context and two writable outputs.
        let status = unsafe { f(self.ctx(), &mut free, &mut total) };
        self.inner.check(status, "mem_info")?;
        Ok((total > 0).then_some(DeviceMemory { free, total }))
    }

    fn synchronize(&self) -> CoreResult<()> {
        let Some(f) = self.f().synchronize else { return Ok(()) };
        // SAFETY: a live context.
        let status = unsafe { f(self.ctx()) };
        self.inner.check(status, "synchronize")
    }

    fn direct_scoring(&self) -> bool {
        self.direct
    }
}
