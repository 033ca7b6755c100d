//! The encoding core's backend library on a device, against faer on the host: the solver's
//! conformance suite, then study-shaped random layers (9 runs x 290 scans, 768 / 2,048 / 5,120
//! features): r and alphas against faer on a voxel subset, and the full layer timed on the
//! device stage by stage. What `scripts/gpu-check.sh` runs on a GPU machine (the CPU-only host
//! loads the CUDA build of `libbrainscale_backend_candle`); on a CPU box it checks the CPU build.
//!
//! ```text
//! cargo run --release -p brainscale --example backend_parity -- --plugin-dir DIR \
//!     [--device cuda:0] [--features 768,2048,5120] [--voxels 25870] [--subset 2587]
//! ```
//!
//! Prints one table; exits 1 when a check fails or r differs from faer's by more than 1e-5 on
//! the subset.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use brainscale::core::ridge::{FoldAlpha, RidgeCv, RidgeCvFit, RidgeCvParams, RunData};
use brainscale::core::{Backend, Cpu, Timed};
use brainscale::plugins::backend::find_backend;
use clap::Parser;
use faer::Mat;

#[derive(Parser)]
struct Args {
    /// Folder holding libbrainscale_backend_candle.
    #[arg(long)]
    plugin_dir: PathBuf,
    /// `cpu` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Feature counts of the random layers.
    #[arg(long, value_delimiter = ',', default_value = "768,2048,5120")]
    features: Vec<usize>,
    /// Voxels of the timed layer.
    #[arg(long, default_value_t = 25_870)]
    voxels: usize,
    /// Voxels compared with faer (the first ones).
    #[arg(long, default_value_t = 2_587)]
    subset: usize,
    /// Runs and scans per run.
    #[arg(long, default_value_t = 9)]
    runs: usize,
    #[arg(long, default_value_t = 290)]
    scans: usize,
    /// Skip the conformance suite.
    #[arg(long)]
    no_suite: bool,
}

fn fit<B: Backend>(b: &B, xs: &[Mat<f32>], ys: &[Mat<f32>], batch: usize) -> anyhow::Result<RidgeCvFit> {
    let data = RunData::new(xs.iter().map(|m| m.as_ref()).collect(), ys.iter().map(|m| m.as_ref()).collect())?;
    Ok(RidgeCv::new(RidgeCvParams { voxel_batch: batch, ..Default::default() })?.fit(b, &data)?)
}

fn alphas(f: &RidgeCvFit) -> Vec<f64> {
    f.folds.iter().map(|f| if let FoldAlpha::Global(a) = f.alpha { a } else { f64::NAN }).collect()
}

fn peak_rss_gb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1e6)
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let dirs = brainscale::plugins::search_dirs(std::slice::from_ref(&args.plugin_dir));
    let library = find_backend("candle", &dirs)?;
    let backend = library.create(&args.device, serde_json::json!({}))?;
    println!("backend: {} from {}", backend.name(), library.path.display());
    println!("info: {}", backend.info());
    let mut ok = true;
    if !args.no_suite {
        match brainscale::core::testing::check_backend(&backend) {
            Ok(lines) => lines.iter().for_each(|l| println!("suite: {l}")),
            Err(e) => {
                println!("suite: FAILED: {e}");
                ok = false;
            }
        }
    }
    let total_mem = backend.memory()?.map(|m| m.total);
    println!(
        "\n| features | form | device s (full) | transfers | products | factorizations | scoring | host rest | faer s (subset) | max |dr| subset | alphas = faer | device GB used |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for &p in &args.features {
        let (xs, ys) = brainscale::core::simulate::random_runs(args.runs, args.scans, p, args.voxels, 2.0, 0);
        let sub: Vec<Mat<f32>> = ys.iter().map(|y| y.subcols(0, args.subset.min(args.voxels)).to_owned()).collect();
        let start = Instant::now();
        let faer = fit(&Cpu, &xs, &sub, 4096)?;
        let faer_s = start.elapsed().as_secs_f64();
        let on_device = fit(&backend, &xs, &sub, usize::MAX)?;
        let dr = faer.r.iter().zip(&on_device.r).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        let same = alphas(&faer) == alphas(&on_device);
        ok &= dr <= 1e-5 && same;
        let timed = Timed::new(&backend);
        let start = Instant::now();
        let full = fit(&timed, &xs, &ys, usize::MAX)?;
        let seconds = start.elapsed().as_secs_f64();
        let t = timed.times();
        let used = match (total_mem, t.min_free) {
            (Some(total), Some(free)) => format!("{:.1}", (total - free) as f64 / 1e9),
            _ => "host".into(),
        };
        println!(
            "| {p} | {} | {seconds:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {faer_s:.2} | {dr:.1e} | {same} | {used} |",
            full.form.name(),
            t.transfers,
            t.products,
            t.factorizations,
            t.scoring,
            seconds - t.transfers - t.products - t.factorizations - t.scoring,
        );
    }
    println!(
        "\npeak host RSS {:.2} GB; stage times wait for the device after each operation; 'host rest' is the \
         host's f64 work outside the spectra (Gram / kernel blocks, W = X_q V, Cholesky refits, scaling)",
        peak_rss_gb()
    );
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
