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
