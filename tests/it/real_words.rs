//! `brainscale prepare` on the real English word table (`../shared/data/lpp-en/annotation/`,
//! byte-identical to OpenNeuro ds003643 2.0.5: CRLF, an unnamed index column, 31 empty words)
//! with run texts that carry the three places where the paper's texts differ from the table
//! (row 364 `one` written `1,`; row 10257 `one` after a text-only `of`; row 14861 `that` after a
//! text-only `“There...`), the asteroids' digit names (`three two five` written `3 2 5,`), and
//! synthetic BOLD with the real run lengths. The words must be exactly the paper's 15,342.
//! Skipped, with a message, where `../shared` is absent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use brainscale::data::Dataset;
use brainscale_prep::synth_bids::{self, SynthBids};

const ENTRY: &str = "lpp-en-real-words";

/// The real English runs' lengths (scans) and the paper's words per run.
const RUN_SCANS: [usize; 9] = [282, 298, 340, 303, 265, 343, 325, 292, 368];
const PAPER_WORDS: [usize; 9] = [1516, 1690, 1851, 1615, 1518, 1810, 1785, 1583, 1974];

fn shared_table() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/lpp-en/annotation/lppEN_word_information.csv");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found (../shared/data/lpp-en is not beside the checkout)", p.display());
        None
    }
}

/// Run texts in the paper's style built from the table's kept words (joined by spaces), with
/// the paper's texts' differences from the table at their rows.
fn texts(rows: &[brainscale_prep::annotation::Row], dropped: &[usize]) -> Vec<String> {
    let digits: HashMap<usize, &str> =
        [(5068, "3 2 5,"), (5069, "3 2 6,"), (5070, "3 2 7,"), (5071, "3 2 8,"), (5072, "3 2 9,"), (5074, "3 3 0.")]
            .into_iter()
            .collect();
    let mut runs = vec![Vec::<String>::new(); 9];
    for r in rows.iter().filter(|r| !r.word.is_empty() && !dropped.contains(&r.row)) {
        let word = match r.row {
            364 => "1,".to_string(),                 // "my Drawing Number 1, that I've always kept"
            10257 => "of one".to_string(),           // "knees, of one which is perhaps forever extinct"
            14861 => "“There... that’s".to_string(), // "He said: “There... that’s everything...”"
            14862 => continue,                       // the `s` of that’s
            n if digits.contains_key(&n) => digits[&n].to_string(),
            _ => r.word.clone(),
        };
        runs[r.section - 1].push(word);
    }
    runs.into_iter()
        .map(|w| {
            // Sentences of twelve words, so that the text has punctuation and line breaks.
            let mut text = String::new();
            for (i, word) in w.iter().enumerate() {
                text.push_str(word);
                text.push_str(if i % 12 == 11 { ".\n" } else { " " });
            }
            text
        })
        .collect()
}

#[test]
fn the_real_english_table_prepares_to_the_papers_words() {
    let Some(table) = shared_table() else { return };
    let bytes = std::fs::read(&table).expect("table");
    let rows = brainscale_prep::annotation::parse_table(&table, &bytes).expect("the real table parses");
    assert_eq!(rows.len(), 15376, "rows of lppEN_word_information.csv");
    assert_eq!(rows.iter().filter(|r| r.word.is_empty()).count(), 31, "empty words");
    let dropped = [3919, 6775, 6781];

    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("data");
    let raw = root.join("raw").join(ENTRY);
    let params = SynthBids {
        n_scans: RUN_SCANS[0],
        run_scans: Some(RUN_SCANS.to_vec()),
        code: "EN".into(),
        ..SynthBids::small(1, 9, 11)
    };
    synth_bids::write(&raw, &params).expect("synthetic BIDS");
    std::fs::write(raw.join(params.annotation_path()), &bytes).expect("the real table");
    for (r, text) in texts(&rows, &dropped).iter().enumerate() {
        std::fs::write(raw.join(format!("text/text_run{}.txt", r + 1)), text).expect("text");
    }
    let spec = synth_bids::spec_toml(&params, Some(&format!("{ENTRY}.prepare")));
    let spec = spec.replacen("\n[", "\ncorrections = \"builtin:lpp-en\"\n[", 1);
    let registry = tmp.path().join("registry.toml");
    std::fs::write(
        &registry,
        format!(
            "[{ENTRY}]\nversion = \"1\"\ndescription = \"real table, synthetic BOLD\"\nlicense = \"CC0-1.0\"\n\
             generated = \"tests/it/real_words.rs\"\n\n{spec}"
        ),
    )
    .expect("registry");
    let o = Command::new(env!("CARGO_BIN_EXE_brainscale"))
        .args(["prepare", ENTRY, "--quiet", "--registry"])
        .arg(&registry)
        .arg("--data-dir")
        .arg(&root)
        .output()
        .expect("run brainscale");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "prepare on the real table failed:\n{stderr}");

    let ds = Dataset::open(&root.join("datasets").join(ENTRY)).expect("dataset");
    let counts: Vec<usize> = ds.runs().iter().map(|r| r.words.len()).collect();
    assert_eq!(counts, PAPER_WORDS, "words per run");
    assert_eq!(counts.iter().sum::<usize>(), 15342);
    // Word for word, onset for onset: the table's rows less the dropped and the empty ones.
    for (r, run) in ds.runs().iter().enumerate() {
        let expected: Vec<&brainscale_prep::annotation::Row> =
            rows.iter().filter(|x| x.section == r + 1 && !x.word.is_empty() && !dropped.contains(&x.row)).collect();
        for (i, row) in expected.iter().enumerate() {
            assert_eq!(run.words.word[i], row.word, "run {}, word {}", r + 1, i + 1);
            assert!((run.words.onset[i] - row.onset).abs() < 1e-9 && (run.words.offset[i] - row.offset).abs() < 1e-9);
        }
    }
    // The texts are kept as given (the model sees what the paper fed it) ...
    let text1 = std::fs::read_to_string(ds.root().join("text/run-01.txt")).expect("text");
    assert!(text1.contains("number 1, that"), "{}", &text1[..200]);
    // ... and the text-only words are reported as such, not as errors.
    let report = std::fs::read_to_string(ds.root().join("provenance/alignment.tsv")).expect("report");
    let text_only: Vec<&str> = report.lines().filter(|l| l.contains("\ttext-only\t")).collect();
    assert!(text_only.iter().any(|l| l.starts_with("7\t") && l.contains("\tof")), "{report}");
    assert!(text_only.iter().any(|l| l.starts_with("9\t") && l.contains("There")), "{report}");
    assert!(!report.contains("\treplaced\t") && !report.contains("\tannotation-only\t"), "{report}");
}
