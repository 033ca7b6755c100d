//! # brainscale-backend-candle: the encoding core on candle
//!
//! [`Candle`] implements `brainscale_core::Backend` with candle tensors: products through
//! candle's matmul (cuBLAS on CUDA, `CUBLAS_COMPUTE_32F`, no TF32), linear combinations with
//! `affine` + `add`, and the Pearson sums reduced in f64 on the device, of which only `3 · k ·
//! n_columns` numbers come back. The eigendecompositions stay on the host in f64
//! (`Backend::spectra`'s default: faer, several at once); candle has no linear algebra.
//!
//! Built as a `cdylib` (`libbrainscale_backend_candle.so`) it is the library the toolkit loads
//! for `--device cuda` and `--backend candle` (`export_backend!`); `cargo build --workspace`
//! builds it without CUDA (candle's CPU device, for parity checks), `scripts/gpu-kit.sh` with
//! `--features cuda`. The solver itself is not here: it stays single-source in
//! `brainscale-core`, and this crate only provides the operations.

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use brainscale_core::backend::{Backend, DeviceMemory};
use brainscale_core::{CoreError, Result};
use brainscale_plugin_sdk::PluginError;
use brainscale_plugin_sdk::backend::BackendLibrary;
use candle_core::{DType, Device, Tensor};
use faer::{Mat, MatRef};

/// The encoding core's operations on one candle device.
#[derive(Clone, Debug)]
pub struct Candle {
    device: Device,
    label: String,
}

impl Candle {
    /// candle's CPU device.
    pub fn cpu() -> Self {
        Self { device: Device::Cpu, label: "cpu (candle)".into() }
    }

    /// CUDA device `ordinal` (an error in a build without the `cuda` feature, or without a
    /// usable GPU).
    pub fn cuda(ordinal: usize) -> std::result::Result<Self, PluginError> {
        let device = Device::new_cuda(ordinal).map_err(|e| match e {
            candle_core::Error::NotCompiledWithCudaSupport => PluginError::Unsupported(
                "this brainscale-backend-candle library was built without CUDA: build the CUDA one with \
                 scripts/gpu-kit.sh (README, 'GPU')"
                    .into(),
            ),
            other => PluginError::Unsupported(format!(
                "CUDA device {ordinal} cannot be opened ({other}): check `nvidia-smi`, the driver's libcuda.so.1 and \
                 that the library's PTX is not newer than the driver (scripts/gpu-kit.sh pins nvcc 13.0)"
            )),
        })?;
        Ok(Self { device, label: format!("cuda:{ordinal}") })
    }

    /// The candle device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    fn err(&self, op: &str, e: candle_core::Error) -> CoreError {
        CoreError::Backend { backend: self.label.clone(), message: format!("{op}: {e}") }
    }
}

fn shape_err(what: &str, expected: impl ToString, got: impl ToString) -> CoreError {
    CoreError::ShapeMismatch { what: what.into(), expected: expected.to_string(), got: got.to_string() }
}

/// Row-major f32 values of a host matrix.
fn row_major(m: MatRef<'_, f32>) -> Vec<f32> {
    let mut v = Vec::with_capacity(m.nrows() * m.ncols());
    for i in 0..m.nrows() {
        v.extend(m.row(i).iter().copied());
    }
    v
}

impl Backend for Candle {
    type Matrix = Tensor;

    fn name(&self) -> String {
        self.label.clone()
    }

    fn upload(&self, m: MatRef<'_, f32>) -> Result<Tensor> {
        Tensor::from_vec(row_major(m), (m.nrows(), m.ncols()), &self.device).map_err(|e| self.err("upload", e))
    }

    fn download(&self, m: &Tensor) -> Result<Mat<f32>> {
        let (r, c) = m.dims2().map_err(|e| self.err("download", e))?;
        let v: Vec<f32> = m.flatten_all().and_then(|t| t.to_vec1()).map_err(|e| self.err("download", e))?;
        Ok(Mat::from_fn(r, c, |i, j| v[i * c + j]))
    }

    fn shape(&self, m: &Tensor) -> (usize, usize) {
        m.dims2().unwrap_or((0, 0))
    }

    fn cols(&self, m: &Tensor, start: usize, len: usize) -> Result<Tensor> {
        let (_, c) = self.shape(m);
        if start + len > c {
            return Err(shape_err("column slice", format!("columns {start}..{} within", start + len), c));
        }
        m.narrow(1, start, len).and_then(|t| t.contiguous()).map_err(|e| self.err("cols", e))
    }

    fn matmul(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let ((_, k), (k2, _)) = (self.shape(a), self.shape(b));
        if k != k2 {
            return Err(shape_err("matmul", format!("inner dimension {k}"), k2));
        }
        a.matmul(b).map_err(|e| self.err("matmul", e))
    }

    fn matmul_tn(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let ((k, _), (k2, _)) = (self.shape(a), self.shape(b));
        if k != k2 {
            return Err(shape_err("matmul_tn", format!("inner dimension {k}"), k2));
        }
        a.t().and_then(|at| at.matmul(b)).map_err(|e| self.err("matmul_tn", e))
    }

    fn matmul_stacked(&self, a: &Tensor, blocks: &[&Tensor]) -> Result<Tensor> {
        let total: usize = blocks.iter().map(|b| self.shape(b).0).sum();
        let (_, width) = self.shape(a);
        if blocks.is_empty() || total != width {
            return Err(shape_err("matmul_stacked", format!("blocks of {width} rows in all"), total));
        }
        let stacked = Tensor::cat(blocks, 0).map_err(|e| self.err("matmul_stacked", e))?;
        a.matmul(&stacked).map_err(|e| self.err("matmul_stacked", e))
    }

    fn lin_comb(&self, terms: &[(f32, &Tensor)]) -> Result<Tensor> {
        let Some(&(c0, first)) = terms.first() else {
            return Err(shape_err("lin_comb", "at least one term", 0));
        };
        let shape = self.shape(first);
        let mut acc = first.affine(c0 as f64, 0.0).map_err(|e| self.err("lin_comb", e))?;
        for &(c, m) in &terms[1..] {
            if self.shape(m) != shape {
                return Err(shape_err("lin_comb", format!("{shape:?}"), format!("{:?}", self.shape(m))));
            }
            let term =
                if c == 1.0 { m.clone() } else { m.affine(c as f64, 0.0).map_err(|e| self.err("lin_comb", e))? };
            acc = (acc + term).map_err(|e| self.err("lin_comb", e))?;
        }
        Ok(acc)
    }

    fn column_pearson_blocks(&self, pred: &Tensor, target: &Tensor) -> Result<Vec<f64>> {
        let ((pr, pc), (n, c)) = (self.shape(pred), self.shape(target));
        if n == 0 || pc != c || pr % n != 0 {
            return Err(shape_err(
                "column_pearson_blocks",
                format!("k blocks of {n} rows x {c} columns"),
                format!("{pr} x {pc}"),
            ));
        }
        let k = pr / n;
        let e = |e| self.err("column_pearson_blocks", e);
        // Device, f64: Σp, Σp² and Σp·(t - t̄) per block and column, and Σ(t - t̄)² per column.
        let t = target.to_dtype(DType::F64).map_err(e)?;
        let tc = t.broadcast_sub(&t.mean_keepdim(0).map_err(e)?).map_err(e)?;
        let norm2: Vec<f64> = tc.sqr().and_then(|s| s.sum(0)).and_then(|s| s.to_vec1()).map_err(e)?;
        let p = pred.reshape((k, n, c)).and_then(|p| p.to_dtype(DType::F64)).map_err(e)?;
        let sums = |t: Tensor| -> Result<Vec<f64>> {
            t.sum(1).and_then(|s| s.flatten_all()).and_then(|s| s.to_vec1()).map_err(e)
        };
        let sp = sums(p.clone())?;
        let spp = sums(p.sqr().map_err(e)?)?;
        let spy = sums(p.broadcast_mul(&tc).map_err(e)?)?;
        let mut r = vec![0.0f64; k * c];
        for (i, r) in r.iter_mut().enumerate() {
            let norm2 = norm2[i % c];
            let var_p = spp[i] - sp[i] * sp[i] / n as f64;
            if norm2 > 0.0 && var_p > 0.0 && var_p > spp[i] * 1e-10 {
                *r = spy[i] / (var_p.sqrt() * norm2.sqrt());
            }
        }
        Ok(r)
    }

    fn memory(&self) -> Result<Option<DeviceMemory>> {
        device_memory(&self.device).map_err(|e| self.err("memory", e))
    }

    fn synchronize(&self) -> Result<()> {
        self.device.synchronize().map_err(|e| self.err("synchronize", e))
    }

    fn direct_scoring(&self) -> bool {
        self.device.is_cuda()
    }
}

#[cfg(feature = "cuda")]
fn device_memory(device: &Device) -> candle_core::Result<Option<DeviceMemory>> {
    match device {
        Device::Cuda(d) => {
            let stream = d.cuda_stream();
            let (free, total) = stream.context().mem_get_info().map_err(candle_core::Error::wrap)?;
            Ok(Some(DeviceMemory { free: free as u64, total: total as u64 }))
        }
        _ => Ok(None),
    }
}

#[cfg(not(feature = "cuda"))]
fn device_memory(_device: &Device) -> candle_core::Result<Option<DeviceMemory>> {
    Ok(None)
}

impl BackendLibrary for Candle {
    fn create(options: &serde_json::Map<String, serde_json::Value>) -> std::result::Result<Self, PluginError> {
        if let Some(key) = options.keys().find(|k| k.as_str() != "device") {
            return Err(PluginError::invalid(format!("unknown option `{key}` (known: device)")));
        }
        match options.get("device").map(|v| v.as_str()) {
            None | Some(Some("cpu")) => Ok(Candle::cpu()),
            Some(Some(d)) if d == "cuda" || d.starts_with("cuda:") => {
                let ordinal = match d.strip_prefix("cuda:") {
                    None => 0,
                    Some(n) => n.parse().map_err(|_| PluginError::invalid(format!("device {d:?}: expected cuda:N")))?,
                };
                Candle::cuda(ordinal)
            }
            Some(other) => Err(PluginError::invalid(format!("device {other:?}: expected \"cpu\" or \"cuda:N\""))),
        }
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "device": self.label,
            "library": "brainscale-backend-candle",
            "version": env!("CARGO_PKG_VERSION"),
            "cuda_build": cfg!(feature = "cuda"),
            "products": "f32 (CUBLAS_COMPUTE_32F on CUDA, no TF32)",
            "factorizations": "host f64 (faer)",
        })
    }
}

brainscale_plugin_sdk::export_backend!(
    Candle,
    "brainscale-backend-candle",
    env!("CARGO_PKG_VERSION"),
    if cfg!(feature = "cuda") { "cpu,cuda" } else { "cpu" }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conformance_suite_passes_on_candles_cpu_device() {
        for line in brainscale_core::testing::check_backend(&Candle::cpu()).unwrap() {
            println!("candle cpu: {line}");
        }
    }

    #[test]
    fn cuda_without_the_feature_says_how_to_build_it() {
        if cfg!(feature = "cuda") {
            return;
        }
        let e = Candle::cuda(0).unwrap_err().to_string();
        assert!(e.contains("built without CUDA") && e.contains("scripts/gpu-kit.sh"), "{e}");
    }
}
