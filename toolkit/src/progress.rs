//! Progress bars (indicatif), silenced by `--quiet` or when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
            Progress::Bars => ProgressBar::new(len),
        };
        if let Ok(style) = ProgressStyle::with_template("{msg:24} [{bar:30}] {pos}/{len} {elapsed_precise} (eta {eta})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message.into());
        bar
    }
}
