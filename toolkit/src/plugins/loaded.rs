//! An extractor living inside a plugin, behind the toolkit's [`FeatureExtractor`] trait.

use std::ffi::{CStr, CString, c_char};
use std::ptr::NonNull;

use brainscale_plugin_abi::{Extractor, FloatMatrix, Status};
use faer::Mat;

use super::{Plugin, PluginInfo};
use crate::error::{Error, Result};
use crate::extract::{FeatureExtractor, ModelInfo, Provenance, RunText};

impl Plugin {
    /// Creates an extractor for `model` (a model folder or a baseline spec such as
    /// `random-embeddings` or `glove:/data/glove.6B.300d.txt`) with `options` (a JSON object).
    pub fn create(&self, model: &str, options: &serde_json::Value) -> Result<LoadedPlugin> {
        let c_model = c_string(model, "the model spec")?;
        let c_options = c_string(&options.to_string(), "the options")?;
        let mut handle: *mut Extractor = std::ptr::null_mut();
        // SAFETY: NUL-terminated strings and a writable out pointer, valid for the call.
        let status = unsafe { (self.functions.create)(c_model.as_ptr(), c_options.as_ptr(), &mut handle) };
        self.check(status, "create")?;
        let handle = NonNull::new(handle).ok_or_else(|| self.bug("create", "returned OK but no extractor"))?;
        let provenance = Provenance {
            plugin: self.info.name.clone(),
            plugin_version: self.info.version.clone(),
            model_spec: model.to_owned(),
            options: options.clone(),
            hub: None,
        };
        Ok(LoadedPlugin { plugin: self.clone(), handle, provenance })
    }

    /// The error for a failed call, with the plugin's last-error message.
    fn check(&self, status: Status, call: &str) -> Result<()> {
        if status.is_ok() {
            return Ok(());
        }
        // SAFETY: `last_error` returns a NUL-terminated string owned by the plugin (or null).
        let message = unsafe {
            let p = (self.functions.last_error)();
            if p.is_null() { String::new() } else { CStr::from_ptr(p).to_string_lossy().into_owned() }
        };
        Err(Error::Plugin { plugin: self.info.name.clone(), call: call.to_owned(), status, message })
    }

    fn bug(&self, call: &str, what: &str) -> Error {
        Error::Plugin {
            plugin: self.info.name.clone(),
            call: call.to_owned(),
            status: Status::INTERNAL,
            message: format!("{what} (a plugin bug)"),
        }
    }
}

fn c_string(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Invalid(format!("{what} contains a NUL character: {s:?}")))
}

/// An extractor created by a plugin; destroyed when dropped. Not `Send`: the plugin's
/// last-error message is per thread, so an extractor stays on the thread that made it.
pub struct LoadedPlugin {
    plugin: Plugin,
    handle: NonNull<Extractor>,
    provenance: Provenance,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin").field("provenance", &self.provenance).finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// The plugin it lives in.
    pub fn plugin_info(&self) -> &PluginInfo {
        self.plugin.info()
    }

    /// Records that the model came from the hub (kept in `meta.json`).
    pub fn set_hub(&mut self, hub: Option<crate::hub::HubModel>) {
        self.provenance.hub = hub;
    }
}

impl FeatureExtractor for LoadedPlugin {
    fn describe(&self) -> Result<ModelInfo> {
        let mut json: *mut c_char = std::ptr::null_mut();
        // SAFETY: a live extractor of this plugin and a writable out pointer.
        let status = unsafe { (self.plugin.functions.describe)(self.handle.as_ptr(), &mut json) };
        self.plugin.check(status, "describe")?;
        if json.is_null() {
            return Err(self.plugin.bug("describe", "returned OK but no JSON"));
        }
        // SAFETY: a NUL-terminated string allocated by the plugin, copied, then freed once.
        let text = unsafe {
            let text = CStr::from_ptr(json).to_string_lossy().into_owned();
            (self.plugin.functions.free_string)(json);
            text
        };
        let info: ModelInfo = serde_json::from_str(&text).map_err(|e| {
            self.plugin.bug("describe", &format!("returned a description that does not parse ({e}): {text}"))
        })?;
        info.check().map_err(|reason| self.plugin.bug("describe", &reason))?;
        Ok(info)
    }

    fn extract(&mut self, run: &RunText<'_>, layer: usize) -> Result<Mat<f32>> {
        let text = c_string(run.text, "the run text")?;
        let words = serde_json::to_string(run.words).map_err(|e| Error::Invalid(format!("the run's words: {e}")))?;
        let words = c_string(&words, "a word")?;
        let layer_u32 = u32::try_from(layer).map_err(|_| Error::Invalid(format!("layer {layer} is out of range")))?;
        let mut m = FloatMatrix::null();
        // SAFETY: a live extractor used from one thread, NUL-terminated strings and a writable
        // out pointer, valid for the call.
        let status = unsafe {
            (self.plugin.functions.extract)(self.handle.as_ptr(), text.as_ptr(), words.as_ptr(), layer_u32, &mut m)
        };
        self.plugin.check(status, "extract")?;
        let (n_rows, n_cols) = (m.n_rows, m.n_cols);
        let len = n_rows.checked_mul(n_cols);
        let out = match len {
            Some(0) => Ok(Mat::zeros(n_rows, n_cols)),
            Some(len) if !m.data.is_null() => {
                // SAFETY: the plugin allocated `n_rows * n_cols` floats at `data`.
                let values = unsafe { std::slice::from_raw_parts(m.data, len) };
                Ok(Mat::from_fn(n_rows, n_cols, |i, j| values[i * n_cols + j]))
            }
            _ => Err(self.plugin.bug("extract", &format!("returned a {n_rows} x {n_cols} matrix without data"))),
        };
        // SAFETY: handed back unchanged, once.
        unsafe { (self.plugin.functions.free_matrix)(m) };
        out
    }

    fn provenance(&self) -> Option<Provenance> {
        Some(self.provenance.clone())
    }
}

impl Drop for LoadedPlugin {
    fn drop(&mut self) {
        // SAFETY: created by this plugin's `create`, destroyed once.
        unsafe { (self.plugin.functions.destroy)(self.handle.as_ptr()) };
    }
}
