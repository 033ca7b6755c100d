//! Parity with Hugging Face transformers (float32): Llama, Mistral, Qwen2, Gemma, StableLM (fixtures: tests/fixtures/hf, whose
//! README gives the generating script and pinned versions; tolerance: relative max abs diff
//! 1e-3 per layer).

#[path = "../../tests-common/parity.rs"]
mod parity;

use brainscale_llama::LlamaLike;

#[test]
fn llama_matches_hf() -> anyhow::Result<()> {
    if let Some((w, f)) = parity::check_fixture::<LlamaLike>("llama")? {
        println!("llama: max relative diff {w:.2e} (first windows), {f:.2e} (word features)");
    }
    if let Some(d) = parity::check_scratch::<LlamaLike>("llama")? {
        println!("llama (scratch, 300 tokens): max relative diff {d:.2e}");
    }
    Ok(())
}

#[test]
fn llama_untrained_follows_hf_init() -> anyhow::Result<()> {
    parity::check_untrained::<LlamaLike>("llama")?;
    Ok(())
}

#[test]
fn mistral_matches_hf() -> anyhow::Result<()> {
    if let Some((w, f)) = parity::check_fixture::<LlamaLike>("mistral")? {
        println!("mistral: max relative diff {w:.2e} (first windows), {f:.2e} (word features)");
    }
    if let Some(d) = parity::check_scratch::<LlamaLike>("mistral")? {
        println!("mistral (scratch, 300 tokens): max relative diff {d:.2e}");
    }
    Ok(())
}

#[test]
fn mistral_untrained_follows_hf_init() -> anyhow::Result<()> {
    parity::check_untrained::<LlamaLike>("mistral")?;
    Ok(())
}

#[test]
fn qwen2_matches_hf() -> anyhow::Result<()> {
    if let Some((w, f)) = parity::check_fixture::<LlamaLike>("qwen2")? {
        println!("qwen2: max relative diff {w:.2e} (first windows), {f:.2e} (word features)");
    }
    if let Some(d) = parity::check_scratch::<LlamaLike>("qwen2")? {
        println!("qwen2 (scratch, 300 tokens): max relative diff {d:.2e}");
    }
    Ok(())
}

#[test]
fn qwen2_untrained_follows_hf_init() -> anyhow::Result<()> {
    parity::check_untrained::<LlamaLike>("qwen2")?;
    Ok(())
}

#[test]
fn gemma_matches_hf() -> anyhow::Result<()> {
    if let Some((w, f)) = parity::check_fixture::<LlamaLike>("gemma")? {
        println!("gemma: max relative diff {w:.2e} (first windows), {f:.2e} (word features)");
    }
    if let Some(d) = parity::check_scratch::<LlamaLike>("gemma")? {
        println!("gemma (scratch, 300 tokens): max relative diff {d:.2e}");
    }
    Ok(())
}

#[test]
fn gemma_untrained_follows_hf_init() -> anyhow::Result<()> {
    parity::check_untrained::<LlamaLike>("gemma")?;
    Ok(())
}

#[test]
fn stablelm_matches_hf() -> anyhow::Result<()> {
    if let Some((w, f)) = parity::check_fixture::<LlamaLike>("stablelm")? {
        println!("stablelm: max relative diff {w:.2e} (first windows), {f:.2e} (word features)");
    }
    if let Some(d) = parity::check_scratch::<LlamaLike>("stablelm")? {
        println!("stablelm (scratch, 300 tokens): max relative diff {d:.2e}");
    }
    Ok(())
}

#[test]
fn stablelm_untrained_follows_hf_init() -> anyhow::Result<()> {
    parity::check_untrained::<LlamaLike>("stablelm")?;
    Ok(())
}

#[test]
fn stablelm_parallel_matches_hf() -> anyhow::Result<()> {
    if let Some((w, f)) = parity::check_fixture::<LlamaLike>("stablelm-parallel")? {
        println!("stablelm-parallel: max relative diff {w:.2e} (first windows), {f:.2e} (word features)");
    }
    if let Some(d) = parity::check_scratch::<LlamaLike>("stablelm-parallel")? {
        println!("stablelm-parallel (scratch, 300 tokens): max relative diff {d:.2e}");
    }
    Ok(())
}

#[test]
fn stablelm_parallel_untrained_follows_hf_init() -> anyhow::Result<()> {
    parity::check_untrained::<LlamaLike>("stablelm-parallel")?;
    Ok(())
}
