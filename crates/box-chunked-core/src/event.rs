//! Events for the application: progress, retries, the checkpoint. They
//! report what the machine did; nothing here decides anything.

use crate::io::RequestKind;
use crate::retry::FailureClass;
use crate::tune::Signal;
use std::time::Duration;

/// Something that happened, for progress displays and logs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A session exists (created, or found again on resume).
    SessionReady {
        /// Session id.
        session_id: String,
        /// Bytes per part.
        part_size: u64,
        /// Number of parts.
        total_parts: u64,
    },
    /// The session expired or vanished, and a new one is being created.
    SessionRestarted {
        /// The old session.
        old_session_id: String,
    },
    /// A part is stored on the server and matches the source.
    PartConfirmed {
        /// Zero-based index.
        index: u64,
        /// Its size.
        size: u64,
        /// How it was confirmed.
        how: Confirmation,
        /// Bytes confirmed so far, this part included.
        bytes_done: u64,
        /// Parts confirmed so far, this part included.
        parts_done: u64,
    },
    /// A request failed and will be tried again.
    RetryScheduled {
        /// What the request was for.
        kind: RequestKind,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// Why.
        cause: FailureClass,
        /// The HTTP status, when there was a response.
        status: Option<u16>,
    },
    /// What a part's answer (or its lack) says about the link: the input of
    /// self-tuning parallelism, for a driver that tunes many uploads with
    /// one shared [`crate::tune::Tuner`].
    PartSignal(Signal),
    /// Self-tuning changed how many parts may be in flight.
    ParallelismChanged {
        /// The new limit.
        parts: usize,
    },
    /// A `429` paused every new request.
    Throttled {
        /// For how long.
        pause: Duration,
    },
    /// Commit answered `202`: Box is still processing; the same commit follows.
    CommitPending {
        /// The wait before the next commit.
        retry_after: Duration,
        /// How many `202`s so far.
        polls: u32,
    },
    /// [`crate::Upload::checkpoint`] changed: persist it now to resume from here.
    CheckpointChanged,
    /// The commit succeeded: the file as Box returned it ([`crate::Outcome::Committed`] follows).
    Committed(Box<box_chunked_proto::File>),
    /// The abort `DELETE` could not be completed; the session expires by itself.
    AbortFailed {
        /// Why.
        detail: String,
    },
}

/// How a part came to be confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// The upload was answered `200` with the right echo.
    Uploaded,
    /// A repeated upload was answered `416` with a stored part equal to ours
    /// (the earlier attempt had arrived).
    Reconciled,
    /// Resume: the server lists it, and the source's bytes still hash to it.
    Verified,
}
