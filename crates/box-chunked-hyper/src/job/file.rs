//! The job file: where a job's files go and where each stands, written
//! atomically at every change and read back to resume.

use crate::error::{Error, ErrorKind};
use crate::files::{read_versioned, write_atomically};
use crate::uploader::{CheckpointUrls, PutOutcome};
use box_chunked_core::conflicts::OnConflict;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The job file format this version writes and reads.
pub const JOB_FORMAT: u32 = 1;

/// A job: where the files go and each file's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFile {
    /// Format version ([`JOB_FORMAT`]).
    pub format: u32,
    /// The folder the files and directories go into.
    pub folder_id: String,
    /// What to do when a name is taken.
    pub on_conflict: OnConflict,
    /// The folders made (or found) for the job's directories: the relative
    /// directory (`a/b`) and its folder id.
    #[serde(default)]
    pub folders: BTreeMap<String, String>,
    /// The files, in the order they were found.
    pub entries: Vec<JobEntry>,
    /// The URLs the job uploads to (never a credential), so that a resume
    /// needs only the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<CheckpointUrls>,
}

/// One file of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEntry {
    /// The local file.
    pub path: PathBuf,
    /// Its place under the job's folder, `/`-separated (`photos/2026/a.jpg`).
    pub rel: String,
    /// Its size when the job was made.
    pub size: u64,
    /// Where it stands.
    #[serde(flatten)]
    pub state: EntryState,
}

/// Where a file of a job stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EntryState {
    /// Not started.
    Pending,
    /// Started: a chunked upload has this checkpoint (it may not exist yet
    /// for a one-shot upload, which has none).
    InProgress {
        /// The file's checkpoint.
        checkpoint: PathBuf,
    },
    /// On Box.
    Done {
        /// The file's id.
        id: String,
        /// Its SHA-1.
        sha1: Option<String>,
        /// What was done to get it there.
        outcome: PutOutcome,
    },
    /// Not uploaded, on purpose.
    Skipped {
        /// Why.
        reason: SkipReason,
    },
    /// Failed; the next run tries again (from the checkpoint, when the
    /// failure kept the session).
    Failed {
        /// The error, as a sentence.
        error: String,
        /// The file's checkpoint, when its session was kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        checkpoint: Option<PathBuf>,
    },
}

/// Why a file of a job is not uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SkipReason {
    /// One of the reasons this version gives.
    Known(Skip),
    /// A reason in words (job files of earlier versions).
    Other(String),
}

/// The reasons a job skips a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// A symbolic link, not followed (see [`JobFile::plan`]'s `follow_symlinks`).
    Symlink,
    /// Its name is not valid UTF-8.
    NotUtf8Name,
    /// Not a regular file (a device, a socket, ...).
    NotRegularFile,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Known(Skip::Symlink) => "a symbolic link (not followed)",
            Self::Known(Skip::NotUtf8Name) => "its name is not valid UTF-8",
            Self::Known(Skip::NotRegularFile) => "not a regular file",
            Self::Other(text) => text,
        })
    }
}

impl JobFile {
    /// Reads a job file.
    pub fn read(path: &Path) -> Result<Self, Error> {
        read_versioned(path, "job file", JOB_FORMAT, |j: &Self| j.format)
    }

    /// Writes it atomically (temporary file, fsync, rename).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
        write_atomically(path, &json).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot write the job file {}: {e}", path.display()),
            )
        })
    }

    /// Whether the file is finished (done or skipped).
    pub fn is_final(state: &EntryState) -> bool {
        matches!(state, EntryState::Done { .. } | EntryState::Skipped { .. })
    }
}
