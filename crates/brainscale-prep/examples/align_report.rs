//! The alignment check of `brainscale prepare` on its own: a word table, the run texts and a
//! corrections file in, every difference out (as `provenance/alignment.tsv` lists them).
//!
//! ```sh
//! cargo run -p brainscale-prep --example align_report -- \
//!     RAW annotation/EN/lppEN_word_information.csv 'lpp_en_text/text_en_run{run}.txt' builtin:lpp-en [RUNS]
//! ```

use std::path::{Path, PathBuf};

use brainscale_prep::words_step::{WordsSpec, read};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [raw, table, text, corrections, ..] = &args[..] else {
        return Err("usage: align_report RAW TABLE TEXT_PATTERN CORRECTIONS [RUNS]".into());
    };
    let runs = args.get(4).map(|r| r.parse()).transpose()?.unwrap_or(9);
    let spec = WordsSpec {
        runs,
        annotation: PathBuf::from(table),
        text: Some(text.clone()),
        corrections: Some(corrections.clone()).filter(|c| !c.is_empty()),
    };
    let texts = read(Path::new(raw), &spec, None)?;
    for w in &texts.warnings {
        eprintln!("warning: {w}");
    }
    let per_run: Vec<usize> = texts.words.iter().map(|w| w.len()).collect();
    println!("words per run: {per_run:?} ({} in all)", per_run.iter().sum::<usize>());
    for m in &texts.mismatches {
        println!("{}{m}", if m.kind.is_error() { "ERROR " } else { "" });
    }
    println!("{} difference(s), {} error(s)", texts.mismatches.len(), texts.errors().len());
    Ok(())
}
