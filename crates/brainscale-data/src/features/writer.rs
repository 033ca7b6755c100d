//! Writing a features folder: layer files one at a time, `meta.json` last.

use std::path::{Path, PathBuf};

use faer::{Mat, MatRef};

use super::{Features, FeaturesMeta, layer_file_name, write_tensors};
use crate::atomic::write_bytes_atomic;
use crate::dataset::run_label;
use crate::error::{DataError, Result};

/// Writes a features folder: layers one at a time (atomically), then `meta.json`.
#[derive(Debug)]
pub struct FeaturesWriter {
    pub(super) dir: PathBuf,
    pub(super) meta: FeaturesMeta,
    pub(super) written: Vec<bool>,
}

impl FeaturesWriter {
    /// Prepares `dir` (created if needed). An existing `meta.json` there is removed first, so
    /// the folder only looks complete once [`FeaturesWriter::finish`] has run.
    pub fn create(dir: &Path, meta: FeaturesMeta) -> Result<Self> {
        meta.check(&dir.join("meta.json"))?;
        std::fs::create_dir_all(dir).map_err(|e| DataError::write(dir, e))?;
        let meta_path = dir.join("meta.json");
        if meta_path.exists() {
            std::fs::remove_file(&meta_path).map_err(|e| DataError::write(&meta_path, e))?;
        }
        let written = vec![false; meta.n_layers];
        Ok(Self { dir: dir.to_path_buf(), meta, written })
    }

    /// Writes layer `k` from one (n_words x `dims[k]`) matrix per run (run-01 first).
    pub fn write_layer<M: AsRef<[Mat<f32>]>>(&mut self, k: usize, runs: M) -> Result<()> {
        let runs: Vec<MatRef<'_, f32>> = runs.as_ref().iter().map(|m| m.as_ref()).collect();
        self.write_layer_refs(k, &runs)
    }

    /// As [`FeaturesWriter::write_layer`], from matrix views.
    pub fn write_layer_refs(&mut self, k: usize, runs: &[MatRef<'_, f32>]) -> Result<()> {
        let path = self.dir.join(layer_file_name(k));
        let Some(&dim) = self.meta.dims.get(k) else {
            return Err(DataError::Features {
                path,
                reason: format!("layer {k} is beyond n_layers = {} in the metadata", self.meta.n_layers),
            });
        };
        if runs.is_empty() {
            return Err(DataError::shape(format!("runs of layer {k}"), "at least one run", 0));
        }
        if let Some((r, m)) = runs.iter().enumerate().find(|(_, m)| m.ncols() != dim) {
            return Err(DataError::Tensor {
                path,
                tensor: run_label(r + 1),
                reason: format!("{} columns, expected dims[{k}] = {dim}", m.ncols()),
            });
        }
        let labels: Vec<String> = (1..=runs.len()).map(run_label).collect();
        let tensors: Vec<(&str, MatRef<'_, f32>, Vec<usize>)> =
            runs.iter().zip(&labels).map(|(m, l)| (l.as_str(), *m, vec![m.nrows(), m.ncols()])).collect();
        write_tensors(&path, &tensors)?;
        self.written[k] = true;
        Ok(())
    }

    /// Sets a key of `meta.json` outside the SPEC fields (kept in [`FeaturesMeta::extra`]),
    /// e.g. provenance known only once the layers are written.
    pub fn insert_extra(&mut self, key: impl Into<String>, value: serde_json::Value) {
        self.meta.extra.insert(key.into(), value);
    }

    /// Writes `meta.json` once every layer is written, and returns the opened folder.
    pub fn finish(self) -> Result<Features> {
        if let Some(k) = self.written.iter().position(|w| !w) {
            return Err(DataError::Features {
                path: self.dir.clone(),
                reason: format!(
                    "layer {k} was never written; meta.json is written only when all {} are",
                    self.meta.n_layers
                ),
            });
        }
        let meta_path = self.dir.join("meta.json");
        let json = serde_json::to_string_pretty(&self.meta).map_err(|e| DataError::Json {
            path: meta_path.clone(),
            line: None,
            message: e.to_string(),
        })?;
        write_bytes_atomic(&meta_path, format!("{json}\n").as_bytes())?;
        Features::open(&self.dir)
    }
}
