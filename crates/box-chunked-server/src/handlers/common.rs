//! What every handler shares: the error answer ([`Fail`]) and its Box
//! error shape, JSON and empty answers, small bodies, blocking store calls,
//! ids and time. No route lives here.

use crate::store::{Store, StoreError};
use crate::{Counters, State};
use box_chunked_proto::{decode_json, encode_json, BoxError, ErrorCode, Sha1Digest, Timestamp};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use http_body_util::{combinators::BoxBody, Empty, Full, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use sha1::{Digest as _, Sha1};
use std::io;
use std::time::{Duration, SystemTime};

pub(crate) type Body = BoxBody<Bytes, io::Error>;

pub(crate) type Dropped = Box<dyn std::error::Error + Send + Sync>;

/// How much of a body is hashed and written, or of a blob read, per
/// blocking call.
pub(crate) const FLUSH_AT: usize = 1 << 20;

/// A failed request: an error answer, or a dropped connection.
pub(crate) enum Fail {
    /// Box's error object; its status is the code's ([`ErrorCode::status`]),
    /// so the two cannot disagree.
    Api {
        code: ErrorCode,
        message: String,
        context: Option<Value>,
        retry_after: Option<u64>,
    },
    /// Drop the connection without an answer (injected faults).
    Drop(&'static str),
    /// An OAuth-style error (`{"error": .., "error_description": ..}`).
    OAuth(u16, &'static str, String),
}

impl Fail {
    /// With `context_info`.
    pub(crate) fn with_context(self, context: Value) -> Self {
        match self {
            Self::Api {
                code,
                message,
                retry_after,
                ..
            } => Self::Api {
                code,
                message,
                context: Some(context),
                retry_after,
            },
            other => other,
        }
    }

    /// With `Retry-After`.
    pub(crate) fn with_retry_after(self, secs: u64) -> Self {
        match self {
            Self::Api {
                code,
                message,
                context,
                ..
            } => Self::Api {
                code,
                message,
                context,
                retry_after: Some(secs),
            },
            other => other,
        }
    }
}

/// An error answer with Box's `code` (and the status that goes with it).
pub(crate) fn fail(code: ErrorCode, message: impl Into<String>) -> Fail {
    Fail::Api {
        code,
        message: message.into(),
        context: None,
        retry_after: None,
    }
}

/// Box's answer for an item that does not exist or that this user cannot
/// see, and for a path that names nothing.
pub(crate) fn not_found() -> Fail {
    fail(ErrorCode::NotFound, "Could not find the specified resource")
}

/// A failure of the server's own (its cause is logged where it happens).
pub(crate) fn internal() -> Fail {
    fail(ErrorCode::InternalServerError, "Internal server error")
}

/// A known path asked with a method it does not take.
pub(crate) fn method_not_allowed() -> Fail {
    fail(ErrorCode::MethodNotAllowed, "Method Not Allowed")
}

/// The error code Box gives a `5xx` status.
pub(crate) fn server_error(status: u16) -> ErrorCode {
    match status {
        502 => ErrorCode::BadGateway,
        503 => ErrorCode::Unavailable,
        504 => ErrorCode::GatewayTimeout,
        _ => ErrorCode::InternalServerError,
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        if e.is_out_of_space() {
            tracing::error!(error = %e, "out of storage space");
            return out_of_space();
        }
        tracing::error!(error = %e, "storage failure");
        internal()
    }
}

/// Box's error shape for a server out of space: `507 insufficient_storage`.
/// Earlier parts and files stay as they were; the client may try again once
/// space is freed.
pub(crate) fn out_of_space() -> Fail {
    fail(
        ErrorCode::InsufficientStorage,
        "The server has no storage space left for this request; nothing of it was kept",
    )
}

/// An IO failure while storing: `507` when the disk is full, `500` otherwise.
pub(crate) fn io_fail(e: &std::io::Error, what: &str) -> Fail {
    if crate::store::is_out_of_space(e) {
        tracing::error!(error = %e, what, "out of storage space");
        return out_of_space();
    }
    tracing::error!(error = %e, what, "storage failure");
    internal()
}

pub(crate) fn json_response<T: serde::Serialize>(status: u16, body: &T) -> Response<Body> {
    let bytes = Bytes::from(encode_json(body));
    let mut r = Response::new(Full::new(bytes).map_err(|e| match e {}).boxed());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub(crate) fn empty_response(status: u16) -> Response<Body> {
    let mut r = Response::new(Empty::new().map_err(|e| match e {}).boxed());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r
}

pub(crate) async fn blocking<T: Send + 'static>(
    st: &State,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Fail> {
    let store = st.store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|_| internal())?
        .map_err(Fail::from)
}

/// A small body (JSON, a form), whole, within `limit` bytes and the
/// server's JSON body timeout.
pub(crate) async fn small_body(
    st: &State,
    req: Request<Incoming>,
    limit: usize,
) -> Result<Bytes, Fail> {
    let collect = Limited::new(req.into_body(), limit).collect();
    let Ok(collected) = tokio::time::timeout(st.cfg.json_body_timeout, collect).await else {
        Counters::add(&st.counters.bodies_timed_out, 1);
        return Err(fail(
            ErrorCode::RequestTimeout,
            "The request body did not arrive in time",
        ));
    };
    match collected {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(fail(
            ErrorCode::RequestEntityTooLarge,
            "Request body too large",
        )),
        Err(_) => Err(Fail::Drop("client hung up")),
    }
}

/// Decodes a JSON body with proto's typed, tolerant decoders; a failure is
/// a `400` whose code `code_for` picks from the failing field's path.
pub(crate) fn decode_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    code_for: impl Fn(&str) -> ErrorCode,
) -> Result<T, Fail> {
    decode_json(body).map_err(|e| fail(code_for(&e.path), format!("Invalid JSON body: {e}")))
}

/// A file or folder name Box accepts: `400 item_name_invalid` otherwise.
pub(crate) fn valid_name(name: &str) -> Result<(), Fail> {
    box_chunked_proto::rules::validate_file_name(name).map_err(|e| {
        fail(
            ErrorCode::ItemNameInvalid,
            format!("Item name invalid: {e}"),
        )
    })
}

pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn timestamp(unix: i64) -> String {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    Timestamp::from_system_time(t).as_str().to_owned()
}

/// `bytes` random bytes as hex (see [`crate::store::random_hex`]).
pub(crate) fn random_hex(bytes: usize, upper: bool) -> String {
    let s = crate::store::random_hex(bytes);
    if upper {
        s.to_uppercase()
    } else {
        s
    }
}

pub(crate) fn request_id() -> String {
    random_hex(12, false)
}

/// A short, non-reversible name derived from a secret (for logs and default user names).
pub(crate) fn short_hash(secret: &str) -> String {
    Sha1Digest(Sha1::digest(secret.as_bytes()).into()).to_hex()
}

/// Box's error object as an answer, with `context_info` only when there is
/// some (Box omits it then).
pub(crate) fn error_response(e: &BoxError) -> Response<Body> {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        if obj.get("context_info").is_some_and(Value::is_null) {
            obj.remove("context_info");
        }
    }
    json_response(
        e.status.and_then(|s| u16::try_from(s).ok()).unwrap_or(500),
        &v,
    )
}
