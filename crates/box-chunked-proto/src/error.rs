//! Box's error object (`ClientError`) and the error codes that change what a
//! client does.

use crate::json::lenient_opt_u64;
use crate::{Sha1Digest, UploadPart};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The `help_url` Box puts on its errors.
pub const HELP_URL: &str =
    "https://developer.box.com/guides/api-calls/permissions-and-errors/common-errors/";

/// Box's error body: `{"type":"error","status":..,"code":..,"message":..,...}`.
///
/// `context_info` is free-form; [`BoxError::conflicting_part`] and
/// [`BoxError::conflicts`] read the two shapes that matter to uploads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoxError {
    /// Always `"error"`.
    #[serde(rename = "type", default = "error_type")]
    pub kind: String,
    /// The HTTP status, repeated in the body.
    #[serde(
        default,
        deserialize_with = "lenient_opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<u64>,
    /// Box's error code (see [`ErrorCode`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Details that depend on the error.
    #[serde(default)]
    pub context_info: Option<serde_json::Value>,
    /// A link to Box's documentation of errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_url: Option<String>,
    /// Box's id for the request, to quote to Box support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

fn error_type() -> String {
    "error".to_owned()
}

impl BoxError {
    /// An error body with Box's fields filled in (`type`, `help_url`).
    pub fn new(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            kind: error_type(),
            status: Some(u64::from(status)),
            code: Some(code.as_str().to_owned()),
            message: Some(message.into()),
            context_info: None,
            help_url: Some(HELP_URL.to_owned()),
            request_id: None,
        }
    }

    /// An error body for a listed code, with the status Box gives it (`500`
    /// for a code not listed), so that the two cannot disagree.
    ///
    /// ```
    /// use box_chunked_proto::{BoxError, ErrorCode};
    /// let e = BoxError::of(ErrorCode::ItemNameInUse, "taken");
    /// assert_eq!((e.status, e.code.as_deref()), (Some(409), Some("item_name_in_use")));
    /// ```
    pub fn of(code: ErrorCode, message: impl Into<String>) -> Self {
        let status = code.status().unwrap_or(500);
        Self::new(status, code, message)
    }

    /// Sets `context_info`.
    #[must_use]
    pub fn with_context(mut self, context: serde_json::Value) -> Self {
        self.context_info = Some(context);
        self
    }

    /// Sets `request_id`.
    #[must_use]
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// The typed code; an absent code is [`ErrorCode::Other`] with an empty string.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::from(self.code.as_deref().unwrap_or(""))
    }

    /// `context_info.conflicting_part` of a `416 range_overlaps_existing_part`:
    /// the part the server already stores at that range.
    pub fn conflicting_part(&self) -> Option<UploadPart> {
        let v = self.context_info.as_ref()?.get("conflicting_part")?;
        serde_json::from_value(v.clone()).ok()
    }

    /// `context_info.conflicts` of a `409 item_name_in_use`: a single object
    /// for a file, an array for a folder; both come back as a list.
    pub fn conflicts(&self) -> Vec<ConflictItem> {
        let Some(v) = self.context_info.as_ref().and_then(|c| c.get("conflicts")) else {
            return Vec::new();
        };
        match v {
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|i| serde_json::from_value(i.clone()).ok())
                .collect(),
            obj @ serde_json::Value::Object(_) => serde_json::from_value(obj.clone())
                .ok()
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for BoxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status.map(|s| s.to_string()).unwrap_or_default();
        let code = self.code.as_deref().unwrap_or("");
        let message = self.message.as_deref().unwrap_or("");
        write!(f, "{status} {code}: {message}")?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

/// An item in `context_info.conflicts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictItem {
    /// `"file"` or `"folder"`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The conflicting item's id.
    #[serde(deserialize_with = "crate::json::lenient_string")]
    pub id: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its SHA-1, for files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<Sha1Digest>,
    /// Its etag.
    #[serde(
        default,
        deserialize_with = "crate::json::lenient_opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub etag: Option<String>,
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $text:literal => $status:literal ),+ $(,)?) => {
        /// Box error codes that change what a client or server does. Any other
        /// code is kept as [`ErrorCode::Other`]; Box's OpenAPI enum leaves most
        /// real codes out, so none is ever rejected.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )+
            /// A code not listed here, verbatim.
            Other(String),
        }

        impl ErrorCode {
            /// The code as Box writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Other(s) => s,
                }
            }

            /// The status Box answers with this code (`None` for a code not
            /// listed), so that a server cannot give a code with another status.
            pub const fn status(&self) -> Option<u16> {
                match self {
                    $( Self::$variant => Some($status), )+
                    Self::Other(_) => None,
                }
            }
        }

        impl From<&str> for ErrorCode {
            fn from(s: &str) -> Self {
                match s {
                    $( $text => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }
    };
}

error_codes! {
    /// `416`: the part's range overlaps a stored part (also a repeated range).
    RangeOverlapsExistingPart = "range_overlaps_existing_part" => 416,
    /// `409`: an item with that name exists in the folder.
    ItemNameInUse = "item_name_in_use" => 409,
    /// `400` at commit: the whole-file digest is wrong.
    DigestMismatch = "digest_mismatch" => 400,
    /// `400` at commit: the parts listed are not the parts stored.
    PartsMismatch = "parts_mismatch" => 400,
    /// `410`: the session has expired.
    SessionExpired = "session_expired" => 410,
    /// `410`: the session is in an unrecoverable state.
    UploadFailed = "upload_failed" => 410,
    /// `429`: too many requests.
    RateLimitExceeded = "rate_limit_exceeded" => 429,
    /// `400`: the file is below the chunked upload minimum.
    FileSizeTooSmall = "file_size_too_small" => 400,
    /// `400`: the name is not allowed.
    ItemNameInvalid = "item_name_invalid" => 400,
    /// `403`: not allowed (for sessions: not the user who created it).
    Forbidden = "forbidden" => 403,
    /// `404`: no such item, or not visible to this user.
    NotFound = "not_found" => 404,
    /// `401`: missing, invalid or expired token.
    Unauthorized = "unauthorized" => 401,
    /// `412`: `If-Match` / `If-None-Match` failed.
    PreconditionFailed = "precondition_failed" => 412,
    /// `400`: the request is malformed.
    BadRequest = "bad_request" => 400,
    /// `400`: the session id in the URL is malformed.
    InvalidUploadSessionId = "invalid_upload_session_id" => 400,
    /// `411`: no `Content-Length`.
    LengthRequired = "length_required" => 411,
    /// `413`: the body is larger than allowed.
    RequestEntityTooLarge = "request_entity_too_large" => 413,
    /// `416`: the `Content-Range` does not fit the session (alignment, size, total).
    RequestedRangeNotSatisfiable = "requested_range_not_satisfiable" => 416,
    /// `400`: the part body does not match its `Digest`.
    BadDigest = "bad_digest" => 400,
    /// `400`: the create request names no folder.
    MissingDestination = "missing_destination" => 400,
    /// `400`: `file_size` is not a valid size.
    InvalidFileSize = "invalid_file_size" => 400,
    /// `400`: `file_size` is missing.
    MissingFileSize = "missing_file_size" => 400,
    /// `400`: `file_name` is missing.
    MissingFileName = "missing_file_name" => 400,
    /// `403`: the account's storage is full.
    StorageLimitExceeded = "storage_limit_exceeded" => 403,
    /// `403`: the file is larger than the owner's per-file limit.
    FileSizeLimitExceeded = "file_size_limit_exceeded" => 403,
    /// `403`: no upload rights in the folder.
    AccessDeniedInsufficientPermissions = "access_denied_insufficient_permissions" => 403,
    /// `403`: a browser request from an origin the app does not list (CORS).
    CorsOriginNotWhitelisted = "cors_origin_not_whitelisted" => 403,
    /// `405`: the method is not allowed on this path.
    MethodNotAllowed = "method_not_allowed" => 405,
    /// `500`: the server failed.
    InternalServerError = "internal_server_error" => 500,
    /// `503`: the server is temporarily unavailable.
    Unavailable = "unavailable" => 503,
    /// `507`: the server has no space left to store what was sent.
    InsufficientStorage = "insufficient_storage" => 507,
    /// `408`: the request did not arrive in time.
    RequestTimeout = "request_timeout" => 408,
    /// `409`: the session was committed already (a part or commit after it).
    UploadSessionCommitted = "upload_session_committed" => 409,
    /// `400`: a one-shot upload's file part came before its `attributes`.
    MetadataAfterFileContents = "metadata_after_file_contents" => 400,
    /// `400`: a folder to delete has items and `recursive` was not given.
    FolderNotEmpty = "folder_not_empty" => 400,
    /// `400`: the `box-version` header names a version the server does not speak.
    InvalidApiVersion = "invalid_api_version" => 400,
    /// `502`: a server behind Box's front failed.
    BadGateway = "bad_gateway" => 502,
    /// `504`: a server behind Box's front did not answer in time.
    GatewayTimeout = "gateway_timeout" => 504,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for ErrorCode {
    fn from(s: String) -> Self {
        Self::from(s.as_str())
    }
}
