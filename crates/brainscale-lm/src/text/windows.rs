//! SPEC 3.2 context windows over a run's content tokens.

use std::ops::Range;

use crate::LmError;

/// How far the paper's windows advance, counted in positions (special tokens included).
///
/// The paper's code asks Hugging Face for `truncation=True, max_length=C,
/// return_overflowing_tokens=True, stride=C - 64`. HF's stride counts the content tokens two
/// windows share, and each window holds C - n_specials content tokens, so the windows advance
/// by `64 - n_specials` content tokens: see [`default_step`].
pub const PAPER_ADVANCE: usize = 64;

/// The default window step S in content tokens, for a tokenizer that adds `n_specials` special
/// tokens around each window: `64 - n_specials` (SPEC 3.2), what the paper's code gets from
/// Hugging Face. 64 for GPT-2, Qwen, GPT-NeoX and StableLM (no special token), 63 for a
/// tokenizer that adds a BOS (OPT, Llama, Mistral, Gemma). At least 1.
///
/// ```
/// use brainscale_lm::text::default_step;
/// assert_eq!((default_step(0), default_step(1)), (64, 63));
/// ```
pub fn default_step(n_specials: usize) -> usize {
    PAPER_ADVANCE.saturating_sub(n_specials).max(1)
}

/// One context window: content tokens `content`, of which `kept` take their hidden states
/// from this window (the tokens not already covered by an earlier window).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Content-token range fed to the model (special tokens are added around it).
    pub content: Range<usize>,
    /// Content-token range whose hidden states come from this window; a sub-range of
    /// `content` that ends where it ends.
    pub kept: Range<usize>,
}

/// The windows over `n_tokens` content tokens (SPEC 3.2).
///
/// `max_positions` is C (`None`: unbounded, one pass), `n_specials` the number of special
/// tokens added around each window, `step` is S. Window k holds content tokens
/// `[k·S, min(k·S + W, n))` with W = C − n_specials, until `k·S + W >= n`; each token is kept
/// from the first window that holds it. No token gives no window.
///
/// ```
/// use brainscale_lm::text::plan_windows;
/// let w = plan_windows(10, Some(7), 1, 2)?; // W = 6
/// assert_eq!(w.iter().map(|w| w.content.clone()).collect::<Vec<_>>(), [0..6, 2..8, 4..10]);
/// assert_eq!(w.iter().map(|w| w.kept.clone()).collect::<Vec<_>>(), [0..6, 6..8, 8..10]);
/// # Ok::<(), brainscale_lm::LmError>(())
/// ```
pub fn plan_windows(
    n_tokens: usize,
    max_positions: Option<usize>,
    n_specials: usize,
    step: usize,
) -> Result<Vec<Window>, LmError> {
    if n_tokens == 0 {
        return Ok(Vec::new());
    }
    let Some(c) = max_positions else {
        return Ok(vec![Window { content: 0..n_tokens, kept: 0..n_tokens }]);
    };
    if c <= n_specials {
        return Err(LmError::Invalid(format!(
            "the model's context holds {c} tokens, no more than the {n_specials} special tokens its tokenizer adds: \
             no room for text"
        )));
    }
    let width = c - n_specials;
    if n_tokens <= width {
        return Ok(vec![Window { content: 0..n_tokens, kept: 0..n_tokens }]);
    }
    if step == 0 || step >= width {
        let fix = match width - 1 {
            0 => "no step fits a window of one text token".to_owned(),
            largest => format!("pass a step between 1 and {largest}, e.g. --step {largest}"),
        };
        return Err(LmError::Invalid(format!(
            "window step {step}: the step must be at least 1 and smaller than the window of {width} text tokens \
             ({c} positions - {n_specials} special tokens); {fix} (without --step the step is 64 - {n_specials} \
             special tokens = {default}, SPEC 3.2)",
            default = default_step(n_specials),
        )));
    }
    let mut windows = Vec::new();
    let mut kept_from = 0;
    let mut start = 0;
    loop {
        let end = (start + width).min(n_tokens);
        windows.push(Window { content: start..end, kept: kept_from..end });
        kept_from = end;
        if start + width >= n_tokens {
            return Ok(windows);
        }
        start += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_cover(windows: &[Window], n: usize) {
        let mut next = 0;
        for w in windows {
            assert_eq!(w.kept.start, next, "{windows:?}");
            assert!(w.content.start <= w.kept.start && w.kept.end == w.content.end);
            next = w.kept.end;
        }
        assert_eq!(next, n);
    }

    #[test]
    fn fits_in_one_pass() {
        assert_eq!(plan_windows(5, Some(6), 1, 64).unwrap(), [Window { content: 0..5, kept: 0..5 }]);
        assert_eq!(plan_windows(1000, None, 0, 64).unwrap().len(), 1);
        assert!(plan_windows(0, Some(6), 1, 64).unwrap().is_empty());
    }

    #[test]
    fn the_default_step_is_what_the_papers_hf_stride_gives() {
        // HF: max_length = C positions, stride = C - 64 shared content tokens, so each window of
        // C - n content tokens starts (C - n) - (C - 64) = 64 - n after the previous one
        for (c, n) in [(1024, 0), (2048, 1), (128, 1), (4096, 2)] {
            let (width, stride) = (c - n, c - PAPER_ADVANCE);
            assert_eq!(default_step(n), width - stride, "C = {c}, {n} special tokens");
            let w = plan_windows(3 * c, Some(c), n, default_step(n)).unwrap();
            for pair in w.windows(2) {
                assert_eq!(pair[0].content.end - pair[1].content.start, stride, "overlap = HF's stride");
            }
        }
        assert_eq!(default_step(100), 1);
    }

    #[test]
    fn windows_follow_the_spec() {
        for (n, c, specials, step) in [(1000, Some(1024), 0, 64), (2500, Some(1024), 1, 64), (13, Some(5), 1, 3)] {
            let w = plan_windows(n, c, specials, step).unwrap();
            check_cover(&w, n);
            let width = c.unwrap() - specials;
            for (k, win) in w.iter().enumerate() {
                assert_eq!(win.content.start, k * step);
                assert_eq!(win.content.end, (k * step + width).min(n));
            }
            let last = w.len() - 1;
            assert!(last * step + width >= n && (last == 0 || (last - 1) * step + width < n));
        }
    }

    #[test]
    fn a_step_as_large_as_the_window_is_refused() {
        // C = 11 with a BOS: W = 10, so the largest step is 9, and the default rule gives 63
        let e = plan_windows(100, Some(11), 1, 10).unwrap_err().to_string();
        assert!(e.contains("window step 10") && e.contains("smaller than the window of 10 text tokens"), "{e}");
        assert!(e.contains("between 1 and 9, e.g. --step 9 ") && e.contains("64 - 1 special tokens = 63"), "{e}");
        assert!(!e.contains("default 9"), "the largest allowed step is not the default: {e}");
        // the default rule itself can be too large for a short context
        let e = plan_windows(100, Some(40), 0, default_step(0)).unwrap_err().to_string();
        assert!(e.contains("window step 64") && e.contains("e.g. --step 39 ") && e.contains("= 64, SPEC 3.2"), "{e}");
        let e = plan_windows(100, Some(11), 1, 0).unwrap_err().to_string();
        assert!(e.contains("window step 0") && e.contains("at least 1") && e.contains("--step 9 "), "{e}");
        let e = plan_windows(100, Some(2), 1, 1).unwrap_err().to_string();
        assert!(e.contains("no step fits a window of one text token"), "{e}");
        assert!(plan_windows(100, Some(1), 1, 1).is_err());
        // a short run never needs a step
        assert!(plan_windows(10, Some(11), 1, 10).is_ok());
    }
}
