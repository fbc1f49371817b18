//! The driver loop: drains the core's outputs (requests, reads, cancels,
//! events), runs requests and reads as tasks, and feeds their results back
//! with the time they happened. It decides nothing about Box.

use super::checkpoint::{CheckpointFile, CheckpointUrls, CheckpointWriter};
use super::early::Planned;
use super::in_multi_thread_runtime;
use super::pass::Pass;
use super::pool::BufferPool;
use super::put::file_sha1;
use super::source::{
    identity_change, only_touched, read_range, stream_overflow, FileReader, ReadError, ReadOutcome,
    Reader,
};
use super::{now, Callback, Command, UploadEvent, Uploader};
use crate::client::BoxClient;
use crate::error::{Error, ErrorKind};
use crate::transport::{Failure, ReqBody};
use box_chunked_core::{Event, Input, Outcome, Output, ReadId, ReadPurpose, RequestId, Upload};
use box_chunked_proto::File;
use bytes::Bytes;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

pub(super) struct Driver {
    upload: Upload,
    client: BoxClient,
    reader: Reader,
    source_path: Option<PathBuf>,
    checkpoint: Option<PathBuf>,
    on_event: Option<Callback>,
    requests: JoinSet<(RequestId, Result<http::Response<Bytes>, Failure>)>,
    handles: HashMap<RequestId, AbortHandle>,
    reads: JoinSet<(ReadId, ReadOutcome)>,
    /// The reader thread of a file source, started at the first read.
    file_reader: Option<Arc<FileReader>>,
    /// This upload's part buffers (streams', and files' that cannot be
    /// mapped), each mapped when a read first needs one more.
    pool: BufferPool,
    /// Writes checkpoints off this loop, started at the first one.
    checkpoint_writer: Option<CheckpointWriter>,
    sent: Arc<AtomicU64>,
    /// Paces part bodies (`--bwlimit`).
    throttle: Option<Arc<crate::body::Throttle>>,
    /// Parts in flight across uploads that share it (a job).
    budget: Option<Arc<super::PartBudget>>,
    /// The last "no token" failure: the core sees it as a final not-sent
    /// failure; the caller should see an auth error.
    auth_error: Option<Error>,
    confirmed: u64,
    finished: bool,
    keep_session: bool,
    /// What checkpoints record of the client's URLs.
    urls: CheckpointUrls,
    /// A new version's read pass: stored parts are verified from its
    /// digests instead of being read again.
    pass: Option<Pass>,
    /// Source bytes read for this upload (the pass's included).
    bytes_read: u64,
}

/// What one wait of the loop brought.
enum Woke {
    /// An input for the machine.
    Input(Input),
    /// Handled here (a command, a progress tick, a cancelled task): drain again.
    Nothing,
}

impl Driver {
    pub(super) fn new(
        u: &Uploader,
        upload: Upload,
        reader: Reader,
        source_path: Option<PathBuf>,
    ) -> Self {
        let window = upload.progress().parallelism;
        Self {
            upload,
            client: u.client.clone(),
            reader,
            source_path,
            checkpoint: u.checkpoint.clone(),
            on_event: u.on_event.clone(),
            requests: JoinSet::new(),
            handles: HashMap::new(),
            reads: JoinSet::new(),
            file_reader: None,
            pool: BufferPool::new(window + 2),
            checkpoint_writer: None,
            sent: Arc::new(AtomicU64::new(0)),
            throttle: u.throttle.clone(),
            budget: u.budget.clone(),
            auth_error: None,
            confirmed: 0,
            finished: false,
            keep_session: u.keep_on_drop,
            urls: u.checkpoint_urls(),
            pass: None,
            bytes_read: 0,
        }
    }

    /// Verifies the parts the machine finds stored (the plan's hits and
    /// the parts sent during the pass) from `pass`'s digests; counts the
    /// bytes the pass and those sends read.
    pub(super) fn use_pass(&mut self, pass: Pass, planned: Planned) {
        self.bytes_read += pass.bytes_read + planned.read_bytes;
        self.pass = Some(pass);
    }

    fn emit(&self, e: UploadEvent) {
        if let Some(f) = &self.on_event {
            f(&e);
        }
    }

    /// The loop: drain the machine's outputs, wait for whatever comes first
    /// (an answer, a read, the machine's deadline, a command, a progress
    /// tick), feed it in, and again, until the outcome.
    pub(super) async fn run(
        &mut self,
        mut commands: Option<mpsc::UnboundedReceiver<Command>>,
    ) -> Result<File, Error> {
        let mut ticker = tokio::time::interval(Duration::from_millis(100));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_sent = 0u64;
        loop {
            let deadline = match self.drain().await {
                Ok(deadline) => deadline,
                Err(outcome) => return self.finish(outcome).await,
            };
            let woke = self
                .wait(deadline, &mut commands, &mut ticker, &mut last_sent)
                .await?;
            if let Woke::Input(input) = woke {
                self.feed(input);
            }
        }
    }

    /// Carries out every output until the machine waits (its deadline) or
    /// is done (`Err` with the outcome).
    async fn drain(&mut self) -> Result<Option<std::time::Instant>, Outcome> {
        loop {
            match self.upload.poll_output() {
                Output::Request(r) => self.dispatch(r),
                Output::Read(r) => self.start_read(r),
                Output::Cancel(id) => {
                    if let Some(h) = self.handles.remove(&id) {
                        h.abort();
                    }
                }
                Output::Event(e) => self.on_core_event(e).await,
                Output::CheckSource => {
                    let changed = self.source_change().await;
                    if let Some(c) = &changed {
                        tracing::debug!(change = %c, "the source changed during the upload");
                    }
                    self.feed(Input::SourceChecked { changed });
                }
                Output::Wait(d) => return Ok(d),
                Output::Done(outcome) => return Err(outcome),
            }
        }
    }

    fn start_read(&mut self, r: box_chunked_core::ReadRequest) {
        let (id, range) = (r.id, r.range);
        if let Some(hashes) = self.pass.as_ref().and_then(|p| {
            (r.purpose == ReadPurpose::Verify)
                .then(|| p.hashes(range.start, range.end))
                .flatten()
        }) {
            match self
                .upload
                .handle_input(now(), Input::Digested { id, hashes })
            {
                Ok(()) => return,
                // Not taken (the machine hashes this part itself): read it.
                Err(e) => tracing::debug!(error = %e, "reading a part the pass hashed"),
            }
        }
        if let Reader::File(f) = &self.reader {
            if self.file_reader.is_none() {
                match FileReader::spawn(f.clone(), self.pool.clone()) {
                    Ok(t) => self.file_reader = Some(Arc::new(t)),
                    Err(e) => tracing::warn!(error = %e, "reading on the blocking pool"),
                }
            }
        }
        if let Some(t) = &self.file_reader {
            // Queued here, in the machine's order: one task per read would
            // reach the thread in whatever order tokio polls the tasks, and a
            // read out of order breaks the thread's hash chain.
            let answer = t.submit(range.start, range.end);
            self.reads.spawn(async move { (id, answer.await) });
        } else {
            let (reader, pool) = (self.reader.clone(), self.pool.clone());
            self.reads
                .spawn(async move { (id, read_range(reader, pool, range.start, range.end).await) });
        }
    }

    /// The outcome, once the last checkpoint is on disk; after a commit the
    /// checkpoint is removed (there is nothing left to resume).
    async fn finish(&mut self, outcome: Outcome) -> Result<File, Error> {
        self.finished = true;
        self.requests.abort_all();
        self.reads.abort_all();
        if let Some(w) = self.checkpoint_writer.take() {
            w.flush().await;
        }
        match outcome {
            Outcome::Committed(file) => {
                let p = self.upload.progress();
                self.emit(UploadEvent::Hashing {
                    parts_hashed_while_read: p.parts_hashed_by_driver,
                    parts: p.parts_total,
                    bytes_read: self.bytes_read,
                });
                if let Some(path) = &self.checkpoint {
                    let _ = tokio::fs::remove_file(path).await;
                }
                Ok(*file)
            }
            Outcome::Aborted => Err(Error::new(
                ErrorKind::Cancelled,
                "the upload was aborted and its session deleted",
            )),
            Outcome::Failed(e @ box_chunked_core::UploadError::RetriesExhausted { .. }) => {
                Err(self.auth_error.take().unwrap_or_else(|| e.into()))
            }
            Outcome::Failed(e) => Err(e.into()),
        }
    }

    /// Waits for the first of: an answer, a read, the deadline, a command,
    /// a progress tick.
    async fn wait(
        &mut self,
        deadline: Option<std::time::Instant>,
        commands: &mut Option<mpsc::UnboundedReceiver<Command>>,
        ticker: &mut tokio::time::Interval,
        last_sent: &mut u64,
    ) -> Result<Woke, Error> {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending::<()>().await,
            }
        };
        let command = async {
            match commands.as_mut() {
                Some(c) => c.recv().await,
                None => std::future::pending().await,
            }
        };
        Ok(tokio::select! {
            Some(done) = self.requests.join_next(), if !self.requests.is_empty() => match done {
                Ok((id, result)) => Woke::Input(self.answered(id, result)),
                // Cancelled on the machine's request: its answer is not wanted.
                Err(_) => Woke::Nothing,
            },
            Some(done) = self.reads.join_next(), if !self.reads.is_empty() => match done {
                Ok((id, result)) => {
                    if let Ok((bytes, _)) = &result {
                        self.bytes_read += bytes.len() as u64;
                    }
                    Woke::Input(self.read(id, result))
                }
                Err(e) => {
                    return Err(Error::new(ErrorKind::Io, format!("a read task failed: {e}")))
                }
            },
            () = sleep => Woke::Input(Input::Timeout),
            Some(cmd) = command => {
                match cmd {
                    Command::Abort => self.upload.abort(now()),
                    Command::Parallelism(n) => {
                        self.upload.set_parallelism(n);
                        self.pool.set_cap(n.get() + 2);
                    }
                }
                Woke::Nothing
            }
            _ = ticker.tick() => {
                self.tick(last_sent);
                Woke::Nothing
            }
        })
    }

    /// The machine's input for request `id`'s answer (or failure; a final
    /// failure of signing in is kept for the error the upload ends with).
    fn answered(&mut self, id: RequestId, result: Result<http::Response<Bytes>, Failure>) -> Input {
        self.handles.remove(&id);
        match result {
            Ok(response) => Input::Response { id, response },
            Err(f) => {
                if let Failure::Final(e) = &f {
                    self.auth_error = Some(e.clone());
                }
                Input::Failed {
                    id,
                    error: f.to_core(),
                }
            }
        }
    }

    /// The machine's input for read `id`'s result.
    fn read(&self, id: ReadId, result: ReadOutcome) -> Input {
        match result {
            Ok((bytes, None)) => Input::Data { id, bytes },
            Ok((bytes, Some(hashes))) => Input::HashedData { id, bytes, hashes },
            Err(ReadError::Short(detail)) => Input::SourceChecked {
                changed: Some(match &self.source_path {
                    Some(p) => format!("{} changed during the upload: {detail}", p.display()),
                    None => detail,
                }),
            },
            Err(ReadError::Failed(detail)) => Input::ReadFailed { id, detail },
        }
    }

    /// A progress event, if bytes were sent since the last one.
    fn tick(&mut self, last_sent: &mut u64) {
        let sent = self.sent.load(Ordering::Relaxed);
        if sent != *last_sent {
            *last_sent = sent;
            let p = self.upload.progress();
            self.emit(UploadEvent::Progress {
                bytes_sent: sent,
                bytes_confirmed: self.confirmed,
                bytes_total: p.bytes_total,
                parts_in_flight: p.parts_in_flight,
                parallelism: p.parallelism,
            });
        }
    }

    /// What changed about the source since the upload started, if anything:
    /// a file's identity (size, modification time, inode, device), or a
    /// stream's bytes beyond its size.
    async fn source_change(&self) -> Option<String> {
        let recorded = self.upload.source().fingerprint.clone();
        match (&self.source_path, recorded) {
            (Some(path), Some(recorded)) => {
                let p = path.clone();
                let r = recorded.clone();
                let change = tokio::task::spawn_blocking(move || {
                    identity_change(&p, &r).map(|c| (c, only_touched(&p, &r)))
                })
                .await
                .unwrap_or_else(|e| Some((format!("the source could not be checked: {e}"), false)));
                match change {
                    // Only its modification time moved: its bytes decide.
                    // Re-reading costs one read of the file, less than
                    // sending it, so it is done whatever the size.
                    Some((c, true)) => match (file_sha1(path).await, self.upload.content_sha1()) {
                        (Ok((now, _)), Some(sent)) if now == sent => {
                            tracing::debug!(change = %c, "modification time changed, content did not");
                            None
                        }
                        _ => Some(format!("{c}, and its bytes now differ from those sent")),
                    },
                    Some((c, false)) => Some(c),
                    None => None,
                }
            }
            _ => stream_overflow(&self.reader, self.upload.source().size).await,
        }
    }

    /// Hands one input to the machine, with the time it is handled.
    fn feed(&mut self, input: Input) {
        // Parts the reader hashed are adopted in microseconds, but one the
        // core cannot adopt (after a restart) is hashed here, like `Data`.
        let is_data = matches!(input, Input::Data { .. } | Input::HashedData { .. });
        let result = if is_data && in_multi_thread_runtime() {
            // Hashing a part takes milliseconds: keep it off the executor's other tasks.
            tokio::task::block_in_place(|| self.upload.handle_input(now(), input))
        } else {
            self.upload.handle_input(now(), input)
        };
        if let Err(e) = result {
            // Driver bugs only; the input is ignored and the machine goes on.
            tracing::error!(error = %e, "driver misuse");
        }
    }

    fn dispatch(&mut self, r: box_chunked_core::OutgoingRequest) {
        let (parts, body) = r.request.into_parts();
        let progress = matches!(r.kind, box_chunked_core::RequestKind::UploadPart { .. })
            .then(|| self.sent.clone());
        let throttle = progress.as_ref().and(self.throttle.clone());
        let budget = progress.as_ref().and(self.budget.clone());
        let req =
            http::Request::from_parts(parts, ReqBody::new(body, progress).throttled(throttle));
        let transport = self.client.inner.transport.clone();
        let deadline = tokio::time::Instant::from_std(r.deadline);
        let id = r.id;
        let h = self.requests.spawn(async move {
            // A part waits for a place in the job's shared budget.
            let _place = match budget {
                Some(b) => b.place().await,
                None => None,
            };
            (id, transport.send(req, deadline).await)
        });
        self.handles.insert(id, h);
    }

    async fn on_core_event(&mut self, e: Event) {
        match &e {
            Event::CheckpointChanged => {
                if let (Some(path), Some(cp)) = (&self.checkpoint, self.upload.checkpoint()) {
                    let file = CheckpointFile {
                        format: 1,
                        // Absolute: a resume may run in another directory.
                        source_path: self
                            .source_path
                            .as_deref()
                            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())),
                        upload: cp,
                        urls: Some(self.urls.clone()),
                    };
                    match &self.checkpoint_writer {
                        Some(w) => w.set(file),
                        None => {
                            // The first checkpoint (the session, before any
                            // part goes) is on disk before the loop goes on,
                            // so that a crash from here on leaves a session
                            // to resume; later ones are written in the background.
                            let p = path.clone();
                            let written = tokio::task::spawn_blocking(move || file.write(&p)).await;
                            match written {
                                Ok(Ok(())) => {}
                                Ok(Err(e)) => {
                                    super::checkpoint::failed(&self.on_event, path, e.to_string())
                                }
                                Err(e) => {
                                    super::checkpoint::failed(&self.on_event, path, e.to_string())
                                }
                            }
                            self.checkpoint_writer =
                                Some(CheckpointWriter::spawn(path.clone(), self.on_event.clone()));
                        }
                    }
                }
            }
            // This upload's own tuner changed its window: the buffers follow.
            Event::ParallelismChanged { parts } => self.pool.set_cap(parts + 2),
            Event::SessionReady { part_size, .. } => {
                if let Some(b) = &self.budget {
                    b.part_size(*part_size);
                    self.follow_budget();
                }
            }
            Event::PartSignal(s) => {
                if let Some(b) = &self.budget {
                    b.observe(now(), *s);
                    self.follow_budget();
                }
            }
            Event::PartConfirmed { bytes_done, .. } => {
                self.confirmed = *bytes_done;
                let p = self.upload.progress();
                self.emit(UploadEvent::Progress {
                    bytes_sent: self.sent.load(Ordering::Relaxed),
                    bytes_confirmed: *bytes_done,
                    bytes_total: p.bytes_total,
                    parts_in_flight: p.parts_in_flight,
                    parallelism: p.parallelism,
                });
            }
            _ => {}
        }
        self.emit(UploadEvent::Core(e));
    }
}

impl Driver {
    /// In a shared budget, this upload's window is its share of the limit.
    fn follow_budget(&mut self) {
        let Some(b) = &self.budget else { return };
        let share = b.share().max(1);
        if share != self.upload.progress().parallelism {
            if let Some(n) = std::num::NonZeroUsize::new(share) {
                self.upload.set_parallelism(n);
                self.pool.set_cap(share + 2);
            }
        }
    }
}

impl Drop for Driver {
    /// The upload future was dropped before it finished: in-flight requests
    /// end with the `JoinSet`s, and unless the session is kept for a resume,
    /// it is deleted in the background (bounded to 10 seconds).
    fn drop(&mut self) {
        if self.finished || self.keep_session {
            return;
        }
        let Some(cp) = self.upload.checkpoint() else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = self.client.clone();
        let mut session = client.upload_session(cp.session.id.clone());
        if let Some(url) = cp.session.endpoints.abort.clone() {
            session = client.session(&box_chunked_proto::UploadSession {
                id: cp.session.id.clone(),
                kind: "upload_session".into(),
                session_expires_at: None,
                part_size: cp.session.part_size,
                total_parts: cp.session.total_parts,
                num_parts_processed: None,
                session_endpoints: box_chunked_proto::SessionEndpoints {
                    abort: Some(url),
                    ..Default::default()
                },
            });
        }
        handle.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(10), session.abort()).await;
        });
    }
}
