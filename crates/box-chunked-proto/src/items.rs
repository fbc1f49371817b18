//! Requests about items as a server receives them: the check before upload
//! (`OPTIONS /files/content`), the `attributes` of a one-shot upload, and
//! the updates of a file and a folder (`PUT /files/{id}`, `PUT
//! /folders/{id}`) with their shared links. Every field is optional so that
//! a server can name what is missing; numbers and ids decode as tolerantly
//! as everywhere. An update keeps every other field it was sent, so that a
//! server can tell a field Box knows ([`BOX_FILE_UPDATE_FIELDS`],
//! [`BOX_FOLDER_UPDATE_FIELDS`]) from one Box ignores.

use crate::{ParentFields, Timestamp};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// Every field Box's `PUT /files/{id}` takes (its OpenAPI description,
/// and `content_modified_at`, which Box honours and rclone sends).
pub const BOX_FILE_UPDATE_FIELDS: &[&str] = &[
    "name",
    "description",
    "parent",
    "shared_link",
    "lock",
    "disposition_at",
    "permissions",
    "collections",
    "tags",
    "content_modified_at",
];

/// Every field Box's `PUT /folders/{id}` takes (its OpenAPI description).
pub const BOX_FOLDER_UPDATE_FIELDS: &[&str] = &[
    "name",
    "description",
    "sync_state",
    "can_non_owners_invite",
    "parent",
    "shared_link",
    "folder_upload_email",
    "tags",
    "is_collaboration_restricted_to_enterprise",
    "collections",
    "can_non_owners_view_collaborators",
];

/// A field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A shared link as an update sets it (`{"shared_link": {...}}`); every
/// field optional, as Box's defaults fill in the rest.
///
/// ```
/// use box_chunked_proto::{decode_json, UpdateFileFields};
/// let u: UpdateFileFields = decode_json(br#"{"shared_link":{"access":"open","password":null}}"#).unwrap();
/// let link = u.shared_link.unwrap().unwrap();
/// assert_eq!((link.access.as_deref(), link.password), (Some("open"), Some(None)));
/// let removed: UpdateFileFields = decode_json(br#"{"shared_link":null}"#).unwrap();
/// assert_eq!(removed.shared_link, Some(None));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SharedLinkFields {
    /// `open`, `company` or `collaborators`.
    #[serde(default)]
    pub access: Option<String>,
    /// A password (`null` removes it).
    #[serde(default, deserialize_with = "present")]
    pub password: Option<Option<String>>,
    /// The custom part of a vanity URL.
    #[serde(default)]
    pub vanity_name: Option<String>,
    /// When the link stops working.
    #[serde(default)]
    pub unshared_at: Option<Timestamp>,
    /// What the link allows.
    #[serde(default)]
    pub permissions: Option<SharedLinkPermissionFields>,
}

/// A shared link's permissions as an update sets them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SharedLinkPermissionFields {
    /// Whether the link allows downloads.
    #[serde(default)]
    pub can_download: Option<bool>,
    /// Whether the link allows previews.
    #[serde(default)]
    pub can_preview: Option<bool>,
    /// Whether the link allows edits (files only).
    #[serde(default)]
    pub can_edit: Option<bool>,
}

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

/// The body of `PUT /files/{id}`: a rename, a move, a description, the
/// content's modification time, a shared link; the other fields sent.
///
/// ```
/// use box_chunked_proto::{decode_json, UpdateFileFields};
/// let u: UpdateFileFields = decode_json(br#"{"parent":{"id":"7"},"lock":{}}"#).unwrap();
/// assert_eq!((u.name, u.parent.and_then(|p| p.id).as_deref()), (None, Some("7")));
/// assert!(u.other.contains_key("lock"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
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
    /// When the content was last modified (rclone sets modification times so).
    #[serde(default)]
    pub content_modified_at: Option<Timestamp>,
    /// A shared link to set (`Some(Some)`) or remove (`Some(None)`).
    #[serde(default, deserialize_with = "present")]
    pub shared_link: Option<Option<SharedLinkFields>>,
    /// Every other field, by name.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// The body of `PUT /folders/{id}`: a rename, a move, a description, a
/// shared link; the other fields sent.
///
/// ```
/// use box_chunked_proto::{decode_json, UpdateFolderFields};
/// let u: UpdateFolderFields = decode_json(br#"{"name":"b","sync_state":"synced"}"#).unwrap();
/// assert_eq!(u.name.as_deref(), Some("b"));
/// assert!(u.other.contains_key("sync_state"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct UpdateFolderFields {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new parent folder.
    #[serde(default)]
    pub parent: Option<ParentFields>,
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// A shared link to set (`Some(Some)`) or remove (`Some(None)`).
    #[serde(default, deserialize_with = "present")]
    pub shared_link: Option<Option<SharedLinkFields>>,
    /// Every other field, by name.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}
