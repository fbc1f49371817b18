//! The file object that a commit returns, and its parts.

use crate::json::{lenient_opt_string, lenient_opt_u64};
use crate::{Sha1Digest, Timestamp};
use serde::{Deserialize, Serialize};

/// `201` body of a commit: a list with exactly one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Files {
    /// Number of entries (1 after a commit).
    #[serde(
        default,
        deserialize_with = "lenient_opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_count: Option<u64>,
    /// The files.
    #[serde(default)]
    pub entries: Vec<File>,
}

/// A file version reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileVersion {
    /// Always `"file_version"`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The version id.
    #[serde(deserialize_with = "crate::json::lenient_string")]
    pub id: String,
    /// SHA-1 of this version's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<Sha1Digest>,
}

/// A folder reference (`parent`, `path_collection` entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderMini {
    /// Always `"folder"`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The folder id (`"0"` for the root).
    #[serde(deserialize_with = "crate::json::lenient_string")]
    pub id: String,
    /// Sequence id (null for the root).
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub sequence_id: Option<String>,
    /// Etag (null for the root).
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub etag: Option<String>,
    /// The folder name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The folders from the root to an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathCollection {
    /// Number of entries.
    #[serde(default, deserialize_with = "crate::json::lenient_u64")]
    pub total_count: u64,
    /// The folders, root first.
    #[serde(default)]
    pub entries: Vec<FolderMini>,
}

/// A user reference (`created_by`, `modified_by`, `owned_by`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMini {
    /// Always `"user"`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The user id.
    #[serde(deserialize_with = "crate::json::lenient_string")]
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Login email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
}

/// Box's file object, with the fields a commit returns.
///
/// Fields Box sends that are not modelled here are kept in `extra` and
/// written back on encode, so that a file printed by a tool is the file Box
/// returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct File {
    /// Always `"file"`.
    #[serde(rename = "type", default = "file_type")]
    pub kind: String,
    /// The file id.
    #[serde(deserialize_with = "crate::json::lenient_string")]
    pub id: String,
    /// Changes with every change to the file; used with `If-Match`.
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub etag: Option<String>,
    /// Sequence id.
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub sequence_id: Option<String>,
    /// SHA-1 of the content, lower-case hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<Sha1Digest>,
    /// The file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Size in bytes (Box has sent this in float exponent form).
    #[serde(
        default,
        deserialize_with = "lenient_opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub size: Option<u64>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_version: Option<FileVersion>,
    /// The folder that holds the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<FolderMini>,
    /// The folders from the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_collection: Option<PathCollection>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// Last modification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<Timestamp>,
    /// When the content was created (client-supplied at commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_created_at: Option<Timestamp>,
    /// When the content was modified (client-supplied at commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_modified_at: Option<Timestamp>,
    /// When it was trashed (Box always sends the field, `null` if not).
    #[serde(default)]
    pub trashed_at: Option<Timestamp>,
    /// When it was purged (Box always sends the field, `null` if not).
    #[serde(default)]
    pub purged_at: Option<Timestamp>,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<UserMini>,
    /// Who last modified it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_by: Option<UserMini>,
    /// Who owns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_by: Option<UserMini>,
    /// `active`, `trashed` or `deleted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_status: Option<String>,
    /// Every other field Box sent, verbatim.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn file_type() -> String {
    "file".to_owned()
}

impl Files {
    /// The committed file: the first entry.
    pub fn into_first(self) -> Option<File> {
        self.entries.into_iter().next()
    }
}
