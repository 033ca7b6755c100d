//! One layer of the encoding fit on data from a safetensors file, timed: the Rust side of
//! `scripts/bench_reference.py`.
//!
//! ```text
//! cargo run --release -p brainscale-core --example paper_cv -- --data bench.safetensors --out r.safetensors [--cv paper|voxelwise]
//! cargo run --release -p brainscale-core --example paper_cv -- --random 9x290x768x25870
//! ```
//! The data file holds `X.run-01`.. (F32 [n_samples, n_features]), `Y.run-01`.. (F32
//! [n_samples, n_voxels]) and optionally `alphas` (F64). Prints one JSON line with the time.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{Context, bail};
use brainscale_core::Cpu;
use brainscale_core::ridge::{CvMode, FoldAlpha, RidgeCv, RidgeCvParams, RunData, logspace};
use faer::Mat;
use safetensors::{Dtype, SafeTensors};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |k: &str| args.iter().position(|a| a == k).and_then(|i| args.get(i + 1)).cloned();
    let mode = CvMode::from_name(&get("--cv").unwrap_or_else(|| "paper".into())).context("--cv paper|voxelwise")?;
    let (xs, ys, alphas) = if let Some(spec) = get("--random") {
        random(&spec)?
    } else {
        let path = get("--data").context("--data FILE or --random RxNxPxV")?;
        load(&path)?
    };
    let batch = get("--batch").map(|b| b.parse()).transpose()?.unwrap_or(4096);
    let data = RunData::new(xs.iter().map(|m| m.as_ref()).collect(), ys.iter().map(|m| m.as_ref()).collect())?;
    let cv = RidgeCv::new(RidgeCvParams { alphas, mode, voxel_batch: batch, ..Default::default() })?;
    let start = Instant::now();
    let fit = cv.fit(&Cpu, &data)?;
    let seconds = start.elapsed().as_secs_f64();
    let best: Vec<f64> = fit
        .folds
        .iter()
        .map(|f| match &f.alpha {
            FoldAlpha::Global(a) => *a,
            FoldAlpha::PerVoxel(v) => v.iter().sum::<f64>() / v.len() as f64,
        })
        .collect();
    if let Some(out) = get("--out") {
        let r_bytes: Vec<u8> = fit.r.iter().flat_map(|v| v.to_le_bytes()).collect();
        let a_bytes: Vec<u8> = best.iter().flat_map(|v| v.to_le_bytes()).collect();
        let tensors = vec![
            ("r", safetensors::tensor::TensorView::new(Dtype::F32, vec![fit.r.len()], &r_bytes)?),
            ("best_alpha", safetensors::tensor::TensorView::new(Dtype::F64, vec![best.len()], &a_bytes)?),
        ];
        safetensors::serialize_to_file(tensors, None, std::path::Path::new(&out))?;
    }
    println!(
        "{{\"seconds\": {seconds:.3}, \"n_voxels\": {}, \"n_features\": {}, \"cv\": \"{}\", \"form\": \"{}\", \"mean_r\": {:.6}}}",
        data.n_voxels(),
        data.n_features(),
        mode.name(),
        fit.form.name(),
        fit.r.iter().map(|&v| v as f64).sum::<f64>() / fit.r.len() as f64
    );
    Ok(())
}

type Runs = (Vec<Mat<f32>>, Vec<Mat<f32>>, Vec<f64>);

fn random(spec: &str) -> anyhow::Result<Runs> {
    let dims: Vec<usize> = spec.split('x').map(str::parse).collect::<Result<_, _>>()?;
    let [n_runs, n, p, v] = dims[..] else { bail!("--random wants RUNSxSAMPLESxFEATURESxVOXELS") };
    let (xs, ys) = brainscale_core::simulate::random_runs(n_runs, n, p, v, 2.0, 0);
    let n_alphas = std::env::var("BENCH_N_ALPHAS").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
    Ok((xs, ys, logspace(2.0, 7.0, n_alphas)))
}

fn load(path: &str) -> anyhow::Result<Runs> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    let st = SafeTensors::deserialize(&bytes)?;
    let mut map: HashMap<String, Mat<f32>> = HashMap::new();
    let mut alphas = logspace(2.0, 7.0, 16);
    for (name, view) in st.tensors() {
        let data = view.data();
        match view.dtype() {
            Dtype::F32 if view.shape().len() == 2 => {
                let (r, c) = (view.shape()[0], view.shape()[1]);
                let vals: Vec<f32> =
                    data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
                map.insert(name.clone(), Mat::from_fn(r, c, |i, j| vals[i * c + j]));
            }
            Dtype::F64 if name == "alphas" => {
                alphas = data.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).collect();
            }
            _ => {}
        }
    }
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for r in 1.. {
        let (Some(x), Some(y)) = (map.remove(&format!("X.run-{r:02}")), map.remove(&format!("Y.run-{r:02}"))) else {
            break;
        };
        xs.push(x);
        ys.push(y);
    }
    if xs.is_empty() {
        bail!("{path}: no X.run-01 / Y.run-01 tensors");
    }
    Ok((xs, ys, alphas))
}
