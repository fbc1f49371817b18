//! The client and the Box SDK's chunked upload calls, by the SDK's names.

use crate::auth::{ClientCredentials, Secret, StaticToken, Subject, TokenProvider};
use crate::error::{Error, ErrorKind};
use crate::transport::{Failure, ReqBody, Transport, TransportConfig};
use box_chunked_core::retry::{
    classify_status, classify_transport, FailureClass, Jitter, RetryPolicy,
};
use box_chunked_core::{ApiFailure, RequestKind};
use box_chunked_proto::endpoints::{list_parts_query, Endpoint};
use box_chunked_proto::{
    decode_json, encode_json, header_names, parse_http_date, BoxError, CommitAttributes,
    CommitRequest, CreateUploadSession, CreateVersionUploadSession, DigestHeader, File, Files,
    RetryAfter, SessionEndpoints, Sha1Digest, UploadPart, UploadParts, UploadSession, UploadedPart,
};
use bytes::Bytes;
use sha1::{Digest as _, Sha1};
use std::sync::Arc;
use std::time::Duration;

/// Box's API root.
pub const DEFAULT_API_URL: &str = "https://api.box.com/2.0";
/// Box's upload root.
pub const DEFAULT_UPLOAD_URL: &str = "https://upload.box.com/api/2.0";
/// Box's OAuth token endpoint.
pub const DEFAULT_OAUTH_URL: &str = "https://api.box.com/oauth2/token";

pub(crate) struct Inner {
    pub(crate) transport: Transport,
    pub(crate) api_url: String,
    pub(crate) upload_url: String,
    pub(crate) retry: RetryPolicy,
    pub(crate) control_timeout: Duration,
    pub(crate) part_timeout: Duration,
    pub(crate) commit_wait: Duration,
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
            .field("api_url", &self.inner.api_url)
            .field("upload_url", &self.inner.upload_url)
            .finish_non_exhaustive()
    }
}

enum AuthChoice {
    Provider(Arc<dyn TokenProvider>),
    ClientCredentials(String, Secret, Subject),
}

/// Builds a [`BoxClient`].
pub struct ClientBuilder {
    auth: Option<AuthChoice>,
    api_url: String,
    upload_url: String,
    oauth_url: String,
    allow_http: bool,
    http2_only: bool,
    retry: RetryPolicy,
    connect_timeout: Duration,
    control_timeout: Duration,
    part_timeout: Duration,
    commit_wait: Duration,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_url", &self.api_url)
            .field("upload_url", &self.upload_url)
            .field("oauth_url", &self.oauth_url)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            auth: None,
            api_url: DEFAULT_API_URL.to_owned(),
            upload_url: DEFAULT_UPLOAD_URL.to_owned(),
            oauth_url: DEFAULT_OAUTH_URL.to_owned(),
            allow_http: false,
            http2_only: false,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            control_timeout: Duration::from_secs(60),
            part_timeout: Duration::from_secs(300),
            commit_wait: Duration::from_secs(600),
        }
    }
}

impl ClientBuilder {
    /// A fixed access token (developer token, `BOX_ACCESS_TOKEN`).
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.auth = Some(AuthChoice::Provider(Arc::new(StaticToken::new(token))));
        self
    }

    /// Box's client-credentials grant.
    #[must_use]
    pub fn client_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        subject: Subject,
    ) -> Self {
        self.auth = Some(AuthChoice::ClientCredentials(
            client_id.into(),
            Secret::new(client_secret),
            subject,
        ));
        self
    }

    /// Any token provider.
    #[must_use]
    pub fn token_provider(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.auth = Some(AuthChoice::Provider(provider));
        self
    }

    /// The API root (default `https://api.box.com/2.0`).
    #[must_use]
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The upload root (default `https://upload.box.com/api/2.0`).
    #[must_use]
    pub fn upload_url(mut self, url: impl Into<String>) -> Self {
        self.upload_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The OAuth token URL (default `https://api.box.com/oauth2/token`).
    #[must_use]
    pub fn oauth_url(mut self, url: impl Into<String>) -> Self {
        self.oauth_url = url.into();
        self
    }

    /// Points all three URLs at a box-chunked server (or any Box-compatible
    /// server) at `base`: `<base>/2.0`, `<base>/api/2.0`, `<base>/oauth2/token`.
    #[must_use]
    pub fn base_url(self, base: &str) -> Self {
        let b = base.trim_end_matches('/');
        self.api_url(format!("{b}/2.0"))
            .upload_url(format!("{b}/api/2.0"))
            .oauth_url(format!("{b}/oauth2/token"))
    }

    /// Allows plain `http://` to hosts other than loopback (loopback is always allowed).
    #[must_use]
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Speaks HTTP/2 only (with prior knowledge over plain http).
    #[must_use]
    pub fn http2_only(mut self, yes: bool) -> Self {
        self.http2_only = yes;
        self
    }

    /// Retry limits and backoff (the core's policy; see docs/retries.md).
    #[must_use]
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Time limits: per part upload, and per other request.
    #[must_use]
    pub fn timeouts(mut self, part: Duration, control: Duration) -> Self {
        self.part_timeout = part;
        self.control_timeout = control;
        self
    }

    /// How long a commit may keep answering `202` (default 10 minutes).
    #[must_use]
    pub fn commit_wait(mut self, wait: Duration) -> Self {
        self.commit_wait = wait;
        self
    }

    /// Builds the client. Fails without credentials or with a URL that is
    /// not absolute, or plain http to a non-loopback host when not allowed.
    pub fn build(self) -> Result<BoxClient, Error> {
        for u in [&self.api_url, &self.upload_url, &self.oauth_url] {
            let uri: http::Uri = u
                .parse()
                .map_err(|_| Error::new(ErrorKind::Config, format!("{u:?} is not a URL")))?;
            if uri.host().is_none() {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("{u:?} is not an absolute URL"),
                ));
            }
        }
        let mut retry = self.retry.clone();
        // The transport retries requests that were never sent; the core must not again.
        retry.delegated.not_sent = true;
        let raw = Transport::new(&TransportConfig {
            connect_timeout: self.connect_timeout,
            retry: self.retry.clone(),
            allow_http: self.allow_http,
            http2_only: self.http2_only,
        })?;
        for u in [&self.api_url, &self.upload_url, &self.oauth_url] {
            let uri: http::Uri = u
                .parse()
                .map_err(|_| Error::new(ErrorKind::Config, "bad URL"))?;
            raw.check_scheme(&uri)
                .map_err(|e| Error::new(ErrorKind::Config, e.to_string()))?;
        }
        let provider: Arc<dyn TokenProvider> = match self.auth {
            Some(AuthChoice::Provider(p)) => p,
            Some(AuthChoice::ClientCredentials(id, secret, subject)) => Arc::new(
                ClientCredentials::new(id, secret, subject, self.oauth_url.clone(), raw.clone()),
            ),
            None => {
                return Err(Error::new(
                    ErrorKind::Config,
                    "no credentials: give a token (BOX_ACCESS_TOKEN) or client credentials",
                ))
            }
        };
        Ok(BoxClient {
            inner: Arc::new(Inner {
                transport: raw.with_auth(provider),
                api_url: self.api_url,
                upload_url: self.upload_url,
                retry,
                control_timeout: self.control_timeout,
                part_timeout: self.part_timeout,
                commit_wait: self.commit_wait,
            }),
        })
    }
}

/// A response, body read.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    fn retry_after(&self) -> Option<Duration> {
        let date = self
            .headers
            .get("date")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date);
        self.headers
            .get(header_names::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| RetryAfter::parse(v).ok())
            .and_then(|r| r.delay(date))
    }

    fn api_failure(&self, kind: RequestKind) -> ApiFailure {
        ApiFailure {
            kind,
            status: self.status,
            error: decode_json::<BoxError>(&self.body).ok().map(Box::new),
            request_id: self
                .headers
                .get(header_names::BOX_REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, kind: RequestKind) -> Result<T, Error> {
        decode_json(&self.body).map_err(|e| {
            Error::new(
                ErrorKind::Protocol,
                format!("{kind}: unreadable answer: {e}"),
            )
            .with_operation(kind)
        })
    }
}

impl BoxClient {
    /// A builder with Box's URLs.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
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
            endpoints: SessionEndpoints::default(),
        }
    }

    /// An upload session whose `session_endpoints` are known: they are used verbatim.
    pub fn session(&self, session: &UploadSession) -> SessionRef {
        SessionRef {
            client: self.clone(),
            id: session.id.clone(),
            endpoints: session.session_endpoints.clone(),
        }
    }

    /// The file object (`GET /files/{id}`).
    pub async fn get_file(&self, id: &str) -> Result<File, Error> {
        let url = format!("{}/files/{id}", self.inner.api_url);
        let kind = RequestKind::GetFile;
        let a = self
            .call(kind, http::Method::GET, &url, &[], Bytes::new(), true)
            .await?;
        let file: File = a.decode(kind)?;
        Ok(file)
    }

    /// Downloads a file's content and returns its size and SHA-1
    /// (`GET /files/{id}/content`; for checking an upload end to end).
    pub async fn download_sha1(&self, id: &str) -> Result<(u64, Sha1Digest), Error> {
        let url = format!("{}/files/{id}/content", self.inner.api_url);
        let kind = RequestKind::GetFile;
        let a = self
            .call(kind, http::Method::GET, &url, &[], Bytes::new(), true)
            .await?;
        let mut h = Sha1::new();
        h.update(&a.body);
        Ok((a.body.len() as u64, Sha1Digest(h.finalize().into())))
    }

    /// One request with the call-level retry loop (docs/retries.md): `429`
    /// and `5xx` are repeated with the core's backoff; transport failures of
    /// idempotent requests too. Returns 2xx answers (and `202`).
    pub(crate) async fn call(
        &self,
        kind: RequestKind,
        method: http::Method,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
        idempotent: bool,
    ) -> Result<Answer, Error> {
        let timeout = match kind {
            RequestKind::UploadPart { .. } => self.inner.part_timeout,
            _ => self.inner.control_timeout,
        };
        let policy = &self.inner.retry;
        let mut jitter = Jitter::new(url.len() as u64 ^ 0xa5a5);
        let started = tokio::time::Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut b = http::Request::builder().method(method.clone()).uri(url);
            for (k, v) in headers {
                b = b.header(*k, v.as_str());
            }
            let req = b.body(ReqBody::new(body.clone(), None)).map_err(|e| {
                Error::new(ErrorKind::Config, format!("{url:?}: {e}")).with_operation(kind)
            })?;
            let result = self
                .inner
                .transport
                .send(req, tokio::time::Instant::now() + timeout)
                .await;
            let (class, retry_after, last, api) = match result {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    let a = Answer {
                        status: parts.status.as_u16(),
                        headers: parts.headers,
                        body,
                    };
                    let code = decode_json::<BoxError>(&a.body)
                        .map(|e| e.code())
                        .unwrap_or(box_chunked_proto::ErrorCode::Other(String::new()));
                    match classify_status(kind, a.status, &code) {
                        None | Some(FailureClass::CommitPending) | Some(FailureClass::Overlap) => {
                            return Ok(a)
                        }
                        Some(c @ (FailureClass::Throttled | FailureClass::ServerError)) => {
                            let api = a.api_failure(kind);
                            (c, a.retry_after(), api.to_string(), Some(api))
                        }
                        Some(_) => return Err(Error::from_api(a.api_failure(kind))),
                    }
                }
                Err(Failure::Auth(e)) => return Err(e.with_operation(kind)),
                Err(f) => {
                    let class = classify_transport(f.to_core().kind);
                    if class == FailureClass::NotSent || !idempotent {
                        // Not sent: the transport already retried. Not idempotent: the caller decides.
                        return Err(network(kind, attempt, f.to_string()));
                    }
                    (class, None, f.to_string(), None)
                }
            };
            let delay = policy.backoff(attempt, retry_after, &mut jitter);
            if !policy.may_retry(attempt, started.elapsed(), delay) {
                let mut e = network(kind, attempt, last);
                if let Some(api) = api {
                    e = Error::from_api(api);
                }
                return Err(e);
            }
            tracing::debug!(%kind, attempt, ?delay, cause = class.as_str(), "retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

fn network(kind: RequestKind, attempts: u32, last: String) -> Error {
    Error::new(
        ErrorKind::NetworkExhausted,
        format!("{kind} failed after {attempts} attempt(s): {last}"),
    )
    .with_operation(kind)
    .with_attempts(attempts)
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
        let body = encode_json(&CreateUploadSession {
            folder_id: self.id.clone(),
            file_size,
            file_name: file_name.to_owned(),
        });
        let url = Endpoint::CreateSession.url(&self.client.inner.upload_url);
        create(&self.client, &url, body).await
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
        let body = encode_json(&CreateVersionUploadSession {
            file_size,
            file_name: file_name.map(str::to_owned),
        });
        let url = Endpoint::CreateVersionSession {
            file_id: self.id.clone(),
        }
        .url(&self.client.inner.upload_url);
        create(&self.client, &url, body).await
    }

    /// The file object.
    pub async fn get(&self) -> Result<File, Error> {
        self.client.get_file(&self.id).await
    }
}

async fn create(client: &BoxClient, url: &str, body: Vec<u8>) -> Result<UploadSession, Error> {
    let kind = RequestKind::CreateSession;
    let a = client
        .call(
            kind,
            http::Method::POST,
            url,
            &[("content-type", "application/json".into())],
            Bytes::from(body),
            false,
        )
        .await?;
    a.decode(kind)
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
#[derive(Debug, Clone)]
pub struct SessionRef {
    client: BoxClient,
    id: String,
    endpoints: SessionEndpoints,
}

impl SessionRef {
    fn url(&self, which: Option<&String>, ep: Endpoint) -> String {
        which
            .cloned()
            .unwrap_or_else(|| ep.url(&self.client.inner.upload_url))
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session, as Box returns it (`GET`); its endpoints are used from now on.
    pub async fn get(&mut self) -> Result<UploadSession, Error> {
        let url = self.url(
            self.endpoints.status.as_ref(),
            Endpoint::GetSession {
                session_id: self.id.clone(),
            },
        );
        let kind = RequestKind::GetSession;
        let a = self
            .client
            .call(kind, http::Method::GET, &url, &[], Bytes::new(), true)
            .await?;
        let s: UploadSession = a.decode(kind)?;
        self.endpoints = s.session_endpoints.clone();
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
        let sha = part_sha1.unwrap_or_else(|| Sha1Digest(Sha1::digest(&bytes).into()));
        let size = bytes.len() as u64;
        let kind = RequestKind::UploadPart { index: 0 };
        let range = box_chunked_proto::ContentRange::new(offset, size, total_size)
            .map_err(|e| Error::new(ErrorKind::Config, format!("part at {offset}: {e}")))?;
        let url = self.url(
            self.endpoints.upload_part.as_ref(),
            Endpoint::UploadPart {
                session_id: self.id.clone(),
            },
        );
        let headers = [
            ("content-type", "application/octet-stream".to_owned()),
            (header_names::CONTENT_RANGE, range.to_string()),
            (header_names::DIGEST, DigestHeader::sha1_value(&sha)),
        ];
        // Repeating a part is safe: Box answers 416 with the stored part.
        let a = self
            .client
            .call(kind, http::Method::PUT, &url, &headers, bytes, true)
            .await?;
        let part = if a.status == 416 {
            let f = a.api_failure(kind);
            match f.error.as_deref().and_then(BoxError::conflicting_part) {
                Some(p) if p.matches(offset, size, &sha) => p,
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::SourceChanged,
                        format!("the part at {offset} is stored with other bytes"),
                    ))
                }
                None => return Err(Error::from_api(f)),
            }
        } else {
            a.decode::<UploadedPart>(kind)?.part
        };
        if !part.matches(offset, size, &sha) {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("the server stored {part:?} for a part at {offset} of {size} bytes with SHA-1 {sha}"),
            ));
        }
        Ok(part)
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
        let base = self.url(
            self.endpoints.list_parts.as_ref(),
            Endpoint::ListParts {
                session_id: self.id.clone(),
            },
        );
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}{}", list_parts_query(offset, limit));
        let kind = RequestKind::ListParts { offset };
        let a = self
            .client
            .call(kind, http::Method::GET, &url, &[], Bytes::new(), true)
            .await?;
        a.decode(kind)
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
        let url = self.url(
            self.endpoints.commit.as_ref(),
            Endpoint::Commit {
                session_id: self.id.clone(),
            },
        );
        let body = Bytes::from(encode_json(&CommitRequest::new(parts, options.attributes)));
        let mut headers = vec![
            ("content-type", "application/json".to_owned()),
            (
                header_names::DIGEST,
                DigestHeader::sha1_value(&content_sha1),
            ),
        ];
        if let Some(etag) = options.if_match {
            headers.push((header_names::IF_MATCH, etag));
        }
        let kind = RequestKind::Commit;
        let started = tokio::time::Instant::now();
        loop {
            let a = self
                .client
                .call(kind, http::Method::POST, &url, &headers, body.clone(), true)
                .await?;
            if a.status == 202 {
                let wait = a
                    .retry_after()
                    .unwrap_or(Duration::from_secs(5))
                    .min(self.client.inner.retry.retry_after_cap);
                if started.elapsed() + wait > self.client.inner.commit_wait {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!("commit still pending after {:?}", started.elapsed()),
                    )
                    .with_operation(kind));
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            let files: Files = a.decode(kind)?;
            return files.into_first().ok_or_else(|| {
                Error::new(ErrorKind::Protocol, "commit answered with no file").with_operation(kind)
            });
        }
    }

    /// Aborts the session (`DELETE`): its parts are discarded.
    pub async fn abort(&self) -> Result<(), Error> {
        let url = self.url(
            self.endpoints.abort.as_ref(),
            Endpoint::Abort {
                session_id: self.id.clone(),
            },
        );
        self.client
            .call(
                RequestKind::Abort,
                http::Method::DELETE,
                &url,
                &[],
                Bytes::new(),
                true,
            )
            .await?;
        Ok(())
    }
}
