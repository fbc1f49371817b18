//! One home for every Box rule of a single request: how each operation's
//! request is built, and what each answer means ([`Verdict`]).
//!
//! The upload machine ([`crate::Upload`]) and the single-call machine
//! ([`crate::Call`], behind the hyper crate's SDK-style calls) both use these
//! functions, so a rule (a `202` is "not yet", a `416` with the same stored
//! part is success, `Retry-After` is measured against `Date`, which statuses
//! are worth repeating) is written once. This module knows nothing of
//! windows, phases or retry budgets: those belong to the machines.

pub(crate) use crate::answers::name_conflict;
pub use crate::answers::stored_mismatch;
use crate::config::Target;
use crate::error::{ApiFailure, SourceChange, UploadError};
use crate::event::Confirmation;
use crate::io::{RequestKind, TransportError};
use crate::retry::{classify_status, classify_transport, FailureClass};
use box_chunked_proto::endpoints::{list_parts_query, Endpoint};
use box_chunked_proto::{
    decode_json, encode_json, header_names, parse_http_date, BoxError, CommitAttributes,
    CommitRequest, ContentRange, CreateUploadSession, CreateVersionUploadSession, DigestHeader,
    ErrorCode, File, Files, PartPlan, RetryAfter, SessionEndpoints, Sha1Digest, UploadPart,
    UploadParts, UploadSession, UploadedPart,
};
use bytes::Bytes;
use std::time::{Duration, SystemTime};

/// An answer, with the headers Box's rules read already decoded.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// `Retry-After` as a delay, an HTTP date resolved against the answer's
    /// own `Date` (never the local clock).
    pub retry_after: Option<Duration>,
    /// The answer's `Date`.
    pub date: Option<SystemTime>,
    /// `BOX-REQUEST-ID`, for support.
    pub request_id: Option<String>,
    /// `Location`, of a redirect.
    pub location: Option<String>,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// Decodes the headers of a response.
    pub fn from_response(response: http::Response<Bytes>) -> Self {
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
        let location = header("location");
        let status = response.status().as_u16();
        Self {
            status,
            retry_after,
            date,
            request_id,
            location,
            body: response.into_body(),
        }
    }

    /// Box's error code (empty for a success or a body without one).
    pub fn code(&self) -> ErrorCode {
        if (200..300).contains(&self.status) {
            return ErrorCode::Other(String::new());
        }
        decode_json::<BoxError>(&self.body)
            .map(|e| e.code())
            .unwrap_or(ErrorCode::Other(String::new()))
    }

    /// The refusal this answer is, for errors.
    pub fn failure(&self, kind: RequestKind) -> ApiFailure {
        ApiFailure {
            kind,
            status: self.status,
            error: decode_json::<BoxError>(&self.body).ok().map(Box::new),
            request_id: self.request_id.clone(),
        }
    }

    pub(crate) fn class(&self, kind: RequestKind) -> Option<FailureClass> {
        classify_status(kind, self.status, &self.code())
    }

    pub(crate) fn decode<T: serde::de::DeserializeOwned>(
        &self,
        kind: RequestKind,
    ) -> Result<T, UploadError> {
        decode_json(&self.body).map_err(|e| UploadError::Protocol {
            kind,
            detail: e.to_string(),
        })
    }
}

/// A failed attempt that its owner may repeat: why, and what to report if
/// it is not repeated.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    /// The failure's class (who retries it: [`crate::retry::Delegated`]).
    pub class: FailureClass,
    /// The status, when the failure was an answer.
    pub status: Option<u16>,
    /// The server's `Retry-After`, a floor for the delay.
    pub retry_after: Option<Duration>,
    /// The failure in words, for the final error.
    pub last: String,
    /// The refusal, when the failure was an answer.
    pub api: Option<ApiFailure>,
}

impl Retry {
    /// A transport failure: not sent, or ambiguous (the server may have it).
    pub fn transport(error: &TransportError) -> Self {
        Self {
            class: classify_transport(error.kind),
            status: None,
            retry_after: None,
            last: error.to_string(),
            api: None,
        }
    }

    fn answer(class: FailureClass, reply: &Reply, kind: RequestKind) -> Self {
        let api = reply.failure(kind);
        Self {
            class,
            status: Some(reply.status),
            retry_after: reply.retry_after,
            last: api.to_string(),
            api: Some(api),
        }
    }

    fn ambiguous(status: Option<u16>, last: String) -> Self {
        Self {
            class: FailureClass::Ambiguous,
            status,
            retry_after: None,
            last,
            api: None,
        }
    }

    /// The error once no attempt is left.
    pub fn exhausted(self, kind: RequestKind, attempts: u32) -> UploadError {
        UploadError::RetriesExhausted {
            kind,
            attempts,
            last: self.last,
            api: self.api.map(Box::new),
        }
    }
}

/// What an answer means.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Verdict<T> {
    /// Done, with the decoded result.
    Success(T),
    /// `202` on commit: accepted, not processed yet; ask again after the
    /// server's `Retry-After` (or a default).
    Pending {
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Worth repeating, by the class's owner and within its budget.
    Retry(Retry),
    /// `416` whose answer does not say what is stored at this offset: list
    /// the parts to find out.
    Reconcile,
    /// `404` or `410` on a session-scoped call: the session is gone.
    SessionGone(ApiFailure),
    /// Final.
    Fail(UploadError),
}

impl<T> Verdict<T> {
    /// The same verdict with its success mapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Verdict<U> {
        match self {
            Self::Success(t) => Verdict::Success(f(t)),
            Self::Pending { retry_after } => Verdict::Pending { retry_after },
            Self::Retry(r) => Verdict::Retry(r),
            Self::Reconcile => Verdict::Reconcile,
            Self::SessionGone(a) => Verdict::SessionGone(a),
            Self::Fail(e) => Verdict::Fail(e),
        }
    }

    /// The verdict for a non-success answer, from its class alone.
    pub(crate) fn refused(class: FailureClass, reply: &Reply, kind: RequestKind) -> Self {
        match class {
            FailureClass::SessionGone => Self::SessionGone(reply.failure(kind)),
            FailureClass::CommitPending => Self::Pending {
                retry_after: reply.retry_after,
            },
            c if c.is_retryable() => Self::Retry(Retry::answer(c, reply, kind)),
            _ => Self::Fail(UploadError::Api(reply.failure(kind))),
        }
    }
}

// ------------------------------------------------------------------ URLs

/// Where a session's calls go: its `session_endpoints` verbatim, or URLs
/// built from the upload root for the ones the server did not give.
#[derive(Debug, Clone, Copy)]
pub struct SessionUrls<'a> {
    /// The session id.
    pub id: &'a str,
    /// The endpoints the session carried.
    pub endpoints: &'a SessionEndpoints,
    /// The upload root (`https://upload.box.com/api/2.0`).
    pub upload_root: &'a str,
}

impl SessionUrls<'_> {
    fn pick(&self, given: Option<&String>, ep: Endpoint) -> String {
        given.cloned().unwrap_or_else(|| ep.url(self.upload_root))
    }

    fn id(&self) -> String {
        self.id.to_owned()
    }

    /// `PUT` a part here.
    pub fn upload_part(&self) -> String {
        self.pick(
            self.endpoints.upload_part.as_ref(),
            Endpoint::UploadPart {
                session_id: self.id(),
            },
        )
    }

    /// `GET` the parts here (without the page query).
    pub fn list_parts(&self) -> String {
        self.pick(
            self.endpoints.list_parts.as_ref(),
            Endpoint::ListParts {
                session_id: self.id(),
            },
        )
    }

    /// `POST` the commit here.
    pub fn commit(&self) -> String {
        self.pick(
            self.endpoints.commit.as_ref(),
            Endpoint::Commit {
                session_id: self.id(),
            },
        )
    }

    /// `DELETE` here to abort.
    pub fn abort(&self) -> String {
        self.pick(
            self.endpoints.abort.as_ref(),
            Endpoint::Abort {
                session_id: self.id(),
            },
        )
    }

    /// `GET` the session here.
    pub fn status(&self) -> String {
        self.pick(
            self.endpoints.status.as_ref(),
            Endpoint::GetSession {
                session_id: self.id(),
            },
        )
    }
}

// -------------------------------------------------------------- requests

pub(crate) fn built(
    b: http::request::Builder,
    body: Bytes,
) -> Result<http::Request<Bytes>, String> {
    b.body(body).map_err(|e| e.to_string())
}

pub(crate) fn json_post(url: String) -> http::request::Builder {
    http::Request::post(url).header(http::header::CONTENT_TYPE, "application/json")
}

/// `POST` creating the session for `target` (a new file, or a new version).
pub fn create_session(
    upload_root: &str,
    target: &Target,
    file_size: u64,
) -> Result<http::Request<Bytes>, String> {
    let (url, body) = match target {
        Target::NewFile { folder_id, name } => (
            Endpoint::CreateSession.url(upload_root),
            encode_json(&CreateUploadSession {
                folder_id: folder_id.clone(),
                file_size,
                file_name: name.clone(),
            }),
        ),
        Target::NewVersion { file_id, name, .. } => (
            Endpoint::CreateVersionSession {
                file_id: file_id.clone(),
            }
            .url(upload_root),
            encode_json(&CreateVersionUploadSession {
                file_size,
                file_name: name.clone(),
            }),
        ),
    };
    built(json_post(url), Bytes::from(body))
}

/// `PUT` of one part: `Content-Range` and the part's SHA-1 in `Digest`.
pub fn upload_part(
    url: String,
    range: ContentRange,
    sha1: &Sha1Digest,
    data: Bytes,
) -> Result<http::Request<Bytes>, String> {
    let b = http::Request::put(url)
        .header(http::header::CONTENT_TYPE, "application/octet-stream")
        .header(header_names::CONTENT_RANGE, range.to_string())
        .header(header_names::DIGEST, DigestHeader::sha1_value(sha1));
    built(b, data)
}

/// `GET` of one page of parts (`offset` is an entry index).
pub fn list_parts(base: &str, offset: u64, limit: u64) -> Result<http::Request<Bytes>, String> {
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}{}", list_parts_query(offset, limit));
    built(http::Request::get(url), Bytes::new())
}

/// `POST` of the commit: the ordered parts, the whole file's SHA-1 in
/// `Digest`, optional attributes and `If-Match`.
pub fn commit(
    url: String,
    file_sha1: &Sha1Digest,
    parts: Vec<UploadPart>,
    attributes: Option<CommitAttributes>,
    if_match: Option<&str>,
) -> Result<http::Request<Bytes>, String> {
    let body = CommitRequest::new(parts, attributes);
    let mut b = json_post(url).header(header_names::DIGEST, DigestHeader::sha1_value(file_sha1));
    if let Some(etag) = if_match {
        b = b.header(header_names::IF_MATCH, etag);
    }
    built(b, Bytes::from(encode_json(&body)))
}

/// `DELETE` of the session.
pub fn abort(url: String) -> Result<http::Request<Bytes>, String> {
    built(http::Request::delete(url), Bytes::new())
}

/// A plain `GET` (session status, file object, file content).
pub fn get(url: String) -> Result<http::Request<Bytes>, String> {
    built(http::Request::get(url), Bytes::new())
}

// --------------------------------------------------------------- answers

/// The answer to a create: the session and its part plan for a source of
/// `file_size` bytes. A name conflict is [`UploadError::NameConflict`].
pub fn create_session_reply(reply: &Reply, file_size: u64) -> Verdict<(UploadSession, PartPlan)> {
    let kind = RequestKind::CreateSession;
    match reply.class(kind) {
        None => {
            let session = match reply.decode::<UploadSession>(kind) {
                Ok(s) => s,
                Err(e) => return Verdict::Fail(e),
            };
            match PartPlan::new(file_size, session.part_size) {
                Ok(p) if p.total_parts() == session.total_parts => Verdict::Success((session, p)),
                _ => Verdict::Fail(UploadError::Protocol {
                    kind,
                    detail: format!(
                        "session of {} parts of {} bytes cannot hold {} bytes",
                        session.total_parts, session.part_size, file_size
                    ),
                }),
            }
        }
        Some(FailureClass::Fatal) if reply.code() == ErrorCode::ItemNameInUse => {
            Verdict::Fail(name_conflict(reply.failure(kind)))
        }
        Some(class) => Verdict::refused(class, reply, kind),
    }
}

/// Whether a part's answer refuses its bytes as not matching the SHA-1 of
/// its `Digest` header: Box's `412` "precondition failed" for a part, or a
/// `digest_mismatch`. Bytes that changed after they were hashed (a file
/// changed under a mapped part) end like this, so the upload asks whether
/// the source changed before it fails.
pub fn part_bytes_refused(reply: &Reply) -> bool {
    reply.status == 412 || reply.code() == ErrorCode::DigestMismatch
}

/// The answer to a part's `PUT` of `size` bytes at `offset` with `sha1`:
/// the stored part and how it was confirmed. A `416` whose stored part is
/// ours is success ([`Confirmation::Reconciled`]); one with other bytes means
/// the source changed; one that names no usable part asks for a listing.
pub fn upload_part_reply(
    reply: &Reply,
    index: u64,
    offset: u64,
    size: u64,
    sha1: &Sha1Digest,
) -> Verdict<(UploadPart, Confirmation)> {
    let kind = RequestKind::UploadPart { index };
    match reply.class(kind) {
        None => match decode_json::<UploadedPart>(&reply.body) {
            Ok(UploadedPart { part }) if part.matches(offset, size, sha1) => {
                Verdict::Success((part, Confirmation::Uploaded))
            }
            Ok(UploadedPart { part }) => Verdict::Fail(UploadError::EchoMismatch {
                index,
                offset,
                size,
                sha1: *sha1,
                echo: Box::new(part),
            }),
            // A 2xx whose body we cannot read may still mean "stored":
            // repeat, and let the overlap rule reconcile.
            Err(e) => Verdict::Retry(Retry::ambiguous(
                Some(reply.status),
                format!("unreadable part response: {e}"),
            )),
        },
        Some(FailureClass::Overlap) => {
            let api = reply.failure(kind);
            match api.error.as_deref().and_then(BoxError::conflicting_part) {
                Some(p) if p.sha1.is_some() && p.offset == offset && p.size == size => {
                    stored_part_verdict(index, offset, size, sha1, p)
                }
                Some(p) if p.offset != offset => Verdict::Fail(UploadError::Protocol {
                    kind,
                    detail: format!(
                        "part at {offset} overlaps a stored part at {} of {} bytes",
                        p.offset, p.size
                    ),
                }),
                _ => Verdict::Reconcile,
            }
        }
        Some(class) => Verdict::refused(class, reply, kind),
    }
}

/// What the parts list says of a part whose `416` left its fate open:
/// stored with our bytes (success), with others (the source changed), or
/// not at all (`None`: send it again).
pub fn reconciled_part(
    listed: &[UploadPart],
    index: u64,
    offset: u64,
    size: u64,
    sha1: &Sha1Digest,
) -> Option<Verdict<(UploadPart, Confirmation)>> {
    let p = listed.iter().find(|p| p.offset == offset)?;
    Some(stored_part_verdict(index, offset, size, sha1, p.clone()))
}

fn stored_part_verdict(
    index: u64,
    offset: u64,
    size: u64,
    sha1: &Sha1Digest,
    stored: UploadPart,
) -> Verdict<(UploadPart, Confirmation)> {
    if stored.matches(offset, size, sha1) {
        Verdict::Success((stored, Confirmation::Reconciled))
    } else {
        Verdict::Fail(UploadError::SourceChanged(
            SourceChange::StoredPartDiffers {
                index,
                source_sha1: *sha1,
                stored: Box::new(stored),
            },
        ))
    }
}

/// Why a retry of a part that overlap-reconciliation found missing happens.
pub fn not_listed_after_overlap() -> Retry {
    Retry::ambiguous(
        None,
        "overlap reported but the part is not listed".to_owned(),
    )
}

/// The answer to one page of the parts list.
pub fn list_parts_reply(reply: &Reply, offset: u64) -> Verdict<UploadParts> {
    let kind = RequestKind::ListParts { offset };
    match reply.class(kind) {
        None => match reply.decode(kind) {
            Ok(page) => Verdict::Success(page),
            Err(e) => Verdict::Fail(e),
        },
        Some(class) => Verdict::refused(class, reply, kind),
    }
}

/// The answer to a commit with `sent` as the file's SHA-1: the file, `202`
/// (pending), `parts_mismatch` (a retry of class
/// [`FailureClass::PartsMismatch`], which callers bound separately), or a
/// refusal: `digest_mismatch` means the source changed, `409` a name
/// conflict, `412` a failed `If-Match`.
pub fn commit_reply(reply: &Reply, sent: &Sha1Digest, size: u64) -> Verdict<File> {
    let kind = RequestKind::Commit;
    match reply.class(kind) {
        None => match reply.decode::<Files>(kind).map(Files::into_first) {
            Ok(Some(file)) => match stored_mismatch(kind, &file, Some(sent), size) {
                Some(e) => Verdict::Fail(e),
                None => Verdict::Success(file),
            },
            Ok(None) => Verdict::Fail(UploadError::Protocol {
                kind,
                detail: "commit answered with no file".to_owned(),
            }),
            Err(e) => Verdict::Fail(e),
        },
        Some(FailureClass::Fatal) => {
            let api = reply.failure(kind);
            Verdict::Fail(match (reply.code(), reply.status) {
                (ErrorCode::DigestMismatch, _) => {
                    UploadError::SourceChanged(SourceChange::DigestRejected { sent: *sent })
                }
                (ErrorCode::ItemNameInUse, _) | (_, 409) => name_conflict(api),
                (_, 412) => UploadError::PreconditionFailed(api),
                _ => UploadError::Api(api),
            })
        }
        Some(class) => Verdict::refused(class, reply, kind),
    }
}

/// The answer to an abort: deleted, or gone already (as good as deleted).
pub fn abort_reply(reply: &Reply) -> Verdict<()> {
    match reply.class(RequestKind::Abort) {
        None | Some(FailureClass::SessionGone) => Verdict::Success(()),
        Some(class) => Verdict::refused(class, reply, RequestKind::Abort),
    }
}

/// The answer to a `GET` of `kind` whose body decodes as `T`.
pub fn get_reply<T: serde::de::DeserializeOwned>(reply: &Reply, kind: RequestKind) -> Verdict<T> {
    match reply.class(kind) {
        None => match reply.decode(kind) {
            Ok(v) => Verdict::Success(v),
            Err(e) => Verdict::Fail(e),
        },
        Some(class) => Verdict::refused(class, reply, kind),
    }
}
