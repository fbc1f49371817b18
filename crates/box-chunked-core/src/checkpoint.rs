//! The resume checkpoint: versioned, serde, no secrets. It is data; what
//! makes one usable is checked in `upload/resume.rs`.

use crate::config::{Source, Target};
use box_chunked_proto::{CommitAttributes, SessionEndpoints, Timestamp, UploadPart};
use serde::{Deserialize, Serialize};

/// The checkpoint format this version writes and reads.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// Everything needed to resume an upload in another process.
///
/// It holds no credentials. The parts listed are a hint: on resume the
/// server's list is the truth, and every stored part is re-read and re-hashed
/// to prove the source did not change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version ([`CHECKPOINT_FORMAT`]).
    pub format: u32,
    /// Where the file goes.
    pub target: Target,
    /// The source's size and fingerprint.
    pub source: Source,
    /// The session.
    pub session: SessionInfo,
    /// Parts confirmed so far, by offset.
    pub parts: Vec<UploadPart>,
    /// Attributes to set at commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<CommitAttributes>,
}

/// The parts of an upload session a resume needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Session id.
    pub id: String,
    /// The session's URLs, used verbatim.
    pub endpoints: SessionEndpoints,
    /// Bytes per part.
    pub part_size: u64,
    /// Number of parts.
    pub total_parts: u64,
    /// When it expires, as the server said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}
