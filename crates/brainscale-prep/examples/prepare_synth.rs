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
//!
//! `--sums-and-reliability V` skips the images: it runs the two stages whose memory depends on
//! the mask size, at the corpus' shapes, on random cleaned runs: the per-run sums (9 runs of
//! `--scans` scans x V voxels, 10 halvings, `--subjects` subjects) written to the scratch
//! folder, then `--splits` split-half ridge fits (alphas logspace(2, 7, 16), dual form).

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
    let mut sums_voxels: Option<usize> = None;
    let mut splits = 1usize;
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--size" => size = value()?,
            "--subjects" => subjects = value()?.parse()?,
            "--runs" => runs = value()?.parse()?,
            "--scans" => scans = value()?.parse()?,
            "--dir" => dir = PathBuf::from(value()?),
            "--generate-only" => generate_only = true,
            "--sums-and-reliability" => sums_voxels = Some(value()?.parse()?),
            "--splits" => splits = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if let Some(n_voxels) = sums_voxels {
        return sums_and_reliability(&dir, subjects, runs, scans, n_voxels, splits);
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

/// The per-run sums and the split-half fits at a given size, on random data.
fn sums_and_reliability(
    dir: &std::path::Path,
    n_subjects: usize,
    n_runs: usize,
    n_scans: usize,
    n_voxels: usize,
    n_splits: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    use brainscale_prep::reliability::{self, HalfStore, HalfSums, split_halves};
    use faer::Mat;
    let halves = split_halves(n_subjects, 10, 1234);
    let store_dir = dir.join("scratch");
    let mut store = HalfStore::new(&store_dir, n_voxels)?;
    let t = Instant::now();
    for r in 0..n_runs {
        let mut sums = HalfSums::new(n_scans, n_voxels, halves.len());
        for s in 0..n_subjects {
            let run = Mat::<f32>::from_fn(n_scans, n_voxels, |i, j| {
                (((i * 7919 + j * 104_729 + s * 15_485_863 + r * 32_452_843) % 1_000_003) as f32 / 1_000_003.0) - 0.5
            });
            let in_a: Vec<bool> = halves.iter().map(|h| h[s]).collect();
            sums.add(run.as_ref(), &in_a);
        }
        store.write_run(r, &sums, (10, 10))?;
    }
    eprintln!(
        "sums: {n_runs} runs x {n_scans} scans x {n_voxels} voxels, {n_subjects} subjects, 10 halvings: {:.1} s, peak memory {}",
        t.elapsed().as_secs_f64(),
        peak()
    );
    let t = Instant::now();
    let alphas = brainscale_core::ridge::logspace(2.0, 7.0, 16);
    let rel = reliability::fit(&store, &halves[..n_splits], &alphas, 4096, &mut |k| {
        eprintln!("split {k}: {:.1} s, peak memory {}", t.elapsed().as_secs_f64(), peak())
    })?;
    println!(
        "reliability: {n_splits} split(s) of {} x {n_voxels}: {:.1} s, peak memory {}; mean r {:.4}",
        n_runs * (n_scans - 20),
        t.elapsed().as_secs_f64(),
        peak(),
        rel.mean.iter().sum::<f32>() / n_voxels as f32
    );
    std::fs::remove_dir_all(&store_dir)?;
    Ok(())
}
