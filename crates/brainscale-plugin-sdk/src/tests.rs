//! The generated table, called as the host calls it (in-process).

use std::ffi::{CStr, CString, c_char};
use std::ptr;

use brainscale_plugin_abi::{ABI_MAJOR, Extractor, FloatMatrix, PluginTable, Status};

use crate::{FeatureExtractor, Matrix, ModelInfo, Options, PluginError, RunText};

/// Words -> their index; `bad_shape` returns one row too few.
struct Counter {
    dim: usize,
    bad_shape: bool,
}

impl FeatureExtractor for Counter {
    fn create(model: &str, options: &Options) -> Result<Self, PluginError> {
        if model != "counter" {
            return Err(PluginError::invalid(format!("unknown model {model:?}")));
        }
        let dim = options.usize("dim")?.unwrap_or(2);
        Ok(Counter { dim, bad_shape: options.bool("bad_shape")?.unwrap_or(false) })
    }
    fn describe(&self) -> ModelInfo {
        ModelInfo::new("counter", "counter", vec![self.dim, 1])
    }
    fn extract(&mut self, run: &RunText<'_>, layer: usize) -> Result<Matrix, PluginError> {
        let dim = self.describe().dims[layer];
        let n = run.words.len() - usize::from(self.bad_shape);
        let data = (0..n).flat_map(|i| std::iter::repeat_n(i as f32, dim)).collect();
        Matrix::from_row_major(n, dim, data)
    }
}

crate::export_plugin!(Counter, "counter-plugin", "1.2.3", ["counter", "other"]);

fn table() -> &'static PluginTable {
    // SAFETY: the entry returns a pointer to a static table.
    unsafe { &*brainscale_plugin_entry() }
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn last_error() -> String {
    // SAFETY: never null, NUL-terminated.
    unsafe { CStr::from_ptr(table().last_error.unwrap()()) }.to_str().unwrap().to_owned()
}

fn create(options: &str) -> Result<*mut Extractor, (Status, String)> {
    let mut ex: *mut Extractor = ptr::null_mut();
    // SAFETY: valid strings and out pointer.
    let status = unsafe { table().create.unwrap()(c("counter").as_ptr(), c(options).as_ptr(), &mut ex) };
    if status.is_ok() { Ok(ex) } else { Err((status, last_error())) }
}

fn extract(ex: *mut Extractor, words: &[&str], layer: u32) -> Result<(Vec<f32>, usize, usize), (Status, String)> {
    let mut m = FloatMatrix::null();
    let words = c(&serde_json::to_string(words).unwrap());
    // SAFETY: `ex` from `create`, valid strings and out pointer.
    let status = unsafe { table().extract.unwrap()(ex, c("a b").as_ptr(), words.as_ptr(), layer, &mut m) };
    if !status.is_ok() {
        return Err((status, last_error()));
    }
    // SAFETY: the plugin allocated n_rows * n_cols floats.
    let values = unsafe { std::slice::from_raw_parts(m.data, m.n_rows * m.n_cols) }.to_vec();
    let shape = (m.n_rows, m.n_cols);
    // SAFETY: handed back unchanged.
    unsafe { table().free_matrix.unwrap()(m) };
    Ok((values, shape.0, shape.1))
}

fn destroy(ex: *mut Extractor) {
    // SAFETY: from `create`, destroyed once.
    unsafe { table().destroy.unwrap()(ex) };
}

#[test]
fn the_table_announces_the_abi_name_and_families() {
    let t = table();
    assert_eq!(t.abi_major, ABI_MAJOR);
    assert_eq!(t.table_size, size_of::<PluginTable>());
    // SAFETY: static NUL-terminated strings.
    let s = |p: *const c_char| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned();
    assert_eq!((s(t.name), s(t.version)), ("counter-plugin".into(), "1.2.3".into()));
    // SAFETY: `n_families` pointers.
    let families: Vec<String> =
        unsafe { std::slice::from_raw_parts(t.families, t.n_families) }.iter().map(|&p| s(p)).collect();
    assert_eq!(families, ["counter", "other"]);
}

#[test]
fn describe_and_extract_round_trip() {
    let ex = create(r#"{"dim": 3}"#).unwrap();
    let mut json: *mut c_char = ptr::null_mut();
    // SAFETY: valid extractor and out pointer.
    assert!(unsafe { table().describe.unwrap()(ex, &mut json) }.is_ok());
    // SAFETY: NUL-terminated string from `describe`, freed once.
    let info: ModelInfo = serde_json::from_str(unsafe { CStr::from_ptr(json) }.to_str().unwrap()).unwrap();
    unsafe { table().free_string.unwrap()(json) };
    assert_eq!(info.dims, [3, 1]);
    let (values, n_rows, n_cols) = extract(ex, &["a", "b"], 0).unwrap();
    assert_eq!((n_rows, n_cols), (2, 3));
    assert_eq!(values, [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    assert_eq!(extract(ex, &[], 1).unwrap().1, 0);
    let (status, message) = extract(ex, &["a"], 2).unwrap_err();
    assert_eq!(status, Status::INVALID_ARGUMENT);
    assert!(message.contains("layer 2 asked for, but the model has 2 layers"), "{message}");
    destroy(ex);
}

#[test]
fn bad_options_are_invalid_arguments_with_a_message() {
    let (status, message) = create(r#"{"dim": "wide"}"#).unwrap_err();
    assert_eq!(status, Status::INVALID_ARGUMENT);
    assert!(message.contains("option `dim`: expected a non-negative integer, got \"wide\""), "{message}");
    let (status, message) = create(r#"{"dimm": 3}"#).unwrap_err();
    assert_eq!(status, Status::INVALID_ARGUMENT);
    assert!(message.contains("unknown option `dimm` for counter: it takes: bad_shape, dim"), "{message}");
    assert_eq!(create("not json").unwrap_err().0, Status::INVALID_ARGUMENT);
    assert_eq!(create(r#"{"panic_for_test": "never"}"#).unwrap_err().0, Status::INVALID_ARGUMENT);
}

#[test]
fn panics_become_a_status_and_poison_only_their_extractor() {
    let (status, message) = create(r#"{"panic_for_test": "create"}"#).unwrap_err();
    assert_eq!(status, Status::PANIC);
    assert!(message.contains("panicked at ") && message.contains("ffi.rs:"), "{message}");
    assert!(message.ends_with("forced by the `panic_for_test` option in create"), "{message}");

    let ex = create(r#"{"panic_for_test": "describe"}"#).unwrap();
    let mut json: *mut c_char = ptr::null_mut();
    // SAFETY: valid extractor and out pointer.
    assert_eq!(unsafe { table().describe.unwrap()(ex, &mut json) }, Status::PANIC);
    assert!(json.is_null());
    destroy(ex);

    let ex = create(r#"{"panic_for_test": "extract"}"#).unwrap();
    assert_eq!(extract(ex, &["a"], 0).unwrap_err().0, Status::PANIC);
    let (status, message) = extract(ex, &["a"], 0).unwrap_err();
    assert_eq!(status, Status::INTERNAL);
    assert!(message.contains("panicked earlier"), "{message}");
    destroy(ex);

    // A fresh extractor works.
    let ex = create("{}").unwrap();
    assert_eq!(extract(ex, &["a"], 1).unwrap().0, [0.0]);
    destroy(ex);
}

#[test]
fn a_wrong_output_shape_is_reported_as_a_plugin_bug() {
    let ex = create(r#"{"bad_shape": true}"#).unwrap();
    let (status, message) = extract(ex, &["a", "b"], 0).unwrap_err();
    assert_eq!(status, Status::INTERNAL);
    assert!(message.contains("expected 2 words x 2"), "{message}");
    destroy(ex);
}

#[test]
fn null_pointers_are_refused() {
    let mut ex: *mut Extractor = ptr::null_mut();
    // SAFETY: null pointers are part of the contract's checked inputs.
    let status = unsafe { table().create.unwrap()(ptr::null(), ptr::null(), &mut ex) };
    assert_eq!(status, Status::INVALID_ARGUMENT);
    // SAFETY: as above.
    let status = unsafe { table().extract.unwrap()(ptr::null_mut(), ptr::null(), ptr::null(), 0, ptr::null_mut()) };
    assert_eq!(status, Status::INVALID_ARGUMENT);
    destroy(ptr::null_mut());
}
