//! Writes a synthetic OpenNeuro-like BIDS dataset and prepares it, reporting the time of each
//! stage and the peak memory (Linux: VmHWM): how `brainscale prepare` scales with subjects.
//!
//! ```sh
//! cargo run --release -p brainscale-prep --example prepare_synth -- \
//!     --size lpp --subjects 4 --runs 3 --scans 100 --dir /tmp/prep-bench
//! ```
//!
//! `--size small` (default) is the tests' 23 x 24 x 21 source grid; `--size lpp` is the
//! corpus' (73 x 90 x 74 voxels of 2.5 mm) onto the paper's 37 x 46 x 38 grid. `--generate-only`
//! writes the dataset and `DIR/registry.toml` (entry `synth`) for `brainscale prepare synth
//! --registry DIR/registry.toml --data-dir DIR`.

use std::path::PathBuf;
use std::time::Instant;

use brainscale_prep::prepare::{Options, Progress, Source, prepare};
use brainscale_prep::spec::PrepareSpec;
use brainscale_prep::synth_bids::{self, SynthBids};

struct Stages {
    started: Instant,
    stage: String,
}

impl Progress for Stages {
    fn start(&mut self, stage: &str, len: u64) {
        self.stage = stage.to_string();
        self.started = Instant::now();
        eprintln!("{stage}: {len} steps");
    }
    fn step(&mut self, _: &str) {}
    fn finish(&mut self) {
        eprintln!("{}: {:.1} s, peak memory so far {}", self.stage, self.started.elapsed().as_secs_f64(), peak());
    }
}

/// Peak resident memory of this process (VmHWM), where the OS tells it.
fn peak() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut size, mut subjects, mut runs, mut scans) = ("small".to_string(), 4usize, 3usize, 60usize);
    let mut dir = std::env::temp_dir().join("brainscale-prepare-synth");
    let mut generate_only = false;
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--size" => size = value()?,
            "--subjects" => subjects = value()?.parse()?,
            "--runs" => runs = value()?.parse()?,
            "--scans" => scans = value()?.parse()?,
            "--dir" => dir = PathBuf::from(value()?),
            "--generate-only" => generate_only = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let params = match size.as_str() {
        "small" => SynthBids { n_scans: scans, ..SynthBids::small(subjects, runs, 0) },
        "lpp" => SynthBids::lpp_size(subjects, runs, scans, 0),
        other => return Err(format!("--size {other}: expected small or lpp").into()),
    };
    let raw = dir.join("raw").join("synth");
    if raw.exists() {
        std::fs::remove_dir_all(&raw)?;
    }
    let t = Instant::now();
    synth_bids::write(&raw, &params)?;
    eprintln!("generated {subjects} subjects x {runs} runs in {:.1} s", t.elapsed().as_secs_f64());
    let table_text = synth_bids::spec_toml(&params, None);
    let registry = dir.join("registry.toml");
    std::fs::write(
        &registry,
        format!(
            "[synth]\nversion = \"1\"\ndescription = \"synthetic\"\nlicense = \"CC0-1.0\"\ngenerated = \"prepare_synth\"\n\n{}",
            synth_bids::spec_toml(&params, Some("synth.prepare"))
        ),
    )?;
    if generate_only {
        println!("wrote {} and {}", raw.display(), registry.display());
        return Ok(());
    }
    let spec = PrepareSpec::from_table(&toml::from_str(&table_text)?, &registry, "synth")?;
    let source = Source { entry: "synth".into(), registry: registry.clone(), ..Default::default() };
    let out = dir.join("datasets").join("synth");
    let mut stages = Stages { started: Instant::now(), stage: String::new() };
    let t = Instant::now();
    let prepared = prepare(&spec, &source, &raw, &out, None, &Options::default(), &mut stages)?;
    println!(
        "prepared {} subjects x {runs} runs x ~{scans} scans, {} voxels, mean reliability {:?}: {:.1} s, peak memory {}",
        prepared.subjects.len(),
        prepared.n_voxels,
        prepared.mean_reliability,
        t.elapsed().as_secs_f64(),
        peak()
    );
    Ok(())
}
