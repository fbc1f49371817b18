//! The client, its calls on files and folders, and the loop that runs one
//! call: the core's [`Call`] machine driven over the transport. The core
//! builds the request, says what each answer means (in the answer's own
//! type), when to wait and what to retry. This module only sends, sleeps
//! and converts errors; it holds no Box rule. The SDK's session calls, by
//! the SDK's names, are in `refs`.

use crate::builder::ClientBuilder;
use crate::error::Error;
use crate::transport::{BodySink, Failure, ReqBody, StreamTo, Transport};
use box_chunked_core::call::operations::{
    CreateFolder, Download, GetFile, Plan, Preflight, UploadFile,
};
use box_chunked_core::call::{Call, CallConfig, CallInput, CallOutput, Operation};
use box_chunked_core::one_shot::MultipartTail;
use box_chunked_core::retry::RetryPolicy;
use box_chunked_core::{RequestKind, Target};
use box_chunked_proto::endpoints::Endpoint;
use box_chunked_proto::{CommitAttributes, File, Sha1Digest};
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
pub(crate) struct FileBody {
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
    /// The user every call acts as (`As-User`), recorded in checkpoints.
    pub(crate) as_user: Option<String>,
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

    /// The file object (`GET /files/{id}`).
    pub async fn get_file(&self, id: &str) -> Result<File, Error> {
        let file_id = id.to_owned();
        let url = Endpoint::GetFile { file_id }.url(&self.inner.urls.api);
        self.run(GetFile { url }).await
    }

    /// Downloads a file's content and returns its size and SHA-1
    /// (`GET /files/{id}/content`; for checking an upload end to end). The
    /// content is hashed as it arrives, never held whole. Box answers with a
    /// redirect to its download host, which is followed (a few hops at
    /// most); the token goes only to the origins it belongs to.
    pub async fn download_sha1(&self, id: &str) -> Result<(u64, Sha1Digest), Error> {
        let file_id = id.to_owned();
        let mut url = Endpoint::Download { file_id }.url(&self.inner.urls.api);
        for hop in 0..5 {
            let sink = Arc::new(HashSink::default());
            let op = Download {
                url,
                redirected: hop > 0,
            };
            let fetched = self
                .run_with(op, Some(StreamTo(sink.clone())), None, None)
                .await?;
            match fetched {
                box_chunked_core::fetch::Fetched::Content(_) => {
                    let (h, n) = sink.take();
                    return Ok((n, Sha1Digest(h.finalize().into())));
                }
                box_chunked_core::fetch::Fetched::Elsewhere(next) => url = next,
            }
        }
        Err(Error::new(
            crate::ErrorKind::Protocol,
            format!("the download of file {id} was redirected more than 5 times"),
        ))
    }

    /// Runs one operation to its end: the core's [`Call`] decides what to
    /// send, how long to wait and what to retry (docs/retries.md); this loop
    /// sends, sleeps and feeds the answers back.
    pub(crate) async fn run<O: Operation>(&self, op: O) -> Result<O::Answer, Error> {
        self.run_with(op, None, None, None).await
    }

    /// The check before upload (`OPTIONS /files/content`, or `/files/{id}/content`
    /// for a version): `Ok` when the upload would be accepted; a name
    /// conflict is an error that [`box_chunked_core::conflicts::conflict_of`] reads.
    pub async fn check_upload(&self, target: &Target, size: u64) -> Result<(), Error> {
        let op = Preflight {
            api_root: self.inner.urls.api.clone(),
            target: target.clone(),
            size,
        };
        self.run(op).await.map(|_| ())
    }

    /// The file that holds `target`'s name when it is the one being
    /// uploaded (the same SHA-1 and size): after a lost answer, or a crash
    /// between a commit and its record. `local` gives the local SHA-1; it
    /// runs only when a file of the same size holds the name.
    pub(crate) async fn identical_at(
        &self,
        target: &Target,
        size: u64,
        local: impl std::future::Future<Output = Result<(Sha1Digest, u64), Error>>,
    ) -> Result<Option<File>, Error> {
        let Err(e) = self.check_upload(target, size).await else {
            return Ok(None);
        };
        let Some(conflict) = e.api().and_then(box_chunked_core::conflicts::conflict_in) else {
            return Err(e);
        };
        if conflict.kind != "file" {
            return Ok(None);
        }
        self.same_file(&conflict.id, size, local).await
    }

    /// The file `id` when it is the one being uploaded: its size is `size`
    /// and its SHA-1 the one `local` gives (asked only when the sizes agree).
    pub(crate) async fn same_file(
        &self,
        id: &str,
        size: u64,
        local: impl std::future::Future<Output = Result<(Sha1Digest, u64), Error>>,
    ) -> Result<Option<File>, Error> {
        let existing = self.get_file(id).await?;
        if existing.size != Some(size) {
            return Ok(None);
        }
        let (sha1, _) = local.await?;
        let same = box_chunked_core::conflicts::is_same_file(&existing, &sha1, size);
        Ok(same.then_some(existing))
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
        let op = UploadFile {
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
        self.run_with(op, None, Some(file), None).await
    }

    /// Plans a session (`POST` to its `plan` URL): the hits are recorded in
    /// the session, the misses are to be sent.
    pub(crate) async fn plan(
        &self,
        url: &str,
        parts: Vec<box_chunked_proto::PlannedPart>,
    ) -> Result<box_chunked_proto::PlanResponse, Error> {
        let url = url.to_owned();
        self.run(Plan { url, parts }).await
    }

    /// A folder named `name` in `parent`, created or (when one of that name
    /// is there) reused: its id (`POST /folders`).
    pub async fn ensure_folder(&self, parent: &str, name: &str) -> Result<String, Error> {
        let op = CreateFolder {
            api_root: self.inner.urls.api.clone(),
            parent: parent.to_owned(),
            name: name.to_owned(),
        };
        self.run(op).await
    }

    /// [`BoxClient::run`], with a successful answer's body streamed to
    /// `sink`, or the request's body streamed from `file`, or paced by
    /// `pace` (`--bwlimit`).
    pub(crate) async fn run_with<O: Operation>(
        &self,
        op: O,
        sink: Option<StreamTo>,
        file: Option<FileBody>,
        pace: Option<Arc<crate::body::Throttle>>,
    ) -> Result<O::Answer, Error> {
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
            match call.poll_output() {
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
                        _ => request.map(|b| ReqBody::new(b, None).throttled(pace.clone())),
                    };
                    if let Some(s) = &sink {
                        req.extensions_mut().insert(s.clone());
                    }
                    let deadline = tokio::time::Instant::from_std(deadline);
                    let input = match self.inner.transport.send(req, deadline).await {
                        Ok(resp) => CallInput::Response(resp),
                        Err(Failure::Final(e)) => return Err(e.with_operation(kind)),
                        Err(f) => CallInput::Failed(f.to_core()),
                    };
                    call.handle_input(now(), input);
                }
                CallOutput::Wait(at) => {
                    tracing::debug!(%kind, "waiting before the next attempt");
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                    call.handle_input(now(), CallInput::Timeout);
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
