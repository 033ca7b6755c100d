//! `cpu_gpt2_forward_1024x768`: one window of 1024 tokens through a GPT-2-small-sized model
//! (12 layers, 768 hidden, untrained weights), float32, every hidden state returned; and the
//! same window keeping only its last 64 tokens (`forward_from`, what every SPEC 3 window after
//! the first needs).
//!
//! `cargo bench -p brainscale-gpt2 --bench cpu_gpt2_forward`

use brainscale_gpt2::Gpt2Config;
use brainscale_lm::CausalLm;
use brainscale_lm::nn::Decoder;
use candle_core::{DType, Device};

fn main() {
    divan::main();
}

fn model() -> Decoder {
    let config = Gpt2Config::default().decoder().unwrap();
    Decoder::load(&config, brainscale_lm::weights::untrained(0, DType::F32, &Device::Cpu)).unwrap()
}

fn ids() -> Vec<u32> {
    (0..1024u32).map(|i| (i * 7919) % 50257).collect()
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn cpu_gpt2_forward_1024x768(bencher: divan::Bencher) {
    let (m, ids) = (model(), ids());
    bencher.bench_local(|| m.forward(divan::black_box(&ids)).unwrap());
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn cpu_gpt2_forward_from_1024x768_keep64(bencher: divan::Bencher) {
    let (m, ids) = (model(), ids());
    bencher.bench_local(|| m.forward_from(divan::black_box(&ids), 1024 - 64).unwrap());
}
