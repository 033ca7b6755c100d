//! The tokenizer special-token acceptance check: for every Hugging Face parity case under
//! `tests/fixtures/hf/<case>/`, this crate's tokenizer, windows and word alignment give exactly
//! what `expected.json` records from `transformers` (content token ids, character offsets,
//! each window's content range and input ids with the special tokens, each word's first
//! letter and first token). Tokenizer only: no model is run. The cases of the `paper/` set
//! (their own `runs.json`) record windows made by Hugging Face's own overflowing-token call and
//! are cut here with the default step (64 minus the special tokens, SPEC 3.2).
//!
//! The fixtures are made by `tests/fixtures/hf/generate.py` (its pinned versions are in each
//! `expected.json` under `versions`); SPEC 3 in Python is `tests/fixtures/hf/spec3.py`.
//! Cases not generated yet are skipped with a message.

use std::path::{Path, PathBuf};

use brainscale_lm::extractor::RunPlan;
use brainscale_lm::text::{Tokenizer, default_step};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hf")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

fn pairs(v: &Value) -> Vec<(usize, usize)> {
    v.as_array().unwrap().iter().map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_u64().unwrap() as usize)).collect()
}

/// Checks one case; returns the number of runs checked.
fn check_case(dir: &Path, runs: &[Value]) -> usize {
    let case = dir.file_name().unwrap().to_string_lossy().into_owned();
    let expected = read_json(&dir.join("expected.json"));
    let tokenizer = Tokenizer::load(&dir.join("model")).unwrap_or_else(|e| panic!("{case}: {e}"));
    let tok = &expected["tokenizer"];
    assert_eq!(tokenizer.prefix_ids(), u32s(&tok["prefix_ids"]), "{case}: prefix special tokens");
    assert_eq!(tokenizer.suffix_ids(), u32s(&tok["suffix_ids"]), "{case}: suffix special tokens");
    let max_positions = expected["max_position_embeddings"].as_u64().map(|c| c as usize);
    let recorded = expected["step"].as_u64().map(|s| s as usize);
    let step = if expected["step_default"] == true {
        let step = default_step(tokenizer.n_specials());
        assert_eq!(Some(step), recorded, "{case}: the default step vs the step of HF's windows");
        step
    } else {
        recorded.unwrap_or_else(|| default_step(tokenizer.n_specials()))
    };
    let mut n = 0;
    for run in runs {
        let name = run["name"].as_str().unwrap();
        let Some(want) = expected["runs"].get(name) else { continue };
        let text = run["text"].as_str().unwrap();
        let words: Vec<String> =
            run["words"].as_array().unwrap().iter().map(|w| w.as_str().unwrap().to_owned()).collect();
        let plan = RunPlan::new(&tokenizer, max_positions, step, text, &words, name)
            .unwrap_or_else(|e| panic!("{case} {name}: {e}"));
        let at = format!("{case} {name}");
        assert_eq!(plan.tokens.ids, u32s(&want["content_ids"]), "{at}: content token ids");
        assert_eq!(plan.tokens.offsets, pairs(&want["offsets"]), "{at}: character offsets");
        let windows = want["windows"].as_array().unwrap();
        assert_eq!(plan.windows.len(), windows.len(), "{at}: number of windows");
        for (k, (got, w)) in plan.windows.iter().zip(windows).enumerate() {
            let content = usizes(&w["content"]);
            assert_eq!((got.content.start, got.content.end), (content[0], content[1]), "{at}: window {k} range");
            assert_eq!(plan.input_ids[k], u32s(&w["input_ids"]), "{at}: window {k} input ids");
        }
        assert_eq!(plan.first_tokens, usizes(&want["word_first_token"]), "{at}: each word's first token");
        let positions = brainscale_lm::text::word_positions(text, &words, name).unwrap();
        assert_eq!(positions, usizes(&want["word_char"]), "{at}: each word's first letter");
        let spans = brainscale_lm::text::word_spans(&plan.first_tokens, plan.tokens.len());
        let spans: Vec<(usize, usize)> = spans.iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(spans, pairs(&want["word_token_span"]), "{at}: each word's pooled tokens");
        n += 1;
    }
    n
}

/// Checks every case of a fixture set (a folder with `runs.json` and one sub-folder per case);
/// returns `case (n runs)` for each case checked, or `None` when the set is not generated.
fn check_set(root: &Path) -> Option<Vec<String>> {
    let runs_path = root.join("runs.json");
    if !runs_path.is_file() {
        return None;
    }
    let runs = read_json(&runs_path);
    let runs = runs.as_array().unwrap();
    let mut cases: Vec<PathBuf> =
        std::fs::read_dir(root).unwrap().filter_map(|e| Some(e.ok()?.path())).filter(|p| p.is_dir()).collect();
    cases.sort();
    let mut checked = Vec::new();
    for dir in cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if dir.join("runs.json").is_file() {
            continue; // a set of its own
        }
        if !dir.join("expected.json").is_file() || !dir.join("model").is_dir() {
            eprintln!("SKIPPED: case {name}: no expected.json or model/ yet");
            continue;
        }
        let n = check_case(&dir, runs);
        assert!(n > 0, "case {name}: no run of {} in expected.json", runs_path.display());
        checked.push(format!("{name} ({n} runs)"));
    }
    Some(checked)
}

#[test]
fn tokenizers_windows_and_alignment_match_transformers_for_every_case() {
    let root = fixtures();
    let Some(checked) = check_set(&root) else {
        eprintln!("SKIPPED: no HF fixtures at {} (run tests/fixtures/hf/generate.sh)", root.display());
        return;
    };
    eprintln!("checked: {}", checked.join(", "));
}

#[test]
fn the_windows_of_the_papers_hf_call_are_the_default_windows() {
    let root = fixtures().join("paper");
    let Some(checked) = check_set(&root) else {
        eprintln!("SKIPPED: no {} (run tests/fixtures/hf/generate.sh paper/opt)", root.display());
        return;
    };
    assert!(!checked.is_empty(), "no case in {}", root.display());
    eprintln!("checked paper/: {}", checked.join(", "));
}
