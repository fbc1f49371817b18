//! One file to its target, whatever its size and whatever holds its name.
//! The check before upload comes first (so a conflict costs no byte) and a
//! conflict is resolved by the core's policy ([`conflicts::resolve`]); then
//! a small file goes up in one streamed request, a big one through the
//! chunked machine, and a new version to a server with the upload session
//! plan sends only the parts that changed (the rest are planned hits, which
//! the machine then finds stored and verifies like a resume).

use super::source::{fingerprint, open_source, UploadSource};
use super::{now, Command, Uploader};
use crate::client::BodyOptions;
use crate::error::{Error, ErrorKind, Remedy};
use box_chunked_core::conflicts::{self, Conflict, Resolution};
use box_chunked_core::one_shot;
use box_chunked_core::{Checkpoint, SessionInfo, Target, Upload, CHECKPOINT_FORMAT};
use box_chunked_proto::{File, Sha1Digest};
use sha1::{Digest as _, Sha1};
use std::io::Read as _;
use std::path::{Path, PathBuf};

type Commands = tokio::sync::mpsc::UnboundedReceiver<Command>;

/// What [`Uploader::put`] did (in a job file, `uploaded`, `version`,
/// `skipped` or `renamed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PutOutcome {
    /// A new file.
    Uploaded,
    /// A new version of the file that had the name (`OnConflict::Version`,
    /// or a [`Target::NewVersion`]).
    Version,
    /// Nothing sent: the file there has the same SHA-1 and size (`OnConflict::Skip`).
    Skipped,
    /// A new file under a numbered name (`OnConflict::Rename`).
    Renamed,
}

impl PutOutcome {
    /// `uploaded`, `version`, `skipped` or `renamed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploaded => "uploaded",
            Self::Version => "version",
            Self::Skipped => "skipped",
            Self::Renamed => "renamed",
        }
    }
}

/// The file and what was done to get it there.
#[derive(Debug, Clone)]
pub struct Put {
    /// The file on Box.
    pub file: File,
    /// What was done.
    pub outcome: PutOutcome,
    /// Parts of a new version that the plan found unchanged (not sent).
    pub parts_planned: u64,
}

fn target_name(t: &Target) -> Option<&str> {
    match t {
        Target::NewFile { name, .. } => Some(name),
        Target::NewVersion { name, .. } => name.as_deref(),
    }
}

fn with_name(t: &Target, n: String) -> Target {
    match t {
        Target::NewFile { folder_id, .. } => Target::NewFile {
            folder_id: folder_id.clone(),
            name: n,
        },
        Target::NewVersion {
            file_id, if_match, ..
        } => Target::NewVersion {
            file_id: file_id.clone(),
            name: Some(n),
            if_match: if_match.clone(),
        },
    }
}

/// The SHA-1 of a file (one read pass, off the executor).
pub(crate) async fn file_sha1(path: &Path) -> Result<(Sha1Digest, u64), Error> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> std::io::Result<(Sha1Digest, u64)> {
        let mut f = std::fs::File::open(&p)?;
        let mut h = Sha1::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            let k = f.read(&mut buf)?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k as u64;
        }
        Ok((Sha1Digest(h.finalize().into()), n))
    })
    .await
    .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?
    .map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot read {}: {e}", path.display()),
        )
    })
}

impl Uploader {
    /// Uploads `source` to `target` as the settings say: after the check
    /// before upload, resolving a name conflict by
    /// [`Uploader::on_conflict`]; in one request below
    /// [`Uploader::one_shot_below`]; and for a new version, sending only the
    /// parts the server's plan does not already have. Returns the file and
    /// what was done.
    pub async fn put(&self, target: Target, source: UploadSource) -> Result<Put, Error> {
        self.put_with(target, source, None).await
    }

    pub(super) async fn put_with(
        &self,
        target: Target,
        source: UploadSource,
        commands: Option<Commands>,
    ) -> Result<Put, Error> {
        let local = Local::of(&source);
        let size = local.size().await?;
        let mut target = target;
        let mut outcome = match target {
            Target::NewVersion { .. } => PutOutcome::Version,
            Target::NewFile { .. } => PutOutcome::Uploaded,
        };
        let name = target_name(&target).unwrap_or_default().to_owned();
        let mut attempt = 0;
        loop {
            let checked = self.client.check_upload(&target, size).await;
            let Err(e) = checked else { break };
            let Some(conflict) = e.api().and_then(conflicts::conflict_in) else {
                return Err(e);
            };
            attempt += 1;
            match conflicts::resolve(self.on_conflict, &conflict, &name, attempt) {
                Resolution::Fail => return Err(e),
                Resolution::NewVersion { file_id } => {
                    target = Target::NewVersion {
                        file_id,
                        name: None,
                        if_match: None,
                    };
                    outcome = PutOutcome::Version;
                }
                Resolution::CompareWith { file_id } => {
                    return self.skip_if_same(&conflict, &file_id, &local, size).await;
                }
                Resolution::Rename(n) => {
                    target = with_name(&target, n);
                    outcome = PutOutcome::Renamed;
                }
            }
        }
        let (file, parts_planned) = if one_shot::is_one_shot(size, self.one_shot_below) {
            (self.one_shot(&target, source, size).await?, 0)
        } else {
            self.chunked(target, source, commands).await?
        };
        Ok(Put {
            file,
            outcome,
            parts_planned,
        })
    }

    /// `OnConflict::Skip`: the file there is this one (same SHA-1 and size),
    /// or the upload fails saying so.
    async fn skip_if_same(
        &self,
        conflict: &Conflict,
        file_id: &str,
        source: &Local,
        size: u64,
    ) -> Result<Put, Error> {
        let existing = self.client.file(file_id).get().await?;
        let local = match source {
            Local::Path(p) => file_sha1(p).await?.0,
            Local::Bytes(b) => Sha1Digest(Sha1::digest(b).into()),
            Local::Stream(_) => {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "file {} already has this name, and a stream cannot be compared with it to skip it",
                        conflict.id
                    ),
                )
                .with_remedy(Remedy::ConflictPolicy))
            }
        };
        if conflicts::is_same_file(&existing, &local, size) {
            return Ok(Put {
                file: existing,
                outcome: PutOutcome::Skipped,
                parts_planned: 0,
            });
        }
        Err(Error::new(
            ErrorKind::Refused,
            format!(
                "file {} ({}) already has this name with other content ({} bytes, SHA-1 {}; this one has {size} bytes, SHA-1 {}); nothing was sent",
                existing.id,
                existing.name.as_deref().unwrap_or(""),
                existing.size.unwrap_or(0),
                existing.sha1.map_or_else(|| "unknown".to_owned(), |s| s.to_hex()),
                local.to_hex()
            ),
        )
        .with_remedy(Remedy::ConflictPolicy))
    }

    /// A small file in one request, streamed from its file (a stream or
    /// bytes in memory are written to a temporary file first, so that the
    /// SHA-1 goes in `Content-MD5` and a retry can send them again).
    async fn one_shot(
        &self,
        target: &Target,
        source: UploadSource,
        size: u64,
    ) -> Result<File, Error> {
        let (path, _spool) = match source {
            UploadSource::Path(p) => (p, None),
            other => {
                let spool = Spool::write(other, size).await?;
                (spool.0.clone(), Some(spool))
            }
        };
        let before = std::fs::metadata(&path)
            .map(|m| fingerprint(&m))
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
        let (sha1, read) = file_sha1(&path).await?;
        if read != size {
            return Err(changed(&path, format!("it has {read} bytes, not {size}")));
        }
        let body = BodyOptions {
            progress: None,
            throttle: self.throttle.clone(),
        };
        let sent = self
            .client
            .upload_one_shot(target, &path, size, sha1, self.attributes.clone(), body)
            .await;
        let after = std::fs::metadata(&path).map(|m| fingerprint(&m)).ok();
        if after.as_deref() != Some(before.as_str()) {
            return Err(changed(
                &path,
                "it was modified during the upload".to_owned(),
            ));
        }
        if sent.is_ok() {
            if let Some(f) = &self.on_event {
                f(&super::UploadEvent::Progress {
                    bytes_sent: size,
                    bytes_confirmed: size,
                    bytes_total: size,
                    parts_in_flight: 0,
                    parallelism: 1,
                });
            }
        }
        match sent {
            Ok(f) => Ok(f),
            // The answer was lost and the upload may have happened: if the
            // name now holds exactly this file, it is ours.
            Err(e) if e.kind() == ErrorKind::NetworkExhausted => {
                let local = std::future::ready(Ok((sha1, size)));
                match self.client.identical_at(target, size, local).await {
                    Ok(Some(existing)) => Ok(existing),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// A big file through the chunked machine; for a new version to a server
    /// with the plan, the unchanged parts are planned first and not sent.
    async fn chunked(
        &self,
        target: Target,
        source: UploadSource,
        commands: Option<Commands>,
    ) -> Result<(File, u64), Error> {
        let (file_id, name, path) = match (&target, &source) {
            (Target::NewVersion { file_id, name, .. }, UploadSource::Path(p)) if self.delta => {
                (file_id.clone(), name.clone(), p.clone())
            }
            _ => return Ok((self.upload_chunked(target, source, commands).await?, 0)),
        };
        let (src, reader, spath) = open_source(UploadSource::Path(path.clone())).await?;
        let session = self
            .client
            .file(&file_id)
            .create_upload_session(src.size, name.as_deref())
            .await?;
        let (mut pass, mut hits) = (None, 0);
        if let Some(url) = session.session_endpoints.plan.clone() {
            match self.pass_and_plan(&path, src.size, &session, &url).await {
                Ok((p, planned)) => {
                    hits = planned.hits;
                    pass = Some((p, planned));
                }
                // Without a plan every part is sent, as without the endpoint.
                Err(e) => tracing::info!(error = %e, "the read pass failed; sending every part"),
            }
        }
        let cp = Checkpoint {
            format: CHECKPOINT_FORMAT,
            target,
            source: src.clone(),
            session: SessionInfo {
                id: session.id.clone(),
                endpoints: session.session_endpoints.clone(),
                part_size: session.part_size,
                total_parts: session.total_parts,
                expires_at: session.session_expires_at.clone(),
            },
            parts: Vec::new(),
            attributes: self.attributes.clone(),
        };
        let upload = Upload::resume(cp, src, self.core(), now())?;
        let file = self
            .drive_after_pass(upload, reader, spath, commands, pass)
            .await?;
        Ok((file, hits))
    }
}

fn changed(path: &Path, what: String) -> Error {
    Error::new(
        ErrorKind::SourceChanged,
        format!(
            "the source changed during the upload: {} {what}; nothing was committed: upload it again once it is complete",
            path.display()
        ),
    )
}

/// What can be learned about a source without consuming it.
enum Local {
    Path(PathBuf),
    Bytes(bytes::Bytes),
    Stream(u64),
}

impl Local {
    fn of(source: &UploadSource) -> Self {
        match source {
            UploadSource::Path(p) => Self::Path(p.clone()),
            UploadSource::Bytes(b) => Self::Bytes(b.clone()),
            UploadSource::Reader(_, n) => Self::Stream(*n),
        }
    }

    async fn size(&self) -> Result<u64, Error> {
        Ok(match self {
            Self::Path(p) => tokio::fs::metadata(p)
                .await
                .map_err(|e| {
                    Error::new(ErrorKind::Io, format!("cannot read {}: {e}", p.display()))
                })?
                .len(),
            Self::Bytes(b) => b.len() as u64,
            Self::Stream(n) => *n,
        })
    }
}

/// A temporary copy of a small stream, removed when dropped.
struct Spool(PathBuf);

impl Spool {
    async fn write(source: UploadSource, size: u64) -> Result<Self, Error> {
        use tokio::io::AsyncWriteExt as _;
        let path = std::env::temp_dir().join(format!(
            "box-chunked-spool-{}-{:016x}",
            std::process::id(),
            crate::transport::os_seed()
        ));
        let spool = Self(path.clone());
        let io = |e: std::io::Error| {
            Error::new(
                ErrorKind::Io,
                format!("cannot spool the stream to {}: {e}", path.display()),
            )
        };
        let mut f = tokio::fs::File::create(&path).await.map_err(io)?;
        let n = match source {
            UploadSource::Bytes(b) => {
                f.write_all(&b).await.map_err(io)?;
                b.len() as u64
            }
            UploadSource::Reader(r, _) => {
                // One byte more than announced shows a longer stream.
                let mut limited = tokio::io::AsyncReadExt::take(r, size + 1);
                tokio::io::copy(&mut limited, &mut f).await.map_err(io)?
            }
            UploadSource::Path(_) => 0,
        };
        f.flush().await.map_err(io)?;
        if n != size {
            return Err(Error::new(
                ErrorKind::SourceChanged,
                if n > size {
                    format!("the stream went on past its announced size of {size} bytes; nothing was sent")
                } else {
                    format!("the stream ended after {n} bytes, but its announced size is {size} bytes; nothing was sent")
                },
            ));
        }
        Ok(spool)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
