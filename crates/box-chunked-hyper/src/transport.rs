//! The HTTP stack: hyper-util's pooled client over rustls, under tower layers.
//!
//! ```text
//! Trace -> Auth (token; one refresh after 401) -> Retry (connect errors only, budgeted)
//!       -> Deadline (per attempt) -> Collect (hyper client, whole response body)
//! ```
//!
//! Only connect errors are retried here ("not sent": the request never left),
//! with the core's backoff arithmetic and a tower TPS budget; everything else
//! is the core's to retry (docs/retries.md). Request bodies are in `body`.

use crate::auth::{OriginPolicy, TokenProvider};
pub(crate) use crate::body::ReqBody;
use box_chunked_core::retry::{Jitter, RetryPolicy};
use box_chunked_core::{TransportError, TransportErrorKind};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::retry::budget::{Budget, TpsBudget};
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

/// Attempts for a request whose connection cannot be made (about 2 to 4
/// seconds of backoff in all): a refused connection rarely heals sooner.
const CONNECT_ATTEMPTS: u32 = 5;

/// The per-attempt deadline, carried in request extensions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(pub tokio::time::Instant);

/// How an attempt failed below HTTP.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// The request never left (connect error, refused scheme).
    NotSent(String),
    /// No answer before the deadline.
    TimedOut,
    /// The connection failed after the request began.
    Ambiguous(String),
    /// Final, with the error the caller sees: no token could be had, the
    /// origin may not receive credentials, the answer is over the size bound.
    Final(crate::Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSent(d) => write!(f, "not sent: {d}"),
            Self::TimedOut => f.write_str("timed out"),
            Self::Ambiguous(d) => write!(f, "failed in flight: {d}"),
            Self::Final(e) => write!(f, "{e}"),
        }
    }
}

impl Failure {
    pub(crate) fn to_core(&self) -> TransportError {
        match self {
            Self::NotSent(d) => TransportError::new(TransportErrorKind::NotSent, d.clone()),
            Self::TimedOut => TransportError::new(
                TransportErrorKind::TimedOut,
                "no answer before the deadline",
            ),
            Self::Ambiguous(d) => TransportError::new(TransportErrorKind::Ambiguous, d.clone()),
            // An auth failure is not retried by anyone: report it as not sent,
            // which the core treats as final because the transport owns it.
            Self::Final(e) => TransportError::new(TransportErrorKind::NotSent, e.to_string()),
        }
    }
}

type Inner = BoxCloneSyncService<Request<ReqBody>, Response<Bytes>, Failure>;

/// Settings of the HTTP stack.
#[derive(Debug, Clone)]
pub(crate) struct TransportConfig {
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    pub allow_http: bool,
    pub http2_only: bool,
    pub http1_only: bool,
    /// Roots trusted beside Mozilla's (a private CA, a local server's certificate).
    pub extra_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// Where the proxy settings come from.
    pub proxy: crate::proxy::ProxyChoice,
}

/// The HTTP stack, cheap to clone.
#[derive(Clone)]
pub(crate) struct Transport {
    svc: Inner,
    allow_http: bool,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport").finish_non_exhaustive()
    }
}

impl Transport {
    /// The stack without authentication.
    pub(crate) fn new(cfg: &TransportConfig) -> Result<Self, crate::Error> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(cfg.connect_timeout));
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in &cfg.extra_roots {
            roots.add(cert.clone()).map_err(|e| {
                crate::Error::new(
                    crate::ErrorKind::Config,
                    format!("a CA certificate could not be used as a root: {e}"),
                )
            })?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| crate::Error::new(crate::ErrorKind::Config, format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let rules = crate::proxy::Rules::new(&cfg.proxy, |k| std::env::var(k).ok());
        let http = crate::proxy::ProxyConnector::new(http, rules);
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let https = if cfg.http2_only {
            builder.enable_http2().wrap_connector(http)
        } else if cfg.http1_only {
            builder.enable_http1().wrap_connector(http)
        } else {
            builder.enable_http1().enable_http2().wrap_connector(http)
        };
        let mut b = Client::builder(TokioExecutor::new());
        // Below the servers' idle timeouts (box-chunked-server's 30 s header
        // timeout, load balancers' 60 s), so that a connection the server is
        // about to close is not taken from the pool for the next request.
        b.pool_idle_timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(64);
        if cfg.http2_only {
            b.http2_only(true);
        }
        // Answers are small, but downloads stream: let HTTP/2's receive
        // windows follow the bandwidth-delay product rather than stay at 64 KiB.
        b.http2_adaptive_window(true);
        let client = b.build(https);
        let collect = tower::service_fn(move |req: Request<ReqBody>| {
            let client = client.clone();
            let sink = req.extensions().get::<StreamTo>().map(|s| s.0.clone());
            async move { exchange(&client, req, sink).await }
        });
        let deadline = DeadlineService { inner: collect };
        let retry = tower::retry::Retry::new(
            ConnectRetry {
                policy: cfg.retry.clone(),
                attempts: 0,
                jitter: Jitter::new(next_seed()),
                budget: Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.2)),
            },
            deadline,
        );
        Ok(Self {
            svc: BoxCloneSyncService::new(TraceService { inner: retry }),
            allow_http: cfg.allow_http,
        })
    }

    /// The same stack with an auth layer on top.
    pub(crate) fn with_auth(
        &self,
        provider: Arc<dyn TokenProvider>,
        origins: OriginPolicy,
        as_user: Option<String>,
    ) -> Result<Self, crate::Error> {
        let as_user = as_user
            .map(|id| {
                http::HeaderValue::from_str(&id).map_err(|_| {
                    crate::Error::new(
                        crate::ErrorKind::Config,
                        format!("the As-User id {id:?} is not a valid header value"),
                    )
                })
            })
            .transpose()?;
        Ok(Self {
            svc: BoxCloneSyncService::new(AuthService {
                inner: self.svc.clone(),
                provider,
                origins: Arc::new(origins),
                as_user,
            }),
            allow_http: self.allow_http,
        })
    }

    /// Whether plain `http://` may be used for this URL: always for loopback
    /// hosts, otherwise only when explicitly allowed.
    pub(crate) fn check_scheme(&self, uri: &http::Uri) -> Result<(), Failure> {
        match uri.scheme_str() {
            Some("https") => Ok(()),
            Some("http") if self.allow_http || is_loopback(uri.host().unwrap_or("")) => Ok(()),
            Some("http") => Err(Failure::NotSent(format!(
                "refusing plain http to {}: use https, or allow http explicitly",
                uri.host().unwrap_or("?")
            ))),
            _ => Err(Failure::NotSent(format!("unsupported URL {uri}"))),
        }
    }

    /// Sends one request with a deadline.
    pub(crate) async fn send(
        &self,
        mut req: Request<ReqBody>,
        deadline: tokio::time::Instant,
    ) -> Result<Response<Bytes>, Failure> {
        self.check_scheme(req.uri())?;
        req.extensions_mut().insert(Deadline(deadline));
        self.svc.clone().oneshot(req).await
    }

    /// Sends a request without a token (the OAuth token endpoint).
    pub(crate) async fn send_unauthenticated(
        &self,
        req: Request<Bytes>,
        timeout: Duration,
    ) -> Result<Response<Bytes>, Failure> {
        let (parts, body) = req.into_parts();
        let req = Request::from_parts(parts, ReqBody::new(body, None));
        self.send(req, tokio::time::Instant::now() + timeout).await
    }
}

/// An error and its causes, as one line: `client error (Connect): tcp connect error: Connection refused`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

pub(crate) fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn next_seed() -> u64 {
    os_seed()
}

/// A jitter seed from the operating system's randomness (a counter mixed
/// with the clock if it has none), so that clients retrying at once spread
/// out. Tests that need repeatable delays set the seed themselves.
pub(crate) fn os_seed() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_ok() {
        return u64::from_le_bytes(b);
    }
    static N: AtomicU64 = AtomicU64::new(0x5eed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ N.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
}

type BoxFut<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

#[derive(Clone)]
struct DeadlineService<S> {
    inner: S,
}

impl<S> Service<Request<ReqBody>> for DeadlineService<S>
where
    S: Service<Request<ReqBody>, Response = Response<Bytes>, Error = Failure>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = Response<Bytes>;
    type Error = Failure;
    type Future = BoxFut<Result<Response<Bytes>, Failure>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let deadline = req.extensions().get::<Deadline>().map(|d| d.0);
        let fut = self.inner.call(req);
        Box::pin(async move {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, fut)
                    .await
                    .map_err(|_| Failure::TimedOut)?,
                None => fut.await,
            }
        })
    }
}

/// Retries connect errors only, with the core's backoff, under a budget.
#[derive(Clone)]
struct ConnectRetry {
    policy: RetryPolicy,
    attempts: u32,
    jitter: Jitter,
    budget: Arc<TpsBudget>,
}

impl tower::retry::Policy<Request<ReqBody>, Response<Bytes>, Failure> for ConnectRetry {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _req: &mut Request<ReqBody>,
        result: &mut Result<Response<Bytes>, Failure>,
    ) -> Option<Self::Future> {
        self.attempts += 1;
        match result {
            Err(Failure::NotSent(_))
                if self.attempts < self.policy.max_attempts.min(CONNECT_ATTEMPTS)
                    && self.budget.withdraw() =>
            {
                let delay = self.policy.backoff(self.attempts, None, &mut self.jitter);
                tracing::debug!(attempt = self.attempts, ?delay, "connect failed; retrying");
                Some(tokio::time::sleep(delay))
            }
            Err(_) => None,
            Ok(_) => {
                self.budget.deposit();
                None
            }
        }
    }

    fn clone_request(&mut self, req: &Request<ReqBody>) -> Option<Request<ReqBody>> {
        Some(clone_request(req))
    }
}

fn clone_request(req: &Request<ReqBody>) -> Request<ReqBody> {
    let mut r = Request::new(req.body().clone());
    *r.method_mut() = req.method().clone();
    *r.uri_mut() = req.uri().clone();
    *r.version_mut() = req.version();
    *r.headers_mut() = req.headers().clone();
    if let Some(d) = req.extensions().get::<Deadline>() {
        r.extensions_mut().insert(*d);
    }
    r
}

#[derive(Clone)]
struct AuthService {
    inner: Inner,
    provider: Arc<dyn TokenProvider>,
    origins: Arc<OriginPolicy>,
    /// `As-User`, sent with the token (so only to the same origins).
    as_user: Option<http::HeaderValue>,
}

impl Service<Request<ReqBody>> for AuthService {
    type Response = Response<Bytes>;
    type Error = Failure;
    type Future = BoxFut<Result<Response<Bytes>, Failure>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let inner = self.inner.clone();
        let provider = self.provider.clone();
        let origins = self.origins.clone();
        if let Some(id) = &self.as_user {
            req.headers_mut().insert("as-user", id.clone());
        }
        Box::pin(async move {
            if !origins.allows(req.uri()) {
                let to = crate::auth::origin(req.uri()).unwrap_or_else(|| req.uri().to_string());
                return Err(Failure::Final(crate::Error::new(
                    crate::ErrorKind::Config,
                    format!(
                        "refused to send the credentials to {to}: it is not an origin of the configured URLs ({}); check the URLs given and, on resume, the checkpoint's",
                        origins.describe()
                    ),
                )));
            }
            let token = provider.token().await.map_err(Failure::Final)?;
            let mut again = clone_request(&req);
            set_bearer(&mut req, token.expose())?;
            let resp = inner.clone().oneshot(req).await?;
            if !box_chunked_core::retry::refresh_token_and_repeat(resp.status().as_u16()) {
                return Ok(resp);
            }
            // The auth layer owns 401 (the core says so): refresh once and repeat.
            tracing::debug!("401: refreshing the token once");
            let fresh = provider.refresh(&token).await.map_err(Failure::Final)?;
            set_bearer(&mut again, fresh.expose())?;
            inner.oneshot(again).await
        })
    }
}

fn set_bearer(req: &mut Request<ReqBody>, token: &str) -> Result<(), Failure> {
    let mut v = http::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        Failure::Final(crate::Error::new(
            crate::ErrorKind::Auth,
            "the token is not a valid header value",
        ))
    })?;
    v.set_sensitive(true);
    req.headers_mut().insert(http::header::AUTHORIZATION, v);
    Ok(())
}

/// Whether a connect error is rustls refusing the server's certificate.
fn refused_certificate(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            );
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if refused_certificate(inner) {
                    return true;
                }
            }
        }
        cur = err.source();
    }
    false
}

/// One request and its whole answer: a successful answer's body streamed
/// to `sink` when there is one, otherwise read into memory within
/// [`MAX_ANSWER`].
async fn exchange(
    client: &Client<hyper_rustls::HttpsConnector<crate::proxy::ProxyConnector>, ReqBody>,
    req: Request<ReqBody>,
    sink: Option<Arc<dyn BodySink>>,
) -> Result<Response<Bytes>, Failure> {
    let resp = client.request(req).await.map_err(|e| {
        if e.is_connect() && refused_certificate(&e) {
            // Trying again cannot make the server's certificate trusted.
            Failure::Final(crate::Error::new(
                crate::ErrorKind::Config,
                format!(
                    "the server's TLS certificate is not trusted ({}); give its CA with --ca-cert or SSL_CERT_FILE (or ClientBuilder::root_certificates_pem)",
                    chain(&e)
                ),
            ))
        } else if e.is_connect() {
            Failure::NotSent(chain(&e))
        } else {
            Failure::Ambiguous(chain(&e))
        }
    })?;
    let (parts, mut body) = resp.into_parts();
    if let (Some(sink), true) = (sink, parts.status.is_success()) {
        // Streamed to the caller piece by piece, never held whole.
        sink.start();
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| Failure::Ambiguous(format!("reading the answer: {e}")))?;
            if let Ok(data) = frame.into_data() {
                sink.data(&data);
            }
        }
        return Ok::<_, Failure>(Response::from_parts(parts, Bytes::new()));
    }
    let body = http_body_util::Limited::new(body, MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Failure::Final(crate::Error::new(
                    crate::ErrorKind::Protocol,
                    format!(
                        "the server's answer is larger than {} MiB; it is not a Box answer",
                        MAX_ANSWER >> 20
                    ),
                ))
            } else {
                Failure::Ambiguous(format!("reading the answer: {e}"))
            }
        })?
        .to_bytes();
    Ok::<_, Failure>(Response::from_parts(parts, body))
}

/// The largest answer body read into memory (JSON answers are a few KiB;
/// a list page of 1,000 parts about 150 KiB).
const MAX_ANSWER: usize = 16 << 20;

/// Where a streamed answer's body goes, piece by piece.
pub(crate) trait BodySink: Send + Sync {
    /// A new attempt's body begins (forget the last one's).
    fn start(&self);
    /// The next piece.
    fn data(&self, piece: &Bytes);
}

/// A request extension: stream a successful answer's body to this sink
/// instead of collecting it.
#[derive(Clone)]
pub(crate) struct StreamTo(pub(crate) Arc<dyn BodySink>);

#[derive(Clone)]
struct TraceService<S> {
    inner: S,
}

impl<S> Service<Request<ReqBody>> for TraceService<S>
where
    S: Service<Request<ReqBody>, Response = Response<Bytes>, Error = Failure>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = Response<Bytes>;
    type Error = Failure;
    type Future = BoxFut<Result<Response<Bytes>, Failure>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // Method and path only: never headers (tokens) or bodies.
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let started = std::time::Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let r = fut.await;
            let ms = started.elapsed().as_millis() as u64;
            match &r {
                Ok(resp) => {
                    tracing::debug!(%method, %path, status = resp.status().as_u16(), ms, "box request")
                }
                Err(e) => tracing::debug!(%method, %path, error = %e, ms, "box request failed"),
            }
            r
        })
    }
}

#[cfg(test)]
mod tests {
    /// Jitter seeds come from the operating system: two in a row differ, so
    /// two clients started together do not retry in lockstep.
    #[test]
    fn jitter_seeds_differ() {
        let seeds: std::collections::HashSet<u64> = (0..64).map(|_| super::os_seed()).collect();
        assert_eq!(seeds.len(), 64);
    }
}
