//! Writing every layer of a features folder at once, run by run.
//!
//! A transformer computes all its layers for one run in one pass, so extraction goes run by
//! run; but a features folder stores one file per layer holding every run. Since the number of
//! words of each run is known in advance, each layer file's safetensors header (names, shapes,
//! byte offsets) can be written first and each run's block written in place as it arrives:
//! memory holds one run at a time, whatever the number of runs. The files are written under
//! temporary names and renamed into place by [`StreamingWriter::finish`], before `meta.json`;
//! on an error or a drop before `finish`, the temporary files are removed.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;

use faer::MatRef;

use super::{Features, FeaturesWriter, layer_file_name};
use crate::atomic::{TempGuard, temp_path};
use crate::dataset::run_label;
use crate::error::{DataError, Result};

/// One layer file being filled.
struct PartialLayer {
    path: PathBuf,
    file: File,
    guard: TempGuard,
    /// Byte offset of the data section (after the 8-byte length and the header).
    data_start: u64,
}

/// Writes every layer of a features folder, one run at a time; made by
/// [`FeaturesWriter::stream`].
///
/// ```
/// use brainscale_data::{FeaturesMeta, FeaturesWriter};
/// use faer::Mat;
/// let dir = tempfile::tempdir()?;
/// let meta = FeaturesMeta::new("toy", "toy", vec![2, 3]);
/// let mut w = FeaturesWriter::create(dir.path(), meta)?.stream(&[4, 1])?;
/// for (r, n) in [4, 1].into_iter().enumerate() {
///     w.write_run(0, r, Mat::<f32>::zeros(n, 2).as_ref())?;
///     w.write_run(1, r, Mat::<f32>::ones(n, 3).as_ref())?;
/// }
/// let features = w.finish()?;
/// assert_eq!(features.read_layer(1)?[1][(0, 2)], 1.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StreamingWriter {
    writer: FeaturesWriter,
    layers: Vec<PartialLayer>,
    n_words: Vec<usize>,
    filled: Vec<Vec<bool>>,
}

impl std::fmt::Debug for StreamingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingWriter").field("dir", &self.writer.dir).field("n_words", &self.n_words).finish()
    }
}

impl FeaturesWriter {
    /// Starts writing every layer at once for runs of `n_words` words each (run-01 first):
    /// creates the layer files (temporary names) with their headers and sizes.
    pub fn stream(self, n_words: &[usize]) -> Result<StreamingWriter> {
        if n_words.is_empty() {
            return Err(DataError::shape("runs to stream", "at least one run", 0));
        }
        let mut layers = Vec::with_capacity(self.meta.n_layers);
        for (k, &dim) in self.meta.dims.iter().enumerate() {
            let path = self.dir.join(layer_file_name(k));
            let header = header_bytes(n_words, dim);
            let tmp = temp_path(&path)?;
            let guard = TempGuard { path: tmp.clone(), committed: false };
            let file = File::create(&tmp).map_err(|e| DataError::write(&path, e))?;
            let data_start = 8 + header.len() as u64;
            let data_len: u64 = n_words.iter().map(|&n| (n * dim * 4) as u64).sum();
            let mut w = BufWriter::new(&file);
            w.write_all(&(header.len() as u64).to_le_bytes())
                .and_then(|()| w.write_all(&header))
                .and_then(|()| w.flush())
                .map_err(|e| DataError::write(&path, e))?;
            drop(w);
            file.set_len(data_start + data_len).map_err(|e| DataError::write(&path, e))?;
            layers.push(PartialLayer { path, file, guard, data_start });
        }
        let filled = vec![vec![false; n_words.len()]; layers.len()];
        Ok(StreamingWriter { writer: self, layers, n_words: n_words.to_vec(), filled })
    }
}

/// The safetensors header (JSON padded with spaces to a multiple of 8 bytes) for runs of
/// `n_words` words at dimension `dim`, stored run after run.
fn header_bytes(n_words: &[usize], dim: usize) -> Vec<u8> {
    let mut map = serde_json::Map::new();
    let mut offset = 0usize;
    for (r, &n) in n_words.iter().enumerate() {
        let end = offset + n * dim * 4;
        map.insert(
            run_label(r + 1),
            serde_json::json!({"dtype": "F32", "shape": [n, dim], "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut bytes = serde_json::Value::Object(map).to_string().into_bytes();
    while bytes.len() % 8 != 0 {
        bytes.push(b' ');
    }
    bytes
}

impl StreamingWriter {
    /// Writes run `r`'s (0-based) matrix of layer `k`: `n_words[r] x dims[k]`.
    pub fn write_run(&mut self, k: usize, r: usize, m: MatRef<'_, f32>) -> Result<()> {
        let (Some(layer), Some(&dim), Some(&n)) =
            (self.layers.get(k), self.writer.meta.dims.get(k), self.n_words.get(r))
        else {
            return Err(DataError::shape(
                "layer and run".to_string(),
                format!("a layer below {} and a run below {}", self.layers.len(), self.n_words.len()),
                format!("layer {k}, run index {r}"),
            ));
        };
        if (m.nrows(), m.ncols()) != (n, dim) {
            return Err(DataError::Tensor {
                path: layer.path.clone(),
                tensor: run_label(r + 1),
                reason: format!("got {} x {}, expected {n} words x dims[{k}] = {dim}", m.nrows(), m.ncols()),
            });
        }
        let before: usize = self.n_words[..r].iter().map(|&n| n * dim * 4).sum();
        let mut bytes = Vec::with_capacity(n * dim * 4);
        for i in 0..n {
            for j in 0..dim {
                bytes.extend_from_slice(&m[(i, j)].to_le_bytes());
            }
        }
        let mut file = &layer.file;
        file.seek(SeekFrom::Start(layer.data_start + before as u64))
            .and_then(|_| file.write_all(&bytes))
            .map_err(|e| DataError::write(&layer.path, e))?;
        self.filled[k][r] = true;
        Ok(())
    }

    /// Sets a key of `meta.json` outside the SPEC fields.
    pub fn insert_extra(&mut self, key: impl Into<String>, value: serde_json::Value) {
        self.writer.insert_extra(key, value);
    }

    /// Checks that every (layer, run) was written, moves the layer files into place, then
    /// writes `meta.json` and opens the folder.
    pub fn finish(mut self) -> Result<Features> {
        for (k, runs) in self.filled.iter().enumerate() {
            if let Some(r) = runs.iter().position(|f| !f) {
                return Err(DataError::Features {
                    path: self.writer.dir.clone(),
                    reason: format!("layer {k} of {} was never written", run_label(r + 1)),
                });
            }
        }
        for (k, layer) in self.layers.iter_mut().enumerate() {
            layer.file.sync_all().map_err(|e| DataError::write(&layer.path, e))?;
            std::fs::rename(&layer.guard.path, &layer.path).map_err(|e| DataError::write(&layer.path, e))?;
            layer.guard.committed = true;
            self.writer.written[k] = true;
        }
        self.writer.finish()
    }
}
