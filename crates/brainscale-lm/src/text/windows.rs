//! SPEC 3.2 context windows over a run's content tokens.

use std::ops::Range;

use crate::LmError;

/// The default window step S in tokens (`--step`).
pub const DEFAULT_STEP: usize = 64;

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
        return Err(LmError::Invalid(format!(
            "--step {step}: the step must be between 1 and {} (smaller than the window of {width} text tokens = \
             {c} positions - {n_specials} special tokens); use a smaller --step, e.g. the default {}",
            width - 1,
            DEFAULT_STEP.min(width - 1)
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
        let e = plan_windows(100, Some(11), 1, 10).unwrap_err().to_string();
        assert!(e.contains("--step 10") && e.contains("smaller --step"), "{e}");
        assert!(plan_windows(100, Some(11), 1, 0).is_err());
        assert!(plan_windows(100, Some(1), 1, 1).is_err());
        // a short run never needs a step
        assert!(plan_windows(10, Some(11), 1, 10).is_ok());
    }
}
