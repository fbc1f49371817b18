//! What the machine is asked to do: the target, the source, and the knobs.
//! Plain data; the rules that use it live in `ops`, `retry` and `upload`.

use crate::retry::RetryPolicy;
use crate::tune::Tuning;
use box_chunked_proto::CommitAttributes;
use serde::{Deserialize, Serialize};
use std::num::NonZeroUsize;
use std::time::Duration;

/// Where the uploaded bytes end up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A new file in a folder.
    NewFile {
        /// The folder (`"0"` is the root).
        folder_id: String,
        /// The new file's name.
        name: String,
    },
    /// A new version of an existing file.
    NewVersion {
        /// The file.
        file_id: String,
        /// A new name, or `None` to keep the current one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Commit only if the file's etag is still this (`If-Match`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_match: Option<String>,
    },
}

/// What is known about the bytes being uploaded, from the driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The exact number of bytes.
    pub size: u64,
    /// An opaque fingerprint (size, modification time, inode...) that the
    /// driver recomputes on resume; a different value means the source changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// What to do with the session when the upload fails for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Delete the session (one `DELETE`, briefly retried). The default.
    #[default]
    Abort,
    /// Keep it, so that a later process can resume from the checkpoint.
    Keep,
}

/// What to do when the session has expired (or vanished) before commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExpiry {
    /// End with [`crate::UploadError::SessionExpired`]. The default.
    #[default]
    Fail,
    /// Create a new session and upload everything again.
    StartOver,
}

/// Per-attempt time limits, carried on each request for the driver to
/// enforce; the machine enforces them too (an attempt past its deadline is
/// treated as an ambiguous failure and a [`crate::Output::Cancel`] is emitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A part upload (the body is large).
    pub part: Duration,
    /// Create, list, commit and abort.
    pub control: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            part: Duration::from_secs(300),
            control: Duration::from_secs(60),
        }
    }
}

/// The knobs of one upload.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UploadConfig {
    /// The upload API root for creating sessions
    /// (default `https://upload.box.com/api/2.0`). Session-scoped calls use
    /// the session's own `session_endpoints`.
    pub upload_root: String,
    /// Parts in flight at once (default 4) when [`UploadConfig::tuning`] is
    /// `None`. Bytes held never exceed `(parallelism + 1) x part_size`.
    /// Changeable while running with [`crate::Upload::set_parallelism`].
    pub parallelism: NonZeroUsize,
    /// Parallelism that tunes itself within these bounds ([`crate::tune`]);
    /// `None` (the default here; the hyper uploader's default is
    /// [`Tuning::default`]) for a fixed [`UploadConfig::parallelism`].
    pub tuning: Option<Tuning>,
    /// Retry classification and backoff.
    pub retry: RetryPolicy,
    /// Per-attempt time limits.
    pub timeouts: Timeouts,
    /// How long commit may keep answering `202` before the upload fails (default 10 minutes).
    pub commit_wait: Duration,
    /// The wait after a `202` that has no `Retry-After` (default 5 s).
    pub commit_poll_default: Duration,
    /// How many `400 parts_mismatch` answers to commit are retried (default 3):
    /// Box sometimes says so right after the last part, before it has caught up.
    pub parts_mismatch_retries: u32,
    /// Page size for listing parts (default and maximum 1000).
    pub list_limit: u64,
    /// Attributes to set at commit.
    pub attributes: Option<CommitAttributes>,
    /// What to do with the session after a final failure.
    pub on_failure: OnFailure,
    /// What to do when the session has expired.
    pub on_expiry: OnExpiry,
    /// A limit on the whole upload, from its start; `None` for none.
    pub deadline: Option<Duration>,
    /// Seed for the backoff jitter (same seed, same delays).
    pub jitter_seed: u64,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            upload_root: box_chunked_proto::urls::BOX_UPLOAD_URL.to_owned(),
            parallelism: NonZeroUsize::new(4).unwrap_or(NonZeroUsize::MIN),
            tuning: None,
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
            commit_wait: Duration::from_secs(600),
            commit_poll_default: Duration::from_secs(5),
            parts_mismatch_retries: 3,
            list_limit: box_chunked_proto::rules::MAX_LIST_PARTS_LIMIT,
            attributes: None,
            on_failure: OnFailure::Abort,
            on_expiry: OnExpiry::Fail,
            deadline: None,
            jitter_seed: 0x5eed_b0c5,
        }
    }
}
