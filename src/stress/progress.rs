//! The live view while a run lasts: a progress bar on stderr when stderr is a terminal, and
//! nothing at all when it is not (a log file or CI output wants the report, not a redrawn
//! line per tick). Lines that must be said during the run (the ramp-up) go above the bar.
//!
//! The bar is redrawn from a reactor timer, never from a thread of its own: the load is
//! single-threaded, and a steady-tick thread would compete with it for the CPU it measures.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// How often the bar is redrawn.
pub(crate) const EVERY: Duration = Duration::from_millis(250);

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for a run of `total`, if stderr is a terminal.
    pub(crate) fn on_stderr(total: Duration) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total.as_millis() as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {percent:>3}%  {msg}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Progress { bar: Some(bar) }
    }

    pub(crate) fn hidden() -> Progress {
        Progress { bar: None }
    }

    pub(crate) fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    pub(crate) fn update(&self, elapsed: Duration, message: impl FnOnce() -> String) {
        if let Some(bar) = &self.bar {
            bar.set_position(elapsed.as_millis() as u64);
            bar.set_message(message());
        }
    }

    /// A line for the reader during the run, on stderr so that stdout stays the report
    /// (a `--json` document must be the only thing there).
    pub(crate) fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
