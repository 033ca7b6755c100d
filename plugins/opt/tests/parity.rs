//! Parity with Hugging Face transformers (float32): OPT (fixtures: tests/fixtures/hf, whose
//! README gives the generating script and pinned versions; tolerance: relative max abs diff
//! 1e-3 per layer).

#[path = "../../tests-common/parity.rs"]
mod parity;

use brainscale_opt::Opt;

#[test]
fn opt_matches_hf() -> anyhow::Result<()> {
    if let Some((w, f)) = parity::check_fixture::<Opt>("opt")? {
        println!("opt: max relative diff {w:.2e} (first windows), {f:.2e} (word features)");
    }
    if let Some(d) = parity::check_scratch::<Opt>("opt")? {
        println!("opt (scratch, 300 tokens): max relative diff {d:.2e}");
    }
    Ok(())
}

#[test]
fn opt_untrained_follows_hf_init() -> anyhow::Result<()> {
    parity::check_untrained::<Opt>("opt")?;
    Ok(())
}

#[test]
fn opt_350m_matches_hf() -> anyhow::Result<()> {
    if let Some((w, f)) = parity::check_fixture::<Opt>("opt-350m")? {
        println!("opt-350m: max relative diff {w:.2e} (first windows), {f:.2e} (word features)");
    }
    if let Some(d) = parity::check_scratch::<Opt>("opt-350m")? {
        println!("opt-350m (scratch, 300 tokens): max relative diff {d:.2e}");
    }
    Ok(())
}

#[test]
fn opt_350m_untrained_follows_hf_init() -> anyhow::Result<()> {
    parity::check_untrained::<Opt>("opt-350m")?;
    Ok(())
}
