//! Timing of one forward pass at mamba-130m's shape (H 768, 24 blocks, N 16), untrained, on
//! the CPU (a measurement, not a test): `cargo run --release -p brainscale-mamba --example speed`.

use std::time::Instant;

use brainscale_lm::{CausalLm, LoadContext};
use brainscale_mamba::config::MambaConfig;
use brainscale_mamba::model::Mamba;
use candle_core::{DType, Device};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = serde_json::json!({"model_type": "mamba", "vocab_size": 50280, "hidden_size": 768,
        "num_hidden_layers": 24, "state_size": 16, "expand": 2, "conv_kernel": 4});
    let ctx = LoadContext {
        dir: "speed".into(),
        config: config.clone(),
        dtype: DType::F32,
        device: Device::Cpu,
        untrained: Some(0),
    };
    let c = MambaConfig::from_json(&config, "speed".as_ref())?;
    let model = Mamba::load(&ctx, &c, brainscale_lm::weights::untrained(0, DType::F32, &Device::Cpu))?;
    let ids: Vec<u32> = (0..1000).map(|i| (i * 7919 % 50000) as u32).collect();
    let start = Instant::now();
    let states = model.forward(&ids)?;
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(states.len(), 25);
    eprintln!("cpu_forward_mamba130m_shape: 1000 tokens in {secs:.2} s ({:.0} tokens/s)", 1000.0 / secs);
    Ok(())
}
