//! [`Call`]: one SDK-style request (create a session, upload a part, list,
//! commit, abort, get, the check before upload, a one-shot upload, a plan,
//! a folder) as a small sans-IO machine with its retries and `202` waits.
//! Each [`Operation`] (in [`operations`]) has its own answer type, so a
//! driver gets exactly what it asked for. The hyper crate's `SessionRef`,
//! `FolderRef` and `FileRef` drive it, so they hold no Box rule. It reuses
//! [`crate::ops`] for every request and answer and [`crate::timing`] for
//! every wait, and knows nothing of uploads as a whole.
//!
//! Its method families are [`crate::Upload`]'s: getters, `handle_input`
//! with the time of each input, and `poll_output` until
//! [`CallOutput::Wait`] or the sticky [`CallOutput::Done`].

pub mod operations;

use crate::error::UploadError;
use crate::io::{RequestKind, TransportError};
use crate::ops::{Reply, Retry, SessionUrls, Verdict};
use crate::retry::{FailureClass, Jitter, RetryPolicy};
use crate::timing::{add, pending_wait, retry_delay};
use crate::Instant;
use box_chunked_proto::SessionEndpoints;
use bytes::Bytes;
use std::fmt;
use std::time::Duration;

/// What a [`Call`] does: its request and what its answer means.
pub trait Operation: fmt::Debug {
    /// What a successful answer gives.
    type Answer: Clone + fmt::Debug;
    /// The request kind, for errors and logs.
    fn kind(&self) -> RequestKind;
    /// Whether a request that may have reached the server can be sent again
    /// (`false` for those that would make a second session or file).
    fn idempotent(&self) -> bool {
        true
    }
    /// The request to send (credentials are the driver's to add).
    fn request(&self) -> Result<http::Request<Bytes>, String>;
    /// What an answer means.
    fn interpret(&self, reply: &Reply) -> Verdict<Self::Answer>;
    /// What an answer means when an earlier attempt may have done the work
    /// (it was sent and its answer lost): the same as [`Operation::interpret`]
    /// unless a second answer reads differently then (an abort's `404`).
    fn interpret_after_doubt(&self, reply: &Reply) -> Verdict<Self::Answer> {
        self.interpret(reply)
    }
}

/// A session-scoped operation's URL from the session's endpoints (or the
/// upload root): `which` picks the endpoint.
pub fn session_url(
    id: &str,
    endpoints: &SessionEndpoints,
    upload_root: &str,
    which: fn(&SessionUrls<'_>) -> String,
) -> String {
    which(&SessionUrls {
        id,
        endpoints,
        upload_root,
    })
}

/// Limits of a [`Call`].
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// Retries and backoff ([`RetryPolicy::delegated`] says what the driver
    /// retries itself).
    pub retry: RetryPolicy,
    /// Time allowed for one attempt.
    pub timeout: Duration,
    /// How long a commit may keep answering `202`.
    pub commit_wait: Duration,
    /// The wait after a `202` without `Retry-After`.
    pub commit_poll_default: Duration,
    /// Seed of the backoff jitter.
    pub jitter_seed: u64,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
            commit_wait: Duration::from_secs(600),
            commit_poll_default: Duration::from_secs(5),
            jitter_seed: 0,
        }
    }
}

/// What happened, for [`Call::handle_input`].
#[derive(Debug)]
pub enum CallInput {
    /// The answer to the attempt out.
    Response(http::Response<Bytes>),
    /// The attempt out failed in transport.
    Failed(TransportError),
    /// The instant of a [`CallOutput::Wait`] has come (spurious ones are no-ops).
    Timeout,
}

/// The next thing a [`Call`]'s driver does.
#[derive(Debug)]
#[must_use]
pub enum CallOutput<A> {
    /// Send this request (credentials are the driver's to add) and answer
    /// with [`CallInput::Response`] or [`CallInput::Failed`].
    Send {
        /// The request.
        request: http::Request<Bytes>,
        /// The attempt, from 1.
        attempt: u32,
        /// When the attempt is given up (report it as a failure).
        deadline: Instant,
    },
    /// Nothing until this instant (then [`CallInput::Timeout`]) or an answer.
    Wait(Instant),
    /// Over (sticky).
    Done(Result<A, UploadError>),
}

#[derive(Debug)]
enum State<A> {
    /// The next attempt goes at this instant.
    Ready(Instant),
    /// An attempt is out, given up at this instant.
    Sent(Instant),
    /// Over.
    Done(Result<A, UploadError>),
}

/// One request with its retries: drain [`Call::poll_output`], send what it
/// says, feed the answer back with [`Call::handle_input`], until
/// [`CallOutput::Done`].
///
/// ```
/// use box_chunked_core::call::{operations::Abort, Call, CallConfig, CallInput, CallOutput};
/// use std::time::Instant;
///
/// let now = Instant::now();
/// let url = "https://upload.box.com/api/2.0/files/upload_sessions/S".to_owned();
/// let mut call = Call::new(Abort { url }, CallConfig::default(), now);
/// let CallOutput::Send { request, .. } = call.poll_output() else { panic!() };
/// assert_eq!(request.method(), "DELETE");
/// // Box answers 503: the call waits, then sends again.
/// let answer = |s| CallInput::Response(http::Response::builder().status(s).body(Default::default()).unwrap());
/// call.handle_input(now, answer(503));
/// let CallOutput::Wait(at) = call.poll_output() else { panic!() };
/// call.handle_input(at, CallInput::Timeout);
/// assert!(matches!(call.poll_output(), CallOutput::Send { attempt: 2, .. }));
/// call.handle_input(at, answer(204));
/// assert!(matches!(call.poll_output(), CallOutput::Done(Ok(()))));
/// ```
#[derive(Debug)]
pub struct Call<O: Operation> {
    op: O,
    cfg: CallConfig,
    jitter: Jitter,
    attempts: u32,
    first_at: Instant,
    now: Instant,
    polls: u32,
    /// An attempt was sent and its answer lost: it may have been done.
    maybe_done: bool,
    state: State<O::Answer>,
}

impl<O: Operation> Call<O> {
    /// A call of `op`, first attempt at `now`.
    pub fn new(op: O, cfg: CallConfig, now: Instant) -> Self {
        Self {
            op,
            jitter: Jitter::new(cfg.jitter_seed),
            cfg,
            attempts: 0,
            maybe_done: false,
            first_at: now,
            now,
            polls: 0,
            state: State::Ready(now),
        }
    }

    /// The request kind.
    pub fn kind(&self) -> RequestKind {
        self.op.kind()
    }

    /// Attempts sent so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The operation.
    pub fn operation(&self) -> &O {
        &self.op
    }

    /// What happened at `now`.
    pub fn handle_input(&mut self, now: Instant, input: CallInput) {
        self.now = self.now.max(now);
        let State::Sent(_) = self.state else {
            return; // an answer to no attempt, or a timeout: nothing to do
        };
        self.state = match input {
            CallInput::Response(response) => self.on_response(response),
            CallInput::Failed(error) => self.on_failure(&error),
            CallInput::Timeout => return,
        };
    }

    /// What to do now: send, wait, or the result (sticky).
    pub fn poll_output(&mut self) -> CallOutput<O::Answer> {
        match &self.state {
            State::Done(r) => CallOutput::Done(r.clone()),
            State::Sent(deadline) => CallOutput::Wait(*deadline),
            State::Ready(at) if *at > self.now => CallOutput::Wait(*at),
            State::Ready(_) => match self.op.request() {
                Ok(request) => {
                    self.attempts += 1;
                    let deadline = add(self.now, self.cfg.timeout);
                    self.state = State::Sent(deadline);
                    CallOutput::Send {
                        request,
                        attempt: self.attempts,
                        deadline,
                    }
                }
                Err(detail) => {
                    let kind = self.kind();
                    let r = Err(UploadError::Protocol { kind, detail });
                    self.state = State::Done(r.clone());
                    CallOutput::Done(r)
                }
            },
        }
    }

    /// The one decision for an answer: done, wait (`202`), retry, or fail.
    fn on_response(&mut self, response: http::Response<Bytes>) -> State<O::Answer> {
        let reply = Reply::from_response(response);
        let kind = self.kind();
        let verdict = if self.maybe_done {
            self.op.interpret_after_doubt(&reply)
        } else {
            self.op.interpret(&reply)
        };
        match verdict {
            Verdict::Success(a) => State::Done(Ok(a)),
            Verdict::Pending { retry_after } => {
                self.polls += 1;
                let waited = self.now.saturating_duration_since(self.first_at);
                let (default, limit) = (self.cfg.commit_poll_default, self.cfg.commit_wait);
                match pending_wait(&self.cfg.retry, retry_after, default, waited, limit) {
                    Ok(wait) => State::Ready(add(self.now, wait)),
                    Err(waited) => State::Done(Err(UploadError::CommitTimedOut {
                        waited,
                        polls: self.polls,
                    })),
                }
            }
            Verdict::Retry(r) if r.class == FailureClass::PartsMismatch => State::Done(Err(
                UploadError::PartsMismatch(r.api.unwrap_or_else(|| reply.failure(kind))),
            )),
            Verdict::Retry(r) => self.retry(r),
            // A single call cannot list for the caller: the refusal is the answer.
            Verdict::Reconcile => State::Done(Err(UploadError::Api(reply.failure(kind)))),
            Verdict::SessionGone(api) => State::Done(Err(UploadError::Api(api))),
            Verdict::Fail(e) => State::Done(Err(e)),
        }
    }

    fn on_failure(&mut self, error: &TransportError) -> State<O::Answer> {
        let r = Retry::transport(error);
        self.maybe_done |= r.class != FailureClass::NotSent;
        if r.class != FailureClass::NotSent && !self.op.idempotent() {
            // It may have been done: the caller decides.
            return State::Done(Err(r.exhausted(self.kind(), self.attempts)));
        }
        self.retry(r)
    }

    fn retry(&mut self, r: Retry) -> State<O::Answer> {
        let elapsed = self.now.saturating_duration_since(self.first_at);
        let max = self.cfg.retry.max_attempts;
        let delay = retry_delay(
            &self.cfg.retry,
            &mut self.jitter,
            r.class,
            r.retry_after,
            self.attempts,
            max,
            elapsed,
        );
        match delay {
            Some(d) => State::Ready(add(self.now, d)),
            None => State::Done(Err(r.exhausted(self.kind(), self.attempts))),
        }
    }
}
