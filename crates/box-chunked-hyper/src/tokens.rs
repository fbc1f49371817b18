//! Tokens: the [`Secret`] type that keeps them out of logs, where they
//! come from (the [`TokenProvider`] trait, fixed tokens), and the origins
//! they may be sent to ([`OriginPolicy`]). The grants that fetch them from
//! Box's token endpoint are `auth/`.

use crate::error::{Error, ErrorKind};
use box_chunked_proto::urls::is_box_host;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A secret string (a token or a client secret). Its `Debug` and `Display`
/// never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(Arc::from(s.into()))
    }

    /// The secret itself, for the one place that needs it (a header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A boxed future, as the provider trait returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where access tokens come from.
///
/// `token` returns a valid token (cached where possible); `refresh` is called
/// once after a `401` with the token that was refused and must return a new
/// one (or an error if the provider cannot refresh).
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// A token to use now.
    fn token(&self) -> BoxFuture<'_, Result<Secret, Error>>;
    /// A new token after `stale` was refused.
    fn refresh<'a>(&'a self, stale: &'a Secret) -> BoxFuture<'a, Result<Secret, Error>>;
}

/// A fixed token (for example a developer token, or `BOX_ACCESS_TOKEN`).
#[derive(Debug, Clone)]
pub struct StaticToken(Secret);

impl StaticToken {
    /// A provider that always returns `token`.
    pub fn new(token: impl Into<String>) -> Self {
        Self(Secret::new(token))
    }

    /// From `BOX_ACCESS_TOKEN`, if set and not empty.
    pub fn from_env() -> Option<Self> {
        std::env::var("BOX_ACCESS_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .map(Self::new)
    }
}

impl TokenProvider for StaticToken {
    fn token(&self) -> BoxFuture<'_, Result<Secret, Error>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }

    fn refresh<'a>(&'a self, _stale: &'a Secret) -> BoxFuture<'a, Result<Secret, Error>> {
        Box::pin(async {
            Err(Error::new(
                ErrorKind::Auth,
                "the access token was refused (401), and a fixed token cannot be refreshed",
            ))
        })
    }
}

/// Where credentials may go: the origins (scheme, host, port) of the
/// configured API, upload and OAuth URLs and, when those are Box's own
/// (`https` hosts under `box.com`), any `https` host under `box.com` (Box's
/// session endpoints may name other Box hosts). A request to any other
/// origin gets no token: it is refused before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPolicy {
    allowed: Vec<String>,
    box_hosts: bool,
}

impl OriginPolicy {
    /// The policy for these configured URLs.
    ///
    /// ```
    /// use box_chunked_hyper::OriginPolicy;
    /// let local = OriginPolicy::for_urls(&["http://127.0.0.1:8080/2.0", "http://127.0.0.1:8080/api/2.0"]);
    /// assert!(local.allows(&"http://127.0.0.1:8080/api/2.0/files/upload_sessions/S".parse().unwrap()));
    /// assert!(!local.allows(&"http://127.0.0.1:9999/collect".parse().unwrap()));
    /// let boxed = OriginPolicy::for_urls(&["https://api.box.com/2.0", "https://upload.box.com/api/2.0"]);
    /// assert!(boxed.allows(&"https://upload.app.box.com/api/2.0/files/upload_sessions/S".parse().unwrap()));
    /// assert!(!boxed.allows(&"https://box.com.evil.example/x".parse().unwrap()));
    /// assert!(!boxed.allows(&"http://upload.box.com/x".parse().unwrap()));
    /// ```
    pub fn for_urls(urls: &[&str]) -> Self {
        let uris: Vec<http::Uri> = urls.iter().filter_map(|u| u.parse().ok()).collect();
        let box_hosts = !uris.is_empty()
            && uris
                .iter()
                .all(|u| u.scheme_str() == Some("https") && u.host().is_some_and(is_box_host));
        Self {
            allowed: uris.iter().filter_map(origin).collect(),
            box_hosts,
        }
    }

    /// Whether a request to `uri` may carry credentials.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        if let Some(o) = origin(uri) {
            if self.allowed.contains(&o) {
                return true;
            }
        }
        self.box_hosts && uri.scheme_str() == Some("https") && uri.host().is_some_and(is_box_host)
    }

    /// The origins credentials may go to, for messages.
    pub fn describe(&self) -> String {
        let mut s = self.allowed.join(", ");
        if self.box_hosts {
            s.push_str(" and https hosts under box.com");
        }
        s
    }
}

/// `scheme://host:port`, with the scheme's default port made explicit.
pub(crate) fn origin(uri: &http::Uri) -> Option<String> {
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some(format!("{scheme}://{host}:{port}"))
}
