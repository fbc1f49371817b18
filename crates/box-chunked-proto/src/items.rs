//! Requests about items as a server receives them: the check before upload
//! (`OPTIONS /files/content`), the `attributes` of a one-shot upload, and
//! the update of a file (`PUT /files/{id}`). Every field is optional so that
//! a server can name what is missing; numbers and ids decode as tolerantly
//! as everywhere.

use crate::{ParentFields, Timestamp};
use serde::{Deserialize, Serialize};

/// The body of the check before upload: `OPTIONS /files/content` (name,
/// parent, size) or `OPTIONS /files/{id}/content` (size, and a new name).
///
/// ```
/// use box_chunked_proto::{decode_json, PreflightFields};
/// let p: PreflightFields = decode_json(br#"{"name":"a.txt","parent":{"id":"0"},"size":"5"}"#).unwrap();
/// assert_eq!((p.name.as_deref(), p.size), (Some("a.txt"), Some(5)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PreflightFields {
    /// The file's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The folder it would go into.
    #[serde(default)]
    pub parent: Option<ParentFields>,
    /// Its size in bytes.
    #[serde(default, deserialize_with = "crate::json::lenient_opt_u64")]
    pub size: Option<u64>,
}

/// The answer of the check before upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadUrl {
    /// Where to send the file.
    pub upload_url: String,
    /// A token for that upload (this project's server does not require it).
    pub upload_token: String,
}

/// The `attributes` part of a one-shot upload (`POST /files/content`,
/// `POST /files/{id}/content`).
///
/// ```
/// use box_chunked_proto::{decode_json, UploadAttributes};
/// let a: UploadAttributes = decode_json(br#"{"name":"a.txt","parent":{"id":0}}"#).unwrap();
/// assert_eq!(a.parent.and_then(|p| p.id).as_deref(), Some("0"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UploadAttributes {
    /// The file's name (new files; a rename for versions).
    #[serde(default)]
    pub name: Option<String>,
    /// The folder (new files).
    #[serde(default)]
    pub parent: Option<ParentFields>,
    /// When the content was created, per the client.
    #[serde(default)]
    pub content_created_at: Option<Timestamp>,
    /// When the content was last modified, per the client.
    #[serde(default)]
    pub content_modified_at: Option<Timestamp>,
    /// The file's description.
    #[serde(default)]
    pub description: Option<String>,
}

/// The body of `PUT /files/{id}`: a rename, a move, a new description.
///
/// ```
/// use box_chunked_proto::{decode_json, UpdateFileFields};
/// let u: UpdateFileFields = decode_json(br#"{"parent":{"id":"7"}}"#).unwrap();
/// assert_eq!((u.name, u.parent.and_then(|p| p.id).as_deref()), (None, Some("7")));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UpdateFileFields {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new folder.
    #[serde(default)]
    pub parent: Option<ParentFields>,
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
}
