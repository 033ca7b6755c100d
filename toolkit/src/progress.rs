//! Progress bars (indicatif), silenced by `--quiet` or when stderr is not a terminal.

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, WeakProgressBar};

/// The bars shown, newest last, so that messages can be printed without garbling them.
static SHOWN: Mutex<Vec<WeakProgressBar>> = Mutex::new(Vec::new());

/// Runs `f` (which prints to the terminal) with the newest live progress bar hidden, then
/// redraws it; the command line's warnings go through this.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    let bar = SHOWN.lock().ok().and_then(|mut shown| {
        shown.retain(|b| b.upgrade().is_some_and(|b| !b.is_finished()));
        shown.last().and_then(WeakProgressBar::upgrade)
    });
    match bar {
        Some(bar) => bar.suspend(f),
        None => f(),
    }
}

/// Whether and how to show progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// Progress bars on stderr (hidden automatically when stderr is not a terminal).
    #[default]
    Bars,
    /// Nothing.
    Quiet,
}

impl Progress {
    /// A bar of `len` steps with a message; hidden when quiet.
    pub fn bar(self, len: u64, message: impl Into<String>) -> ProgressBar {
        let bar = match self {
            Progress::Quiet => ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden()),
            Progress::Bars => {
                let bar = ProgressBar::new(len);
                if let Ok(mut shown) = SHOWN.lock() {
                    shown.push(bar.downgrade());
                }
                bar
            }
        };
        if let Ok(style) = ProgressStyle::with_template("{msg:24} [{bar:30}] {pos}/{len} {elapsed_precise} (eta {eta})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message.into());
        bar
    }
}
