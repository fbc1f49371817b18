//! Errors: one enum per operation, as quinn does. Types and messages only;
//! which answer becomes which error is decided in `ops`.

use crate::io::{ReadId, RequestId, RequestKind};
use box_chunked_proto::{BoxError, Sha1Digest, UploadPart};
use std::time::Duration;

/// A refusal from Box: the status and, when the body had one, Box's error object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind} answered {status}{}", describe(.error))]
pub struct ApiFailure {
    /// What the request was for.
    pub kind: RequestKind,
    /// HTTP status.
    pub status: u16,
    /// Box's error body (`code`, `message`, `request_id`, `context_info`).
    pub error: Option<Box<BoxError>>,
    /// The `BOX-REQUEST-ID` response header, when present.
    pub request_id: Option<String>,
}

fn describe(e: &Option<Box<BoxError>>) -> String {
    match e {
        Some(e) => {
            let mut s = String::new();
            if let Some(code) = &e.code {
                s.push(' ');
                s.push_str(code);
            }
            if let Some(m) = &e.message {
                s.push_str(": ");
                s.push_str(m);
            }
            if let Some(id) = &e.request_id {
                s.push_str(&format!(" (request id {id})"));
            }
            s
        }
        None => String::new(),
    }
}

impl ApiFailure {
    /// Box's error code, if the body had one.
    pub fn code(&self) -> Option<&str> {
        self.error.as_ref().and_then(|e| e.code.as_deref())
    }

    /// Box's message, if the body had one.
    pub fn message(&self) -> Option<&str> {
        self.error.as_ref().and_then(|e| e.message.as_deref())
    }
}

/// How the source was found to differ from what was uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceChange {
    /// A part stored on the server has other bytes than the source has now.
    StoredPartDiffers {
        /// Zero-based part index.
        index: u64,
        /// The SHA-1 of the source's bytes now.
        source_sha1: Sha1Digest,
        /// The part the server stores.
        stored: Box<UploadPart>,
    },
    /// Box rejected the whole-file SHA-1 at commit (`digest_mismatch`).
    DigestRejected {
        /// The SHA-1 we sent.
        sent: Sha1Digest,
    },
    /// The driver found the source changed during the upload (rewritten,
    /// appended to, truncated or replaced).
    Modified {
        /// What changed, in words.
        detail: String,
    },
    /// The checkpoint was made for a source of another size.
    Fingerprint {
        /// What the checkpoint recorded.
        recorded: String,
        /// What the source has now.
        now: String,
    },
}

impl std::fmt::Display for SourceChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::StoredPartDiffers { index, stored, .. } => write!(
                f,
                "bytes {} to {} (part {index}) have other content than the server stores for them",
                stored.offset,
                (stored.offset + stored.size).saturating_sub(1)
            ),
            Self::DigestRejected { sent } => write!(
                f,
                "the server computed another SHA-1 for the whole file than {sent}"
            ),
            Self::Modified { detail } => f.write_str(detail),
            Self::Fingerprint { recorded, now } => {
                write!(
                    f,
                    "it was {recorded} when the upload started and is {now} now"
                )
            }
        }
    }
}

/// Why an upload failed. Carried by [`crate::Outcome::Failed`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// Box refused a request for good (a `4xx` other than those below).
    #[error("Box refused: {0}")]
    Api(ApiFailure),
    /// A request kept failing until its retry budget ran out.
    #[error("{kind} failed after {attempts} attempts; last: {last}")]
    RetriesExhausted {
        /// What the request was for.
        kind: RequestKind,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
        /// The last response's refusal, when the last failure was a response.
        api: Option<Box<ApiFailure>>,
    },
    /// The source no longer matches what was uploaded; nothing is committed.
    #[error("the source changed during the upload: {0}")]
    SourceChanged(SourceChange),
    /// An item with this name already exists in the folder (`409 item_name_in_use`).
    #[error("a file with this name already exists in the folder{}: {failure}", existing_id.as_ref().map(|i| format!(" (file {i})")).unwrap_or_default())]
    NameConflict {
        /// The id of the conflicting item, from `context_info.conflicts`.
        existing_id: Option<String>,
        /// Box's refusal.
        failure: ApiFailure,
    },
    /// `If-Match` failed: the file changed since its etag was read (`412`).
    #[error("the file changed since its etag was read: {0}")]
    PreconditionFailed(ApiFailure),
    /// The upload session expired or no longer exists.
    #[error("upload session {session_id} expired or no longer exists")]
    SessionExpired {
        /// The session.
        session_id: String,
    },
    /// Commit kept answering `202` past the commit deadline.
    #[error("the commit was still being processed after {} s ({polls} answers of 202)", waited.as_secs())]
    CommitTimedOut {
        /// Time since the first commit.
        waited: Duration,
        /// `202` answers received.
        polls: u32,
    },
    /// Commit kept answering `parts_mismatch`.
    #[error("Box does not agree on the list of parts: {0}")]
    PartsMismatch(ApiFailure),
    /// A part's response did not echo what was sent.
    #[error("part {index}: the server stored offset {}, size {}, SHA-1 {}; we sent offset {offset}, size {size}, SHA-1 {sha1}", .echo.offset, .echo.size, .echo.sha1.map_or_else(|| "none".to_owned(), |s| s.to_hex()))]
    EchoMismatch {
        /// Zero-based part index.
        index: u64,
        /// Offset sent.
        offset: u64,
        /// Size sent.
        size: u64,
        /// SHA-1 sent.
        sha1: Sha1Digest,
        /// What came back.
        echo: Box<UploadPart>,
    },
    /// A response that breaks the protocol (malformed body, impossible values).
    #[error("{kind}: protocol violation: {detail}")]
    Protocol {
        /// What the request was for.
        kind: RequestKind,
        /// What was wrong.
        detail: String,
    },
    /// The commit (or a one-shot upload) was answered with a file whose size
    /// or SHA-1 is not what was sent: the server, or something between, did
    /// not store what this client hashed and sent. The answer is not a
    /// result; the file it names is not to be trusted.
    #[error("the server answered the {kind} with file {file_id} of {} bytes with SHA-1 {}, but {sent_size} bytes with SHA-1 {} were sent", .stored_size.map_or_else(|| "?".to_owned(), |s| s.to_string()), .stored_sha1.map_or_else(|| "?".to_owned(), |s| s.to_hex()), .sent_sha1.map_or_else(|| "?".to_owned(), |s| s.to_hex()))]
    StoredMismatch {
        /// The request answered (a commit or a one-shot upload).
        kind: RequestKind,
        /// The id of the file the answer names.
        file_id: String,
        /// The size the answer gives.
        stored_size: Option<u64>,
        /// The SHA-1 the answer gives.
        stored_sha1: Option<Sha1Digest>,
        /// The bytes sent.
        sent_size: u64,
        /// The SHA-1 of the bytes sent, when it was computed.
        sent_sha1: Option<Sha1Digest>,
    },
    /// The source could not be read.
    #[error("reading bytes {offset}.. of the source failed: {detail}")]
    SourceRead {
        /// Where.
        offset: u64,
        /// Why.
        detail: String,
    },
    /// The whole-upload deadline passed.
    #[error("the upload did not finish within {} s", .0.as_secs())]
    DeadlineExceeded(Duration),
}

impl UploadError {
    /// Box's refusal behind this error, if there is one.
    pub fn api(&self) -> Option<&ApiFailure> {
        match self {
            Self::Api(f) | Self::PreconditionFailed(f) | Self::PartsMismatch(f) => Some(f),
            Self::NameConflict { failure, .. } => Some(failure),
            Self::RetriesExhausted { api, .. } => api.as_deref(),
            _ => None,
        }
    }
}

/// Arguments that cannot start an upload (no request has been made).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The file name breaks Box's rules.
    #[error("invalid file name: {0}")]
    Name(#[from] box_chunked_proto::rules::NameError),
    /// An id is empty.
    #[error("the {0} id is empty")]
    EmptyId(&'static str),
    /// The upload root is not an absolute http(s) URL.
    #[error("the upload root {0} is not an absolute http or https URL")]
    UploadRoot(String),
    /// The list page size is 0 or above 1000.
    #[error("list page size must be 1 to 1000, not {0}")]
    ListLimit(u64),
}

/// A checkpoint that cannot be resumed (no request has been made).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// The checkpoint's format version is not one this version reads.
    #[error("checkpoint format {found} is not supported (this version reads {supported})")]
    UnsupportedFormat {
        /// Version found.
        found: u32,
        /// Version supported.
        supported: u32,
    },
    /// The source is not the one the checkpoint was made for.
    #[error("the source changed since the checkpoint: {0}")]
    SourceChanged(SourceChange),
    /// The checkpoint contradicts itself (part size 0, parts outside the file...).
    #[error("the checkpoint is inconsistent: {0}")]
    Inconsistent(String),
    /// The checkpoint's target or configuration is invalid.
    #[error(transparent)]
    Start(#[from] StartError),
}

/// Misuse by the driver. The input is ignored and the machine stays usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// A request id this machine never issued.
    #[error("{0} was never issued by this upload")]
    UnknownRequest(RequestId),
    /// A read id this machine never issued.
    #[error("{0} was never issued by this upload")]
    UnknownRead(ReadId),
    /// Digests offered for a read that must have its bytes: a part to send,
    /// or a plan whose part size is not a whole number of SHA-1 blocks.
    #[error("{0} needs the bytes, not only their digests: answer it with the data")]
    NeedsBytes(ReadId),
    /// A read answered with the wrong number of bytes.
    #[error("{id} asked for {expected} bytes, got {actual}")]
    WrongLength {
        /// The read.
        id: ReadId,
        /// Bytes asked for.
        expected: u64,
        /// Bytes given.
        actual: u64,
    },
}
