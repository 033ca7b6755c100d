//! Writes the default synthetic dataset (LPP grid, 9 runs x 300 scans), reports the time, then
//! opens it and loads one run.
//!
//! ```text
//! cargo run --release -p brainscale-data --example synth -- OUT_DIR [SEED]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use brainscale_data::Dataset;
use brainscale_data::synth::{SynthParams, write_dataset};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: synth OUT_DIR [SEED]")?);
    let seed = args.next().map(|s| s.parse::<u64>()).transpose()?.unwrap_or(0);
    let start = Instant::now();
    let summary = write_dataset(&out, &SynthParams { seed, ..SynthParams::default() })?;
    println!(
        "wrote {} in {:.2} s: {} voxels ({} planted), words per run {:?}",
        out.display(),
        start.elapsed().as_secs_f64(),
        summary.n_voxels,
        summary.n_planted,
        summary.n_words
    );
    let start = Instant::now();
    let ds = Dataset::open(&out)?;
    let opened = start.elapsed().as_secs_f64();
    let bold = ds.load_bold(0)?;
    println!(
        "opened and validated in {opened:.3} s; run-01 loaded in {:.2} s: {} x {}",
        start.elapsed().as_secs_f64() - opened,
        bold.data.nrows(),
        bold.data.ncols()
    );
    Ok(())
}
