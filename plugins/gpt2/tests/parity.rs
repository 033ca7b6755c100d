//! Parity with Hugging Face transformers (float32): GPT-2 (fixtures: tests/fixtures/hf, whose
//! README gives the generating script and pinned versions; tolerance: relative max abs diff
//! 1e-3 per layer).

#[path = "../../tests-common/parity.rs"]
mod parity;

use brainscale_gpt2::Gpt2;

#[test]
fn gpt2_matches_hf() -> anyhow::Result<()> {
    if let Some((w, f)) = parity::check_fixture::<Gpt2>("gpt2")? {
        println!("gpt2: max relative diff {w:.2e} (first windows), {f:.2e} (word features)");
    }
    if let Some(d) = parity::check_scratch::<Gpt2>("gpt2")? {
        println!("gpt2 (scratch, 300 tokens): max relative diff {d:.2e}");
    }
    Ok(())
}

#[test]
fn gpt2_untrained_follows_hf_init() -> anyhow::Result<()> {
    parity::check_untrained::<Gpt2>("gpt2")?;
    Ok(())
}
