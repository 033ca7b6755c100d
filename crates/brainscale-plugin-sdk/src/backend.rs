//! Export a compute backend of the encoding core (feature `backend`): implement
//! [`BackendLibrary`] (a `brainscale_core::Backend` that can be built from JSON options) and
//! call [`export_backend!`](crate::export_backend) once in a `cdylib` named
//! `brainscale-backend-NAME`. The SDK fills `brainscale_plugin_abi::backend::BackendTable`,
//! catches every panic and turns errors into a status plus a message, as for model plugins.
//!
//! The reserved option `panic_for_test` (`"create"` or `"matmul"`) makes the SDK panic in that
//! entry point, for the host's conformance tests.

use std::ffi::{CString, c_char};
use std::mem::size_of;
use std::sync::atomic::{AtomicBool, Ordering};

use brainscale_core::{Backend, CoreError};
use brainscale_plugin_abi::Status;
use brainscale_plugin_abi::backend::{
    BACKEND_ABI_MAJOR, BACKEND_ABI_MINOR, BackendContext, BackendTable, DeviceMatrix,
};
use faer::MatRef;

use crate::PluginError;
use crate::ffi::{free_string, guard, last_error, read_str};

/// A backend that a library exports.
pub trait BackendLibrary: Backend + Sized + Send + 'static {
    /// Opens the device described by `options` (a JSON object: `device` = `"cpu"` or
    /// `"cuda:N"`, plus the library's own keys); refuse unknown keys.
    fn create(options: &serde_json::Map<String, serde_json::Value>) -> Result<Self, PluginError>;
    /// Facts for `fit.json` (device name, versions, precision); the SDK adds `name` and
    /// `direct_scoring`.
    fn describe(&self) -> serde_json::Value;
}

/// A [`BackendTable`] that may sit in a `static`.
#[repr(transparent)]
pub struct SyncBackendTable(pub BackendTable);

// SAFETY: immutable; points only to 'static data and functions.
unsafe impl Sync for SyncBackendTable {}

/// What a `*mut BackendContext` points to.
struct Ctx<T> {
    inner: T,
    panic_in_matmul: AtomicBool,
}

fn core_err(e: CoreError) -> PluginError {
    match e {
        CoreError::ShapeMismatch { .. } | CoreError::InvalidAlphas { .. } => PluginError::invalid(e.to_string()),
        other => PluginError::Internal(other.to_string()),
    }
}

/// The table for backend type `T`.
pub const fn backend_table<T: BackendLibrary>(
    name: *const c_char,
    version: *const c_char,
    devices: *const c_char,
) -> BackendTable {
    BackendTable {
        abi_major: BACKEND_ABI_MAJOR,
        abi_minor: BACKEND_ABI_MINOR,
        table_size: size_of::<BackendTable>(),
        name,
        version,
        devices,
        last_error: Some(last_error),
        create: Some(create::<T>),
        describe: Some(describe::<T>),
        free_string: Some(free_string),
        destroy: Some(destroy::<T>),
        upload: Some(upload::<T>),
        download: Some(download::<T>),
        free_matrix: Some(free_matrix::<T>),
        shape: Some(shape::<T>),
        cols: Some(cols::<T>),
        matmul: Some(matmul::<T>),
        matmul_tn: Some(matmul_tn::<T>),
        matmul_stacked: Some(matmul_stacked::<T>),
        lin_comb: Some(lin_comb::<T>),
        column_pearson_blocks: Some(column_pearson::<T>),
        mem_info: Some(mem_info::<T>),
        synchronize: Some(synchronize::<T>),
    }
}

/// # Safety
/// `ctx` is null or comes from `create::<T>` and is alive.
unsafe fn ctx<'a, T>(ctx: *const BackendContext) -> Result<&'a Ctx<T>, PluginError> {
    if ctx.is_null() {
        return Err(PluginError::invalid("null backend context"));
    }
    // SAFETY: caller's contract.
    Ok(unsafe { &*ctx.cast::<Ctx<T>>() })
}

/// # Safety
/// `m` is null or comes from this library's `T` and is alive.
unsafe fn mat<'a, T: Backend>(m: *const DeviceMatrix, what: &str) -> Result<&'a T::Matrix, PluginError> {
    if m.is_null() {
        return Err(PluginError::invalid(format!("{what} is a null matrix")));
    }
    // SAFETY: caller's contract.
    Ok(unsafe { &*m.cast::<T::Matrix>() })
}

/// # Safety
/// `out` is null or writable.
unsafe fn put<T: Backend>(out: *mut *mut DeviceMatrix, m: T::Matrix) -> Result<(), PluginError> {
    if out.is_null() {
        return Err(PluginError::invalid("`out` is a null pointer"));
    }
    // SAFETY: non-null and writable (host contract).
    unsafe { *out = Box::into_raw(Box::new(m)).cast::<DeviceMatrix>() };
    Ok(())
}

unsafe extern "C" fn create<T: BackendLibrary>(options_json: *const c_char, out: *mut *mut BackendContext) -> Status {
    guard(|| {
        if out.is_null() {
            return Err(PluginError::invalid("create: `out` is a null pointer"));
        }
        let text = if options_json.is_null() { "{}" } else { unsafe { read_str(options_json, "the options") }? };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| PluginError::invalid(format!("the options are not JSON: {e}")))?;
        let serde_json::Value::Object(mut options) = value else {
            return Err(PluginError::invalid(format!("the options must be a JSON object, got {text}")));
        };
        let panic_at = options.remove("panic_for_test");
        match panic_at.as_ref().and_then(|v| v.as_str()) {
            None if panic_at.is_none() => {}
            Some("create") => panic!("forced by the `panic_for_test` option in create"),
            Some("matmul") => {}
            _ => return Err(PluginError::invalid("option `panic_for_test`: expected \"create\" or \"matmul\"")),
        }
        let inner = T::create(&options)?;
        let c = Ctx {
            inner,
            panic_in_matmul: AtomicBool::new(panic_at.and_then(|v| v.as_str().map(|s| s == "matmul")).unwrap_or(false)),
        };
        // SAFETY: checked non-null.
        unsafe { *out = Box::into_raw(Box::new(c)).cast::<BackendContext>() };
        Ok(())
    })
}

unsafe extern "C" fn describe<T: BackendLibrary>(c: *const BackendContext, out_json: *mut *mut c_char) -> Status {
    guard(|| {
        let c = unsafe { ctx::<T>(c) }?;
        if out_json.is_null() {
            return Err(PluginError::invalid("describe: `out_json` is a null pointer"));
        }
        let mut doc = c.inner.describe();
        if let serde_json::Value::Object(map) = &mut doc {
            map.insert("name".into(), c.inner.name().into());
            map.insert("direct_scoring".into(), c.inner.direct_scoring().into());
        }
        let s = CString::new(doc.to_string()).map_err(|e| PluginError::Internal(format!("describe: {e}")))?;
        // SAFETY: checked non-null.
        unsafe { *out_json = s.into_raw() };
        Ok(())
    })
}

unsafe extern "C" fn destroy<T: BackendLibrary>(c: *mut BackendContext) {
    if c.is_null() {
        return;
    }
    // SAFETY: from `create::<T>`, destroyed once (host contract).
    let boxed = unsafe { Box::from_raw(c.cast::<Ctx<T>>()) };
    let _ = guard(move || {
        drop(boxed);
        Ok(())
    });
}

unsafe extern "C" fn upload<T: BackendLibrary>(
    c: *const BackendContext,
    data: *const f32,
    rows: usize,
    cols: usize,
    row_stride: isize,
    col_stride: isize,
    out: *mut *mut DeviceMatrix,
) -> Status {
    guard(|| {
        let c = unsafe { ctx::<T>(c) }?;
        if data.is_null() && rows * cols > 0 {
            return Err(PluginError::invalid("upload: null data"));
        }
        let m = if rows * cols == 0 {
            faer::Mat::<f32>::zeros(rows, cols)
        } else {
            // SAFETY: the host passes a buffer holding every (i, j) at the given strides.
            unsafe { MatRef::from_raw_parts(data, rows, cols, row_stride, col_stride) }.to_owned()
        };
        let m = c.inner.upload(m.as_ref()).map_err(core_err)?;
        unsafe { put::<T>(out, m) }
    })
}

unsafe extern "C" fn download<T: BackendLibrary>(
    c: *const BackendContext,
    m: *const DeviceMatrix,
    out: *mut f32,
    len: usize,
) -> Status {
    guard(|| {
        let c = unsafe { ctx::<T>(c) }?;
        let m = unsafe { mat::<T>(m, "download") }?;
        let host = c.inner.download(m).map_err(core_err)?;
        let (r, k) = (host.nrows(), host.ncols());
        if r * k != len || (out.is_null() && len > 0) {
            return Err(PluginError::invalid(format!("download: a {r} x {k} matrix into a buffer of {len}")));
        }
        if len > 0 {
            // SAFETY: `out` holds `len` floats (host contract).
            let out = unsafe { std::slice::from_raw_parts_mut(out, len) };
            for j in 0..k {
                for (i, v) in host.col(j).iter().enumerate() {
                    out[j * r + i] = *v;
                }
            }
        }
        Ok(())
    })
}

unsafe extern "C" fn free_matrix<T: BackendLibrary>(_c: *const BackendContext, m: *mut DeviceMatrix) {
    if m.is_null() {
        return;
    }
    // SAFETY: from `put::<T>`, freed once (host contract).
    let boxed = unsafe { Box::from_raw(m.cast::<T::Matrix>()) };
    let _ = guard(move || {
        drop(boxed);
        Ok(())
    });
}

unsafe extern "C" fn shape<T: BackendLibrary>(
    c: *const BackendContext,
    m: *const DeviceMatrix,
    rows: *mut usize,
    cols: *mut usize,
) -> Status {
    guard(|| {
        let c = unsafe { ctx::<T>(c) }?;
        let m = unsafe { mat::<T>(m, "shape") }?;
        if rows.is_null() || cols.is_null() {
            return Err(PluginError::invalid("shape: null output"));
        }
        let (r, k) = c.inner.shape(m);
        // SAFETY: checked non-null.
        unsafe {
            *rows = r;
            *cols = k;
        }
        Ok(())
    })
}

unsafe extern "C" fn cols<T: BackendLibrary>(
    c: *const BackendContext,
    m: *const DeviceMatrix,
    start: usize,
    len: usize,
    out: *mut *mut DeviceMatrix,
) -> Status {
    guard(|| {
        let c = unsafe { ctx::<T>(c) }?;
        let m = unsafe { mat::<T>(m, "cols") }?;
        let r = c.inner.cols(m, start, len).map_err(core_err)?;
        unsafe { put::<T>(out, r) }
    })
}

/// A backend's product of two matrices (`matmul`, `matmul_tn`).
type Product<T> =
    fn(&T, &<T as Backend>::Matrix, &<T as Backend>::Matrix) -> brainscale_core::Result<<T as Backend>::Matrix>;

/// A product `op(a, b)` behind a C entry; `name` labels the errors.
///
/// # Safety
/// The pointers follow the entries' contract (live handles of this library, writable `out`).
unsafe fn product<T: BackendLibrary>(
    c: *const BackendContext,
    a: *const DeviceMatrix,
    b: *const DeviceMatrix,
    out: *mut *mut DeviceMatrix,
    name: &str,
    op: Product<T>,
) -> Status {
    guard(|| {
        let c = unsafe { ctx::<T>(c) }?;
        if name == "matmul" && c.panic_in_matmul.load(Ordering::Relaxed) {
            panic!("forced by the `panic_for_test` option in matmul");
        }
        let (a, b) = unsafe { (mat::<T>(a, &format!("{name} a"))?, mat::<T>(b, &format!("{name} b"))?) };
        let r = op(&c.inner, a, b).map_err(core_err)?;
        unsafe { put::<T>(out, r) }
    })
}

unsafe extern "C" fn matmul<T: BackendLibrary>(
    c: *const BackendContext,
    a: *const DeviceMatrix,
    b: *const DeviceMatrix,
    out: *mut *mut DeviceMatrix,
) -> Status {
    // SAFETY: the host's contract, passed on.
    unsafe { product::<T>(c, a, b, out, "matmul", T::matmul) }
}

unsafe extern "C" fn matmul_tn<T: BackendLibrary>(
    c: *const BackendContext,
    a: *const DeviceMatrix,
    b: *const DeviceMatrix,
    out: *mut *mut DeviceMatrix,
) -> Status {
    // SAFETY: as above.
    unsafe { product::<T>(c, a, b, out, "matmul_tn", T::matmul_tn) }
}

/// # Safety
/// `ptrs` holds `n` live matrices of `T` (or `n` is 0).
unsafe fn mats<'a, T: Backend>(ptrs: *const *const DeviceMatrix, n: usize) -> Result<Vec<&'a T::Matrix>, PluginError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if ptrs.is_null() {
        return Err(PluginError::invalid("a null array of matrices"));
    }
    // SAFETY: caller's contract.
    let ptrs = unsafe { std::slice::from_raw_parts(ptrs, n) };
    ptrs.iter().map(|&p| unsafe { mat::<T>(p, "a term") }).collect()
}

unsafe extern "C" fn matmul_stacked<T: BackendLibrary>(
    c: *const BackendContext,
    a: *const DeviceMatrix,
    blocks: *const *const DeviceMatrix,
    n: usize,
    out: *mut *mut DeviceMatrix,
) -> Status {
    guard(|| {
        let c = unsafe { ctx::<T>(c) }?;
        let a = unsafe { mat::<T>(a, "matmul_stacked a") }?;
        let blocks = unsafe { mats::<T>(blocks, n) }?;
        let r = c.inner.matmul_stacked(a, &blocks).map_err(core_err)?;
        unsafe { put::<T>(out, r) }
    })
}

unsafe extern "C" fn lin_comb<T: BackendLibrary>(
    c: *const BackendContext,
    coefficients: *const f32,
    matrices: *const *const DeviceMatrix,
    n: usize,
    out: *mut *mut DeviceMatrix,
) -> Status {
    guard(|| {
        let c = unsafe { ctx::<T>(c) }?;
        let ms = unsafe { mats::<T>(matrices, n) }?;
        if n > 0 && coefficients.is_null() {
            return Err(PluginError::invalid("lin_comb: null coefficients"));
        }
        let coefs: &[f32] = if n == 0 { &[] } else { unsafe { std::slice::from_raw_parts(coefficients, n) } };
        let terms: Vec<(f32, &T::Matrix)> = coefs.iter().copied().zip(ms).collect();
        let r = c.inner.lin_comb(&terms).map_err(core_err)?;
        unsafe { put::<T>(out, r) }
    })
}

unsafe extern "C" fn column_pearson<T: BackendLibrary>(
    c: *const BackendContext,
    pred: *const DeviceMatrix,
    target: *const DeviceMatrix,
    out: *mut f64,
    len: usize,
) -> Status {
    guard(|| {
        let c = unsafe { ctx::<T>(c) }?;
        let (p, t) = unsafe { (mat::<T>(pred, "pred")?, mat::<T>(target, "target")?) };
        let r = c.inner.column_pearson_blocks(p, t).map_err(core_err)?;
        if r.len() != len || (out.is_null() && len > 0) {
            return Err(PluginError::invalid(format!(
                "column_pearson_blocks: {} values into a buffer of {len}",
                r.len()
            )));
        }
        if len > 0 {
            // SAFETY: `out` holds `len` values (host contract).
            unsafe { std::slice::from_raw_parts_mut(out, len) }.copy_from_slice(&r);
        }
        Ok(())
    })
}

unsafe extern "C" fn mem_info<T: BackendLibrary>(c: *const BackendContext, free: *mut u64, total: *mut u64) -> Status {
    guard(|| {
        let c = unsafe { ctx::<T>(c) }?;
        if free.is_null() || total.is_null() {
            return Err(PluginError::invalid("mem_info: null output"));
        }
        let m = c.inner.memory().map_err(core_err)?;
        let (f, t) = m.map_or((0, 0), |m| (m.free, m.total));
        // SAFETY: checked non-null.
        unsafe {
            *free = f;
            *total = t;
        }
        Ok(())
    })
}

unsafe extern "C" fn synchronize<T: BackendLibrary>(c: *const BackendContext) -> Status {
    guard(|| {
        let c = unsafe { ctx::<T>(c) }?;
        c.inner.synchronize().map_err(core_err)
    })
}

/// Exports `$backend` (a [`BackendLibrary`]) as a backend library:
/// `export_backend!(Type, "brainscale-backend-NAME", "version", "cpu,cuda")`.
#[macro_export]
macro_rules! export_backend {
    ($backend:ty, $name:expr, $version:expr, $devices:expr $(,)?) => {
        /// The backend library's entry point, generated by `brainscale_plugin_sdk::export_backend!`.
        #[unsafe(no_mangle)]
        pub extern "C" fn brainscale_backend_entry() -> *const $crate::abi::backend::BackendTable {
            static TABLE: $crate::backend::SyncBackendTable =
                $crate::backend::SyncBackendTable($crate::backend::backend_table::<$backend>(
                    $crate::__c_str!($name),
                    $crate::__c_str!($version),
                    $crate::__c_str!($devices),
                ));
            &TABLE.0
        }
    };
}
