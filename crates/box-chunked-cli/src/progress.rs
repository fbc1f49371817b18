//! Progress display: a bar on a terminal, plain lines otherwise, and the
//! few lines a person needs (the session, what a resume found, a commit
//! that Box is still processing). Bytes sent and bytes confirmed are kept
//! apart; it decides nothing about the upload.

use box_chunked_core::{Confirmation, Event};
use box_chunked_hyper::UploadEvent;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// For `--stats`: parts of committed uploads that the reader thread hashed
/// as it read them, and all their parts.
pub(crate) static HASHED_WHILE_READ: AtomicU64 = AtomicU64::new(0);
/// See [`HASHED_WHILE_READ`].
pub(crate) static PARTS_HASHED: AtomicU64 = AtomicU64::new(0);
/// For `--stats`: source bytes read by committed uploads.
pub(crate) static BYTES_READ: AtomicU64 = AtomicU64::new(0);

/// Bytes in binary units (`256.00 MiB`), by indicatif.
pub(crate) fn human(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}

/// The state of `--progress json`.
struct JsonLines {
    file: Option<String>,
    /// Fields for the next line only (the first: checkpoint, target).
    context: Mutex<Option<serde_json::Map<String, serde_json::Value>>>,
    phase: Mutex<&'static str>,
    last: Mutex<Option<Instant>>,
}

#[derive(Clone)]
pub(crate) struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    bar: Option<ProgressBar>,
    /// JSON lines instead of the bar (`--progress json`), for this file.
    json: Option<JsonLines>,
    /// Lines for people at all (not with `-q`).
    talk: bool,
    /// The bar or plain progress lines (not with `--no-progress`).
    show: bool,
    total: u64,
    sent: AtomicU64,
    confirmed: AtomicU64,
    parts_done: AtomicU64,
    parts_total: AtomicU64,
    /// Part uploads in flight, and the limit (fixed or tuned).
    in_flight: AtomicUsize,
    limit: AtomicUsize,
    verified: AtomicU64,
    verified_told: AtomicBool,
    /// Parts of a new version sent while its file was read (before the
    /// upload machine, which counts them among the verified), and bytes.
    early_parts: AtomicU64,
    early_bytes: AtomicU64,
    /// The checkpoint could not be written (said once).
    checkpoint_failed: AtomicBool,
    retries: AtomicU64,
    causes: Mutex<Vec<&'static str>>,
    session: Mutex<Option<String>>,
    /// Stopped (Ctrl-C, the end): later events change nothing on screen.
    frozen: AtomicBool,
    started: Instant,
    last_line: Mutex<Instant>,
}

impl Progress {
    /// A display for `total` bytes: `show` the bar or lines, `talk` (the
    /// session, a resume's findings, a pending commit) unless quiet.
    pub(crate) fn new(total: u64, show: bool, talk: bool) -> Self {
        Self::with_json(total, show, talk, None)
    }

    /// `--progress json`: JSON lines on stderr (naming `file` in a job)
    /// instead of the bar and the lines for people.
    pub(crate) fn json(total: u64, file: Option<String>) -> Self {
        Self::with_json(
            total,
            false,
            false,
            Some(JsonLines {
                file,
                context: Mutex::new(None),
                phase: Mutex::new("starting"),
                last: Mutex::new(None),
            }),
        )
    }

    fn with_json(total: u64, show: bool, talk: bool, json: Option<JsonLines>) -> Self {
        let bar = (show && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(10));
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] [{bar:30}] {binary_bytes}/{binary_total_bytes} confirmed, ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            b.set_style(style);
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Self {
            inner: Arc::new(Inner {
                bar,
                json,
                talk,
                show,
                total,
                sent: AtomicU64::new(0),
                confirmed: AtomicU64::new(0),
                parts_done: AtomicU64::new(0),
                parts_total: AtomicU64::new(0),
                in_flight: AtomicUsize::new(0),
                limit: AtomicUsize::new(0),
                verified: AtomicU64::new(0),
                early_parts: AtomicU64::new(0),
                early_bytes: AtomicU64::new(0),
                checkpoint_failed: AtomicBool::new(false),
                verified_told: AtomicBool::new(false),
                retries: AtomicU64::new(0),
                causes: Mutex::new(Vec::new()),
                session: Mutex::new(None),
                frozen: AtomicBool::new(false),
                started: Instant::now(),
                last_line: Mutex::new(Instant::now()),
            }),
        }
    }

    /// A line for people, above the bar when there is one.
    fn say(&self, line: &str) {
        let p = &self.inner;
        if !p.talk || p.frozen.load(Ordering::Relaxed) {
            return;
        }
        match &p.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// The session id, once the session exists.
    pub(crate) fn session_id(&self) -> Option<String> {
        self.inner
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Bytes of part bodies sent in this run (not what a resume found stored).
    pub(crate) fn sent(&self) -> u64 {
        self.inner.sent.load(Ordering::Relaxed)
    }

    // Long on purpose: one arm per kind of event, each short; split apart
    // they would only scatter the one place the display's state changes.
    pub(crate) fn on_event(&self, e: &UploadEvent) {
        if let UploadEvent::Hashing {
            parts_hashed_while_read,
            parts,
            bytes_read,
        } = e
        {
            HASHED_WHILE_READ.fetch_add(*parts_hashed_while_read, Ordering::Relaxed);
            PARTS_HASHED.fetch_add(*parts, Ordering::Relaxed);
            BYTES_READ.fetch_add(*bytes_read, Ordering::Relaxed);
        }
        let p = &self.inner;
        if p.frozen.load(Ordering::Relaxed) {
            return;
        }
        match e {
            UploadEvent::Progress {
                bytes_sent,
                bytes_confirmed,
                parts_in_flight,
                parallelism,
                ..
            } => {
                p.sent.store(
                    *bytes_sent + p.early_bytes.load(Ordering::Relaxed),
                    Ordering::Relaxed,
                );
                p.in_flight.store(*parts_in_flight, Ordering::Relaxed);
                p.limit.store(*parallelism, Ordering::Relaxed);
                p.confirmed.store(*bytes_confirmed, Ordering::Relaxed);
                // Bytes moving means uploading (a one-shot upload has no session).
                let starting = p.json.as_ref().is_some_and(|j| {
                    *j.phase
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        == "starting"
                });
                if starting {
                    self.phase("uploading");
                }
            }
            UploadEvent::Core(Event::SessionReady {
                session_id,
                total_parts,
                part_size,
            }) => {
                p.parts_total.store(*total_parts, Ordering::Relaxed);
                self.phase("uploading");
                *p.session
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(session_id.clone());
                self.say(&format!(
                    "session {session_id}: {total_parts} parts of {} for {}",
                    human(*part_size),
                    human(p.total)
                ));
            }
            UploadEvent::Core(Event::PartConfirmed {
                parts_done,
                how,
                bytes_done,
                ..
            }) => {
                p.parts_done.store(*parts_done, Ordering::Relaxed);
                p.confirmed.store(*bytes_done, Ordering::Relaxed);
                if *parts_done == p.parts_total.load(Ordering::Relaxed) {
                    self.phase("committing");
                }
                if *how == Confirmation::Verified {
                    p.verified.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.tell_verified();
                }
            }
            UploadEvent::SentDuringPass { parts, bytes } => {
                p.early_parts.fetch_add(*parts, Ordering::Relaxed);
                p.early_bytes.fetch_add(*bytes, Ordering::Relaxed);
                p.sent.fetch_add(*bytes, Ordering::Relaxed);
            }
            UploadEvent::CheckpointFailed { path, error } => {
                if !p.checkpoint_failed.swap(true, Ordering::Relaxed) {
                    self.checkpoint_lost(path, error);
                }
                return;
            }
            UploadEvent::Core(Event::RetryScheduled { cause, .. }) => {
                p.retries.fetch_add(1, Ordering::Relaxed);
                let mut c = p
                    .causes
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if !c.contains(&cause.as_str()) {
                    c.push(cause.as_str());
                }
            }
            UploadEvent::Core(Event::CommitPending { retry_after, polls }) => {
                self.phase("committing");
                self.tell_verified();
                let at = box_chunked_proto::Timestamp::from_system_time(
                    std::time::SystemTime::now() + *retry_after,
                );
                self.say(&format!(
                    "committing: Box is still processing the file (answer {polls} was 202); next check in {} s, at {}",
                    retry_after.as_secs(),
                    at.as_str()
                ));
            }
            _ => return,
        }
        self.draw();
    }

    /// One plain line (or JSON line) when the checkpoint cannot be written.
    fn checkpoint_lost(&self, path: &std::path::Path, error: &str) {
        if self.inner.json.is_some() {
            let line = serde_json::json!({"event": "checkpoint_failed", "checkpoint": path, "error": error});
            eprintln!("{line}");
            return;
        }
        self.say(&format!(
            "warning: the checkpoint {} cannot be written ({error}); the upload goes on, but if it is interrupted it cannot be resumed",
            path.display()
        ));
    }

    /// On a resume: how many parts were already on Box and verified, once.
    fn tell_verified(&self) {
        let p = &self.inner;
        let n = p.verified.load(Ordering::Relaxed);
        if n == 0 || p.verified_told.swap(true, Ordering::Relaxed) {
            return;
        }
        let total = p.parts_total.load(Ordering::Relaxed);
        let early = p.early_parts.load(Ordering::Relaxed).min(n);
        if early == 0 {
            self.say(&format!(
                "resumed: {n} of {total} parts were already on Box and their bytes verified against the file; sending the rest"
            ));
        } else {
            let (parts, were) = if early == 1 {
                ("part", "was")
            } else {
                ("parts", "were")
            };
            self.say(&format!(
                "resumed: {} of {total} parts were already on Box and {early} changed {parts} ({}) {were} sent while the file was read; all {n} verified against the file; sending the rest",
                n - early,
                human(p.early_bytes.load(Ordering::Relaxed))
            ));
        }
    }

    /// `--progress json`'s first line, phase `starting`, with `fields`
    /// (the checkpoint, the target, the session when resuming).
    pub(crate) fn starting(&self, fields: serde_json::Value) {
        if let (Some(j), serde_json::Value::Object(map)) = (&self.inner.json, fields) {
            *j.context
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(map);
            self.json_line(true);
        }
    }

    /// A change of phase: a JSON line at once.
    fn phase(&self, phase: &'static str) {
        if let Some(j) = &self.inner.json {
            let mut cur = j
                .phase
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *cur != phase {
                *cur = phase;
                drop(cur);
                self.json_line(true);
            }
        }
    }

    /// One JSON line, unless one went less than 500 ms ago (`force`: a
    /// change of phase always goes).
    fn json_line(&self, force: bool) {
        let p = &self.inner;
        let Some(j) = &p.json else { return };
        {
            let mut last = j
                .last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !force && last.is_some_and(|t: Instant| t.elapsed() < Duration::from_millis(500)) {
                return;
            }
            *last = Some(Instant::now());
        }
        let causes = p
            .causes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut line = serde_json::json!({
            "phase": *j.phase.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
            "bytes_sent": p.sent.load(Ordering::Relaxed),
            "parts_in_flight": p.in_flight.load(Ordering::Relaxed),
            "parallelism": p.limit.load(Ordering::Relaxed),
            "bytes_confirmed": p.confirmed.load(Ordering::Relaxed),
            "bytes_total": p.total,
            "parts_done": p.parts_done.load(Ordering::Relaxed),
            "parts_total": p.parts_total.load(Ordering::Relaxed),
            "retries": {"count": p.retries.load(Ordering::Relaxed), "causes": causes},
        });
        if let Some(obj) = line.as_object_mut() {
            if let Some(f) = &j.file {
                obj.insert("file".into(), serde_json::json!(f));
            }
            let session = p
                .session
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(s) = session.as_ref() {
                obj.insert("session_id".into(), serde_json::json!(s));
            }
            drop(session);
            let context = j
                .context
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            obj.extend(context.unwrap_or_default());
        }
        eprintln!("{line}");
    }

    /// The end: for `--progress json`, `done` (a failure's line comes from
    /// `failure::json_event`, with the sentence).
    pub(crate) fn end(&self, ok: bool, bytes: u64) {
        let p = &self.inner;
        if ok {
            p.confirmed.store(
                bytes.max(p.confirmed.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
            p.sent.fetch_max(0, Ordering::Relaxed);
            let total = p.parts_total.load(Ordering::Relaxed);
            p.parts_done.fetch_max(total, Ordering::Relaxed);
        }
        // A failure's line is the command's last, with its sentence
        // (`failure::json_event`), once the sentence is known.
        if p.json.is_some() && ok {
            p.frozen.store(false, Ordering::Relaxed);
            self.phase("done");
        }
    }

    fn draw(&self) {
        let p = &self.inner;
        if p.json.is_some() {
            self.json_line(false);
            return;
        }
        if !p.show {
            return;
        }
        let (sent, confirmed) = (
            p.sent.load(Ordering::Relaxed),
            p.confirmed.load(Ordering::Relaxed),
        );
        let retries = p.retries.load(Ordering::Relaxed);
        let causes = p
            .causes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .join(", ");
        let msg = format!(
            "| sent {} | parts {}/{}, {} in flight (limit {}){}",
            human(sent),
            p.parts_done.load(Ordering::Relaxed),
            p.parts_total.load(Ordering::Relaxed),
            p.in_flight.load(Ordering::Relaxed),
            p.limit.load(Ordering::Relaxed),
            if retries > 0 {
                format!(" | retries {retries} ({causes})")
            } else {
                String::new()
            }
        );
        match &p.bar {
            Some(b) => {
                b.set_position(confirmed.min(p.total));
                b.set_message(msg);
            }
            None => {
                // Plain lines, at most every 2 seconds.
                let mut last = p
                    .last_line
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if last.elapsed() >= Duration::from_secs(2) || (confirmed == p.total && p.total > 0)
                {
                    *last = Instant::now();
                    let secs = p.started.elapsed().as_secs_f64().max(1e-9);
                    eprintln!(
                        "progress: {} of {} confirmed ({:.0}%), {} sent in this run ({:.1} MiB/s) {msg}",
                        human(confirmed),
                        human(p.total),
                        if p.total == 0 {
                            100.0
                        } else {
                            confirmed as f64 * 100.0 / p.total as f64
                        },
                        human(sent),
                        sent as f64 / 1048576.0 / secs
                    );
                }
            }
        }
    }

    /// Stops the display where it is (Ctrl-C, SIGTERM): nothing moves after.
    pub(crate) fn freeze(&self) {
        self.inner.frozen.store(true, Ordering::Relaxed);
        if let Some(b) = &self.inner.bar {
            b.abandon();
        }
    }

    pub(crate) fn finish(&self) {
        self.tell_verified();
        self.inner.frozen.store(true, Ordering::Relaxed);
        if let Some(b) = &self.inner.bar {
            b.finish_and_clear();
        }
    }
}
