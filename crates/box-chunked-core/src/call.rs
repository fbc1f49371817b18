//! [`Call`]: one SDK-style request (create a session, upload a part, list,
//! commit, abort, get, the check before upload, a one-shot upload, a plan)
//! as a small sans-IO machine with its retries and `202`
//! waits. The hyper crate's `SessionRef`, `FolderRef` and `FileRef` drive it,
//! so they hold no Box rule. It reuses [`crate::ops`] for every request and
//! answer and knows nothing of uploads as a whole.

use crate::config::Target;
use crate::error::UploadError;
use crate::io::{RequestKind, TransportError};
use crate::one_shot;
use crate::ops::{self, Reply, Retry, SessionUrls, Verdict};
use crate::retry::{FailureClass, Jitter, Owner, RetryPolicy};
use box_chunked_proto::{
    CommitAttributes, ContentRange, File, PlanResponse, PlannedPart, SessionEndpoints, Sha1Digest,
    UploadPart, UploadParts, UploadSession, UploadUrl,
};
use bytes::Bytes;
use std::time::{Duration, Instant};

/// What a [`Call`] does.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Operation {
    /// Create an upload session for `target` (`POST`, not repeated after an
    /// ambiguous failure: a second session would be made).
    CreateSession {
        /// The upload root.
        upload_root: String,
        /// A new file in a folder, or a new version of a file.
        target: Target,
        /// The file's size.
        file_size: u64,
    },
    /// The session (`GET`).
    GetSession {
        /// The session's status URL.
        url: String,
    },
    /// Upload one part (`PUT`); repeated safely, since Box answers a
    /// repeated part with `416` and the stored part.
    UploadPart {
        /// The session's part URL.
        url: String,
        /// The part's index, for errors.
        index: u64,
        /// The part's range in the file.
        range: ContentRange,
        /// The part's SHA-1.
        sha1: Sha1Digest,
        /// The part's bytes.
        data: Bytes,
    },
    /// One page of the parts list (`GET`).
    ListParts {
        /// The session's list URL, without the page query.
        url: String,
        /// The first entry's index.
        offset: u64,
        /// Entries per page (at most 1000).
        limit: u64,
    },
    /// Commit (`POST`), waiting through `202`.
    Commit {
        /// The session's commit URL.
        url: String,
        /// Every part, in order.
        parts: Vec<UploadPart>,
        /// The whole file's SHA-1.
        sha1: Sha1Digest,
        /// Attributes to set.
        attributes: Option<CommitAttributes>,
        /// `If-Match` (new versions).
        if_match: Option<String>,
    },
    /// Delete the session (`DELETE`).
    Abort {
        /// The session's abort URL.
        url: String,
    },
    /// A file object (`GET`).
    GetFile {
        /// The file's URL.
        url: String,
    },
    /// A file's content (`GET`).
    Download {
        /// The content URL.
        url: String,
    },
    /// The check before upload (`OPTIONS`): where the file would go, or the
    /// conflict.
    Preflight {
        /// The API root.
        api_root: String,
        /// A new file in a folder, or a new version of a file.
        target: Target,
        /// The file's size.
        size: u64,
    },
    /// A one-shot upload (`POST`, multipart; not repeated after an
    /// ambiguous failure: a second file or version could be made). The
    /// request's body is the form's head; its extensions carry the
    /// [`MultipartTail`](crate::one_shot::MultipartTail): the driver sends the file's bytes, then the tail.
    UploadFile {
        /// The upload root.
        upload_root: String,
        /// A new file in a folder, or a new version of a file.
        target: Target,
        /// The file's size.
        size: u64,
        /// Its SHA-1 when known before sending (`Content-MD5`).
        sha1: Option<Sha1Digest>,
        /// Attributes to set.
        attributes: Option<CommitAttributes>,
        /// Makes the form's boundary (draw it at random).
        boundary_seed: u64,
    },
    /// A folder (`POST /folders`; repeated safely: a folder of that name
    /// already there is the answer).
    CreateFolder {
        /// The API root.
        api_root: String,
        /// The parent folder.
        parent: String,
        /// The folder's name.
        name: String,
    },
    /// An upload session plan (`POST`; repeated safely: planning again
    /// gives the same hits).
    Plan {
        /// The session's plan URL.
        url: String,
        /// The parts, by offset, size and SHA-512.
        parts: Vec<PlannedPart>,
    },
}

impl Operation {
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

    /// The request kind, for errors and logs.
    pub fn kind(&self) -> RequestKind {
        match self {
            Self::CreateSession { .. } => RequestKind::CreateSession,
            Self::GetSession { .. } => RequestKind::GetSession,
            Self::UploadPart { index, .. } => RequestKind::UploadPart { index: *index },
            Self::ListParts { offset, .. } => RequestKind::ListParts { offset: *offset },
            Self::Commit { .. } => RequestKind::Commit,
            Self::Abort { .. } => RequestKind::Abort,
            Self::GetFile { .. } | Self::Download { .. } => RequestKind::GetFile,
            Self::Preflight { .. } => RequestKind::Preflight,
            Self::UploadFile { .. } => RequestKind::UploadFile,
            Self::Plan { .. } => RequestKind::Plan,
            Self::CreateFolder { .. } => RequestKind::CreateFolder,
        }
    }

    fn idempotent(&self) -> bool {
        !matches!(self, Self::CreateSession { .. } | Self::UploadFile { .. })
    }

    fn request(&self) -> Result<http::Request<Bytes>, String> {
        match self {
            Self::CreateSession {
                upload_root,
                target,
                file_size,
            } => ops::create_session(upload_root, target, *file_size),
            Self::GetSession { url } | Self::GetFile { url } | Self::Download { url } => {
                ops::get(url.clone())
            }
            Self::UploadPart {
                url,
                range,
                sha1,
                data,
                ..
            } => ops::upload_part(url.clone(), *range, sha1, data.clone()),
            Self::ListParts { url, offset, limit } => ops::list_parts(url, *offset, *limit),
            Self::Commit {
                url,
                parts,
                sha1,
                attributes,
                if_match,
            } => ops::commit(
                url.clone(),
                sha1,
                parts.clone(),
                attributes.clone(),
                if_match.as_deref(),
            ),
            Self::Abort { url } => ops::abort(url.clone()),
            Self::Preflight {
                api_root,
                target,
                size,
            } => one_shot::preflight(api_root, target, *size),
            Self::UploadFile {
                upload_root,
                target,
                size,
                sha1,
                attributes,
                boundary_seed,
            } => {
                let (mut req, tail) = one_shot::upload_file(
                    upload_root,
                    target,
                    *size,
                    sha1.as_ref(),
                    attributes.as_ref(),
                    *boundary_seed,
                )?;
                req.extensions_mut().insert(tail);
                Ok(req)
            }
            Self::Plan { url, parts } => one_shot::plan(url.clone(), parts.clone()),
            Self::CreateFolder {
                api_root,
                parent,
                name,
            } => one_shot::create_folder(api_root, parent, name),
        }
    }

    fn interpret(&self, reply: &Reply) -> Verdict<Answer> {
        fn map<T>(v: Verdict<T>, f: impl FnOnce(T) -> Answer) -> Verdict<Answer> {
            match v {
                Verdict::Success(t) => Verdict::Success(f(t)),
                Verdict::Pending { retry_after } => Verdict::Pending { retry_after },
                Verdict::Retry(r) => Verdict::Retry(r),
                Verdict::Reconcile => Verdict::Reconcile,
                Verdict::SessionGone(a) => Verdict::SessionGone(a),
                Verdict::Fail(e) => Verdict::Fail(e),
            }
        }
        match self {
            Self::CreateSession { file_size, .. } => {
                map(ops::create_session_reply(reply, *file_size), |(s, _)| {
                    Answer::Session(Box::new(s))
                })
            }
            Self::GetSession { .. } => map(ops::get_reply(reply, self.kind()), |s| {
                Answer::Session(Box::new(s))
            }),
            Self::UploadPart {
                index, range, sha1, ..
            } => map(
                ops::upload_part_reply(reply, *index, range.offset(), range.len(), sha1),
                |(p, _)| Answer::Part(p),
            ),
            Self::ListParts { offset, .. } => {
                map(ops::list_parts_reply(reply, *offset), Answer::Parts)
            }
            Self::Commit { sha1, .. } => map(ops::commit_reply(reply, sha1), |f| {
                Answer::File(Box::new(f))
            }),
            Self::Abort { .. } => map(ops::abort_reply(reply), |()| Answer::Aborted),
            Self::GetFile { .. } => map(ops::get_reply(reply, self.kind()), |f| {
                Answer::File(Box::new(f))
            }),
            Self::Download { .. } => map(ops::download_reply(reply), Answer::Content),
            Self::Preflight { .. } => map(one_shot::preflight_reply(reply), Answer::UploadUrl),
            Self::UploadFile { sha1, size, .. } => map(
                one_shot::upload_file_reply(reply, sha1.as_ref(), *size),
                |f| Answer::File(Box::new(f)),
            ),
            Self::Plan { .. } => map(one_shot::plan_reply(reply), |p| Answer::Plan(Box::new(p))),
            Self::CreateFolder { .. } => map(one_shot::create_folder_reply(reply), Answer::Folder),
        }
    }
}

/// What a finished [`Call`] returns, by operation.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Answer {
    /// Create or get session.
    Session(Box<UploadSession>),
    /// Upload part: the stored part (also when a repeat was reconciled).
    Part(UploadPart),
    /// List parts: one page.
    Parts(UploadParts),
    /// Commit or get file.
    File(Box<File>),
    /// Abort: deleted (or gone already).
    Aborted,
    /// Download: the content.
    Content(Bytes),
    /// The check before upload: where to send the file.
    UploadUrl(UploadUrl),
    /// An upload session plan: hits and misses.
    Plan(Box<PlanResponse>),
    /// A folder created (or found by name): its id.
    Folder(String),
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

/// The next thing a [`Call`]'s driver does.
#[derive(Debug)]
#[must_use]
pub enum CallOutput {
    /// Send this request (credentials are the driver's to add) and answer
    /// with [`Call::handle_response`] or [`Call::handle_failure`].
    Send {
        /// The request.
        request: http::Request<Bytes>,
        /// The attempt, from 1.
        attempt: u32,
        /// When the attempt is given up (report it as a failure).
        deadline: Instant,
    },
    /// Nothing until this instant; then poll again.
    Wait(Instant),
    /// Over (sticky).
    Done(Result<Answer, UploadError>),
}

#[derive(Debug)]
enum State {
    /// The next attempt goes at this instant.
    Ready(Instant),
    /// An attempt is out.
    Sent,
    /// Over.
    Done(Result<Answer, UploadError>),
}

/// One request with its retries: drain [`Call::poll`], send what it says,
/// feed the answer back, until [`CallOutput::Done`].
///
/// ```
/// use box_chunked_core::call::{Answer, Call, CallConfig, CallOutput, Operation};
/// use std::time::Instant;
///
/// let now = Instant::now();
/// let mut call = Call::new(Operation::Abort { url: "https://upload.box.com/api/2.0/files/upload_sessions/S".into() },
///                          CallConfig::default(), now);
/// let CallOutput::Send { request, .. } = call.poll(now) else { panic!() };
/// assert_eq!(request.method(), "DELETE");
/// // Box answers 503: the call waits, then sends again.
/// call.handle_response(now, http::Response::builder().status(503).body(Default::default()).unwrap());
/// let CallOutput::Wait(at) = call.poll(now) else { panic!() };
/// assert!(matches!(call.poll(at), CallOutput::Send { attempt: 2, .. }));
/// call.handle_response(at, http::Response::builder().status(204).body(Default::default()).unwrap());
/// assert!(matches!(call.poll(at), CallOutput::Done(Ok(Answer::Aborted))));
/// ```
#[derive(Debug)]
pub struct Call {
    op: Operation,
    cfg: CallConfig,
    jitter: Jitter,
    attempts: u32,
    first_at: Instant,
    polls: u32,
    state: State,
}

impl Call {
    /// A call of `op`, first attempt at `now`.
    pub fn new(op: Operation, cfg: CallConfig, now: Instant) -> Self {
        Self {
            op,
            jitter: Jitter::new(cfg.jitter_seed),
            cfg,
            attempts: 0,
            first_at: now,
            polls: 0,
            state: State::Ready(now),
        }
    }

    /// The request kind.
    pub fn kind(&self) -> RequestKind {
        self.op.kind()
    }

    /// What to do at `now`.
    pub fn poll(&mut self, now: Instant) -> CallOutput {
        match &self.state {
            State::Done(r) => CallOutput::Done(r.clone()),
            State::Ready(at) if *at > now => CallOutput::Wait(*at),
            State::Sent => CallOutput::Wait(now + self.cfg.timeout),
            State::Ready(_) => match self.op.request() {
                Ok(request) => {
                    self.attempts += 1;
                    self.state = State::Sent;
                    CallOutput::Send {
                        request,
                        attempt: self.attempts,
                        deadline: now + self.cfg.timeout,
                    }
                }
                Err(detail) => {
                    let kind = self.kind();
                    self.end(Err(UploadError::Protocol { kind, detail }))
                }
            },
        }
    }

    fn end(&mut self, r: Result<Answer, UploadError>) -> CallOutput {
        self.state = State::Done(r.clone());
        CallOutput::Done(r)
    }

    /// The answer to the attempt out.
    pub fn handle_response(&mut self, now: Instant, response: http::Response<Bytes>) {
        if !matches!(self.state, State::Sent) {
            return;
        }
        let reply = Reply::from_response(response);
        let kind = self.kind();
        self.state = match self.op.interpret(&reply) {
            Verdict::Success(a) => State::Done(Ok(a)),
            Verdict::Pending { retry_after } => {
                self.polls += 1;
                let wait = retry_after
                    .unwrap_or(self.cfg.commit_poll_default)
                    .min(self.cfg.retry.retry_after_cap);
                let waited = now.saturating_duration_since(self.first_at);
                if waited + wait > self.cfg.commit_wait {
                    State::Done(Err(UploadError::CommitTimedOut {
                        waited,
                        polls: self.polls,
                    }))
                } else {
                    State::Ready(now + wait)
                }
            }
            Verdict::Retry(r) if r.class == FailureClass::PartsMismatch => State::Done(Err(
                UploadError::PartsMismatch(r.api.unwrap_or_else(|| reply.failure(kind))),
            )),
            Verdict::Retry(r) => self.retry(now, r),
            // A single call cannot list for the caller: the refusal is the answer.
            Verdict::Reconcile => State::Done(Err(UploadError::Api(reply.failure(kind)))),
            Verdict::SessionGone(api) => State::Done(Err(UploadError::Api(api))),
            Verdict::Fail(e) => State::Done(Err(e)),
        };
    }

    /// The attempt out failed in transport.
    pub fn handle_failure(&mut self, now: Instant, error: TransportError) {
        if !matches!(self.state, State::Sent) {
            return;
        }
        let r = Retry::transport(&error);
        self.state = if r.class != FailureClass::NotSent && !self.op.idempotent() {
            // It may have been done: the caller decides.
            State::Done(Err(r.exhausted(self.kind(), self.attempts)))
        } else {
            self.retry(now, r)
        };
    }

    fn retry(&mut self, now: Instant, r: Retry) -> State {
        let kind = self.kind();
        if self.cfg.retry.delegated.owner(r.class) == Owner::Driver || !r.class.is_retryable() {
            return State::Done(Err(r.exhausted(kind, self.attempts)));
        }
        let delay = self
            .cfg
            .retry
            .backoff(self.attempts, r.retry_after, &mut self.jitter);
        let elapsed = now.saturating_duration_since(self.first_at);
        if !self.cfg.retry.may_retry(self.attempts, elapsed, delay) {
            return State::Done(Err(r.exhausted(kind, self.attempts)));
        }
        State::Ready(now + delay)
    }
}
