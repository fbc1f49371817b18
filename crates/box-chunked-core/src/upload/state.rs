//! The upload's states, and every transition between them, in one place.
//!
//! The stage of the upload ([`Stage`]) carries what only that stage needs;
//! each part of the window has a [`PartState`]. [`Upload::transition`] is
//! the only code that changes the stage, and [`Part::apply`] the only code
//! that changes a part's state, so the legal combinations can be read here:
//!
//! | from | transition | to |
//! | --- | --- | --- |
//! | `Creating`, `Resuming` | `SessionReady` | `Uploading` (`Aborting` if an abort came during the create) |
//! | `Uploading` | `AllStored(sha1)` | `CheckingSource` (asks the driver: [`crate::Output::CheckSource`]) |
//! | `CheckingSource` | `SourceUnchanged` | `Committing` |
//! | `Committing` | `Committed(file)` | `Done(Committed)` |
//! | `Committing` | `CommittedOther(e)` | `Done(Failed(e))` (the session is used up: nothing to delete) |
//! | `Creating` with the create out | `AbortRequested` | `Creating { abort_requested }` (delete what it makes) |
//! | any other with a session | `AbortRequested` | `Aborting { then: Aborted }` |
//! | any other without one | `AbortRequested` | `Done(Aborted)` |
//! | `Creating { abort_requested }` | `Failed(_)` | `Done(Aborted)` (nothing to delete) |
//! | `Aborting { then }` | `Failed(e)`, `AbortEnded` | `Done(then)` (with `AbortFailed` unless deleted) |
//! | any other with a session, unless kept | `Failed(e)` | `Aborting { then: Failed(e) }` |
//! | any other | `Failed(e)` | `Done(Failed(e))` |
//! | any but `Aborting`, with `OnExpiry::StartOver` | `SessionGone` | `Creating` (everything reset) |
//! | any other | `SessionGone` | as `Failed(SessionExpired)`, with no session to delete |
//! | `Done` | any | `Done` (sticky) |
//!
//! A part goes `Reading -> Read -> Ready -> Sending -> (confirmed: leaves
//! the window)`; from `Sending` to `BackingOff` (then `Sending` again) or
//! `Reconciling` (then confirmed, or `BackingOff`). A part read to verify a
//! stored one (resume) leaves the window once hashed.

use super::Upload;
use crate::config::{OnExpiry, OnFailure};
use crate::error::UploadError;
use crate::event::Event;
use crate::io::{Output, PartHashes, ReadPurpose, RequestId};
use crate::upload::{Outcome, Phase};
use crate::Instant;
use box_chunked_proto::{File, PartRange, Sha1Digest, UploadPart};
use box_chunked_sha1::FileHasher;
use bytes::Bytes;

/// Attempts of one request (a part's, or a control operation's).
#[derive(Debug, Clone, Copy)]
pub(super) struct Tries {
    pub(super) attempts: u32,
    pub(super) first_at: Option<Instant>,
}

impl Tries {
    pub(super) const fn new() -> Self {
        Self {
            attempts: 0,
            first_at: None,
        }
    }

    /// One more attempt at `now`; returns its number.
    pub(super) fn start(&mut self, now: Instant) -> u32 {
        self.attempts += 1;
        self.first_at.get_or_insert(now);
        self.attempts
    }
}

/// A control operation's attempts: one out at a time, the next not before
/// `not_before`.
#[derive(Debug)]
pub(super) struct Attempt {
    pub(super) tries: Tries,
    pub(super) flight: Option<RequestId>,
    pub(super) not_before: Instant,
}

impl Attempt {
    pub(super) const fn new(now: Instant) -> Self {
        Self {
            tries: Tries::new(),
            flight: None,
            not_before: now,
        }
    }
}

/// Listing the server's parts, page by page.
#[derive(Debug)]
pub(super) struct Listing {
    pub(super) call: Attempt,
    /// The next page's first entry.
    pub(super) offset: u64,
    pub(super) collected: Vec<UploadPart>,
}

impl Listing {
    pub(super) const fn new(now: Instant) -> Self {
        Self {
            call: Attempt::new(now),
            offset: 0,
            collected: Vec::new(),
        }
    }
}

/// The commit in progress.
#[derive(Debug)]
pub(super) struct Commit {
    pub(super) call: Attempt,
    /// The whole file's SHA-1, sent in `Digest`. (The `202` wait is bounded
    /// from the first commit, `call.tries.first_at`.)
    pub(super) sha1: Sha1Digest,
    /// `202` answers so far.
    pub(super) polls: u32,
    /// `parts_mismatch` answers so far.
    pub(super) mismatches: u32,
}

/// Where the upload stands, with what only that stage needs.
#[derive(Debug)]
pub(super) enum Stage {
    /// Creating the session. `abort_requested`: an abort came while the
    /// create was out; whatever it makes is deleted.
    Creating {
        call: Attempt,
        abort_requested: bool,
    },
    /// Resume: listing what the server stores.
    Resuming { listing: Listing },
    /// Parts moving. `reconcile`: listing the parts because a `416` did not
    /// say what is stored.
    Uploading { reconcile: Option<Listing> },
    /// Every part is stored; the driver checks that the source did not
    /// change before the commit goes.
    CheckingSource { sha1: Sha1Digest },
    /// Committing.
    Committing(Commit),
    /// Deleting the session, then ending with `then`.
    Aborting { call: Attempt, then: Box<Outcome> },
    /// Over (sticky).
    Done(Outcome),
}

impl Stage {
    pub(super) const fn phase(&self) -> Phase {
        match self {
            Self::Creating { .. } => Phase::Creating,
            Self::Resuming { .. } => Phase::Resuming,
            Self::Uploading { .. } => Phase::Uploading,
            Self::CheckingSource { .. } | Self::Committing(_) => Phase::Committing,
            Self::Aborting { .. } => Phase::Aborting,
            Self::Done(_) => Phase::Done,
        }
    }

    /// The control operation's attempts, when one runs.
    pub(super) fn control(&self) -> Option<&Attempt> {
        match self {
            Self::Creating { call, .. }
            | Self::Committing(Commit { call, .. })
            | Self::Aborting { call, .. } => Some(call),
            Self::Resuming { listing }
            | Self::Uploading {
                reconcile: Some(listing),
            } => Some(&listing.call),
            Self::Uploading { reconcile: None } | Self::CheckingSource { .. } | Self::Done(_) => {
                None
            }
        }
    }

    pub(super) fn control_mut(&mut self) -> Option<&mut Attempt> {
        match self {
            Self::Creating { call, .. }
            | Self::Committing(Commit { call, .. })
            | Self::Aborting { call, .. } => Some(call),
            Self::Resuming { listing }
            | Self::Uploading {
                reconcile: Some(listing),
            } => Some(&mut listing.call),
            Self::Uploading { reconcile: None } | Self::CheckingSource { .. } | Self::Done(_) => {
                None
            }
        }
    }

    /// The parts listing in progress (resume or reconcile).
    pub(super) fn listing_mut(&mut self) -> Option<&mut Listing> {
        match self {
            Self::Resuming { listing }
            | Self::Uploading {
                reconcile: Some(listing),
            } => Some(listing),
            _ => None,
        }
    }
}

/// What changes the stage. Applied by [`Upload::transition`] alone.
#[derive(Debug)]
pub(super) enum Transition {
    /// The session exists (created, or listed on resume).
    SessionReady,
    /// Every part is stored and hashed: check the source, then commit with this digest.
    AllStored(Sha1Digest),
    /// The driver found the source unchanged.
    SourceUnchanged,
    /// The commit answered with the file.
    Committed(Box<File>),
    /// The commit answered with a file that is not what was sent: the
    /// session is used up, and the upload failed.
    CommittedOther(UploadError),
    /// The caller asked to abort.
    AbortRequested,
    /// A failure ends the upload.
    Failed(UploadError),
    /// The session expired or vanished.
    SessionGone,
    /// The abort's `DELETE` is over: deleted (`None`), or given up (why).
    AbortEnded(Option<String>),
}

impl Upload {
    /// The one place where the stage changes (see the module's table).
    ///
    // Long on purpose: this match *is* the table of legal moves; split into
    // functions, the transitions would scatter again.
    pub(super) fn transition(&mut self, t: Transition) {
        let now = self.now;
        let from = self.stage.phase();
        let (create_out, abort_requested) = match &self.stage {
            Stage::Creating {
                call,
                abort_requested,
            } => (call.flight.is_some(), *abort_requested),
            _ => (false, false),
        };
        match (from, t) {
            (Phase::Done, _) => {}
            (Phase::Creating, Transition::SessionReady) if abort_requested => {
                self.begin_abort(Outcome::Aborted);
            }
            (Phase::Creating | Phase::Resuming, Transition::SessionReady) => {
                self.stage = Stage::Uploading { reconcile: None };
            }
            (Phase::Uploading, Transition::AllStored(sha1)) => {
                self.stage = Stage::CheckingSource { sha1 };
                self.out.push_back(Output::CheckSource);
            }
            (Phase::Committing, Transition::SourceUnchanged) => {
                if let Stage::CheckingSource { sha1 } = self.stage {
                    self.stage = Stage::Committing(Commit {
                        call: Attempt::new(now),
                        sha1,
                        polls: 0,
                        mismatches: 0,
                    });
                }
            }
            (Phase::Committing, Transition::Committed(file))
                if matches!(self.stage, Stage::Committing(_)) =>
            {
                self.finish(Outcome::Committed(file));
            }
            (Phase::Committing, Transition::CommittedOther(e))
                if matches!(self.stage, Stage::Committing(_)) =>
            {
                self.session = None;
                self.finish(Outcome::Failed(e));
            }
            (Phase::Aborting, Transition::AbortRequested) => {}
            (Phase::Creating, Transition::AbortRequested) if abort_requested => {}
            (Phase::Creating, Transition::AbortRequested) if create_out => {
                if let Stage::Creating {
                    abort_requested, ..
                } = &mut self.stage
                {
                    *abort_requested = true;
                }
            }
            (_, Transition::AbortRequested) if self.session.is_some() => {
                self.begin_abort(Outcome::Aborted);
            }
            (_, Transition::AbortRequested) => self.finish(Outcome::Aborted),
            (Phase::Creating, Transition::Failed(_)) if abort_requested => {
                self.finish(Outcome::Aborted);
            }
            (Phase::Aborting, Transition::Failed(e)) => {
                self.transition(Transition::AbortEnded(Some(e.to_string())));
            }
            (_, Transition::Failed(e)) => {
                let keep = self.cfg.on_failure == OnFailure::Keep
                    && !matches!(e, UploadError::SourceChanged(_));
                if self.session.is_some() && !keep {
                    self.begin_abort(Outcome::Failed(e));
                } else {
                    self.finish(Outcome::Failed(e));
                }
            }
            (from, Transition::SessionGone) => {
                let old = self.session.take().map(|s| s.id).unwrap_or_default();
                if self.cfg.on_expiry == OnExpiry::StartOver && from != Phase::Aborting {
                    self.start_over();
                    self.out.push_back(Output::Event(Event::SessionRestarted {
                        old_session_id: old,
                    }));
                } else {
                    self.transition(Transition::Failed(UploadError::SessionExpired {
                        session_id: old,
                    }));
                }
            }
            (Phase::Aborting, Transition::AbortEnded(detail)) => {
                let then = match std::mem::replace(&mut self.stage, Stage::Done(Outcome::Aborted)) {
                    Stage::Aborting { then, .. } => *then,
                    _ => Outcome::Aborted,
                };
                if let Some(detail) = detail {
                    self.out
                        .push_back(Output::Event(Event::AbortFailed { detail }));
                }
                self.finish_with(then);
            }
            // Anything else is not a transition of that stage: nothing changes.
            (_, Transition::SessionReady)
            | (_, Transition::AllStored(_))
            | (_, Transition::SourceUnchanged)
            | (_, Transition::Committed(_))
            | (_, Transition::CommittedOther(_))
            | (_, Transition::AbortEnded(_)) => {}
        }
    }

    /// Everything back to before the session (a fresh session after expiry).
    fn start_over(&mut self) {
        self.cancel_all();
        self.session = None;
        self.confirmed.clear();
        self.read_next = 0;
        self.hash_next = 0;
        self.file_hasher = FileHasher::default();
        self.bytes_done = 0;
        self.parts_done = 0;
        self.stage = Stage::Creating {
            call: Attempt::new(self.now),
            abort_requested: false,
        };
    }

    fn begin_abort(&mut self, then: Outcome) {
        self.cancel_all();
        self.throttle_until = None;
        self.stage = Stage::Aborting {
            call: Attempt::new(self.now),
            then: Box::new(then),
        };
    }

    fn finish(&mut self, outcome: Outcome) {
        if matches!(self.stage, Stage::Done(_)) {
            return;
        }
        self.finish_with(outcome);
    }

    fn finish_with(&mut self, outcome: Outcome) {
        self.cancel_all();
        if let Outcome::Committed(file) = &outcome {
            self.out
                .push_back(Output::Event(Event::Committed(file.clone())));
        }
        self.stage = Stage::Done(outcome);
    }

    /// Every request out is cancelled and every part dropped.
    fn cancel_all(&mut self) {
        let mut ids: Vec<RequestId> = self.inflight.keys().copied().collect();
        ids.sort();
        for id in ids {
            self.inflight.remove(&id);
            self.out.push_back(Output::Cancel(id));
        }
        self.reads.clear();
        self.parts.clear();
    }
}

/// One part of the window.
#[derive(Debug)]
pub(super) struct Part {
    pub(super) range: PartRange,
    pub(super) purpose: ReadPurpose,
    pub(super) state: PartState,
}

/// A hashed part's bytes, digest and attempts.
#[derive(Debug)]
pub(super) struct Payload {
    pub(super) data: Bytes,
    pub(super) sha1: Sha1Digest,
    pub(super) tries: Tries,
    /// The attempt out: what self-tuning learns from its answer.
    pub(super) flight: Option<FlightStats>,
}

/// One attempt of a part, as self-tuning sees it.
#[derive(Debug, Clone, Copy)]
pub(super) struct FlightStats {
    /// When it went.
    pub(super) at: Instant,
    /// The most parts out at once since, itself included.
    pub(super) peak: usize,
    /// Whether the parts out reached the limit meanwhile.
    pub(super) full: bool,
}

/// Where one part stands.
#[derive(Debug)]
pub(super) enum PartState {
    /// Its bytes were asked for.
    Reading,
    /// Its bytes are here, waiting for the parts before it to be hashed;
    /// with the digests the driver computed while reading, if it did.
    Read {
        data: Bytes,
        hashes: Option<Box<PartHashes>>,
    },
    /// Hashed; to be sent.
    Ready(Payload),
    /// An attempt is out.
    Sending(Payload, RequestId),
    /// Waiting until then before the next attempt.
    BackingOff(Payload, Instant),
    /// A `416` left its fate open; the parts list will tell.
    Reconciling(Payload),
}

/// What changes a part's state. Applied by [`Part::apply`] alone.
#[derive(Debug)]
pub(super) enum PartEvent {
    /// The bytes arrived.
    Arrived {
        data: Bytes,
        hashes: Option<Box<PartHashes>>,
    },
    /// Hashed in offset order.
    Hashed(Sha1Digest),
    /// An attempt went out at `now`.
    Sent(RequestId, Instant),
    /// The attempt failed; the next goes at this instant.
    BackOff(Instant),
    /// The attempt met a stored part the answer did not describe.
    Reconcile,
}

impl Part {
    pub(super) const fn new(range: PartRange, purpose: ReadPurpose) -> Self {
        Self {
            range,
            purpose,
            state: PartState::Reading,
        }
    }

    /// The one place a part's state changes. An event that does not apply
    /// to the state leaves it as it is and returns `false`.
    pub(super) fn apply(&mut self, e: PartEvent) -> bool {
        let state = std::mem::replace(&mut self.state, PartState::Reading);
        let (next, applied) = match (state, e) {
            (PartState::Reading, PartEvent::Arrived { data, hashes }) => {
                (PartState::Read { data, hashes }, true)
            }
            (PartState::Read { data, .. }, PartEvent::Hashed(sha1)) => (
                PartState::Ready(Payload {
                    data,
                    sha1,
                    tries: Tries::new(),
                    flight: None,
                }),
                true,
            ),
            (
                PartState::Ready(mut p) | PartState::BackingOff(mut p, _),
                PartEvent::Sent(id, now),
            ) => {
                p.tries.start(now);
                p.flight = Some(FlightStats {
                    at: now,
                    peak: 0,
                    full: false,
                });
                (PartState::Sending(p, id), true)
            }
            (PartState::Sending(p, _) | PartState::Reconciling(p), PartEvent::BackOff(until)) => {
                (PartState::BackingOff(p, until), true)
            }
            (PartState::Sending(p, _), PartEvent::Reconcile) => (PartState::Reconciling(p), true),
            (state, _) => (state, false),
        };
        self.state = next;
        applied
    }

    /// The bytes the part holds.
    pub(super) fn data(&self) -> Option<&Bytes> {
        match &self.state {
            PartState::Reading => None,
            PartState::Read { data, .. } => Some(data),
            PartState::Ready(p)
            | PartState::Sending(p, _)
            | PartState::BackingOff(p, _)
            | PartState::Reconciling(p) => Some(&p.data),
        }
    }

    /// Its digest, once hashed.
    pub(super) fn payload(&self) -> Option<&Payload> {
        match &self.state {
            PartState::Ready(p)
            | PartState::Sending(p, _)
            | PartState::BackingOff(p, _)
            | PartState::Reconciling(p) => Some(p),
            PartState::Reading | PartState::Read { .. } => None,
        }
    }

    /// An attempt out sees `out` parts in flight, `full` if that is the limit.
    pub(super) fn saw(&mut self, out: usize, full: bool) {
        if let PartState::Sending(p, _) = &mut self.state {
            if let Some(f) = &mut p.flight {
                f.peak = f.peak.max(out);
                f.full |= full;
            }
        }
    }

    pub(super) const fn in_flight(&self) -> bool {
        matches!(self.state, PartState::Sending(..))
    }

    /// Whether `id` is the attempt out for this part (a stale answer is not).
    pub(super) fn sent_as(&self, id: RequestId) -> bool {
        matches!(self.state, PartState::Sending(_, sent) if sent == id)
    }

    pub(super) const fn reconciling(&self) -> bool {
        matches!(self.state, PartState::Reconciling(_))
    }

    /// Whether an upload of it may go at `now`.
    pub(super) fn sendable(&self, now: Instant) -> bool {
        self.purpose == ReadPurpose::Upload
            && match &self.state {
                PartState::Ready(_) => true,
                PartState::BackingOff(_, until) => *until <= now,
                _ => false,
            }
    }

    /// When a backed-off part may go again.
    pub(super) const fn wakes_at(&self) -> Option<Instant> {
        match &self.state {
            PartState::BackingOff(_, until) => Some(*until),
            _ => None,
        }
    }
}
