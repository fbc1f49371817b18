//! The client and the Box SDK's chunked upload calls, by the SDK's names.
//!
//! Each call is the core's [`Call`] machine driven over the transport: the
//! core builds the request, says what each answer means, when to wait and
//! what to retry. This module only sends, sleeps and converts errors; it
//! holds no Box rule.

use crate::builder::ClientBuilder;
use crate::error::{Error, ErrorKind};
use crate::transport::{BodySink, Failure, ReqBody, StreamTo, Transport};
use box_chunked_core::call::{Answer, Call, CallConfig, CallOutput, Operation};
use box_chunked_core::one_shot::MultipartTail;
use box_chunked_core::ops::SessionUrls;
use box_chunked_core::retry::RetryPolicy;
use box_chunked_core::{RequestKind, Target};
use box_chunked_proto::endpoints::Endpoint;
use box_chunked_proto::{
    CommitAttributes, ContentRange, File, SessionEndpoints, Sha1Digest, UploadPart, UploadParts,
    UploadSession,
};
use bytes::Bytes;
use sha1::{Digest as _, Sha1};
use std::sync::Arc;
use std::time::Duration;

/// How a streamed request body reports and paces itself.
#[derive(Clone, Default)]
pub(crate) struct BodyOptions {
    /// Counts the bytes handed to the network.
    pub(crate) progress: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// Paces the bytes (`--bwlimit`).
    pub(crate) throttle: Option<Arc<crate::body::Throttle>>,
}

/// A one-shot upload's file, streamed between the form's head and tail.
struct FileBody {
    path: Arc<std::path::PathBuf>,
    options: BodyOptions,
}

pub(crate) struct Inner {
    pub(crate) transport: Transport,
    /// Where the tokens come from (also inside `transport`'s auth layer).
    pub(crate) provider: std::sync::Arc<dyn crate::TokenProvider>,
    pub(crate) urls: box_chunked_proto::urls::BaseUrls,
    pub(crate) retry: RetryPolicy,
    pub(crate) control_timeout: Duration,
    pub(crate) part_timeout: Duration,
    pub(crate) commit_wait: Duration,
    pub(crate) one_shot_below: u64,
}

/// A Box client for chunked uploads. Cheap to clone; share one per process.
///
/// ```no_run
/// # async fn demo() -> Result<(), box_chunked_hyper::Error> {
/// use box_chunked_hyper::BoxClient;
/// let client = BoxClient::builder().token("ACCESS_TOKEN").build()?;
/// let session = client.folder("0").create_upload_session(50_000_000, "big.bin").await?;
/// println!("{} parts of {} bytes", session.total_parts, session.part_size);
/// client.session(&session).abort().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BoxClient {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for BoxClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxClient")
            .field("urls", &self.inner.urls)
            .finish_non_exhaustive()
    }
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl BoxClient {
    /// A builder with Box's URLs.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Gets a token now, as the first call would: a refused credential
    /// shows before any upload starts, and a first sign-in with
    /// [`RefreshTokenAuth::from_authorization_code`](crate::RefreshTokenAuth::from_authorization_code)
    /// writes its token file.
    pub async fn sign_in(&self) -> Result<(), Error> {
        self.inner.provider.token().await.map(|_| ())
    }

    /// The API root this client uses.
    pub fn api_url(&self) -> &str {
        &self.inner.urls.api
    }

    /// The upload root this client uses.
    pub fn upload_url(&self) -> &str {
        &self.inner.urls.upload
    }

    /// Operations on a folder.
    pub fn folder(&self, id: impl Into<String>) -> FolderRef {
        FolderRef {
            client: self.clone(),
            id: id.into(),
        }
    }

    /// Operations on a file.
    pub fn file(&self, id: impl Into<String>) -> FileRef {
        FileRef {
            client: self.clone(),
            id: id.into(),
        }
    }

    /// An upload session known only by id: URLs are built from the upload
    /// root until [`SessionRef::get`] returns its `session_endpoints`.
    pub fn upload_session(&self, id: impl Into<String>) -> SessionRef {
        SessionRef {
            client: self.clone(),
            id: id.into(),
            known: Arc::new(std::sync::Mutex::new(Known::default())),
        }
    }

    /// An upload session whose `session_endpoints` are known: they are used verbatim.
    pub fn session(&self, session: &UploadSession) -> SessionRef {
        SessionRef {
            client: self.clone(),
            id: session.id.clone(),
            known: Arc::new(std::sync::Mutex::new(Known {
                endpoints: session.session_endpoints.clone(),
                part_size: Some(session.part_size),
            })),
        }
    }

    /// The file object (`GET /files/{id}`).
    pub async fn get_file(&self, id: &str) -> Result<File, Error> {
        let file_id = id.to_owned();
        let url = Endpoint::GetFile { file_id }.url(&self.inner.urls.api);
        match self.run(Operation::GetFile { url }).await? {
            Answer::File(f) => Ok(*f),
            other => Err(unexpected(RequestKind::GetFile, &other)),
        }
    }

    /// Downloads a file's content and returns its size and SHA-1
    /// (`GET /files/{id}/content`; for checking an upload end to end). The
    /// content is hashed as it arrives, never held whole.
    pub async fn download_sha1(&self, id: &str) -> Result<(u64, Sha1Digest), Error> {
        let file_id = id.to_owned();
        let url = Endpoint::Download { file_id }.url(&self.inner.urls.api);
        let sink = Arc::new(HashSink::default());
        match self
            .run_streamed(Operation::Download { url }, Some(StreamTo(sink.clone())))
            .await?
        {
            Answer::Content(_) => {
                let (h, n) = sink.take();
                Ok((n, Sha1Digest(h.finalize().into())))
            }
            other => Err(unexpected(RequestKind::GetFile, &other)),
        }
    }

    /// Runs one operation to its end: the core's [`Call`] decides what to
    /// send, how long to wait and what to retry (docs/retries.md); this loop
    /// sends, sleeps and feeds the answers back.
    pub(crate) async fn run(&self, op: Operation) -> Result<Answer, Error> {
        self.run_streamed(op, None).await
    }

    /// [`BoxClient::run`], with a successful answer's body streamed to `sink`.
    pub(crate) async fn run_streamed(
        &self,
        op: Operation,
        sink: Option<StreamTo>,
    ) -> Result<Answer, Error> {
        self.run_with(op, sink, None).await
    }

    /// The check before upload (`OPTIONS /files/content`, or `/files/{id}/content`
    /// for a version): `Ok` when the upload would be accepted; a name
    /// conflict is an error that [`box_chunked_core::one_shot::conflict_of`] reads.
    pub async fn check_upload(&self, target: &Target, size: u64) -> Result<(), Error> {
        let op = Operation::Preflight {
            api_root: self.inner.urls.api.clone(),
            target: target.clone(),
            size,
        };
        match self.run(op).await? {
            Answer::UploadUrl(_) => Ok(()),
            other => Err(unexpected(RequestKind::Preflight, &other)),
        }
    }

    /// A one-shot upload of the file at `path` (`POST /files/content`, or
    /// `/files/{id}/content` for a version), streamed from the file with its
    /// SHA-1 in `Content-MD5`. The answer's size and SHA-1 are checked.
    pub(crate) async fn upload_one_shot(
        &self,
        target: &Target,
        path: &std::path::Path,
        size: u64,
        sha1: Sha1Digest,
        attributes: Option<CommitAttributes>,
        body: BodyOptions,
    ) -> Result<File, Error> {
        let op = Operation::UploadFile {
            upload_root: self.inner.urls.upload.clone(),
            target: target.clone(),
            size,
            sha1: Some(sha1),
            attributes,
            boundary_seed: crate::transport::os_seed(),
        };
        let file = FileBody {
            path: Arc::new(path.to_path_buf()),
            options: body,
        };
        match self.run_with(op, None, Some(file)).await? {
            Answer::File(f) => Ok(*f),
            other => Err(unexpected(RequestKind::UploadFile, &other)),
        }
    }

    /// Plans a session (`POST` to its `plan` URL): the hits are recorded in
    /// the session, the misses are to be sent.
    pub(crate) async fn plan(
        &self,
        url: &str,
        parts: Vec<box_chunked_proto::PlannedPart>,
    ) -> Result<box_chunked_proto::PlanResponse, Error> {
        let op = Operation::Plan {
            url: url.to_owned(),
            parts,
        };
        match self.run(op).await? {
            Answer::Plan(p) => Ok(*p),
            other => Err(unexpected(RequestKind::Plan, &other)),
        }
    }

    /// A folder named `name` in `parent`, created or (when one of that name
    /// is there) reused: its id (`POST /folders`).
    pub async fn ensure_folder(&self, parent: &str, name: &str) -> Result<String, Error> {
        let op = Operation::CreateFolder {
            api_root: self.inner.urls.api.clone(),
            parent: parent.to_owned(),
            name: name.to_owned(),
        };
        match self.run(op).await? {
            Answer::Folder(id) => Ok(id),
            other => Err(unexpected(RequestKind::CreateFolder, &other)),
        }
    }

    async fn run_with(
        &self,
        op: Operation,
        sink: Option<StreamTo>,
        file: Option<FileBody>,
    ) -> Result<Answer, Error> {
        let kind = op.kind();
        let cfg = CallConfig {
            retry: self.inner.retry.clone(),
            timeout: match kind {
                RequestKind::UploadPart { .. } | RequestKind::UploadFile => self.inner.part_timeout,
                _ => self.inner.control_timeout,
            },
            commit_wait: self.inner.commit_wait,
            jitter_seed: crate::transport::os_seed(),
            ..CallConfig::default()
        };
        let mut call = Call::new(op, cfg, now());
        loop {
            match call.poll(now()) {
                CallOutput::Send {
                    request,
                    attempt,
                    deadline,
                } => {
                    tracing::debug!(%kind, attempt, "sending");
                    let tail = request.extensions().get::<MultipartTail>().cloned();
                    let mut req = match (&file, tail) {
                        (Some(f), Some(t)) => request.map(|head| {
                            ReqBody::file(
                                head,
                                f.path.clone(),
                                t.file_len,
                                t.tail,
                                f.options.progress.clone(),
                            )
                            .throttled(f.options.throttle.clone())
                        }),
                        _ => request.map(|b| ReqBody::new(b, None)),
                    };
                    if let Some(s) = &sink {
                        req.extensions_mut().insert(s.clone());
                    }
                    let deadline = tokio::time::Instant::from_std(deadline);
                    match self.inner.transport.send(req, deadline).await {
                        Ok(resp) => call.handle_response(now(), resp),
                        Err(Failure::Final(e)) => return Err(e.with_operation(kind)),
                        Err(f) => call.handle_failure(now(), f.to_core()),
                    }
                }
                CallOutput::Wait(at) => {
                    tracing::debug!(%kind, "waiting before the next attempt");
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                }
                CallOutput::Done(result) => return result.map_err(Error::from),
            }
        }
    }
}

/// SHA-1 and length of a streamed body (the latest attempt's).
#[derive(Default)]
struct HashSink(std::sync::Mutex<(Sha1, u64)>);

impl HashSink {
    fn take(&self) -> (Sha1, u64) {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl BodySink for HashSink {
    fn start(&self) {
        let _ = self.take();
    }

    fn data(&self, piece: &Bytes) {
        let mut g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.0.update(piece);
        g.1 += piece.len() as u64;
    }
}

/// An answer in a few words, for errors.
fn describe(a: &Answer) -> &'static str {
    match a {
        Answer::Session(_) => "an upload session",
        Answer::Part(_) => "a part",
        Answer::Parts(_) => "a list of parts",
        Answer::File(_) => "a file",
        Answer::Aborted => "a deletion",
        Answer::Content(_) => "content",
        _ => "another answer",
    }
}

fn unexpected(kind: RequestKind, answer: &Answer) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!(
            "{kind}: the server answered with {} instead of what the request asks for",
            describe(answer)
        ),
    )
    .with_operation(kind)
}

/// A folder: `client.folder(id)`.
#[derive(Debug, Clone)]
pub struct FolderRef {
    client: BoxClient,
    id: String,
}

impl FolderRef {
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
    let op = Operation::CreateSession {
        upload_root: client.inner.urls.upload.clone(),
        target,
        file_size,
    };
    match client.run(op).await? {
        Answer::Session(s) => Ok(*s),
        other => Err(unexpected(RequestKind::CreateSession, &other)),
    }
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
struct Known {
    endpoints: SessionEndpoints,
    part_size: Option<u64>,
}

impl SessionRef {
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
        match self.client.run(Operation::GetSession { url }).await? {
            Answer::Session(s) => {
                let mut k = self.known();
                k.endpoints = s.session_endpoints.clone();
                k.part_size = Some(s.part_size);
                drop(k);
                Ok(*s)
            }
            other => Err(unexpected(RequestKind::GetSession, &other)),
        }
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
        let op = Operation::UploadPart {
            url: self.url(|u| u.upload_part()),
            index,
            range,
            sha1,
            data: bytes,
        };
        match self.client.run(op).await? {
            Answer::Part(p) => Ok(p),
            other => Err(unexpected(RequestKind::UploadPart { index }, &other)),
        }
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
        let op = Operation::ListParts {
            url: self.url(|u| u.list_parts()),
            offset,
            limit,
        };
        match self.client.run(op).await? {
            Answer::Parts(p) => Ok(p),
            other => Err(unexpected(RequestKind::ListParts { offset }, &other)),
        }
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
        let op = Operation::Commit {
            url: self.url(|u| u.commit()),
            parts,
            sha1: content_sha1,
            attributes: options.attributes,
            if_match: options.if_match,
        };
        match self.client.run(op).await? {
            Answer::File(f) => Ok(*f),
            other => Err(unexpected(RequestKind::Commit, &other)),
        }
    }

    /// Aborts the session (`DELETE`): its parts are discarded.
    pub async fn abort(&self) -> Result<(), Error> {
        let url = self.url(|u| u.abort());
        self.client.run(Operation::Abort { url }).await?;
        Ok(())
    }
}
