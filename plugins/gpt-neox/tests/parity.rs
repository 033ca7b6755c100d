//! Parity with Hugging Face transformers (float32): GPT-NeoX (fixtures: tests/fixtures/hf, whose
//! README gives the generating script and pinned versions; tolerance: relative max abs diff
//! 1e-3 per layer).

#[path = "../../tests-common/parity.rs"]
mod parity;

use brainscale_gpt_neox::GptNeox;

#[test]
fn gpt_neox_matches_hf() -> anyhow::Result<()> {
    if let Some((w, f)) = parity::check_fixture::<GptNeox>("gpt_neox")? {
        println!("gpt_neox: max relative diff {w:.2e} (first windows), {f:.2e} (word features)");
    }
    if let Some(d) = parity::check_scratch::<GptNeox>("gpt_neox")? {
        println!("gpt_neox (scratch, 300 tokens): max relative diff {d:.2e}");
    }
    Ok(())
}

#[test]
fn gpt_neox_untrained_follows_hf_init() -> anyhow::Result<()> {
    parity::check_untrained::<GptNeox>("gpt_neox")?;
    Ok(())
}
