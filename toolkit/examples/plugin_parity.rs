//! Checks the language-model plugins against transformers on any device: every tiny fixture
//! model of `tests/fixtures/hf/` through the real loader and the C boundary, every run and
//! layer compared with the hidden states transformers gave (the `it` test does the same on the
//! CPU in `cargo test`; this runs it where the test binary cannot, e.g. on a GPU machine with the
//! CUDA builds of the plugins: `scripts/gpu-check.sh`).
//!
//! ```text
//! cargo run --release -p brainscale --example plugin_parity -- \
//!     --plugin-dir DIR [--fixtures tests/fixtures/hf] [--device cuda] [--dtype f32] [--bound 5e-5]
//! ```
//!
//! Prints one line per case and a JSON summary; exits 1 when a case is off by more than
//! `--bound` (relative to each layer's largest value) or fails.

use std::path::PathBuf;
use std::process::ExitCode;

use brainscale::plugins::discover;
use clap::Parser;
use serde_json::json;

#[path = "../../tests/common/hf_parity.rs"]
mod hf_parity;

#[derive(Parser)]
struct Args {
    /// Folder holding the plugin libraries.
    #[arg(long)]
    plugin_dir: PathBuf,
    /// The fixture folder (with runs.json).
    #[arg(long, default_value = "tests/fixtures/hf")]
    fixtures: PathBuf,
    /// `cpu` or `cuda`.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// `f32`, `bf16` or `f16`.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Largest accepted relative difference of a case.
    #[arg(long, default_value_t = 5e-5)]
    bound: f32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let found = discover(std::slice::from_ref(&args.plugin_dir));
    for f in &found.failures {
        eprintln!("plugin not loaded: {f:?}");
    }
    let options = json!({"step": 16, "device": args.device, "dtype": args.dtype});
    let layer_bound = args.bound.max(1e-3);
    match hf_parity::check_fixture_cases(&args.fixtures, &found, &options, layer_bound) {
        Ok(reports) => {
            let mut ok = !reports.is_empty();
            for r in &reports {
                let pass = r.worst <= args.bound;
                ok &= pass;
                println!(
                    "{:<18} {} {}: max relative difference to transformers {:.1e} over {} run-layers ({:.2} s){}",
                    r.case,
                    args.device,
                    args.dtype,
                    r.worst,
                    r.n_layers,
                    r.seconds,
                    if pass { "" } else { "  ABOVE THE BOUND" }
                );
            }
            let worst = reports.iter().map(|r| r.worst).fold(0f32, f32::max);
            println!(
                "{}",
                json!({"device": args.device, "dtype": args.dtype, "cases": reports.len(), "worst": worst,
                       "bound": args.bound, "ok": ok})
            );
            if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(e) => {
            eprintln!("plugin_parity: {e}");
            ExitCode::FAILURE
        }
    }
}
