//! Progress bars (indicatif) with items/s and bytes/s, hidden when stderr is not a terminal,
//! with `--json` or with `--quiet`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A live counter of items and bytes with an optional bar on stderr. Cheap to clone.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
    items: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    started: Instant,
}

impl Progress {
    /// `verb` is shown before the counters ("backup", "restore", "check").
    /// `visible` is the caller's decision (not `--json`, not `--quiet`); the bar is drawn only
    /// if stderr is also a terminal.
    pub fn new(verb: &str, visible: bool, total_bytes: Option<u64>) -> Progress {
        let bar = if visible && std::io::stderr().is_terminal() {
            let bar =
                ProgressBar::with_draw_target(total_bytes, ProgressDrawTarget::stderr_with_hz(8));
            let template = if total_bytes.is_some() {
                "{prefix:>8} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {msg}"
            } else {
                "{prefix:>8} [{elapsed_precise}] {spinner} {bytes} {bytes_per_sec} {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_prefix(verb.to_owned());
            bar.enable_steady_tick(Duration::from_millis(125));
            bar
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar,
            items: Arc::new(AtomicU64::new(0)),
            bytes: Arc::new(AtomicU64::new(0)),
            started: Instant::now(),
        }
    }

    /// A spinner with a message, for operations that report no counters while they run.
    pub fn spinner(message: &str, visible: bool) -> Progress {
        let progress = Progress::new("", false, None);
        if visible && std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}") {
                bar.set_style(style);
            }
            bar.set_message(message.to_owned());
            bar.enable_steady_tick(Duration::from_millis(125));
            return Progress { bar, ..progress };
        }
        progress
    }

    /// Record `items` more items and `bytes` more bytes.
    pub fn add(&self, items: u64, bytes: u64) {
        let n = self.items.fetch_add(items, Ordering::Relaxed) + items;
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if !self.bar.is_hidden() {
            self.bar.inc(bytes);
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            self.bar
                .set_message(format!("{n} items {:.0} items/s", n as f64 / secs));
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Remove the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Feeds the library's progress callbacks into a [`Progress`] and reports failed items on
/// stderr as they happen (unless quiet).
pub struct ItemProgress {
    pub progress: Progress,
    pub report_failures: bool,
    pub verb: &'static str,
}

impl tenantvault_repo::Progress for ItemProgress {
    fn item(&self, _id: &str, bytes: u64, read: bool) {
        self.progress.add(1, if read { bytes } else { 0 });
    }

    fn failure(&self, id: &str, reason: &str) {
        if self.report_failures {
            self.progress
                .bar
                .suspend(|| eprintln!("warning: {} {id}: {reason}", self.verb));
        }
    }
}
