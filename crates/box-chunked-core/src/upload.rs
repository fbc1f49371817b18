//! The upload state machine.

use crate::checkpoint::{Checkpoint, SessionInfo, CHECKPOINT_FORMAT};
use crate::config::{OnExpiry, OnFailure, Source, Target, UploadConfig};
use crate::error::{ApiFailure, InputError, ResumeError, SourceChange, StartError, UploadError};
use crate::event::{Confirmation, Event};
use crate::io::{
    Input, OutgoingRequest, Output, PartHashes, ReadId, ReadPurpose, ReadRequest, RequestId,
    RequestKind, TransportError, TransportErrorKind,
};
use crate::retry::{classify_status, classify_transport, FailureClass, Jitter, Owner};
use crate::sha1x2::{Backend, DualSha1};
use box_chunked_proto::endpoints::{list_parts_query, Endpoint};
use box_chunked_proto::{
    decode_json, encode_json, header_names, parse_http_date, BoxError, CommitRequest,
    CreateUploadSession, CreateVersionUploadSession, DigestHeader, ErrorCode, File, Files,
    PartPlan, PartRange, RetryAfter, SessionEndpoints, Sha1Digest, Timestamp, UploadPart,
    UploadParts, UploadSession, UploadedPart,
};
use bytes::Bytes;
use sha1::{Digest as _, Sha1};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant, SystemTime};

/// How an upload ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The file exists on Box: the file object from the commit.
    Committed(Box<File>),
    /// Aborted on request; the session was deleted (or could not be, see
    /// [`Event::AbortFailed`]).
    Aborted,
    /// Failed for good.
    Failed(UploadError),
}

/// Where the upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Creating the session.
    Creating,
    /// Resume: listing the parts the server stores.
    Resuming,
    /// Reading, hashing, uploading and verifying parts.
    Uploading,
    /// Committing (including `202` waits).
    Committing,
    /// Deleting the session.
    Aborting,
    /// Over: see [`Upload::poll_output`]'s [`Output::Done`].
    Done,
}

/// A snapshot of progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Where the upload stands.
    pub phase: Phase,
    /// Bytes confirmed stored (uploaded, reconciled or verified).
    pub bytes_done: u64,
    /// The source's size.
    pub bytes_total: u64,
    /// Parts confirmed.
    pub parts_done: u64,
    /// Parts in the session (0 before it exists).
    pub parts_total: u64,
    /// Part uploads in flight now.
    pub parts_in_flight: usize,
    /// Source bytes the machine holds now.
    pub bytes_held: u64,
    /// Parts whose digests the driver computed while reading
    /// ([`Input::HashedData`]) and the machine adopted; the others it hashed
    /// itself. Counts parts since [`Upload::new`] or [`Upload::resume`].
    pub parts_hashed_by_driver: u64,
}

#[derive(Debug, Clone)]
struct Session {
    id: String,
    endpoints: SessionEndpoints,
    plan: PartPlan,
    expires_at: Option<Timestamp>,
    /// When it expires, in this machine's time; known once a response carried `Date`.
    deadline: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Tries {
    attempts: u32,
    first_at: Option<Instant>,
}

impl Tries {
    const fn new() -> Self {
        Self {
            attempts: 0,
            first_at: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListPurpose {
    Resume,
    Reconcile,
}

#[derive(Debug)]
enum ControlKind {
    Create,
    List {
        purpose: ListPurpose,
        offset: u64,
        collected: Vec<UploadPart>,
    },
    Commit,
    Abort,
}

#[derive(Debug)]
struct Control {
    kind: ControlKind,
    tries: Tries,
    flight: Option<RequestId>,
    not_before: Instant,
}

#[derive(Debug)]
struct Active {
    range: PartRange,
    purpose: ReadPurpose,
    reading: bool,
    data: Option<Bytes>,
    /// Digests the driver computed while reading, adopted if they continue
    /// the machine's own chain.
    hashes: Option<Box<PartHashes>>,
    sha1: Option<Sha1Digest>,
    tries: Tries,
    flight: Option<RequestId>,
    not_before: Option<Instant>,
    reconciling: bool,
}

#[derive(Debug)]
struct Flight {
    kind: RequestKind,
    deadline: Instant,
}

struct Reply {
    status: u16,
    retry_after: Option<Duration>,
    date: Option<SystemTime>,
    request_id: Option<String>,
    body: Bytes,
}

/// One upload: a deterministic state machine that performs no IO.
///
/// Methods come in four families, as in quinn-proto:
/// - getters (`&self`): [`Upload::progress`], [`Upload::checkpoint`], [`Upload::session_id`];
/// - the input handler [`Upload::handle_input`], which takes the `Instant` of each input;
/// - commands: [`Upload::abort`], [`Upload::set_parallelism`];
/// - the output poll [`Upload::poll_output`], drained after every input and command until it
///   returns [`Output::Wait`] or [`Output::Done`].
///
/// Time only moves when an input says so; an input with an earlier `Instant`
/// than one already seen is taken as happening at the later one.
pub struct Upload {
    cfg: UploadConfig,
    target: Target,
    source: Source,
    jitter: Jitter,
    started: Instant,
    now: Instant,
    next_request: u64,
    next_read: u64,
    phase: Phase,
    session: Option<Session>,
    inflight: HashMap<RequestId, Flight>,
    reads: HashMap<ReadId, u64>,
    control: Option<Control>,
    /// Parts the server stores, by index (resume: not yet verified until hashed).
    confirmed: BTreeMap<u64, UploadPart>,
    active: BTreeMap<u64, Active>,
    read_next: u64,
    hash_next: u64,
    file_hasher: FileHasher,
    parts_hashed_by_driver: u64,
    file_sha1: Option<Sha1Digest>,
    bytes_done: u64,
    parts_done: u64,
    throttle_until: Option<Instant>,
    commit_first_at: Option<Instant>,
    commit_polls: u32,
    parts_mismatches: u32,
    abort_requested: bool,
    abort_then: Option<Outcome>,
    out: VecDeque<Output>,
    outcome: Option<Outcome>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("target", &self.target)
            .field("phase", &self.phase)
            .field("session", &self.session.as_ref().map(|s| &s.id))
            .field("progress", &self.progress())
            .finish_non_exhaustive()
    }
}

const HASH_PIECE: usize = 1 << 20;

/// The whole-file digest in progress.
#[derive(Clone)]
enum FileHasher {
    /// Part and file chains share each block's message schedule (part sizes
    /// that are multiples of 64, which Box's are).
    Dual(DualSha1),
    /// Two independent hashers (any other part size).
    Separate(Sha1),
}

impl FileHasher {
    fn for_part_size(part_size: u64) -> Self {
        if part_size.is_multiple_of(64) {
            Self::Dual(DualSha1::new(Backend::detect()))
        } else {
            Self::Separate(Sha1::new())
        }
    }

    /// Hashes one part (in offset order), returning its digest.
    fn part(&mut self, data: &[u8]) -> Sha1Digest {
        match self {
            Self::Dual(d) if d.at_block_boundary() => {
                for piece in data.chunks(HASH_PIECE) {
                    d.update(piece);
                }
                d.finish_part()
            }
            // A part after a short one cannot share blocks: only the last part
            // is short, so this is unreachable for a consistent plan; hash it
            // correctly anyway.
            Self::Dual(d) => {
                d.update(data);
                let _ = d.finish_part();
                Sha1Digest(Sha1::digest(data).into())
            }
            Self::Separate(file) => {
                let mut part = Sha1::new();
                for piece in data.chunks(HASH_PIECE) {
                    part.update(piece);
                    file.update(piece);
                }
                Sha1Digest(part.finalize().into())
            }
        }
    }

    fn finish(&mut self) -> Sha1Digest {
        match std::mem::replace(self, Self::Separate(Sha1::new())) {
            Self::Dual(d) => d.finish_file(),
            Self::Separate(s) => Sha1Digest(s.finalize().into()),
        }
    }
}

impl Upload {
    /// A new upload of `source` to `target`, starting at `now`. The first
    /// output is the request that creates the session.
    pub fn new(
        target: Target,
        source: Source,
        config: UploadConfig,
        now: Instant,
    ) -> Result<Self, StartError> {
        validate_start(&target, &config)?;
        let mut up = Self::blank(target, source, config, now);
        up.phase = Phase::Creating;
        up.control = Some(Control {
            kind: ControlKind::Create,
            tries: Tries::new(),
            flight: None,
            not_before: now,
        });
        Ok(up)
    }

    /// Resumes from a checkpoint made by an earlier upload (possibly in
    /// another process). `source` is what the driver sees now; a different
    /// size or fingerprint is [`ResumeError::SourceChanged`].
    ///
    /// The machine lists the server's parts (the truth; the checkpoint's list
    /// is only a hint), re-reads and re-hashes every stored part to rebuild
    /// the whole-file SHA-1 and to prove the source did not change, uploads
    /// what is missing, and commits.
    pub fn resume(
        checkpoint: Checkpoint,
        source: Source,
        mut config: UploadConfig,
        now: Instant,
    ) -> Result<Self, ResumeError> {
        if checkpoint.format != CHECKPOINT_FORMAT {
            return Err(ResumeError::UnsupportedFormat {
                found: checkpoint.format,
                supported: CHECKPOINT_FORMAT,
            });
        }
        if checkpoint.source.size != source.size
            || checkpoint.source.fingerprint != source.fingerprint
        {
            return Err(ResumeError::SourceChanged(SourceChange::Fingerprint {
                recorded: describe_source(&checkpoint.source),
                now: describe_source(&source),
            }));
        }
        validate_start(&checkpoint.target, &config)?;
        let s = &checkpoint.session;
        let plan = PartPlan::new(source.size, s.part_size)
            .map_err(|e| ResumeError::Inconsistent(e.to_string()))?;
        if plan.total_parts() != s.total_parts {
            return Err(ResumeError::Inconsistent(format!(
                "{} parts of {} bytes cannot hold {} bytes",
                s.total_parts, s.part_size, source.size
            )));
        }
        if s.id.is_empty() {
            return Err(ResumeError::Inconsistent("empty session id".to_owned()));
        }
        for p in &checkpoint.parts {
            plan.validate(p.offset, p.size)
                .map_err(|e| ResumeError::Inconsistent(format!("part at {}: {e}", p.offset)))?;
        }
        if config.attributes.is_none() {
            config.attributes = checkpoint.attributes.clone();
        }
        let mut up = Self::blank(checkpoint.target, source, config, now);
        up.file_hasher = FileHasher::for_part_size(plan.part_size());
        up.session = Some(Session {
            id: s.id.clone(),
            endpoints: s.endpoints.clone(),
            plan,
            expires_at: s.expires_at.clone(),
            deadline: None,
        });
        up.phase = Phase::Resuming;
        up.control = Some(Control {
            kind: ControlKind::List {
                purpose: ListPurpose::Resume,
                offset: 0,
                collected: Vec::new(),
            },
            tries: Tries::new(),
            flight: None,
            not_before: now,
        });
        Ok(up)
    }

    fn blank(target: Target, source: Source, cfg: UploadConfig, now: Instant) -> Self {
        Self {
            jitter: Jitter::new(cfg.jitter_seed),
            cfg,
            target,
            source,
            started: now,
            now,
            next_request: 0,
            next_read: 0,
            phase: Phase::Creating,
            session: None,
            inflight: HashMap::new(),
            reads: HashMap::new(),
            control: None,
            confirmed: BTreeMap::new(),
            active: BTreeMap::new(),
            read_next: 0,
            hash_next: 0,
            file_hasher: FileHasher::Separate(Sha1::new()),
            parts_hashed_by_driver: 0,
            file_sha1: None,
            bytes_done: 0,
            parts_done: 0,
            throttle_until: None,
            commit_first_at: None,
            commit_polls: 0,
            parts_mismatches: 0,
            abort_requested: false,
            abort_then: None,
            out: VecDeque::new(),
            outcome: None,
        }
    }

    // ---------------------------------------------------------------- getters

    /// Progress so far.
    pub fn progress(&self) -> Progress {
        Progress {
            phase: self.phase,
            bytes_done: self.bytes_done,
            bytes_total: self.source.size,
            parts_done: self.parts_done,
            parts_total: self.session.as_ref().map_or(0, |s| s.plan.total_parts()),
            parts_in_flight: self.active.values().filter(|a| a.flight.is_some()).count(),
            bytes_held: self
                .active
                .values()
                .filter_map(|a| a.data.as_ref())
                .map(|d| d.len() as u64)
                .sum(),
            parts_hashed_by_driver: self.parts_hashed_by_driver,
        }
    }

    /// The session id, once a session exists.
    pub fn session_id(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.id.as_str())
    }

    /// The checkpoint to persist for a later resume; `None` before the session
    /// exists. It changes when [`Event::CheckpointChanged`] is emitted.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        let s = self.session.as_ref()?;
        Some(Checkpoint {
            format: CHECKPOINT_FORMAT,
            target: self.target.clone(),
            source: self.source.clone(),
            session: SessionInfo {
                id: s.id.clone(),
                endpoints: s.endpoints.clone(),
                part_size: s.plan.part_size(),
                total_parts: s.plan.total_parts(),
                expires_at: s.expires_at.clone(),
            },
            parts: self.confirmed.values().cloned().collect(),
            attributes: self.cfg.attributes.clone(),
        })
    }

    /// The outcome, once the upload is over.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    // --------------------------------------------------------------- commands

    /// Aborts the upload: in-flight work becomes stale, the session is
    /// deleted (one `DELETE`, briefly retried), and the outcome is
    /// [`Outcome::Aborted`]. A no-op once the upload is over or aborting.
    pub fn abort(&mut self, now: Instant) {
        self.advance(now);
        if self.outcome.is_some() || self.phase == Phase::Aborting || self.abort_requested {
            return;
        }
        if self.session.is_some() {
            self.begin_abort(Outcome::Aborted);
        } else if self
            .control
            .as_ref()
            .is_some_and(|c| matches!(c.kind, ControlKind::Create) && c.flight.is_some())
        {
            // The create may succeed: wait for its answer, then delete what it made.
            self.abort_requested = true;
        } else {
            self.finish(Outcome::Aborted);
        }
    }

    /// Changes how many parts may be in flight. Parts already in flight
    /// finish; new ones start only below the new limit.
    pub fn set_parallelism(&mut self, parts: NonZeroUsize) {
        self.cfg.parallelism = parts;
    }

    // ----------------------------------------------------------------- inputs

    /// Feeds one input that happened at `now`.
    ///
    /// Answers to superseded or cancelled attempts are ignored. An id that
    /// was never issued, or a read of the wrong length, is an [`InputError`]
    /// and changes nothing. After the upload is over every input is ignored.
    pub fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), InputError> {
        self.advance(now);
        match input {
            Input::Timeout => Ok(()),
            Input::Response { id, response } => {
                let Some(flight) = self.take_flight(id)? else {
                    return Ok(());
                };
                let reply = reply_of(response);
                self.learn_date(&reply);
                self.on_reply(flight.kind, reply);
                Ok(())
            }
            Input::Failed { id, error } => {
                let Some(flight) = self.take_flight(id)? else {
                    return Ok(());
                };
                self.on_transport_failure(flight.kind, error);
                Ok(())
            }
            Input::Data { id, bytes } => self.on_data(id, bytes, None),
            Input::HashedData { id, bytes, hashes } => self.on_data(id, bytes, Some(hashes)),
            Input::ReadFailed { id, detail } => {
                let Some(index) = self.take_read(id)? else {
                    return Ok(());
                };
                let offset = self.active.get(&index).map_or(0, |a| a.range.offset);
                self.fail(UploadError::SourceRead { offset, detail });
                Ok(())
            }
        }
    }

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    fn take_flight(&mut self, id: RequestId) -> Result<Option<Flight>, InputError> {
        if id.0 >= self.next_request {
            return Err(InputError::UnknownRequest(id));
        }
        Ok(self.inflight.remove(&id))
    }

    fn take_read(&mut self, id: ReadId) -> Result<Option<u64>, InputError> {
        if id.0 >= self.next_read {
            return Err(InputError::UnknownRead(id));
        }
        Ok(self.reads.remove(&id))
    }

    // ----------------------------------------------------------------- output

    /// The next thing to do. Drain until [`Output::Wait`] or [`Output::Done`]
    /// after every input or command; `Done` is sticky.
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        self.step();
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        match &self.outcome {
            Some(outcome) => Output::Done(outcome.clone()),
            None => Output::Wait(self.next_deadline()),
        }
    }

    /// The earliest future instant at which something is due, if any.
    fn next_deadline(&self) -> Option<Instant> {
        if self.outcome.is_some() {
            return None;
        }
        let now = self.now;
        let mut candidates: Vec<Instant> = Vec::new();
        candidates.extend(self.throttle_until);
        candidates.extend(self.inflight.values().map(|f| f.deadline));
        if let Some(c) = &self.control {
            if c.flight.is_none() {
                candidates.push(c.not_before);
            }
        }
        candidates.extend(
            self.active
                .values()
                .filter(|a| a.flight.is_none())
                .filter_map(|a| a.not_before),
        );
        if self.phase != Phase::Aborting {
            candidates.extend(self.session.as_ref().and_then(|s| s.deadline));
            candidates.extend(self.cfg.deadline.and_then(|d| self.started.checked_add(d)));
        }
        candidates.into_iter().filter(|t| *t > now).min()
    }

    fn gate_open(&self) -> bool {
        self.throttle_until.is_none_or(|t| self.now >= t)
    }

    fn step(&mut self) {
        if self.outcome.is_some() {
            return;
        }
        self.check_deadlines();
        if self.outcome.is_some() {
            return;
        }
        if self.phase == Phase::Uploading {
            self.maybe_commit();
        }
        if self.phase == Phase::Uploading {
            self.issue_reads();
            self.send_parts();
        }
        self.drive_control();
    }

    fn check_deadlines(&mut self) {
        let now = self.now;
        let mut expired: Vec<(RequestId, RequestKind)> = self
            .inflight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(id, f)| (*id, f.kind))
            .collect();
        expired.sort_by_key(|(id, _)| *id);
        for (id, kind) in expired {
            self.inflight.remove(&id);
            self.out.push_back(Output::Cancel(id));
            self.on_transport_failure(
                kind,
                TransportError::new(
                    TransportErrorKind::TimedOut,
                    "no answer before the deadline",
                ),
            );
            if self.outcome.is_some() {
                return;
            }
        }
        if self.phase == Phase::Aborting {
            return;
        }
        if let Some(limit) = self.cfg.deadline {
            if self.started.checked_add(limit).is_some_and(|d| d <= now) {
                self.fail(UploadError::DeadlineExceeded(limit));
                return;
            }
        }
        if self
            .session
            .as_ref()
            .and_then(|s| s.deadline)
            .is_some_and(|d| d <= now)
        {
            self.on_session_gone();
        }
    }

    // ------------------------------------------------------------- requests

    fn send(
        &mut self,
        kind: RequestKind,
        attempt: u32,
        request: http::Request<Bytes>,
    ) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let timeout = match kind {
            RequestKind::UploadPart { .. } => self.cfg.timeouts.part,
            _ => self.cfg.timeouts.control,
        };
        let deadline = add(self.now, timeout);
        self.inflight.insert(id, Flight { kind, deadline });
        self.out.push_back(Output::Request(OutgoingRequest {
            id,
            kind,
            attempt,
            deadline,
            request,
        }));
        id
    }

    fn session_url(&self, which: fn(&SessionEndpoints) -> Option<&String>, ep: Endpoint) -> String {
        match self.session.as_ref().and_then(|s| which(&s.endpoints)) {
            Some(url) => url.clone(),
            None => ep.url(&self.cfg.upload_root),
        }
    }

    fn session_id_string(&self) -> String {
        self.session
            .as_ref()
            .map(|s| s.id.clone())
            .unwrap_or_default()
    }

    fn build_control(
        &self,
        kind: &ControlKind,
    ) -> Result<(RequestKind, http::Request<Bytes>), String> {
        let sid = self.session_id_string();
        let json = |b: &mut http::request::Builder| {
            if let Some(h) = b.headers_mut() {
                h.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
            }
        };
        match kind {
            ControlKind::Create => {
                let (url, body) = match &self.target {
                    Target::NewFile { folder_id, name } => (
                        Endpoint::CreateSession.url(&self.cfg.upload_root),
                        encode_json(&CreateUploadSession {
                            folder_id: folder_id.clone(),
                            file_size: self.source.size,
                            file_name: name.clone(),
                        }),
                    ),
                    Target::NewVersion { file_id, name, .. } => (
                        Endpoint::CreateVersionSession {
                            file_id: file_id.clone(),
                        }
                        .url(&self.cfg.upload_root),
                        encode_json(&CreateVersionUploadSession {
                            file_size: self.source.size,
                            file_name: name.clone(),
                        }),
                    ),
                };
                let mut b = http::Request::post(url);
                json(&mut b);
                let req = b.body(Bytes::from(body)).map_err(|e| e.to_string())?;
                Ok((RequestKind::CreateSession, req))
            }
            ControlKind::List { offset, .. } => {
                let base = self.session_url(
                    |e| e.list_parts.as_ref(),
                    Endpoint::ListParts { session_id: sid },
                );
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!(
                    "{base}{sep}{}",
                    list_parts_query(*offset, self.cfg.list_limit)
                );
                let req = http::Request::get(url)
                    .body(Bytes::new())
                    .map_err(|e| e.to_string())?;
                Ok((RequestKind::ListParts { offset: *offset }, req))
            }
            ControlKind::Commit => {
                let url =
                    self.session_url(|e| e.commit.as_ref(), Endpoint::Commit { session_id: sid });
                let sha = self
                    .file_sha1
                    .ok_or("commit before the file digest is known")?;
                let body = CommitRequest::new(
                    self.confirmed.values().cloned().collect(),
                    self.cfg.attributes.clone(),
                );
                let mut b = http::Request::post(url)
                    .header(header_names::DIGEST, DigestHeader::sha1_value(&sha));
                json(&mut b);
                if let Target::NewVersion {
                    if_match: Some(etag),
                    ..
                } = &self.target
                {
                    b = b.header(header_names::IF_MATCH, etag.as_str());
                }
                let req = b
                    .body(Bytes::from(encode_json(&body)))
                    .map_err(|e| e.to_string())?;
                Ok((RequestKind::Commit, req))
            }
            ControlKind::Abort => {
                let url =
                    self.session_url(|e| e.abort.as_ref(), Endpoint::Abort { session_id: sid });
                let req = http::Request::delete(url)
                    .body(Bytes::new())
                    .map_err(|e| e.to_string())?;
                Ok((RequestKind::Abort, req))
            }
        }
    }

    fn drive_control(&mut self) {
        let Some(c) = self.control.as_ref() else {
            return;
        };
        if c.flight.is_some() || c.not_before > self.now {
            return;
        }
        let is_abort = matches!(c.kind, ControlKind::Abort);
        if !is_abort && !self.gate_open() {
            return;
        }
        let built = self.build_control(&c.kind);
        match built {
            Ok((kind, req)) => {
                let Some(c) = self.control.as_mut() else {
                    return;
                };
                c.tries.attempts += 1;
                c.tries.first_at.get_or_insert(self.now);
                let attempt = c.tries.attempts;
                let id = self.send(kind, attempt, req);
                if let Some(c) = self.control.as_mut() {
                    c.flight = Some(id);
                }
            }
            Err(detail) => {
                let kind = match c.kind {
                    ControlKind::Create => RequestKind::CreateSession,
                    ControlKind::List { offset, .. } => RequestKind::ListParts { offset },
                    ControlKind::Commit => RequestKind::Commit,
                    ControlKind::Abort => RequestKind::Abort,
                };
                if is_abort {
                    self.abort_failed(format!("cannot build the abort request: {detail}"));
                } else {
                    self.fail(UploadError::Protocol { kind, detail });
                }
            }
        }
    }

    // ------------------------------------------------------------------ parts

    fn plan(&self) -> Option<PartPlan> {
        self.session.as_ref().map(|s| s.plan)
    }

    fn issue_reads(&mut self) {
        let Some(plan) = self.plan() else { return };
        let window = self.cfg.parallelism.get().saturating_add(1);
        while self.active.len() < window {
            let Some(range) = plan.part(self.read_next) else {
                break;
            };
            let purpose = if self.confirmed.contains_key(&range.index) {
                ReadPurpose::Verify
            } else {
                ReadPurpose::Upload
            };
            let id = ReadId(self.next_read);
            self.next_read += 1;
            self.reads.insert(id, range.index);
            self.active.insert(
                range.index,
                Active {
                    range,
                    purpose,
                    reading: true,
                    data: None,
                    hashes: None,
                    sha1: None,
                    tries: Tries::new(),
                    flight: None,
                    not_before: None,
                    reconciling: false,
                },
            );
            self.read_next += 1;
            self.out.push_back(Output::Read(ReadRequest {
                id,
                range: range.range(),
                purpose,
            }));
        }
    }

    fn send_parts(&mut self) {
        if !self.gate_open() {
            return;
        }
        let limit = self.cfg.parallelism.get();
        let total = self.plan().map_or(0, |p| p.file_size());
        let mut sending = self.active.values().filter(|a| a.flight.is_some()).count();
        let ready: Vec<u64> = self
            .active
            .iter()
            .filter(|(_, a)| {
                a.purpose == ReadPurpose::Upload
                    && a.sha1.is_some()
                    && a.flight.is_none()
                    && !a.reconciling
                    && a.not_before.is_none_or(|t| t <= self.now)
            })
            .map(|(i, _)| *i)
            .collect();
        for index in ready {
            if sending >= limit {
                break;
            }
            let built = self.build_part(index, total);
            match built {
                Ok(req) => {
                    let Some(a) = self.active.get_mut(&index) else {
                        continue;
                    };
                    a.tries.attempts += 1;
                    a.tries.first_at.get_or_insert(self.now);
                    a.not_before = None;
                    let attempt = a.tries.attempts;
                    let id = self.send(RequestKind::UploadPart { index }, attempt, req);
                    if let Some(a) = self.active.get_mut(&index) {
                        a.flight = Some(id);
                    }
                    sending += 1;
                }
                Err(detail) => {
                    self.fail(UploadError::Protocol {
                        kind: RequestKind::UploadPart { index },
                        detail,
                    });
                    return;
                }
            }
        }
    }

    fn build_part(&self, index: u64, total: u64) -> Result<http::Request<Bytes>, String> {
        let a = self.active.get(&index).ok_or("no such part")?;
        let (Some(data), Some(sha)) = (a.data.clone(), a.sha1) else {
            return Err("part not hashed".to_owned());
        };
        let range = a.range.content_range(total).map_err(|e| e.to_string())?;
        let url = self.session_url(
            |e| e.upload_part.as_ref(),
            Endpoint::UploadPart {
                session_id: self.session_id_string(),
            },
        );
        http::Request::put(url)
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .header(header_names::CONTENT_RANGE, range.to_string())
            .header(header_names::DIGEST, DigestHeader::sha1_value(&sha))
            .body(data)
            .map_err(|e| e.to_string())
    }

    fn on_data(
        &mut self,
        id: ReadId,
        bytes: Bytes,
        hashes: Option<Box<PartHashes>>,
    ) -> Result<(), InputError> {
        if id.0 >= self.next_read {
            return Err(InputError::UnknownRead(id));
        }
        let Some(&index) = self.reads.get(&id) else {
            return Ok(());
        };
        let Some(a) = self.active.get_mut(&index) else {
            self.reads.remove(&id);
            return Ok(());
        };
        if bytes.len() as u64 != a.range.len {
            return Err(InputError::WrongLength {
                id,
                expected: a.range.len,
                actual: bytes.len() as u64,
            });
        }
        self.reads.remove(&id);
        a.reading = false;
        a.data = Some(bytes);
        a.hashes = hashes;
        self.advance_hashing();
        Ok(())
    }

    /// Hashes parts in offset order as their bytes arrive: each byte feeds the
    /// part's SHA-1 and the whole-file SHA-1 in the same pass, piece by piece
    /// so the second hasher reads from cache.
    fn advance_hashing(&mut self) {
        while let Some(a) = self.active.get_mut(&self.hash_next) {
            let Some(data) = a.data.as_ref() else { break };
            if a.sha1.is_some() {
                break;
            }
            let offered = a.hashes.take();
            let sha = match (offered, &mut self.file_hasher) {
                (Some(h), FileHasher::Dual(d))
                    if h.before.same_file_chain(d)
                        && h.before.file_len() == a.range.offset
                        && h.after.file_len() == a.range.offset + a.range.len =>
                {
                    *d = h.after;
                    self.parts_hashed_by_driver += 1;
                    h.part_sha1
                }
                _ => self.file_hasher.part(data),
            };
            a.sha1 = Some(sha);
            let index = self.hash_next;
            self.hash_next += 1;
            if a.purpose == ReadPurpose::Verify {
                let range = a.range;
                match self.confirmed.get(&index).cloned() {
                    Some(stored) if stored.matches(range.offset, range.len, &sha) => {
                        self.active.remove(&index);
                        self.count_confirmed(index, range.len, Confirmation::Verified);
                    }
                    Some(stored) => {
                        self.fail(UploadError::SourceChanged(
                            SourceChange::StoredPartDiffers {
                                index,
                                source_sha1: sha,
                                stored: Box::new(stored),
                            },
                        ));
                        return;
                    }
                    None => {
                        // Cannot happen: Verify reads are issued only for confirmed parts.
                        if let Some(a) = self.active.get_mut(&index) {
                            a.purpose = ReadPurpose::Upload;
                        }
                    }
                }
            }
        }
    }

    fn count_confirmed(&mut self, index: u64, size: u64, how: Confirmation) {
        self.bytes_done = self.bytes_done.saturating_add(size);
        self.parts_done += 1;
        self.out.push_back(Output::Event(Event::PartConfirmed {
            index,
            size,
            how,
            bytes_done: self.bytes_done,
            parts_done: self.parts_done,
        }));
    }

    fn confirm_part(&mut self, index: u64, stored: UploadPart, how: Confirmation) {
        let Some(a) = self.active.remove(&index) else {
            return;
        };
        self.confirmed.insert(index, stored);
        self.count_confirmed(index, a.range.len, how);
        self.out.push_back(Output::Event(Event::CheckpointChanged));
    }

    fn maybe_commit(&mut self) {
        let Some(plan) = self.plan() else { return };
        let total = plan.total_parts();
        if self.hash_next < total
            || !self.active.is_empty()
            || (self.confirmed.len() as u64) < total
        {
            return;
        }
        if self.control.is_some() {
            return;
        }
        let sha = self.file_hasher.finish();
        self.file_sha1 = Some(sha);
        self.commit_first_at = Some(self.now);
        self.phase = Phase::Committing;
        self.control = Some(Control {
            kind: ControlKind::Commit,
            tries: Tries::new(),
            flight: None,
            not_before: self.now,
        });
    }

    // -------------------------------------------------------------- replies

    fn learn_date(&mut self, reply: &Reply) {
        let now = self.now;
        let Some(date) = reply.date else { return };
        let Some(s) = self.session.as_mut() else {
            return;
        };
        if s.deadline.is_some() {
            return;
        }
        let Some(expires) = s.expires_at.as_ref().and_then(|t| t.to_system_time().ok()) else {
            return;
        };
        s.deadline = Some(match expires.duration_since(date) {
            Ok(left) => add(now, left),
            Err(_) => now,
        });
    }

    fn on_reply(&mut self, kind: RequestKind, reply: Reply) {
        match kind {
            RequestKind::CreateSession => self.on_create(reply),
            RequestKind::UploadPart { index } => self.on_part(index, reply),
            RequestKind::ListParts { .. } => self.on_list(reply),
            RequestKind::Commit => self.on_commit(reply),
            RequestKind::Abort => self.on_abort(Ok(reply)),
            // Never issued by the machine (SDK calls only).
            RequestKind::GetSession | RequestKind::GetFile => {}
        }
    }

    fn on_transport_failure(&mut self, kind: RequestKind, error: TransportError) {
        let class = classify_transport(error.kind);
        let detail = error.to_string();
        match kind {
            RequestKind::Abort => self.on_abort(Err(error)),
            RequestKind::UploadPart { index } => {
                self.retry_part(index, class, None, None, detail, None);
            }
            _ => self.retry_control(kind, class, None, None, detail, None),
        }
    }

    fn api_failure(kind: RequestKind, reply: &Reply) -> ApiFailure {
        ApiFailure {
            kind,
            status: reply.status,
            error: decode_json::<BoxError>(&reply.body).ok().map(Box::new),
            request_id: reply.request_id.clone(),
        }
    }

    /// The delay before retrying, or the final error if the budget is spent
    /// or the class is not the core's to retry.
    #[allow(clippy::too_many_arguments)]
    fn plan_retry(
        &mut self,
        kind: RequestKind,
        tries: Tries,
        class: FailureClass,
        status: Option<u16>,
        retry_after: Option<Duration>,
        last: String,
        api: Option<ApiFailure>,
    ) -> Result<Instant, UploadError> {
        let exhausted = |attempts| UploadError::RetriesExhausted {
            kind,
            attempts,
            last: last.clone(),
            api: api.clone().map(Box::new),
        };
        if !class.is_retryable() || self.cfg.retry.delegated.owner(class) == Owner::Driver {
            return Err(exhausted(tries.attempts));
        }
        let max_attempts = if kind == RequestKind::Abort {
            self.cfg.retry.abort_attempts
        } else {
            self.cfg.retry.max_attempts
        };
        let delay = self
            .cfg
            .retry
            .backoff(tries.attempts, retry_after, &mut self.jitter);
        let elapsed = tries
            .first_at
            .map_or(Duration::ZERO, |t| self.now.saturating_duration_since(t));
        if tries.attempts >= max_attempts
            || !self.cfg.retry.may_retry(tries.attempts, elapsed, delay)
        {
            return Err(exhausted(tries.attempts));
        }
        let at = add(self.now, delay);
        if class == FailureClass::Throttled {
            let until = self.throttle_until.map_or(at, |t| t.max(at));
            self.throttle_until = Some(until);
            self.out
                .push_back(Output::Event(Event::Throttled { pause: delay }));
        }
        self.out.push_back(Output::Event(Event::RetryScheduled {
            kind,
            attempt: tries.attempts,
            delay,
            cause: class,
            status,
        }));
        Ok(at)
    }

    fn retry_control(
        &mut self,
        kind: RequestKind,
        class: FailureClass,
        status: Option<u16>,
        retry_after: Option<Duration>,
        last: String,
        api: Option<ApiFailure>,
    ) {
        if class == FailureClass::SessionGone {
            self.on_session_gone();
            return;
        }
        let Some(tries) = self.control.as_ref().map(|c| c.tries) else {
            return;
        };
        match self.plan_retry(kind, tries, class, status, retry_after, last, api) {
            Ok(at) => {
                if let Some(c) = self.control.as_mut() {
                    c.flight = None;
                    c.not_before = at;
                }
            }
            Err(e) => self.fail(e),
        }
    }

    fn retry_part(
        &mut self,
        index: u64,
        class: FailureClass,
        status: Option<u16>,
        retry_after: Option<Duration>,
        last: String,
        api: Option<ApiFailure>,
    ) {
        if class == FailureClass::SessionGone {
            self.on_session_gone();
            return;
        }
        let Some(tries) = self.active.get(&index).map(|a| a.tries) else {
            return;
        };
        let kind = RequestKind::UploadPart { index };
        match self.plan_retry(kind, tries, class, status, retry_after, last, api) {
            Ok(at) => {
                if let Some(a) = self.active.get_mut(&index) {
                    a.flight = None;
                    a.not_before = Some(at);
                }
            }
            Err(e) => self.fail(e),
        }
    }

    fn on_create(&mut self, reply: Reply) {
        if let Some(c) = self.control.as_mut() {
            c.flight = None;
        }
        let kind = RequestKind::CreateSession;
        let code = error_code(&reply);
        match classify_status(kind, reply.status, &code) {
            None => {
                let session = match decode_json::<UploadSession>(&reply.body) {
                    Ok(s) => s,
                    Err(e) => {
                        return self.fail(UploadError::Protocol {
                            kind,
                            detail: e.to_string(),
                        })
                    }
                };
                let plan = match PartPlan::new(self.source.size, session.part_size) {
                    Ok(p) if p.total_parts() == session.total_parts => p,
                    _ => {
                        return self.fail(UploadError::Protocol {
                            kind,
                            detail: format!(
                                "session of {} parts of {} bytes cannot hold {} bytes",
                                session.total_parts, session.part_size, self.source.size
                            ),
                        })
                    }
                };
                self.file_hasher = FileHasher::for_part_size(plan.part_size());
                self.session = Some(Session {
                    id: session.id.clone(),
                    endpoints: session.session_endpoints,
                    plan,
                    expires_at: session.session_expires_at.clone(),
                    deadline: None,
                });
                if let Some(s) = self.session.as_mut() {
                    let now = self.now;
                    let expires = s.expires_at.as_ref().and_then(|t| t.to_system_time().ok());
                    s.deadline = match (expires, reply.date) {
                        (Some(exp), Some(date)) => {
                            Some(exp.duration_since(date).map_or(now, |left| add(now, left)))
                        }
                        // No `Date`: Box's sessions live 7 days from creation.
                        _ => Some(add(
                            now,
                            Duration::from_secs(box_chunked_proto::rules::SESSION_LIFETIME_SECS),
                        )),
                    };
                }
                self.control = None;
                self.out.push_back(Output::Event(Event::SessionReady {
                    session_id: session.id,
                    part_size: plan.part_size(),
                    total_parts: plan.total_parts(),
                }));
                self.out.push_back(Output::Event(Event::CheckpointChanged));
                if self.abort_requested {
                    self.begin_abort(Outcome::Aborted);
                } else {
                    self.phase = Phase::Uploading;
                }
            }
            Some(class) if class.is_retryable() && !self.abort_requested => {
                let api = Self::api_failure(kind, &reply);
                self.retry_control(
                    kind,
                    class,
                    Some(reply.status),
                    reply.retry_after,
                    api.to_string(),
                    Some(api),
                );
            }
            Some(_) if self.abort_requested => self.finish(Outcome::Aborted),
            Some(_) => {
                let api = Self::api_failure(kind, &reply);
                let err = if code == ErrorCode::ItemNameInUse {
                    name_conflict(api)
                } else {
                    UploadError::Api(api)
                };
                self.fail(err);
            }
        }
    }

    fn on_part(&mut self, index: u64, reply: Reply) {
        let Some(a) = self.active.get_mut(&index) else {
            return;
        };
        a.flight = None;
        let (range, sha) = (a.range, a.sha1);
        let Some(sha) = sha else { return };
        let kind = RequestKind::UploadPart { index };
        let code = error_code(&reply);
        match classify_status(kind, reply.status, &code) {
            None => match decode_json::<UploadedPart>(&reply.body) {
                Ok(UploadedPart { part }) => {
                    if part.matches(range.offset, range.len, &sha) {
                        self.confirm_part(index, part, Confirmation::Uploaded);
                    } else {
                        self.fail(UploadError::EchoMismatch {
                            index,
                            offset: range.offset,
                            size: range.len,
                            sha1: sha,
                            echo: Box::new(part),
                        });
                    }
                }
                // A 2xx whose body we cannot read may still mean "stored":
                // repeat, and let the overlap rule reconcile.
                Err(e) => self.retry_part(
                    index,
                    FailureClass::Ambiguous,
                    Some(reply.status),
                    None,
                    format!("unreadable part response: {e}"),
                    None,
                ),
            },
            Some(FailureClass::Overlap) => {
                let api = Self::api_failure(kind, &reply);
                let stored = api.error.as_deref().and_then(BoxError::conflicting_part);
                match stored {
                    Some(p)
                        if p.sha1.is_some() && p.offset == range.offset && p.size == range.len =>
                    {
                        if p.matches(range.offset, range.len, &sha) {
                            self.confirm_part(index, p, Confirmation::Reconciled);
                        } else {
                            self.fail(UploadError::SourceChanged(
                                SourceChange::StoredPartDiffers {
                                    index,
                                    source_sha1: sha,
                                    stored: Box::new(p),
                                },
                            ));
                        }
                    }
                    Some(p) if p.offset != range.offset => self.fail(UploadError::Protocol {
                        kind,
                        detail: format!(
                            "part at {} overlaps a stored part at {} of {} bytes",
                            range.offset, p.offset, p.size
                        ),
                    }),
                    // No usable stored part in the answer: list the parts to find out.
                    _ => self.start_reconcile(index),
                }
            }
            Some(class) => {
                let api = Self::api_failure(kind, &reply);
                if class.is_retryable() || class == FailureClass::SessionGone {
                    self.retry_part(
                        index,
                        class,
                        Some(reply.status),
                        reply.retry_after,
                        api.to_string(),
                        Some(api),
                    );
                } else {
                    self.fail(UploadError::Api(api));
                }
            }
        }
    }

    fn start_reconcile(&mut self, index: u64) {
        if let Some(a) = self.active.get_mut(&index) {
            a.reconciling = true;
        }
        if self.control.is_none() {
            self.control = Some(Control {
                kind: ControlKind::List {
                    purpose: ListPurpose::Reconcile,
                    offset: 0,
                    collected: Vec::new(),
                },
                tries: Tries::new(),
                flight: None,
                not_before: self.now,
            });
        }
    }

    fn on_list(&mut self, reply: Reply) {
        let kind = match self.control.as_ref().map(|c| &c.kind) {
            Some(ControlKind::List { offset, .. }) => RequestKind::ListParts { offset: *offset },
            _ => return,
        };
        if let Some(c) = self.control.as_mut() {
            c.flight = None;
        }
        let code = error_code(&reply);
        if let Some(class) = classify_status(kind, reply.status, &code) {
            let api = Self::api_failure(kind, &reply);
            if class.is_retryable() || class == FailureClass::SessionGone {
                self.retry_control(
                    kind,
                    class,
                    Some(reply.status),
                    reply.retry_after,
                    api.to_string(),
                    Some(api),
                );
            } else {
                self.fail(UploadError::Api(api));
            }
            return;
        }
        let page = match decode_json::<UploadParts>(&reply.body) {
            Ok(p) => p,
            Err(e) => {
                return self.fail(UploadError::Protocol {
                    kind,
                    detail: e.to_string(),
                })
            }
        };
        let total_parts = self.plan().map_or(0, |p| p.total_parts());
        let Some(Control {
            kind:
                ControlKind::List {
                    purpose,
                    offset,
                    collected,
                },
            tries,
            not_before,
            ..
        }) = self.control.as_mut()
        else {
            return;
        };
        let next = page.next_offset();
        collected.extend(page.entries);
        if (collected.len() as u64) > total_parts {
            let detail = format!("the server lists more than the session's {total_parts} parts");
            return self.fail(UploadError::Protocol { kind, detail });
        }
        if let Some(next) = next {
            *offset = next;
            *tries = Tries::new();
            *not_before = self.now;
            return;
        }
        let purpose = *purpose;
        let parts = std::mem::take(collected);
        self.control = None;
        match purpose {
            ListPurpose::Resume => self.finish_resume_listing(parts),
            ListPurpose::Reconcile => self.finish_reconcile(parts),
        }
    }

    fn finish_resume_listing(&mut self, parts: Vec<UploadPart>) {
        let Some(plan) = self.plan() else { return };
        let kind = RequestKind::ListParts { offset: 0 };
        let mut stored = BTreeMap::new();
        for p in parts {
            let range = match plan.validate(p.offset, p.size) {
                Ok(r) => r,
                Err(e) => {
                    return self.fail(UploadError::Protocol {
                        kind,
                        detail: e.to_string(),
                    })
                }
            };
            if p.sha1.is_none() {
                let detail = format!("the server lists part {} without a SHA-1", range.index);
                return self.fail(UploadError::Protocol { kind, detail });
            }
            stored.insert(range.index, p);
        }
        self.confirmed = stored;
        let (id, part_size, total_parts) = match &self.session {
            Some(s) => (s.id.clone(), s.plan.part_size(), s.plan.total_parts()),
            None => return,
        };
        self.out.push_back(Output::Event(Event::SessionReady {
            session_id: id,
            part_size,
            total_parts,
        }));
        self.out.push_back(Output::Event(Event::CheckpointChanged));
        self.phase = Phase::Uploading;
    }

    fn finish_reconcile(&mut self, parts: Vec<UploadPart>) {
        let waiting: Vec<u64> = self
            .active
            .iter()
            .filter(|(_, a)| a.reconciling)
            .map(|(i, _)| *i)
            .collect();
        for index in waiting {
            let Some(a) = self.active.get_mut(&index) else {
                continue;
            };
            let (range, sha) = (a.range, a.sha1);
            a.reconciling = false;
            let Some(sha) = sha else { continue };
            match parts.iter().find(|p| p.offset == range.offset) {
                Some(p) if p.matches(range.offset, range.len, &sha) => {
                    self.confirm_part(index, p.clone(), Confirmation::Reconciled);
                }
                Some(p) => {
                    return self.fail(UploadError::SourceChanged(
                        SourceChange::StoredPartDiffers {
                            index,
                            source_sha1: sha,
                            stored: Box::new(p.clone()),
                        },
                    ));
                }
                // Not stored after all: send it again (bounded by its attempts).
                None => self.retry_part(
                    index,
                    FailureClass::Ambiguous,
                    None,
                    None,
                    "overlap reported but the part is not listed".to_owned(),
                    None,
                ),
            }
        }
    }

    fn on_commit(&mut self, reply: Reply) {
        if let Some(c) = self.control.as_mut() {
            c.flight = None;
        }
        let kind = RequestKind::Commit;
        let code = error_code(&reply);
        match classify_status(kind, reply.status, &code) {
            None => match decode_json::<Files>(&reply.body).map(Files::into_first) {
                Ok(Some(file)) => {
                    self.control = None;
                    self.finish(Outcome::Committed(Box::new(file)));
                }
                Ok(None) => self.fail(UploadError::Protocol {
                    kind,
                    detail: "commit answered with no file".to_owned(),
                }),
                Err(e) => self.fail(UploadError::Protocol {
                    kind,
                    detail: e.to_string(),
                }),
            },
            Some(FailureClass::CommitPending) => {
                self.commit_polls += 1;
                let first = *self.commit_first_at.get_or_insert(self.now);
                let wait = reply
                    .retry_after
                    .unwrap_or(self.cfg.commit_poll_default)
                    .min(self.cfg.retry.retry_after_cap);
                let next = add(self.now, wait);
                let waited = next.saturating_duration_since(first);
                if waited > self.cfg.commit_wait {
                    return self.fail(UploadError::CommitTimedOut {
                        waited: self.now.saturating_duration_since(first),
                        polls: self.commit_polls,
                    });
                }
                if let Some(c) = self.control.as_mut() {
                    c.not_before = next;
                }
                self.out.push_back(Output::Event(Event::CommitPending {
                    retry_after: wait,
                    polls: self.commit_polls,
                }));
            }
            Some(FailureClass::PartsMismatch) => {
                self.parts_mismatches += 1;
                let api = Self::api_failure(kind, &reply);
                if self.parts_mismatches > self.cfg.parts_mismatch_retries {
                    return self.fail(UploadError::PartsMismatch(api));
                }
                let delay = self.cfg.retry.backoff(
                    self.parts_mismatches,
                    reply.retry_after,
                    &mut self.jitter,
                );
                if let Some(c) = self.control.as_mut() {
                    c.not_before = add(self.now, delay);
                }
                self.out.push_back(Output::Event(Event::RetryScheduled {
                    kind,
                    attempt: self.parts_mismatches,
                    delay,
                    cause: FailureClass::PartsMismatch,
                    status: Some(reply.status),
                }));
            }
            Some(class) if class.is_retryable() || class == FailureClass::SessionGone => {
                let api = Self::api_failure(kind, &reply);
                self.retry_control(
                    kind,
                    class,
                    Some(reply.status),
                    reply.retry_after,
                    api.to_string(),
                    Some(api),
                );
            }
            Some(_) => {
                let api = Self::api_failure(kind, &reply);
                let err = match (&code, reply.status) {
                    (ErrorCode::DigestMismatch, _) => {
                        UploadError::SourceChanged(SourceChange::DigestRejected {
                            sent: self.file_sha1.unwrap_or(Sha1Digest([0; 20])),
                        })
                    }
                    (ErrorCode::ItemNameInUse, _) | (_, 409) => name_conflict(api),
                    (_, 412) => UploadError::PreconditionFailed(api),
                    _ => UploadError::Api(api),
                };
                self.fail(err);
            }
        }
    }

    fn on_abort(&mut self, result: Result<Reply, TransportError>) {
        if let Some(c) = self.control.as_mut() {
            c.flight = None;
        }
        let kind = RequestKind::Abort;
        let (class, status, retry_after, detail) = match result {
            Ok(reply) => {
                let code = error_code(&reply);
                match classify_status(kind, reply.status, &code) {
                    // Gone already is as good as deleted.
                    None | Some(FailureClass::SessionGone) => {
                        let then = self.abort_then.take().unwrap_or(Outcome::Aborted);
                        self.control = None;
                        return self.finish(then);
                    }
                    Some(class) => {
                        let api = Self::api_failure(kind, &reply);
                        (
                            class,
                            Some(reply.status),
                            reply.retry_after,
                            api.to_string(),
                        )
                    }
                }
            }
            Err(e) => (classify_transport(e.kind), None, None, e.to_string()),
        };
        let Some(tries) = self.control.as_ref().map(|c| c.tries) else {
            return;
        };
        match self.plan_retry(
            kind,
            tries,
            class,
            status,
            retry_after,
            detail.clone(),
            None,
        ) {
            Ok(at) => {
                if let Some(c) = self.control.as_mut() {
                    c.not_before = at;
                }
            }
            Err(_) => self.abort_failed(detail),
        }
    }

    fn abort_failed(&mut self, detail: String) {
        self.out
            .push_back(Output::Event(Event::AbortFailed { detail }));
        let then = self.abort_then.take().unwrap_or(Outcome::Aborted);
        self.control = None;
        self.finish(then);
    }

    // -------------------------------------------------------------- endings

    fn cancel_all(&mut self) {
        let mut ids: Vec<RequestId> = self.inflight.keys().copied().collect();
        ids.sort();
        for id in ids {
            self.inflight.remove(&id);
            self.out.push_back(Output::Cancel(id));
        }
        self.reads.clear();
        self.active.clear();
    }

    fn on_session_gone(&mut self) {
        let old = self.session_id_string();
        if self.cfg.on_expiry == OnExpiry::StartOver && self.phase != Phase::Aborting {
            self.cancel_all();
            self.session = None;
            self.confirmed.clear();
            self.read_next = 0;
            self.hash_next = 0;
            self.file_hasher = FileHasher::Separate(Sha1::new());
            self.file_sha1 = None;
            self.bytes_done = 0;
            self.parts_done = 0;
            self.commit_first_at = None;
            self.commit_polls = 0;
            self.parts_mismatches = 0;
            self.phase = Phase::Creating;
            self.control = Some(Control {
                kind: ControlKind::Create,
                tries: Tries::new(),
                flight: None,
                not_before: self.now,
            });
            self.out.push_back(Output::Event(Event::SessionRestarted {
                old_session_id: old,
            }));
        } else {
            // Nothing left to delete.
            self.session = None;
            self.fail(UploadError::SessionExpired { session_id: old });
        }
    }

    fn fail(&mut self, err: UploadError) {
        if self.outcome.is_some() {
            return;
        }
        if self.phase == Phase::Aborting {
            return self.abort_failed(err.to_string());
        }
        let keep =
            self.cfg.on_failure == OnFailure::Keep && !matches!(err, UploadError::SourceChanged(_));
        if self.session.is_some() && !keep {
            self.begin_abort(Outcome::Failed(err));
        } else {
            self.finish(Outcome::Failed(err));
        }
    }

    fn begin_abort(&mut self, then: Outcome) {
        self.cancel_all();
        self.phase = Phase::Aborting;
        self.abort_then = Some(then);
        self.throttle_until = None;
        self.control = Some(Control {
            kind: ControlKind::Abort,
            tries: Tries::new(),
            flight: None,
            not_before: self.now,
        });
    }

    fn finish(&mut self, outcome: Outcome) {
        if self.outcome.is_some() {
            return;
        }
        self.cancel_all();
        self.control = None;
        self.phase = Phase::Done;
        if let Outcome::Committed(file) = &outcome {
            self.out
                .push_back(Output::Event(Event::Committed(file.clone())));
        }
        self.outcome = Some(outcome);
    }
}

fn validate_start(target: &Target, cfg: &UploadConfig) -> Result<(), StartError> {
    match target {
        Target::NewFile { folder_id, name } => {
            if folder_id.is_empty() {
                return Err(StartError::EmptyId("folder"));
            }
            box_chunked_proto::rules::validate_file_name(name)?;
        }
        Target::NewVersion { file_id, name, .. } => {
            if file_id.is_empty() {
                return Err(StartError::EmptyId("file"));
            }
            if let Some(n) = name {
                box_chunked_proto::rules::validate_file_name(n)?;
            }
        }
    }
    let root = cfg.upload_root.as_str();
    let ok = (root.starts_with("https://") || root.starts_with("http://"))
        && root.parse::<http::Uri>().is_ok_and(|u| u.host().is_some());
    if !ok {
        return Err(StartError::UploadRoot(cfg.upload_root.clone()));
    }
    if cfg.list_limit == 0 || cfg.list_limit > box_chunked_proto::rules::MAX_LIST_PARTS_LIMIT {
        return Err(StartError::ListLimit(cfg.list_limit));
    }
    Ok(())
}

fn describe_source(s: &Source) -> String {
    match &s.fingerprint {
        Some(f) => format!("{} bytes, {f}", s.size),
        None => format!("{} bytes", s.size),
    }
}

fn name_conflict(api: ApiFailure) -> UploadError {
    let existing_id = api
        .error
        .as_deref()
        .and_then(|e| e.conflicts().into_iter().next())
        .map(|c| c.id);
    UploadError::NameConflict {
        existing_id,
        failure: api,
    }
}

fn error_code(reply: &Reply) -> ErrorCode {
    if (200..300).contains(&reply.status) {
        return ErrorCode::Other(String::new());
    }
    decode_json::<BoxError>(&reply.body)
        .map(|e| e.code())
        .unwrap_or(ErrorCode::Other(String::new()))
}

fn reply_of(response: http::Response<Bytes>) -> Reply {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let date = header("date").as_deref().and_then(parse_http_date);
    let retry_after = header(header_names::RETRY_AFTER)
        .and_then(|v| RetryAfter::parse(&v).ok())
        .and_then(|ra| ra.delay(date));
    let request_id = header(header_names::BOX_REQUEST_ID);
    let status = response.status().as_u16();
    Reply {
        status,
        retry_after,
        date,
        request_id,
        body: response.into_body(),
    }
}

/// `t + d`, saturating far in the future instead of overflowing.
fn add(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(t)
}
