//! Progress of substitutions on a terminal: one bar per download in flight (the path, bytes
//! of its NAR, rate) and one for the paths copied so far. Messages are printed above the
//! bars. Without a terminal (or with `TERM=dumb`) there are no bars, only the plain lines
//! Nix prints.

use ferrix_store::path::StorePath;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::sync::{Mutex, OnceLock};

pub(crate) struct Progress {
    multi: MultiProgress,
    downloads: Mutex<HashMap<StorePath, ProgressBar>>,
    copied: Mutex<Option<ProgressBar>>,
}

static PROGRESS: OnceLock<Option<Progress>> = OnceLock::new();

/// The progress display, when standard error is a terminal that can show one.
pub(crate) fn get() -> Option<&'static Progress> {
    PROGRESS
        .get_or_init(|| {
            let term = std::env::var("TERM").unwrap_or_default();
            (std::io::stderr().is_terminal() && term != "dumb" && !term.is_empty()).then(|| {
                Progress {
                    multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
                    downloads: Mutex::new(HashMap::new()),
                    copied: Mutex::new(None),
                }
            })
        })
        .as_ref()
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Progress {
    /// Prints a line above the bars.
    pub(crate) fn println(&self, line: &str) {
        let _ = self.multi.println(line);
    }

    /// `done` bytes of the NAR of `path` (of `total`, when known) have arrived.
    pub(crate) fn download(&self, path: &StorePath, done: u64, total: Option<u64>) {
        let mut d = self.downloads.lock().unwrap_or_else(|e| e.into_inner());
        let bar = d.entry(path.clone()).or_insert_with(|| {
            let b = self.multi.add(ProgressBar::new(total.unwrap_or(0)));
            b.set_style(style(
                "{msg:40!} [{bar:25}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec}",
            ));
            b.set_message(path.name().to_string());
            b
        });
        if let Some(t) = total {
            bar.set_length(t);
        }
        bar.set_position(done);
    }

    /// The download of `path` ended (copied or failed).
    pub(crate) fn download_done(&self, path: &StorePath) {
        if let Some(b) = self
            .downloads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(path)
        {
            b.finish_and_clear();
            self.multi.remove(&b);
        }
    }

    /// `done` of `total` paths are copied; the bar goes once all are.
    pub(crate) fn copied(&self, done: u64, total: u64) {
        let mut c = self.copied.lock().unwrap_or_else(|e| e.into_inner());
        let bar = c.get_or_insert_with(|| {
            let b = self.multi.insert(0, ProgressBar::new(total));
            b.set_style(style("copied {pos}/{len} paths [{bar:25}] {elapsed}"));
            b
        });
        bar.set_length(total);
        bar.set_position(done);
        if done >= total {
            bar.finish_and_clear();
            self.multi.remove(bar);
            *c = None;
        }
    }
}
