//! Times the full SPEC 3 extraction (tokenize, windows, forward passes with every hidden
//! state, word pooling) of one text with a GPT-2 model folder, in float32 on the CPU (or, built
//! with `--features cuda` and given `--device cuda`, on the first GPU).
//!
//! ```text
//! cargo run --release -p brainscale-gpt2 --example bench_gpt2 -- MODEL_DIR TEXT_FILE [WORDS_JSON] [--device cuda]
//! ```
//!
//! `WORDS_JSON` is a JSON list of the text's words (default: the text split on whitespace).
//! The last line printed is JSON: `{"tokens", "seconds", "tokens_per_s", "peak_rss_mb", ...}`
//! (`seconds` excludes loading the model). As on the PyTorch side (`scripts/bench_extract.py`):
//! one warm-up extraction, then the best of 3; `times` lists the 3.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use brainscale_gpt2::Gpt2;
use brainscale_lm::weights::LmDevice;
use brainscale_lm::{LmExtractor, LmOptions};

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = LmOptions::default();
    if let Some(i) = args.iter().position(|a| a == "--device") {
        let name = args.get(i + 1).context("--device needs `cpu` or `cuda`")?.clone();
        options.device = LmDevice::parse(&name)?;
        args.drain(i..i + 2);
    }
    let (Some(model), Some(text)) = (args.first(), args.get(1)) else {
        anyhow::bail!("usage: bench_gpt2 MODEL_DIR TEXT_FILE [WORDS_JSON] [--device cpu|cuda]");
    };
    let text = std::fs::read_to_string(text).with_context(|| format!("reading {text}"))?;
    let words: Vec<String> = match args.get(2) {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?)?,
        None => text.split_whitespace().map(str::to_owned).collect(),
    };
    let t_load = Instant::now();
    let extractor = LmExtractor::<Gpt2>::open(&PathBuf::from(model), &options)?;
    let load_s = t_load.elapsed().as_secs_f64();
    let tokens = extractor.plan(&text, &words)?.tokens.len();
    let mut features = extractor.extract_all(&text, &words)?; // warm-up
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        features = extractor.extract_all(&text, &words)?;
        times.push(t.elapsed().as_secs_f64());
    }
    let seconds = times.iter().copied().fold(f64::INFINITY, f64::min);
    eprintln!("{} layers x {} words; load {load_s:.2} s", features.len(), words.len());
    println!(
        "{}",
        serde_json::json!({
            "tokens": tokens,
            "seconds": seconds,
            "times": times,
            "tokens_per_s": tokens as f64 / seconds,
            "peak_rss_mb": peak_rss_mb(),
            "load_seconds": load_s,
            "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "device": options.device.name(),
        })
    );
    Ok(())
}
