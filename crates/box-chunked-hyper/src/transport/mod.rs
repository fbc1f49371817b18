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

mod layers;

pub(crate) use crate::body::ReqBody;
use crate::tokens::{OriginPolicy, TokenProvider};
use box_chunked_core::retry::RetryPolicy;
use box_chunked_core::{TransportError, TransportErrorKind};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use layers::{Around, ConnectRetry};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::util::BoxCloneSyncService;
use tower::ServiceExt;

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
        let deadline = Around::new(collect, layers::deadline);
        let retry = tower::retry::Retry::new(ConnectRetry::new(cfg.retry.clone()), deadline);
        Ok(Self {
            svc: BoxCloneSyncService::new(Around::new(retry, layers::trace)),
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
        let auth = layers::Auth {
            provider,
            origins: Arc::new(origins),
            as_user,
        };
        let wrap = move |req, inner| auth.clone().call(req, inner);
        Ok(Self {
            svc: BoxCloneSyncService::new(Around::new(self.svc.clone(), wrap)),
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

/// The rustls error behind a connect error, if rustls refused the
/// server's certificate.
fn refused_certificate<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
            .then_some(tls);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(found) = io.get_ref().and_then(|inner| refused_certificate(inner)) {
                return Some(found);
            }
        }
        cur = err.source();
    }
    None
}

/// Why the server's certificate was refused, as a sentence, and what can
/// change that: trusting its issuer, or only another certificate.
fn certificate_refusal(tls: &rustls::Error) -> (String, crate::Remedy) {
    use crate::Remedy::{ServerCertificate, TrustCertificate};
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(c) = tls else {
        return (
            "the server presented no certificate".into(),
            ServerCertificate,
        );
    };
    match c {
        C::UnknownIssuer => (
            "it is not signed by a certificate authority this client trusts".into(),
            TrustCertificate,
        ),
        C::NotValidForName | C::NotValidForNameContext { .. } => (
            "it was not made for this host name".into(),
            ServerCertificate,
        ),
        C::Expired | C::ExpiredContext { .. } => ("it has expired".into(), ServerCertificate),
        C::NotValidYet | C::NotValidYetContext { .. } => (
            "it is not valid yet (or this machine's clock is behind)".into(),
            ServerCertificate,
        ),
        C::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity") => (
            "it is a certificate authority's certificate (basic constraints CA:TRUE, which `openssl req -x509` makes by default), which TLS clients refuse as a server's certificate".into(),
            ServerCertificate,
        ),
        other => (format!("{other:?}"), TrustCertificate),
    }
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
        if let Some(tls) = refused_certificate(&e).filter(|_| e.is_connect()) {
            // Trying again cannot make the server's certificate trusted.
            let (why, remedy) = certificate_refusal(tls);
            Failure::Final(
                crate::Error::new(
                    crate::ErrorKind::Config,
                    format!("the server's TLS certificate was refused: {why}"),
                )
                .with_remedy(remedy),
            )
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
