//! The Box SDK's calls on a folder, a file and an upload session, by the
//! SDK's names: `client.folder(id).create_upload_session(..)`,
//! `client.file(id).create_upload_session(..)`, and on a session `get`,
//! `upload_part`, `get_parts`, `commit`, `abort`. Each is one of the core's
//! typed operations run by [`BoxClient::run`]; no Box rule lives here.

use crate::client::BoxClient;
use crate::error::{Error, ErrorKind};
use box_chunked_core::call::operations::{
    Abort, Commit, CreateSession, GetSession, ListParts, PutPart,
};
use box_chunked_core::ops::SessionUrls;
use box_chunked_core::Target;
use box_chunked_proto::{
    CommitAttributes, ContentRange, File, SessionEndpoints, Sha1Digest, UploadPart, UploadParts,
    UploadSession,
};
use bytes::Bytes;
use sha1::{Digest as _, Sha1};
use std::sync::Arc;

impl BoxClient {
    /// Operations on a folder.
    pub fn folder(&self, id: impl Into<String>) -> FolderRef {
        FolderRef::new(self.clone(), id.into())
    }

    /// Operations on a file.
    pub fn file(&self, id: impl Into<String>) -> FileRef {
        FileRef::new(self.clone(), id.into())
    }

    /// An upload session known only by id: URLs are built from the upload
    /// root until [`SessionRef::get`] returns its `session_endpoints`.
    pub fn upload_session(&self, id: impl Into<String>) -> SessionRef {
        SessionRef::new(self.clone(), id.into(), Known::default())
    }

    /// An upload session whose `session_endpoints` are known: they are used verbatim.
    pub fn session(&self, session: &UploadSession) -> SessionRef {
        let known = Known {
            endpoints: session.session_endpoints.clone(),
            part_size: Some(session.part_size),
        };
        SessionRef::new(self.clone(), session.id.clone(), known)
    }
}

/// A folder: `client.folder(id)`.
#[derive(Debug, Clone)]
pub struct FolderRef {
    client: BoxClient,
    id: String,
}

impl FolderRef {
    pub(crate) fn new(client: BoxClient, id: String) -> Self {
        Self { client, id }
    }

    /// Creates an upload session for a new file in this folder
    /// (`POST /files/upload_sessions`).
    pub async fn create_upload_session(
        &self,
        file_size: u64,
        file_name: &str,
    ) -> Result<UploadSession, Error> {
        let target = Target::NewFile {
            folder_id: self.id.clone(),
            name: file_name.to_owned(),
        };
        create(&self.client, target, file_size).await
    }
}

/// A file: `client.file(id)`.
#[derive(Debug, Clone)]
pub struct FileRef {
    client: BoxClient,
    id: String,
}

impl FileRef {
    pub(crate) fn new(client: BoxClient, id: String) -> Self {
        Self { client, id }
    }

    /// Creates an upload session for a new version of this file, optionally
    /// renaming it (`POST /files/{id}/upload_sessions`).
    pub async fn create_upload_session(
        &self,
        file_size: u64,
        file_name: Option<&str>,
    ) -> Result<UploadSession, Error> {
        let target = Target::NewVersion {
            file_id: self.id.clone(),
            name: file_name.map(str::to_owned),
            if_match: None,
        };
        create(&self.client, target, file_size).await
    }

    /// The file object.
    pub async fn get(&self) -> Result<File, Error> {
        self.client.get_file(&self.id).await
    }
}

async fn create(
    client: &BoxClient,
    target: Target,
    file_size: u64,
) -> Result<UploadSession, Error> {
    let upload_root = client.inner.urls.upload.clone();
    client
        .run(CreateSession {
            upload_root,
            target,
            file_size,
        })
        .await
}

/// Options of a commit beyond the parts and the digest.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Attributes to set on the file.
    pub attributes: Option<CommitAttributes>,
    /// Commit only if the file's etag is still this (new versions).
    pub if_match: Option<String>,
}

/// An upload session: `client.upload_session(id)` or `client.session(&session)`.
/// Clones share what is known of the session (its endpoints, its part size).
#[derive(Debug, Clone)]
pub struct SessionRef {
    client: BoxClient,
    id: String,
    known: Arc<std::sync::Mutex<Known>>,
}

/// What a [`SessionRef`] knows of its session beyond the id.
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub(crate) endpoints: SessionEndpoints,
    pub(crate) part_size: Option<u64>,
}

impl SessionRef {
    pub(crate) fn new(client: BoxClient, id: String, known: Known) -> Self {
        Self {
            client,
            id,
            known: Arc::new(std::sync::Mutex::new(known)),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One of the session's URLs (its endpoints, or built from the upload root).
    fn url(&self, which: fn(&SessionUrls<'_>) -> String) -> String {
        let k = self.known();
        which(&SessionUrls {
            id: &self.id,
            endpoints: &k.endpoints,
            upload_root: &self.client.inner.urls.upload,
        })
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session, as Box returns it (`GET`); its endpoints are used from now on.
    pub async fn get(&self) -> Result<UploadSession, Error> {
        let url = self.url(|u| u.status());
        let s = self.client.run(GetSession { url }).await?;
        let mut k = self.known();
        k.endpoints = s.session_endpoints.clone();
        k.part_size = Some(s.part_size);
        drop(k);
        Ok(s)
    }

    /// Uploads one part (`PUT`). The SHA-1 is computed when not given. The
    /// answer must echo the offset, size and SHA-1 sent; a repeated upload
    /// whose stored part is equal to this one returns the stored part.
    pub async fn upload_part(
        &self,
        bytes: Bytes,
        offset: u64,
        total_size: u64,
        part_sha1: Option<Sha1Digest>,
    ) -> Result<UploadPart, Error> {
        self.upload_part_paced(bytes, offset, total_size, part_sha1, None)
            .await
    }

    /// [`SessionRef::upload_part`], its body paced by `pace` (`--bwlimit`).
    pub(crate) async fn upload_part_paced(
        &self,
        bytes: Bytes,
        offset: u64,
        total_size: u64,
        part_sha1: Option<Sha1Digest>,
        pace: Option<std::sync::Arc<crate::body::Throttle>>,
    ) -> Result<UploadPart, Error> {
        let sha1 = part_sha1.unwrap_or_else(|| Sha1Digest(Sha1::digest(&bytes).into()));
        let range = ContentRange::new(offset, bytes.len() as u64, total_size)
            .map_err(|e| Error::new(ErrorKind::Config, format!("part at {offset}: {e}")))?;
        // The part's index, for errors: exact once the part size is known
        // (a session from `client.session(..)` or after `get()`).
        let index = match self.known().part_size {
            Some(p) if p > 0 => offset / p,
            _ if !range.is_empty() && offset.is_multiple_of(range.len()) => offset / range.len(),
            _ => 0,
        };
        let op = PutPart {
            url: self.url(|u| u.upload_part()),
            index,
            range,
            sha1,
            data: bytes,
        };
        self.client.run_with(op, None, None, pace).await
    }

    /// Every uploaded part, all pages.
    pub async fn get_parts(&self) -> Result<Vec<UploadPart>, Error> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .get_parts_page(offset, box_chunked_proto::rules::MAX_LIST_PARTS_LIMIT)
                .await?;
            let next = page.next_offset();
            out.extend(page.entries);
            match next {
                Some(n) => offset = n,
                None => return Ok(out),
            }
        }
    }

    /// One page of uploaded parts (`offset` is an entry index, `limit` at most 1000).
    pub async fn get_parts_page(&self, offset: u64, limit: u64) -> Result<UploadParts, Error> {
        let url = self.url(|u| u.list_parts());
        self.client.run(ListParts { url, offset, limit }).await
    }

    /// Commits the session with every part and the whole file's SHA-1,
    /// waiting through `202` answers within the client's commit deadline.
    pub async fn commit(
        &self,
        parts: Vec<UploadPart>,
        content_sha1: Sha1Digest,
    ) -> Result<File, Error> {
        self.commit_with(parts, content_sha1, CommitOptions::default())
            .await
    }

    /// [`SessionRef::commit`] with attributes and `If-Match`.
    pub async fn commit_with(
        &self,
        parts: Vec<UploadPart>,
        content_sha1: Sha1Digest,
        options: CommitOptions,
    ) -> Result<File, Error> {
        let op = Commit {
            url: self.url(|u| u.commit()),
            parts,
            sha1: content_sha1,
            attributes: options.attributes,
            if_match: options.if_match,
        };
        self.client.run(op).await
    }

    /// Aborts the session (`DELETE`): its parts are discarded. A session
    /// the server does not know (a wrong id, or one committed, aborted or
    /// expired) is an error whose [`Error::session_gone`] is true, unless
    /// an earlier attempt of this call may have deleted it.
    pub async fn abort(&self) -> Result<(), Error> {
        let url = self.url(|u| u.abort());
        self.client.run(Abort { url }).await
    }
}
