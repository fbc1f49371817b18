//! [`ClientBuilder`]: URLs, credentials, timeouts and retry limits, checked
//! once when the client is built. It holds no Box rule beyond Box's default
//! URLs.

use crate::auth::{Bind, ClientCredentials, JwtAuth, RefreshTokenAuth, Subject};
use crate::client::{BoxClient, Inner};
use crate::error::{Error, ErrorKind};
use crate::tokens::{OriginPolicy, StaticToken, TokenProvider};
use crate::transport::{Transport, TransportConfig};
use box_chunked_core::retry::RetryPolicy;
use std::sync::Arc;
use std::time::Duration;

use box_chunked_proto::urls::{host_of, is_box_host, BaseUrls};
pub use box_chunked_proto::urls::{
    BOX_API_URL as DEFAULT_API_URL, BOX_TOKEN_URL as DEFAULT_OAUTH_URL,
    BOX_UPLOAD_URL as DEFAULT_UPLOAD_URL,
};

enum AuthChoice {
    Provider(Arc<dyn TokenProvider>),
    Grant(Arc<dyn Bind>),
}

/// A way to sign in that fetches its tokens from the token endpoint, for
/// [`ClientBuilder::auth`]: [`ClientCredentials`], [`JwtAuth`] or
/// [`RefreshTokenAuth`]. The client gives it its transport (proxies, extra
/// roots) and its OAuth URL.
pub struct Auth(Arc<dyn Bind>);

impl From<ClientCredentials> for Auth {
    fn from(p: ClientCredentials) -> Self {
        Self(Arc::new(p))
    }
}

impl From<JwtAuth> for Auth {
    fn from(p: JwtAuth) -> Self {
        Self(Arc::new(p))
    }
}

impl From<RefreshTokenAuth> for Auth {
    fn from(p: RefreshTokenAuth) -> Self {
        Self(Arc::new(p))
    }
}

/// Builds a [`BoxClient`].
pub struct ClientBuilder {
    auth: Option<AuthChoice>,
    as_user: Option<String>,
    urls: BaseUrls,
    allow_http: bool,
    http2_only: bool,
    http1_only: bool,
    extra_roots_pem: Vec<Vec<u8>>,
    one_shot_below: u64,
    proxy: crate::proxy::ProxyChoice,
    retry: RetryPolicy,
    connect_timeout: Duration,
    control_timeout: Duration,
    part_timeout: Duration,
    commit_wait: Duration,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("urls", &self.urls)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            auth: None,
            as_user: None,
            urls: BaseUrls::box_com(),
            allow_http: false,
            http2_only: false,
            http1_only: false,
            extra_roots_pem: Vec::new(),
            one_shot_below: box_chunked_core::one_shot::DEFAULT_ONE_SHOT_BELOW,
            proxy: crate::proxy::ProxyChoice::Env,
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
        self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        subject: Subject,
    ) -> Self {
        self.auth(ClientCredentials::new(client_id, client_secret, subject))
    }

    /// Sign in with a grant: JWT server auth ([`JwtAuth`]), a refresh-token
    /// file ([`RefreshTokenAuth`]) or client credentials ([`ClientCredentials`]).
    #[must_use]
    pub fn auth(mut self, auth: impl Into<Auth>) -> Self {
        self.auth = Some(AuthChoice::Grant(auth.into().0));
        self
    }

    /// Act as this managed user: `As-User: ID` on every call (for a service
    /// account's token; Box refuses it on a user's own token).
    #[must_use]
    pub fn as_user(mut self, user_id: impl Into<String>) -> Self {
        self.as_user = Some(user_id.into());
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
        self.urls.api = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The upload root (default `https://upload.box.com/api/2.0`).
    #[must_use]
    pub fn upload_url(mut self, url: impl Into<String>) -> Self {
        self.urls.upload = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The OAuth token URL (default `https://api.box.com/oauth2/token`).
    #[must_use]
    pub fn oauth_url(mut self, url: impl Into<String>) -> Self {
        self.urls.token = url.into();
        self
    }

    /// Points all three URLs at a box-chunked server (or any Box-compatible
    /// server) at `base`: `<base>/2.0`, `<base>/api/2.0`, `<base>/oauth2/token`.
    #[must_use]
    pub fn base_url(mut self, base: &str) -> Self {
        self.urls = BaseUrls::from_base(base);
        self
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

    /// Offers only HTTP/1.1 over TLS (no HTTP/2 by ALPN), for servers or
    /// proxies whose HTTP/2 misbehaves. Default off; `http2_only` wins.
    #[must_use]
    pub fn http1_only(mut self, yes: bool) -> Self {
        self.http1_only = yes;
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

    /// The default of [`crate::Uploader::one_shot_below`] for this client's
    /// uploaders: files below it go up in one request (default 20,000,000
    /// bytes, Box's chunked minimum). Lower it for a server that takes
    /// chunked uploads of smaller files (`box-chunked serve --min-file-size`).
    #[must_use]
    pub fn one_shot_below(mut self, bytes: u64) -> Self {
        self.one_shot_below = bytes;
        self
    }

    /// Sends through this proxy (`http://[user:password@]host:port`), a
    /// `CONNECT` tunnel for each connection, except to the hosts of
    /// `NO_PROXY`. The default reads `HTTPS_PROXY`, `HTTP_PROXY`,
    /// `ALL_PROXY` and `NO_PROXY` as curl does (loopback hosts excepted).
    #[must_use]
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = crate::proxy::ProxyChoice::Url(url.into());
        self
    }

    /// Never uses a proxy, whatever the environment says.
    #[must_use]
    pub fn no_proxy(mut self) -> Self {
        self.proxy = crate::proxy::ProxyChoice::Off;
        self
    }

    /// Trusts the certificates in `pem` (PEM, one or more) as roots beside
    /// Mozilla's: a company's CA, or the certificate of a local
    /// `box-chunked serve --tls-cert`. `build` fails when it holds none.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = box_chunked_hyper::BoxClient::builder()
    ///     .token("DEV_TOKEN")
    ///     .base_url("https://127.0.0.1:8443")
    ///     .root_certificates_pem(std::fs::read("ca.pem")?)
    ///     .build()?;
    /// # let _ = client; Ok(()) }
    /// ```
    #[must_use]
    pub fn root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots_pem.push(pem.into());
        self
    }

    /// Builds the client. Fails without credentials or with a URL that is
    /// not absolute, or plain http to a non-loopback host when not allowed.
    pub fn build(self) -> Result<BoxClient, Error> {
        self.check_urls()?;
        self.check_proxy()?;
        let mut retry = self.retry.clone();
        // The transport retries requests that were never sent; the core must not again.
        retry.delegated.not_sent = true;
        let raw = Transport::new(&TransportConfig {
            connect_timeout: self.connect_timeout,
            retry: self.retry.clone(),
            allow_http: self.allow_http,
            http2_only: self.http2_only,
            http1_only: self.http1_only,
            extra_roots: parse_roots(&self.extra_roots_pem)?,
            proxy: self.proxy.clone(),
        })?;
        for u in self.urls.all() {
            let uri: http::Uri = u
                .parse()
                .map_err(|_| Error::new(ErrorKind::Config, "bad URL"))?;
            raw.check_scheme(&uri)
                .map_err(|e| Error::new(ErrorKind::Config, e.to_string()))?;
        }
        let provider: Arc<dyn TokenProvider> = match self.auth {
            Some(AuthChoice::Provider(p)) => p,
            Some(AuthChoice::Grant(g)) => {
                g.bind(&raw, &self.urls.token);
                let p: Arc<dyn TokenProvider> = g;
                p
            }
            None => {
                return Err(Error::new(
                    ErrorKind::Config,
                    "no credentials: give a token (BOX_ACCESS_TOKEN) or client credentials",
                ))
            }
        };
        let origins = OriginPolicy::for_urls(&self.urls.all());
        Ok(BoxClient {
            inner: Arc::new(Inner {
                transport: raw.with_auth(provider.clone(), origins, self.as_user.clone())?,
                provider,
                urls: self.urls,
                retry,
                control_timeout: self.control_timeout,
                part_timeout: self.part_timeout,
                commit_wait: self.commit_wait,
                one_shot_below: self.one_shot_below,
                as_user: self.as_user.clone(),
            }),
        })
    }

    /// Each URL absolute, and Box's hosts not mixed with another server's.
    fn check_urls(&self) -> Result<(), Error> {
        for u in self.urls.all() {
            let uri: http::Uri = u
                .parse()
                .map_err(|_| Error::new(ErrorKind::Config, format!("{u} is not a URL")))?;
            if uri.host().is_none() {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("{u} is not an absolute URL; give one with a scheme and a host, like https://api.box.com/2.0"),
                ));
            }
        }
        let is_box = |u: &str| u.starts_with("https://") && host_of(u).is_some_and(is_box_host);
        let urls = self.urls.all();
        if urls.iter().any(|u| is_box(u)) && !urls.iter().all(|u| is_box(u)) {
            let BaseUrls { api, upload, token } = &self.urls;
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "the URLs mix Box's hosts with another server (API {api}, upload {upload}, OAuth {token}), so the file and the token could go to Box unintended; give all three, or base_url for a server with box-chunked's layout"
                ),
            ));
        }
        Ok(())
    }

    /// A proxy given by URL is an http(s) URL with a host.
    fn check_proxy(&self) -> Result<(), Error> {
        if let crate::proxy::ProxyChoice::Url(p) = &self.proxy {
            let ok = p.parse::<http::Uri>().is_ok_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some()
            });
            if !ok {
                return Err(Error::new(
                    ErrorKind::Config,
                    "the proxy must be an http URL with a host, like http://proxy.example.com:3128 (credentials, if any, as http://user:password@host:port)",
                ));
            }
        }
        Ok(())
    }
}

/// The certificates of PEM texts; an error names a text that holds none.
fn parse_roots(pems: &[Vec<u8>]) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, Error> {
    use rustls_pki_types::pem::PemObject as _;
    let mut out = Vec::new();
    for pem in pems {
        let certs = rustls_pki_types::CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Config,
                    format!("the CA certificates are not valid PEM: {e}"),
                )
            })?;
        if certs.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "the CA certificate file holds no certificate (expected PEM with BEGIN CERTIFICATE)",
            ));
        }
        out.extend(certs);
    }
    Ok(out)
}
