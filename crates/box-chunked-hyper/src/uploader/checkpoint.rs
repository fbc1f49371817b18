//! Checkpoint files: the core's checkpoint plus the source's path, read and
//! written atomically, and the background writer that keeps the upload loop
//! from waiting for a disk. A checkpoint never holds a credential.

use super::{Callback, UploadEvent};
use crate::error::{Error, ErrorKind};
use crate::files::{read_versioned, write_atomically};
use box_chunked_core::Checkpoint;
use box_chunked_proto::urls::BaseUrls;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The on-disk checkpoint: the core's checkpoint plus where the source is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointFile {
    /// Format of this file.
    pub format: u32,
    /// The source file, when the upload is from a path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_path: Option<PathBuf>,
    /// The state machine's checkpoint (session, parts, target; no secrets).
    pub upload: Checkpoint,
    /// The URLs the upload used (never a credential), so that a resume
    /// needs only the credential again. Absent in older checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<CheckpointUrls>,
}

/// The client's URLs, as a checkpoint records them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointUrls {
    /// The API root.
    pub api: String,
    /// The upload root.
    pub upload: String,
    /// The OAuth token URL.
    pub oauth: String,
    /// The server was embedded in the uploading process (the `box-chunked`
    /// command's local server), so its port changes from run to run: a
    /// resume starts it again and points the session there.
    #[serde(default)]
    pub local_server: bool,
    /// The user the upload acted as (`As-User`), which a resume must act as
    /// again. A user id, not a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_user: Option<String>,
    /// The uploading program's own arguments for connecting the same way
    /// ([`crate::Uploader::resume_flags`]); never a secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

impl CheckpointFile {
    /// Reads a checkpoint file.
    pub fn read(path: &Path) -> Result<Self, Error> {
        read_versioned(path, "checkpoint", 1, |c: &Self| c.format)
    }

    /// The session as Box describes it, from what the checkpoint recorded.
    pub fn session(&self) -> box_chunked_proto::UploadSession {
        let s = &self.upload.session;
        box_chunked_proto::UploadSession {
            id: s.id.clone(),
            kind: "upload_session".into(),
            session_expires_at: s.expires_at.clone(),
            part_size: s.part_size,
            total_parts: s.total_parts,
            num_parts_processed: None,
            session_endpoints: s.endpoints.clone(),
        }
    }

    /// Points the session's URLs at a server's new base URL (`http://host:port`),
    /// keeping their paths: for a checkpoint of a local server embedded in a
    /// process, which listens on a new port each run.
    pub fn rebase_onto(&mut self, base: &str) {
        let e = &mut self.upload.session.endpoints;
        for url in [
            &mut e.upload_part,
            &mut e.commit,
            &mut e.abort,
            &mut e.list_parts,
            &mut e.status,
            &mut e.log_event,
            &mut e.plan,
        ]
        .into_iter()
        .flatten()
        {
            if let Some(old) = BaseUrls::base_of(url) {
                *url = format!("{}{}", base.trim_end_matches('/'), &url[old.len()..]);
            }
        }
    }

    /// Writes it atomically: a temporary file, fsync, rename, fsync the directory.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let io = |e: std::io::Error| {
            Error::new(
                ErrorKind::Io,
                format!("cannot write the checkpoint {}: {e}", path.display()),
            )
        };
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
        write_atomically(path, &json).map_err(io)
    }
}

/// Writes the checkpoint file in the background, so that the driver never
/// waits for a disk (two fsyncs per write, tens of milliseconds while the
/// disk is busy). The latest state wins: states that arrive while a write
/// runs are coalesced into the next write. Every state written is a state
/// the upload passed through, so a crash between writes leaves a checkpoint
/// at most a few parts behind, which resume reconciles with the server.
pub(super) struct CheckpointWriter {
    pub(super) latest: tokio::sync::watch::Sender<Option<CheckpointFile>>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

/// Tells of a checkpoint that could not be written (and logs it).
pub(super) fn failed(on_event: &Option<Callback>, path: &Path, error: String) {
    tracing::debug!(path = %path.display(), %error, "checkpoint not written");
    if let Some(f) = on_event {
        f(&UploadEvent::CheckpointFailed {
            path: path.to_path_buf(),
            error,
        });
    }
}

impl CheckpointWriter {
    pub(super) fn spawn(path: PathBuf, on_event: Option<Callback>) -> Self {
        let (latest, mut rx) = tokio::sync::watch::channel(None::<CheckpointFile>);
        let task = tokio::spawn(async move {
            // Ends once the sender is gone and its last state was written.
            while rx.changed().await.is_ok() {
                let Some(file) = rx.borrow_and_update().clone() else {
                    continue;
                };
                let p = path.clone();
                match tokio::task::spawn_blocking(move || file.write(&p)).await {
                    Ok(Ok(())) => {
                        if let Some(f) = &on_event {
                            f(&UploadEvent::CheckpointWritten(path.clone()));
                        }
                    }
                    Ok(Err(err)) => failed(&on_event, &path, err.to_string()),
                    Err(err) => failed(&on_event, &path, err.to_string()),
                }
            }
        });
        Self { latest, task }
    }

    pub(super) fn set(&self, file: CheckpointFile) {
        self.latest.send_replace(Some(file));
    }

    /// Waits until the latest state is on disk.
    pub(super) async fn flush(self) {
        drop(self.latest);
        let _ = self.task.await;
    }
}
