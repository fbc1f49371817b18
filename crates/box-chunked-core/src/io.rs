//! The machine's inputs and outputs: everything that crosses between the
//! machine and its driver. It knows no transport, file or clock.

use crate::Instant;
use crate::{Event, Outcome};
use box_chunked_proto::Sha1Digest;
use box_chunked_sha1::DualSha1;
use bytes::Bytes;
use std::fmt;
use std::ops::Range;

/// Identifies one attempt of one request. Every retry gets a new id, so a
/// late answer to a superseded attempt is recognised and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

/// Identifies one read of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReadId(pub(crate) u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "req#{}", self.0)
    }
}

impl fmt::Display for ReadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "read#{}", self.0)
    }
}

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// `POST .../upload_sessions`.
    CreateSession,
    /// `PUT` of part `index`.
    UploadPart {
        /// Zero-based part index.
        index: u64,
    },
    /// `GET .../parts` from entry `offset`.
    ListParts {
        /// Entry index of the page.
        offset: u64,
    },
    /// `POST .../commit`.
    Commit,
    /// `DELETE` of the session.
    Abort,
    /// `GET` of the session (SDK calls; the machine itself lists parts instead).
    GetSession,
    /// `GET` of a file or its content (SDK calls).
    GetFile,
    /// `OPTIONS /files/content`: the check before upload.
    Preflight,
    /// `POST /files/content`: a one-shot upload.
    UploadFile,
    /// `POST .../plan`: the upload session plan.
    Plan,
    /// `POST /folders`.
    CreateFolder,
    /// `GET /folders/{id}/items`: a page of a folder's items.
    ListItems,
    /// `GET /folders/{id}`.
    GetFolder,
    /// `DELETE` of a file or a folder.
    DeleteItem,
}

impl RequestKind {
    /// A short lower-case name: `create session`, `upload part 3`, ...
    pub fn describe(&self) -> String {
        match self {
            Self::CreateSession => "create session".to_owned(),
            Self::UploadPart { index } => format!("upload part {index}"),
            Self::ListParts { offset } => format!("list parts from {offset}"),
            Self::Commit => "commit".to_owned(),
            Self::Abort => "abort".to_owned(),
            Self::GetSession => "get session".to_owned(),
            Self::GetFile => "get file".to_owned(),
            Self::Preflight => "check before upload".to_owned(),
            Self::UploadFile => "upload file".to_owned(),
            Self::Plan => "plan upload session".to_owned(),
            Self::CreateFolder => "create folder".to_owned(),
            Self::ListItems => "list folder".to_owned(),
            Self::GetFolder => "get folder".to_owned(),
            Self::DeleteItem => "delete".to_owned(),
        }
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// An HTTP request for the driver to send.
///
/// It carries no credentials: the driver adds `Authorization`. The driver
/// answers with exactly one [`Input::Response`] or [`Input::Failed`] for
/// `id`, unless the machine cancels it first ([`Output::Cancel`]).
#[must_use]
#[derive(Debug)]
pub struct OutgoingRequest {
    /// This attempt's id.
    pub id: RequestId,
    /// What it is for.
    pub kind: RequestKind,
    /// 1 for the first attempt, then 2, 3, ...
    pub attempt: u32,
    /// When the driver should give up on it (report [`TransportErrorKind::TimedOut`]).
    pub deadline: Instant,
    /// Method, absolute URL, headers and body.
    pub request: http::Request<Bytes>,
}

/// Why a source read is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPurpose {
    /// The bytes will be hashed and uploaded.
    Upload,
    /// The bytes are already stored (resume): they are hashed into the
    /// whole-file SHA-1 and compared with the stored part, not uploaded.
    Verify,
}

/// What a driver computed while reading a part, for [`Input::HashedData`].
///
/// `before` is the driver's [`DualSha1`] at the part's first byte (every
/// earlier byte of the source fed in offset order, the part chain fresh);
/// `after` is the same hasher after the part's bytes and
/// [`DualSha1::finish_part`], which returned `part_sha1`.
#[derive(Debug, Clone)]
pub struct PartHashes {
    /// SHA-1 of the part's bytes.
    pub part_sha1: Sha1Digest,
    /// The hasher at the part's start.
    pub before: DualSha1,
    /// The hasher after the part.
    pub after: DualSha1,
}

/// A range of the source for the driver to read, answered with
/// [`Input::Data`] (exactly `range.end - range.start` bytes; or
/// [`Input::HashedData`] with the digests computed while reading) or
/// [`Input::ReadFailed`]; a [`ReadPurpose::Verify`] read may instead be
/// answered with [`Input::Digested`]. Reads are requested in offset order
/// and may be answered in any order.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    /// This read's id.
    pub id: ReadId,
    /// The byte range.
    pub range: Range<u64>,
    /// What the bytes are for.
    pub purpose: ReadPurpose,
}

/// How a request failed below HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// It never left: connection refused, DNS failure, pool checkout failed.
    NotSent,
    /// It may have arrived: connection reset or closed after the body began.
    Ambiguous,
    /// No answer before the attempt's deadline.
    TimedOut,
}

/// A transport failure as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// What kind of failure.
    pub kind: TransportErrorKind,
    /// A description for error messages (never containing credentials).
    pub detail: String,
}

impl TransportError {
    /// A failure of `kind` described by `detail`.
    pub fn new(kind: TransportErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            TransportErrorKind::NotSent => "not sent",
            TransportErrorKind::Ambiguous => "failed in flight",
            TransportErrorKind::TimedOut => "timed out",
        };
        write!(f, "{kind}: {}", self.detail)
    }
}

/// Everything that can happen to the machine. Each comes with the `Instant`
/// at which it happened (see [`crate::Upload::handle_input`]).
#[derive(Debug)]
pub enum Input {
    /// The response to a request, body read in full.
    Response {
        /// The attempt answered.
        id: RequestId,
        /// The response.
        response: http::Response<Bytes>,
    },
    /// A request that failed below HTTP.
    Failed {
        /// The attempt that failed.
        id: RequestId,
        /// How.
        error: TransportError,
    },
    /// The bytes of a read.
    Data {
        /// The read answered.
        id: ReadId,
        /// Exactly the range's length.
        bytes: Bytes,
    },
    /// The bytes of a read, hashed by the driver while it read them.
    ///
    /// Hashing each piece right after reading it, while it is still in the
    /// CPU's cache, costs about a quarter less than hashing a whole part
    /// later; a driver that reads the source in order on one thread can do
    /// that with its own [`DualSha1`] (see [`PartHashes`]). The machine adopts
    /// the digests only when `hashes.before` is exactly its own whole-file
    /// chain at the part's offset; otherwise it hashes the bytes itself, as
    /// for [`Input::Data`]. So a driver may pre-hash some reads and not
    /// others, and a wrong guess costs time, never correctness of the chain.
    HashedData {
        /// The read answered.
        id: ReadId,
        /// Exactly the range's length.
        bytes: Bytes,
        /// The part's digest and the whole-file chain around it.
        hashes: Box<PartHashes>,
    },
    /// A read to verify a stored part ([`ReadPurpose::Verify`]), answered
    /// with digests the driver computed over the same bytes earlier instead
    /// of the bytes: a new version's one read pass computes the plan's
    /// SHA-512s, every part's SHA-1 and the whole-file chain together, and
    /// the parts the plan found stored are not read again. The machine takes
    /// them only for a verify read; if `hashes.before` is not its own chain
    /// at the part's offset (the source changed since they were computed),
    /// the upload fails with [`crate::SourceChange::Modified`].
    Digested {
        /// The read answered.
        id: ReadId,
        /// The part's digest and the whole-file chain around it.
        hashes: Box<PartHashes>,
    },
    /// A read that failed (the source is unreadable or shorter than announced).
    ReadFailed {
        /// The read that failed.
        id: ReadId,
        /// Why.
        detail: String,
    },
    /// The answer to [`Output::CheckSource`]: `None` when the source is
    /// what it was when the upload started, or what changed, in words. A
    /// change may also be reported unasked, at any time (a file or stream
    /// shorter or longer than its announced size): the upload then fails
    /// with [`crate::SourceChange::Modified`] and the session is deleted.
    SourceChecked {
        /// What changed (`None`: nothing).
        changed: Option<String>,
    },
    /// The deadline from [`Output::Wait`] has passed (spurious calls are no-ops).
    Timeout,
}

/// What the machine wants done next, from [`crate::Upload::poll_output`].
///
/// Drain until [`Output::Wait`] or [`Output::Done`] after every input.
#[must_use]
#[derive(Debug)]
// Outputs are moved once, from the poll to the driver; boxing the request
// would cost an allocation per request to save a copy of a few hundred bytes.
#[allow(clippy::large_enum_variant)]
pub enum Output {
    /// Send this request.
    Request(OutgoingRequest),
    /// Read this range of the source.
    Read(ReadRequest),
    /// Stop this request if it is still running; its answer will be ignored.
    Cancel(RequestId),
    /// Something the application may want to know.
    Event(Event),
    /// Every part is stored and the last byte was read: check that the
    /// source is still what it was when the upload started (for a file:
    /// size, modification time, inode and device; for a stream: no bytes
    /// beyond its size) and answer with [`Input::SourceChecked`]. The commit
    /// waits for the answer, so a file rewritten, appended to, truncated or
    /// replaced during the upload is never committed. Also asked when the
    /// server refused a part's bytes as not matching their digest: then the
    /// upload fails either way, with the source's change if there is one.
    CheckSource,
    /// Nothing to do until an input arrives or until this deadline (`None`: no deadline).
    Wait(Option<Instant>),
    /// The upload is over. Sticky: every later poll returns it again.
    Done(Outcome),
}
