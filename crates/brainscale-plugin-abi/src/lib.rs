//! # brainscale-plugin-abi: the C boundary between brainscale and its plugins
//!
//! A brainscale plugin is a shared library (`libbrainscale_NAME.so`, `.dylib`, or
//! `brainscale_NAME.dll`) that turns a run's text into one feature vector per word, layer by
//! layer. It exports a single symbol, [`ENTRY_SYMBOL`] (`brainscale_plugin_entry`), an
//! [`EntryFn`] that returns a pointer to a static [`PluginTable`]. Everything the host needs
//! is reached through that table; only C types cross the boundary (no Rust `String`, `Vec`,
//! trait object or panic), so host and plugin may be built by different compilers.
//!
//! Plugin authors do not use this crate directly: they implement the safe trait of
//! `brainscale-plugin-sdk` and call its `export_plugin!` macro, which fills the table. The
//! host side is `brainscale::plugins` (the loader).
//!
//! ## Versioning
//!
//! * [`ABI_MAJOR`] changes when the meaning or layout of an existing field changes. The host
//!   refuses a plugin of another major version, reading nothing past the first three fields
//!   (`abi_major`, `abi_minor`, `table_size`), which are frozen forever.
//! * [`ABI_MINOR`] grows when fields are appended to the table. A host reads only the fields
//!   it knows and checks that `table_size` covers them, so an older plugin (a smaller table)
//!   is refused cleanly and a newer one (a larger table) still works.
//!
//! ## Calls
//!
//! The host streams: for each run, for each layer, one `extract` call, whose matrix the host
//! writes in place at once. Baselines compute a run's vectors directly; transformer plugins
//! run their model once on the first layer call of a run and hand the run's layers out one by
//! one, so only one run's features are ever in memory.
//!
//! Every function returns a [`Status`]; on anything but [`Status::OK`] the plugin's
//! `last_error` gives a message for the calling thread. Plugins catch their own panics and
//! report them as [`Status::PANIC`]; a plugin must never unwind into the host. The host never
//! unloads a plugin library.

#![no_std]
#![warn(missing_docs)]

use core::ffi::c_char;

pub mod backend;
pub mod matching;

/// Major version of this ABI: a plugin with another major version is refused.
pub const ABI_MAJOR: u32 = 1;

/// Minor version of this ABI: fields appended to [`PluginTable`] since the major version.
pub const ABI_MINOR: u32 = 0;

/// Name of the symbol every plugin exports (see [`EntryFn`]).
pub const ENTRY_SYMBOL: &str = "brainscale_plugin_entry";

/// [`ENTRY_SYMBOL`], NUL-terminated (as `dlsym` wants it).
pub const ENTRY_SYMBOL_NUL: &[u8] = b"brainscale_plugin_entry\0";

/// The entry point: returns a pointer to the plugin's static table (never freed), or null if
/// the plugin cannot initialise. It must not panic and may be called more than once.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginTable;

/// The outcome of a plugin call. A `u32` rather than a Rust enum, so that a code unknown to
/// an older host (from a newer plugin) is a value to report, not undefined behaviour.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Status(pub u32);

impl Status {
    /// Success.
    pub const OK: Status = Status(0);
    /// A bad argument: unknown or malformed option, bad model spec, layer out of range,
    /// null pointer, invalid UTF-8 or JSON.
    pub const INVALID_ARGUMENT: Status = Status(1);
    /// A file could not be read (model weights, vocabulary, ...).
    pub const IO: Status = Status(2);
    /// The model failed (malformed weights, a word it cannot place, ...).
    pub const MODEL: Status = Status(3);
    /// The plugin panicked; the panic was caught inside the plugin.
    pub const PANIC: Status = Status(4);
    /// Valid but not supported by this plugin (e.g. a device it was not built for).
    pub const UNSUPPORTED: Status = Status(5);
    /// Any other failure.
    pub const INTERNAL: Status = Status(6);

    /// A short lower-case name (`ok`, `invalid argument`, ...; `status N` for unknown codes).
    pub fn name(self) -> &'static str {
        match self {
            Status::OK => "ok",
            Status::INVALID_ARGUMENT => "invalid argument",
            Status::IO => "i/o error",
            Status::MODEL => "model error",
            Status::PANIC => "panic",
            Status::UNSUPPORTED => "unsupported",
            Status::INTERNAL => "internal error",
            _ => "unknown status",
        }
    }

    /// Whether this is [`Status::OK`].
    pub fn is_ok(self) -> bool {
        self == Status::OK
    }
}

/// An opaque extractor owned by the plugin: created by `create`, freed by `destroy`.
#[repr(C)]
pub struct Extractor {
    _private: [u8; 0],
}

/// A row-major F32 matrix allocated by the plugin and freed by its `free_matrix`.
///
/// `data` points to `n_rows * n_cols` floats (it may dangle when that product is 0). The host
/// copies the values out and then hands the matrix back, unchanged, to `free_matrix`.
#[repr(C)]
#[derive(Debug)]
pub struct FloatMatrix {
    /// The values, row after row.
    pub data: *mut f32,
    /// Number of rows (words).
    pub n_rows: usize,
    /// Number of columns (the layer's dimension).
    pub n_cols: usize,
}

impl FloatMatrix {
    /// An empty matrix with a null pointer, for the host to pass as `out`.
    pub const fn null() -> Self {
        FloatMatrix { data: core::ptr::null_mut(), n_rows: 0, n_cols: 0 }
    }
}

/// `create(model, options_json, out)`: builds an extractor.
///
/// * `model`: NUL-terminated UTF-8: a model folder (with `config.json`) or a baseline spec
///   `FAMILY[:ARGUMENT]` (e.g. `random-embeddings`, `glove:/data/glove.6B.300d.txt`).
/// * `options_json`: NUL-terminated UTF-8 JSON object of options (`{}` for none).
/// * `out`: receives the extractor on success.
pub type CreateFn =
    unsafe extern "C" fn(model: *const c_char, options_json: *const c_char, out: *mut *mut Extractor) -> Status;

/// `describe(extractor, out_json)`: a JSON object describing the model, written to `*out_json`
/// as a NUL-terminated string to be freed with `free_string`.
///
/// Fields: `model`, `family` (strings), `n_layers`, `dims` (one per layer), `n_params` (or
/// null), `context` (`{"max_tokens", "step"}`, null fields where they do not apply),
/// `tokenizer` (or null), `dtype`, `device`, `warnings` (strings the host should show, e.g.
/// words missing from a vocabulary; called again after extraction). Unknown keys are kept.
pub type DescribeFn = unsafe extern "C" fn(extractor: *const Extractor, out_json: *mut *mut c_char) -> Status;

/// `extract(extractor, text, words_json, layer, out)`: the features of one run at one layer.
///
/// * `text`: the run's text (NUL-terminated UTF-8).
/// * `words_json`: the run's words, a JSON array of strings, in order.
/// * `layer`: 0-based, below `n_layers`.
/// * `out`: receives an F32 matrix `[n_words, dims[layer]]`, row-major.
pub type ExtractFn = unsafe extern "C" fn(
    extractor: *mut Extractor,
    text: *const c_char,
    words_json: *const c_char,
    layer: u32,
    out: *mut FloatMatrix,
) -> Status;

/// `free_matrix(matrix)`: frees a matrix returned by `extract`.
pub type FreeMatrixFn = unsafe extern "C" fn(matrix: FloatMatrix);

/// `free_string(s)`: frees a string returned by `describe`.
pub type FreeStringFn = unsafe extern "C" fn(s: *mut c_char);

/// `last_error()`: the message of the calling thread's last failure (NUL-terminated UTF-8,
/// owned by the plugin, valid until the thread's next call into the plugin); never null.
pub type LastErrorFn = unsafe extern "C" fn() -> *const c_char;

/// `destroy(extractor)`: frees an extractor (null is ignored).
pub type DestroyFn = unsafe extern "C" fn(extractor: *mut Extractor);

/// The table a plugin's entry point returns. Fields are only ever appended (see the crate
/// docs); the first three are frozen for every ABI version.
///
/// Strings are static, NUL-terminated UTF-8. Function pointers are `Option`s so that a table
/// written in C with a missing function is a load error, not undefined behaviour.
#[repr(C)]
#[derive(Debug)]
pub struct PluginTable {
    /// [`ABI_MAJOR`] of the plugin.
    pub abi_major: u32,
    /// [`ABI_MINOR`] of the plugin.
    pub abi_minor: u32,
    /// `size_of::<PluginTable>()` as the plugin was built.
    pub table_size: usize,
    /// Plugin name (e.g. `brainscale-baselines`).
    pub name: *const c_char,
    /// Plugin version (e.g. `0.1.0`).
    pub version: *const c_char,
    /// The model families served: `config.json` `model_type` values (`gpt2`, `llama`) or
    /// baseline names (`random-vectors`): an array of `n_families` strings.
    pub families: *const *const c_char,
    /// Length of `families`.
    pub n_families: usize,
    /// See [`LastErrorFn`].
    pub last_error: Option<LastErrorFn>,
    /// See [`CreateFn`].
    pub create: Option<CreateFn>,
    /// See [`DescribeFn`].
    pub describe: Option<DescribeFn>,
    /// See [`ExtractFn`].
    pub extract: Option<ExtractFn>,
    /// See [`FreeMatrixFn`].
    pub free_matrix: Option<FreeMatrixFn>,
    /// See [`FreeStringFn`].
    pub free_string: Option<FreeStringFn>,
    /// See [`DestroyFn`].
    pub destroy: Option<DestroyFn>,
}

/// The first fields of every table, whatever its ABI version: all a host may read before it
/// has checked the major version and the size.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableHeader {
    /// As [`PluginTable::abi_major`].
    pub abi_major: u32,
    /// As [`PluginTable::abi_minor`].
    pub abi_minor: u32,
    /// As [`PluginTable::table_size`].
    pub table_size: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn the_header_is_the_prefix_of_the_table() {
        assert_eq!(offset_of!(PluginTable, abi_major), offset_of!(TableHeader, abi_major));
        assert_eq!(offset_of!(PluginTable, abi_minor), offset_of!(TableHeader, abi_minor));
        assert_eq!(offset_of!(PluginTable, table_size), offset_of!(TableHeader, table_size));
        assert!(size_of::<TableHeader>() <= size_of::<PluginTable>());
    }

    #[test]
    fn nullable_function_pointers_are_pointer_sized() {
        assert_eq!(size_of::<Option<CreateFn>>(), size_of::<usize>());
        let n = ENTRY_SYMBOL.len();
        assert_eq!((&ENTRY_SYMBOL_NUL[..n], ENTRY_SYMBOL_NUL[n..].len()), (ENTRY_SYMBOL.as_bytes(), 1));
        assert_eq!(ENTRY_SYMBOL_NUL[n], 0);
    }

    #[test]
    fn unknown_status_codes_have_a_name() {
        assert_eq!(Status(77).name(), "unknown status");
        assert!(Status::OK.is_ok() && !Status::PANIC.is_ok());
    }
}
