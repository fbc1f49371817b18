//! The upload state machine: the public [`Upload`] type, its getters,
//! commands, inputs and the output poll. What each state holds and every
//! transition is in `state`; the window of parts in `window`; the control
//! requests in `requests`; what answers mean for the upload in `replies`;
//! resuming from a checkpoint in `resume`. No module here knows a socket,
//! a file or a clock.

mod replies;
mod requests;
mod resume;
mod state;
mod tuning;
mod window;

use crate::checkpoint::{Checkpoint, SessionInfo, CHECKPOINT_FORMAT};
use crate::config::{Source, Target, UploadConfig};
use crate::error::{InputError, SourceChange, StartError, UploadError};
use crate::io::{
    Input, Output, ReadId, RequestId, RequestKind, TransportError, TransportErrorKind,
};
use crate::ops::Reply;
use crate::retry::Jitter;
use crate::tune::Tuner;
use crate::Instant;
use box_chunked_proto::{File, PartPlan, SessionEndpoints, Timestamp, UploadPart};
use box_chunked_sha1::FileHasher;
use state::{Attempt, Part, Stage, Transition};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::num::NonZeroUsize;

/// How an upload ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The file exists on Box: the file object from the commit.
    Committed(Box<File>),
    /// Aborted on request; the session was deleted (or could not be, see
    /// [`crate::Event::AbortFailed`]).
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
    /// Checking that the source did not change, then committing (including
    /// `202` waits).
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
    /// Parts that may be in flight now: fixed, or as tuned.
    pub parallelism: usize,
    /// Parts whose digests the driver computed while reading
    /// ([`Input::HashedData`]) and the machine adopted; the others it hashed
    /// itself. Counts parts since [`Upload::new`] or [`Upload::resume`].
    pub parts_hashed_by_driver: u64,
}

/// The session, once created (or read from a checkpoint).
#[derive(Debug, Clone)]
struct Session {
    id: String,
    endpoints: SessionEndpoints,
    plan: PartPlan,
    expires_at: Option<Timestamp>,
    /// When it expires, in this machine's time; known once a response carried `Date`.
    deadline: Option<Instant>,
}

/// A request in flight: what it is for and when it is given up.
#[derive(Debug)]
struct Flight {
    kind: RequestKind,
    deadline: Instant,
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
    /// Where the upload stands, with what only that stage needs.
    stage: Stage,
    session: Option<Session>,
    /// Requests out, of parts and of the stage's control operation.
    inflight: HashMap<RequestId, Flight>,
    /// Reads out, by the index of the part they are for.
    reads: HashMap<ReadId, u64>,
    /// Parts the server stores, by index (resume: not yet verified until hashed).
    confirmed: BTreeMap<u64, UploadPart>,
    /// The window: parts being read, hashed, sent or reconciled.
    parts: BTreeMap<u64, Part>,
    /// The next part to read, and the next to hash (offset order).
    read_next: u64,
    hash_next: u64,
    file_hasher: FileHasher,
    parts_hashed_by_driver: u64,
    bytes_done: u64,
    parts_done: u64,
    /// A `429` paused all new requests until then.
    throttle_until: Option<Instant>,
    /// A part whose bytes the server refused as not matching their digest,
    /// while the driver checks the source ([`Output::CheckSource`]): the
    /// upload fails with the source's change if it changed, else with this.
    refused_part: Option<UploadError>,
    /// Self-tuning parallelism, unless the parallelism is fixed.
    tuner: Option<Tuner>,
    out: VecDeque<Output>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("target", &self.target)
            .field("phase", &self.stage.phase())
            .field("session", &self.session.as_ref().map(|s| &s.id))
            .field("progress", &self.progress())
            .finish_non_exhaustive()
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
        let stage = Stage::Creating {
            call: Attempt::new(now),
            abort_requested: false,
        };
        Ok(Self::with_stage(target, source, config, now, stage))
    }

    fn with_stage(
        target: Target,
        source: Source,
        cfg: UploadConfig,
        now: Instant,
        stage: Stage,
    ) -> Self {
        Self {
            tuner: cfg.tuning.map(Tuner::new),
            jitter: Jitter::new(cfg.jitter_seed),
            cfg,
            target,
            source,
            started: now,
            now,
            next_request: 0,
            next_read: 0,
            stage,
            session: None,
            inflight: HashMap::new(),
            reads: HashMap::new(),
            confirmed: BTreeMap::new(),
            parts: BTreeMap::new(),
            read_next: 0,
            hash_next: 0,
            file_hasher: FileHasher::default(),
            parts_hashed_by_driver: 0,
            bytes_done: 0,
            parts_done: 0,
            throttle_until: None,
            refused_part: None,
            out: VecDeque::new(),
        }
    }

    // ---------------------------------------------------------------- getters

    /// Progress so far.
    pub fn progress(&self) -> Progress {
        Progress {
            phase: self.stage.phase(),
            bytes_done: self.bytes_done,
            bytes_total: self.source.size,
            parts_done: self.parts_done,
            parts_total: self.session.as_ref().map_or(0, |s| s.plan.total_parts()),
            parts_in_flight: self.parts.values().filter(|p| p.in_flight()).count(),
            bytes_held: self
                .parts
                .values()
                .filter_map(Part::data)
                .map(|d| d.len() as u64)
                .sum(),
            parts_hashed_by_driver: self.parts_hashed_by_driver,
            parallelism: self.limit(),
        }
    }

    /// The session id, once a session exists.
    pub fn session_id(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.id.as_str())
    }

    /// The checkpoint to persist for a later resume; `None` before the session
    /// exists. It changes when [`crate::Event::CheckpointChanged`] is emitted.
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

    /// The whole source's SHA-1, once every part is stored and hashed
    /// (while the source is checked, and at commit): what a driver that
    /// re-reads a source whose fingerprint changed compares its bytes with.
    pub fn content_sha1(&self) -> Option<box_chunked_proto::Sha1Digest> {
        match &self.stage {
            Stage::CheckingSource { sha1 } => Some(*sha1),
            Stage::Committing(c) => Some(c.sha1),
            _ => None,
        }
    }

    /// The source this upload reads, as given at the start (size and the
    /// driver's fingerprint of it).
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The outcome, once the upload is over.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.stage {
            Stage::Done(o) => Some(o),
            _ => None,
        }
    }

    // --------------------------------------------------------------- commands

    /// Aborts the upload: in-flight work becomes stale, the session is
    /// deleted (one `DELETE`, briefly retried), and the outcome is
    /// [`Outcome::Aborted`]. A no-op once the upload is over or aborting.
    pub fn abort(&mut self, now: Instant) {
        self.advance(now);
        self.transition(Transition::AbortRequested);
    }

    /// Fixes how many parts may be in flight (self-tuning, if on, stops).
    /// Parts already in flight finish; new ones start only below the new limit.
    pub fn set_parallelism(&mut self, parts: NonZeroUsize) {
        self.cfg.parallelism = parts;
        self.tuner = None;
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
                let reply = Reply::from_response(response);
                self.learn_date(&reply);
                self.on_reply(id, flight.kind, reply);
                Ok(())
            }
            Input::Failed { id, error } => {
                let Some(flight) = self.take_flight(id)? else {
                    return Ok(());
                };
                self.on_transport_failure(id, flight.kind, error);
                Ok(())
            }
            Input::Data { id, bytes } => self.on_data(id, bytes, None),
            Input::HashedData { id, bytes, hashes } => self.on_data(id, bytes, Some(hashes)),
            Input::Digested { id, hashes } => self.on_digests(id, hashes),
            Input::SourceChecked { changed } => {
                let failed = match (changed, self.refused_part.take()) {
                    (Some(detail), _) => Some(UploadError::SourceChanged(SourceChange::Modified {
                        detail,
                    })),
                    (None, refused) => refused,
                };
                self.transition(failed.map_or(Transition::SourceUnchanged, Transition::Failed));
                Ok(())
            }
            Input::ReadFailed { id, detail } => {
                let Some(index) = self.take_read(id)? else {
                    return Ok(());
                };
                let offset = self.parts.get(&index).map_or(0, |p| p.range.offset);
                self.transition(Transition::Failed(UploadError::SourceRead {
                    offset,
                    detail,
                }));
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
        match &self.stage {
            Stage::Done(outcome) => Output::Done(outcome.clone()),
            _ => Output::Wait(self.next_deadline()),
        }
    }

    /// The earliest future instant at which something is due, if any.
    fn next_deadline(&self) -> Option<Instant> {
        if matches!(self.stage, Stage::Done(_)) {
            return None;
        }
        let now = self.now;
        let mut candidates: Vec<Instant> = Vec::new();
        candidates.extend(self.throttle_until);
        candidates.extend(self.inflight.values().map(|f| f.deadline));
        if let Some(c) = self.stage.control() {
            if c.flight.is_none() {
                candidates.push(c.not_before);
            }
        }
        candidates.extend(self.parts.values().filter_map(Part::wakes_at));
        if !matches!(self.stage, Stage::Aborting { .. }) {
            candidates.extend(self.session.as_ref().and_then(|s| s.deadline));
            candidates.extend(self.cfg.deadline.and_then(|d| self.started.checked_add(d)));
        }
        candidates.into_iter().filter(|t| *t > now).min()
    }

    fn gate_open(&self) -> bool {
        self.throttle_until.is_none_or(|t| self.now >= t)
    }

    fn step(&mut self) {
        if matches!(self.stage, Stage::Done(_)) {
            return;
        }
        self.check_deadlines();
        if matches!(self.stage, Stage::Uploading { .. }) {
            self.maybe_commit();
        }
        if matches!(self.stage, Stage::Uploading { .. }) {
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
                id,
                kind,
                TransportError::new(
                    TransportErrorKind::TimedOut,
                    "no answer before the deadline",
                ),
            );
            if matches!(self.stage, Stage::Done(_)) {
                return;
            }
        }
        if matches!(self.stage, Stage::Aborting { .. }) {
            return;
        }
        if let Some(limit) = self.cfg.deadline {
            if self.started.checked_add(limit).is_some_and(|d| d <= now) {
                self.transition(Transition::Failed(UploadError::DeadlineExceeded(limit)));
                return;
            }
        }
        if self
            .session
            .as_ref()
            .and_then(|s| s.deadline)
            .is_some_and(|d| d <= now)
        {
            self.transition(Transition::SessionGone);
        }
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
