//! The C entry points behind [`crate::export_plugin!`]. All the SDK's `unsafe` code is here.
//!
//! Every entry point runs its body inside [`std::panic::catch_unwind`]: errors and panics
//! become a [`Status`] plus the calling thread's last-error message; nothing unwinds into the
//! host. An extractor whose `extract` panicked is poisoned: later `extract` calls on it fail
//! with [`Status::PANIC`] (destroy it and create another); `describe` still works.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char};
use std::mem::size_of;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use brainscale_plugin_abi::{ABI_MAJOR, ABI_MINOR, Extractor, FloatMatrix, PluginTable, Status};

use crate::options::PANIC_FOR_TEST;
use crate::{FeatureExtractor, Options, PluginError, RunText};

/// A [`PluginTable`] that may sit in a `static` (it only holds pointers to static data and
/// functions, which every thread may read).
#[repr(transparent)]
pub struct SyncTable(pub PluginTable);

// SAFETY: the table is immutable and points only to 'static, immutable data and functions.
unsafe impl Sync for SyncTable {}

/// An array of C string pointers that may sit in a `static`.
#[repr(transparent)]
pub struct SyncStrings<const N: usize>(pub [*const c_char; N]);

// SAFETY: the pointers are to 'static, immutable, NUL-terminated strings.
unsafe impl<const N: usize> Sync for SyncStrings<N> {}

/// `s` followed by a NUL, as an array of exactly `N = s.len() + 1` bytes. Compile-time only:
/// fails the build when `s` holds a NUL or `N` is wrong.
pub const fn nul_terminated<const N: usize>(s: &str) -> [u8; N] {
    let bytes = s.as_bytes();
    assert!(bytes.len() + 1 == N, "nul_terminated: N must be s.len() + 1");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i] != 0, "plugin names, versions and families must not contain NUL");
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// The table for extractor type `T`.
pub const fn table<T: FeatureExtractor>(
    name: *const c_char,
    version: *const c_char,
    families: &'static [*const c_char],
) -> PluginTable {
    PluginTable {
        abi_major: ABI_MAJOR,
        abi_minor: ABI_MINOR,
        table_size: size_of::<PluginTable>(),
        name,
        version,
        families: families.as_ptr(),
        n_families: families.len(),
        last_error: Some(last_error),
        create: Some(create::<T>),
        describe: Some(describe::<T>),
        extract: Some(extract::<T>),
        free_matrix: Some(free_matrix),
        free_string: Some(free_string),
        destroy: Some(destroy::<T>),
    }
}

/// Where the `panic_for_test` option makes the SDK panic.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PanicPoint {
    Create,
    Describe,
    Extract,
}

/// What an `*mut Extractor` points to.
struct Slot<T> {
    inner: T,
    poisoned: bool,
    panic_at: Option<PanicPoint>,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    /// Whether this thread is inside an entry point (see [`install_panic_hook`]).
    static IN_CALL: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic inside an entry point happened.
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs, once, a panic hook that stays silent for panics inside entry points (they are
/// reported to the host, with their location, through the last-error message) and hands every
/// other panic to the previous hook. A cdylib has its own copy of std, so this hook only ever
/// sees the plugin's panics; linked as an rlib, it leaves the host's panics alone.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CALL.try_with(Cell::get).unwrap_or(false) {
                let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                let _ = PANIC_LOCATION.try_with(|p| *p.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = c);
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// Runs `body`, turning an error or a panic into a status and the last-error message.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), PluginError>) -> Status {
    install_panic_hook();
    let outer = IN_CALL.try_with(|c| c.replace(true)).unwrap_or(false);
    let result = catch_unwind(AssertUnwindSafe(body));
    let _ = IN_CALL.try_with(|c| c.set(outer));
    match result {
        Ok(Ok(())) => Status::OK,
        Ok(Err(e)) => {
            set_last_error(&e.to_string());
            e.status()
        }
        Err(payload) => {
            let location = PANIC_LOCATION.try_with(|p| p.borrow_mut().take()).ok().flatten();
            let at = location.map(|l| format!(" at {l}")).unwrap_or_default();
            set_last_error(&format!("the plugin panicked{at}: {}", panic_message(payload.as_ref())));
            // Dropping the payload could itself panic; never let that unwind into the host.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            Status::PANIC
        }
    }
}

/// # Safety
/// `ptr` is null or a NUL-terminated string valid for the call.
pub(crate) unsafe fn read_str<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, PluginError> {
    if ptr.is_null() {
        return Err(PluginError::invalid(format!("{what} is a null pointer")));
    }
    // SAFETY: non-null and NUL-terminated by the caller's contract.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|e| PluginError::invalid(format!("{what} is not valid UTF-8: {e}")))
}

fn forced_panic(point: PanicPoint, slot_point: Option<PanicPoint>, name: &str) {
    if slot_point == Some(point) {
        panic!("forced by the `{PANIC_FOR_TEST}` option in {name}");
    }
}

pub(crate) unsafe extern "C" fn last_error() -> *const c_char {
    static EMPTY: &CStr = c"";
    catch_unwind(|| LAST_ERROR.try_with(|e| e.borrow().as_ptr()).unwrap_or(EMPTY.as_ptr())).unwrap_or(EMPTY.as_ptr())
}

unsafe extern "C" fn create<T: FeatureExtractor>(
    model: *const c_char,
    options_json: *const c_char,
    out: *mut *mut Extractor,
) -> Status {
    guard(|| {
        if out.is_null() {
            return Err(PluginError::invalid("create: `out` is a null pointer"));
        }
        // SAFETY: the host passes NUL-terminated strings (or null) valid for the call.
        let model = unsafe { read_str(model, "the model") }?;
        let mut options = if options_json.is_null() {
            Options::default()
        } else {
            // SAFETY: as above.
            Options::parse(unsafe { read_str(options_json, "the options") }?)?
        };
        let panic_at = match options.take(PANIC_FOR_TEST) {
            None => None,
            Some(v) => Some(match v.as_str() {
                Some("create") => PanicPoint::Create,
                Some("describe") => PanicPoint::Describe,
                Some("extract") => PanicPoint::Extract,
                _ => {
                    return Err(PluginError::invalid(format!(
                        "option `{PANIC_FOR_TEST}`: expected \"create\", \"describe\" or \"extract\", got {v}"
                    )));
                }
            }),
        };
        forced_panic(PanicPoint::Create, panic_at, "create");
        let inner = T::create(model, &options)?;
        options.check_all_read(model)?;
        let slot = Box::new(Slot { inner, poisoned: false, panic_at });
        // SAFETY: `out` is non-null and points to writable memory (host contract).
        unsafe { *out = Box::into_raw(slot).cast::<Extractor>() };
        Ok(())
    })
}

unsafe extern "C" fn describe<T: FeatureExtractor>(extractor: *const Extractor, out_json: *mut *mut c_char) -> Status {
    guard(|| {
        if extractor.is_null() || out_json.is_null() {
            return Err(PluginError::invalid("describe: null pointer"));
        }
        // SAFETY: a non-null extractor comes from `create::<T>` and is not destroyed yet.
        let slot = unsafe { &*extractor.cast::<Slot<T>>() };
        forced_panic(PanicPoint::Describe, slot.panic_at, "describe");
        let json = serde_json::to_string(&slot.inner.describe())
            .map_err(|e| PluginError::Internal(format!("describe: cannot serialise the model info: {e}")))?;
        let c = CString::new(json).map_err(|e| PluginError::Internal(format!("describe: {e}")))?;
        // SAFETY: `out_json` is non-null and writable (host contract).
        unsafe { *out_json = c.into_raw() };
        Ok(())
    })
}

unsafe extern "C" fn extract<T: FeatureExtractor>(
    extractor: *mut Extractor,
    text: *const c_char,
    words_json: *const c_char,
    layer: u32,
    out: *mut FloatMatrix,
) -> Status {
    if extractor.is_null() || out.is_null() {
        set_last_error("extract: null pointer");
        return Status::INVALID_ARGUMENT;
    }
    let slot_ptr = extractor.cast::<Slot<T>>();
    let status = guard(|| {
        // SAFETY: a non-null extractor comes from `create::<T>`; the host does not share it
        // between threads, so this is the only reference.
        let slot = unsafe { &mut *slot_ptr };
        if slot.poisoned {
            return Err(PluginError::Internal(
                "this extractor panicked earlier and may be inconsistent: destroy it and create a new one".into(),
            ));
        }
        // SAFETY: NUL-terminated strings valid for the call (host contract).
        let text = unsafe { read_str(text, "the run text") }?;
        // SAFETY: as above.
        let words_json = unsafe { read_str(words_json, "the words") }?;
        let words: Vec<String> = serde_json::from_str(words_json)
            .map_err(|e| PluginError::invalid(format!("the words are not a JSON array of strings: {e}")))?;
        let dims = slot.inner.describe().dims;
        let layer = layer as usize;
        let Some(&dim) = dims.get(layer) else {
            return Err(PluginError::invalid(format!(
                "layer {layer} asked for, but the model has {} layers",
                dims.len()
            )));
        };
        forced_panic(PanicPoint::Extract, slot.panic_at, "extract");
        let m = slot.inner.extract(&RunText { text, words: &words }, layer)?;
        if (m.n_rows(), m.n_cols()) != (words.len(), dim) {
            return Err(PluginError::Internal(format!(
                "the plugin returned a {} x {} matrix for layer {layer}, expected {} words x {dim} (a plugin bug)",
                m.n_rows(),
                m.n_cols(),
                words.len()
            )));
        }
        let (n_rows, n_cols) = (m.n_rows(), m.n_cols());
        let data = Box::into_raw(m.into_vec().into_boxed_slice()).cast::<f32>();
        // SAFETY: `out` is non-null and writable (host contract).
        unsafe { *out = FloatMatrix { data, n_rows, n_cols } };
        Ok(())
    });
    if status == Status::PANIC {
        // SAFETY: as above; the panic left the slot's memory valid (it was not freed).
        unsafe { (*slot_ptr).poisoned = true };
    }
    status
}

unsafe extern "C" fn free_matrix(matrix: FloatMatrix) {
    let Some(len) = matrix.n_rows.checked_mul(matrix.n_cols) else { return };
    if matrix.data.is_null() {
        return;
    }
    // SAFETY: `data` and the shape come from `extract`, which leaked a boxed slice of `len`.
    let boxed = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(matrix.data, len)) };
    drop(boxed);
}

pub(crate) unsafe extern "C" fn free_string(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: `s` comes from `CString::into_raw` in `describe`.
        drop(unsafe { CString::from_raw(s) });
    }
}

unsafe extern "C" fn destroy<T: FeatureExtractor>(extractor: *mut Extractor) {
    if extractor.is_null() {
        return;
    }
    // SAFETY: the extractor comes from `create::<T>` and is destroyed once (host contract).
    let slot = unsafe { Box::from_raw(extractor.cast::<Slot<T>>()) };
    // A panic while dropping is caught and left in the last-error message; nobody reads it.
    let _ = guard(move || {
        drop(slot);
        Ok(())
    });
}
