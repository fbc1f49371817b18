//! Upload sessions: the create requests and the `UploadSession` object.

use crate::json::{lenient_opt_u64, lenient_u64};
use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// Body of `POST /files/upload_sessions`: a session for a new file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateUploadSession {
    /// The folder the file goes into (`"0"` is the user's root).
    #[serde(deserialize_with = "crate::json::lenient_string")]
    pub folder_id: String,
    /// The whole file's size in bytes.
    #[serde(deserialize_with = "lenient_u64")]
    pub file_size: u64,
    /// The new file's name.
    pub file_name: String,
}

/// Body of `POST /files/{file_id}/upload_sessions`: a session for a new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateVersionUploadSession {
    /// The new version's size in bytes.
    #[serde(deserialize_with = "lenient_u64")]
    pub file_size: u64,
    /// A new name for the file; omitted to keep the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

/// The absolute URLs to use for everything after a session is created.
///
/// Box may serve a session from another host than the one that created it;
/// clients use these URLs verbatim and never rebuild them from the id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionEndpoints {
    /// `PUT` a part here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_part: Option<String>,
    /// `POST` the commit here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// `DELETE` here to abort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<String>,
    /// `GET` the uploaded parts here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_parts: Option<String>,
    /// `GET` the session here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Undocumented telemetry endpoint (`POST .../log`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_event: Option<String>,
    /// `POST` an upload session plan here: which parts the server already
    /// has (see [`crate::plan`]). Absent on servers without the plan API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// Box's `UploadSession` object (`201` from create, `200` from get).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSession {
    /// The session id (Box: 32 upper-case hex digits).
    pub id: String,
    /// Always `"upload_session"`.
    #[serde(rename = "type", default = "upload_session_type")]
    pub kind: String,
    /// When the session expires (7 days after creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_expires_at: Option<Timestamp>,
    /// Every part but the last has exactly this many bytes.
    #[serde(deserialize_with = "lenient_u64")]
    pub part_size: u64,
    /// `ceil(file_size / part_size)`.
    #[serde(deserialize_with = "lenient_u64")]
    pub total_parts: u64,
    /// Parts the server has finished processing; commit succeeds once this
    /// equals `total_parts`.
    #[serde(
        default,
        deserialize_with = "lenient_opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub num_parts_processed: Option<u64>,
    /// URLs for the session-scoped calls.
    #[serde(default)]
    pub session_endpoints: SessionEndpoints,
}

fn upload_session_type() -> String {
    "upload_session".to_owned()
}

/// Either create body as a server receives it (`POST /files/upload_sessions`
/// or `POST /files/{id}/upload_sessions`): every field optional and decoded
/// as tolerantly as a client decodes Box's answers, so that a server can
/// name the field that is missing (Box: `missing_file_size`,
/// `missing_destination`, `missing_file_name`) or wrong (the decode error's
/// path).
///
/// ```
/// use box_chunked_proto::{decode_json, CreateSessionFields};
/// let f: CreateSessionFields = decode_json(br#"{"folder_id":0,"file_size":"1e3"}"#).unwrap();
/// assert_eq!((f.folder_id.as_deref(), f.file_size, f.file_name), (Some("0"), Some(1000), None));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CreateSessionFields {
    /// The folder (new files only).
    #[serde(default, deserialize_with = "crate::json::lenient_opt_string")]
    pub folder_id: Option<String>,
    /// The file's size.
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub file_size: Option<u64>,
    /// The file's name (required for new files, optional for versions).
    #[serde(default)]
    pub file_name: Option<String>,
}
