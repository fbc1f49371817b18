//! Progress display: a bar on a terminal, plain lines otherwise.

use box_chunked_core::Event;
use box_chunked_hyper::UploadEvent;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub(crate) struct Progress {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    bar: Option<ProgressBar>,
    total: u64,
    parts_done: AtomicU64,
    parts_total: AtomicU64,
    retries: AtomicU64,
    confirmed: AtomicU64,
    started: Instant,
    last_line: Mutex<Instant>,
}

impl Progress {
    pub(crate) fn new(total: u64, enabled: bool) -> Self {
        if !enabled {
            return Self { inner: None };
        }
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(10));
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            b.set_style(style);
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Self {
            inner: Some(Arc::new(Inner {
                bar,
                total,
                parts_done: AtomicU64::new(0),
                parts_total: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                confirmed: AtomicU64::new(0),
                started: Instant::now(),
                last_line: Mutex::new(Instant::now()),
            })),
        }
    }

    pub(crate) fn on_event(&self, e: &UploadEvent) {
        let Some(p) = &self.inner else { return };
        match e {
            UploadEvent::Progress {
                bytes_sent,
                bytes_confirmed,
                ..
            } => {
                p.confirmed.store(*bytes_confirmed, Ordering::Relaxed);
                if let Some(b) = &p.bar {
                    b.set_position((*bytes_sent).max(*bytes_confirmed).min(p.total));
                }
            }
            UploadEvent::Core(Event::SessionReady { total_parts, .. }) => {
                p.parts_total.store(*total_parts, Ordering::Relaxed);
            }
            UploadEvent::Core(Event::PartConfirmed { parts_done, .. }) => {
                p.parts_done.store(*parts_done, Ordering::Relaxed);
            }
            UploadEvent::Core(Event::RetryScheduled { .. }) => {
                p.retries.fetch_add(1, Ordering::Relaxed);
            }
            _ => return,
        }
        let msg = format!(
            "parts {}/{} retries {}",
            p.parts_done.load(Ordering::Relaxed),
            p.parts_total.load(Ordering::Relaxed),
            p.retries.load(Ordering::Relaxed)
        );
        match &p.bar {
            Some(b) => b.set_message(msg),
            None => {
                // Plain lines, at most every 2 seconds.
                let mut last = p
                    .last_line
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let done = p.confirmed.load(Ordering::Relaxed);
                if last.elapsed() >= Duration::from_secs(2) || (done == p.total && p.total > 0) {
                    *last = Instant::now();
                    let secs = p.started.elapsed().as_secs_f64().max(1e-9);
                    eprintln!(
                        "progress: {} of {} bytes confirmed ({:.0}%), {:.1} MiB/s, {msg}",
                        done,
                        p.total,
                        if p.total == 0 {
                            100.0
                        } else {
                            done as f64 * 100.0 / p.total as f64
                        },
                        done as f64 / 1048576.0 / secs
                    );
                }
            }
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = self.inner.as_ref().and_then(|p| p.bar.as_ref()) {
            b.finish_and_clear();
        }
    }
}
