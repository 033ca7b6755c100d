//! Text: tokenization with offsets, SPEC 3 windows, word alignment and pooling.
//!
//! The path of a run through this module:
//!
//! 1. [`Tokenizer::encode`] tokenizes the whole text once, without special tokens, with
//!    character offsets;
//! 2. [`plan_windows`] cuts the content tokens into context windows (SPEC 3.2; the default step
//!    is [`default_step`], 64 minus the special tokens, as the paper's code gets it), and
//!    [`Tokenizer::with_specials`] adds the tokenizer's special tokens around each one;
//! 3. [`word_positions`] and [`first_tokens`] find each word's first token (SPEC 3.3),
//!    [`word_spans`] its token range and [`pool`] averages the hidden states over it.

mod align;
mod tokenizer;
mod windows;

pub use align::{first_tokens, pool, word_positions, word_spans};
pub use tokenizer::{Tokenizer, Tokens};
pub use windows::{PAPER_ADVANCE, Window, default_step, plan_windows};
