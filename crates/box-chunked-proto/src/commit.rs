//! The commit request.

use crate::{Timestamp, UploadPart};
use serde::{Deserialize, Serialize};

/// Body of `POST .../commit`.
///
/// `parts` must list every stored part ordered by offset; the whole-file
/// SHA-1 travels in the `Digest` header, not in the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRequest {
    /// Every part, ordered by offset.
    pub parts: Vec<UploadPart>,
    /// File attributes to set on the committed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<CommitAttributes>,
}

impl CommitRequest {
    /// A commit of `parts`, sorted here by offset so that callers cannot get the order wrong.
    pub fn new(mut parts: Vec<UploadPart>, attributes: Option<CommitAttributes>) -> Self {
        parts.sort_by_key(|p| p.offset);
        let attributes = attributes.filter(|a| !a.is_empty());
        Self { parts, attributes }
    }
}

/// Attributes accepted at commit (those of `POST /files/content`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CommitAttributes {
    /// When the content was created, per the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_created_at: Option<Timestamp>,
    /// When the content was last modified, per the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_modified_at: Option<Timestamp>,
    /// The file's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl CommitAttributes {
    /// True when no attribute is set (then none is sent).
    pub fn is_empty(&self) -> bool {
        self.content_created_at.is_none()
            && self.content_modified_at.is_none()
            && self.description.is_none()
    }
}

/// A commit body as a server receives it: the parts as the client listed
/// them (each field optional, numbers as tolerant as everywhere), and the
/// attributes. A server compares them with what it stores.
///
/// ```
/// use box_chunked_proto::{decode_json, CommitFields};
/// let c: CommitFields = decode_json(br#"{"parts":[{"part_id":"A","offset":0,"size":"8"}]}"#).unwrap();
/// let parts = c.parts.unwrap();
/// assert_eq!((parts[0].offset, parts[0].size, parts[0].sha1), (Some(0), Some(8), None));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CommitFields {
    /// The parts, in the order listed; `None` when the field is missing.
    #[serde(default)]
    pub parts: Option<Vec<CommitPartFields>>,
    /// Attributes to set on the file (`null` is none).
    #[serde(default)]
    pub attributes: Option<CommitAttributes>,
}

/// One listed part of a [`CommitFields`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitPartFields {
    /// The part's id, when given.
    #[serde(
        default,
        deserialize_with = "crate::json::lenient_opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub part_id: Option<String>,
    /// Its offset.
    #[serde(
        default,
        deserialize_with = "crate::json::lenient_opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub offset: Option<u64>,
    /// Its size.
    #[serde(
        default,
        deserialize_with = "crate::json::lenient_opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub size: Option<u64>,
    /// Its SHA-1, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<crate::Sha1Digest>,
    /// Its SHA-512, when given (on every listed part or on none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha512: Option<crate::Sha512Digest>,
}
