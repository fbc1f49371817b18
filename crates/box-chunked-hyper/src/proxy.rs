//! Proxies, as curl reads them: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`
//! and `NO_PROXY` (either case), or one proxy for everything
//! ([`crate::ClientBuilder::proxy`], `--proxy`), which `NO_PROXY` still
//! exempts from. The connection to a proxied destination is a `CONNECT`
//! tunnel (hyper-util's `Tunnel`), so TLS runs end to end through it; the
//! proxy URL's user and password go in `Proxy-Authorization` and are never
//! logged or shown. Loopback destinations skip proxies from the environment
//! (a local server is never behind a corporate proxy), not an explicit one.

use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Service;

/// Where the proxy settings come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum ProxyChoice {
    /// The environment (`HTTPS_PROXY`, ...), as curl.
    #[default]
    Env,
    /// This proxy for every destination not in `NO_PROXY`.
    Url(String),
    /// No proxy at all.
    Off,
}

/// The rules for one client: the matcher, and whether loopback is exempt.
#[derive(Clone)]
pub(crate) struct Rules {
    matcher: Option<Arc<Matcher>>,
    exempt_loopback: bool,
}

impl Rules {
    /// The rules of `choice`, reading variables with `var` (the process
    /// environment in use; a map in tests).
    pub(crate) fn new(choice: &ProxyChoice, var: impl Fn(&str) -> Option<String>) -> Self {
        let first = |names: &[&str]| names.iter().find_map(|n| var(n)).unwrap_or_default();
        let no = first(&["NO_PROXY", "no_proxy"]);
        match choice {
            ProxyChoice::Off => Self {
                matcher: None,
                exempt_loopback: false,
            },
            ProxyChoice::Url(u) => Self {
                matcher: Some(Arc::new(Matcher::builder().all(u.clone()).no(no).build())),
                exempt_loopback: false,
            },
            ProxyChoice::Env => {
                let m = Matcher::builder()
                    .all(first(&["ALL_PROXY", "all_proxy"]))
                    .http(first(&["HTTP_PROXY", "http_proxy"]))
                    .https(first(&["HTTPS_PROXY", "https_proxy"]))
                    .no(no)
                    .build();
                Self {
                    matcher: Some(Arc::new(m)),
                    exempt_loopback: true,
                }
            }
        }
    }

    /// The proxy for `dst`, if any: its URL and `Proxy-Authorization`.
    fn proxy_for(&self, dst: &http::Uri) -> Option<(http::Uri, Option<http::HeaderValue>)> {
        if self.exempt_loopback && is_loopback(dst) {
            return None;
        }
        let i = self.matcher.as_ref()?.intercept(dst)?;
        Some((i.uri().clone(), i.basic_auth().cloned()))
    }
}

fn is_loopback(dst: &http::Uri) -> bool {
    let Some(host) = dst.host() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A TCP connector that tunnels through the proxy the rules name.
#[derive(Clone)]
pub(crate) struct ProxyConnector {
    http: HttpConnector,
    rules: Rules,
}

impl ProxyConnector {
    pub(crate) fn new(http: HttpConnector, rules: Rules) -> Self {
        Self { http, rules }
    }
}

type Io = <HttpConnector as Service<http::Uri>>::Response;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Service<http::Uri> for ProxyConnector {
    type Response = Io;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Io, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        match self.rules.proxy_for(&dst) {
            Some((proxy, auth)) => {
                tracing::debug!(
                    proxy_host = proxy.host().unwrap_or(""),
                    "connecting through a proxy"
                );
                let mut tunnel = Tunnel::new(proxy, self.http.clone());
                if let Some(a) = auth {
                    tunnel = tunnel.with_auth(a);
                }
                Box::pin(async move { tunnel.call(dst).await.map_err(|e| Box::new(e) as BoxError) })
            }
            None => {
                let mut http = self.http.clone();
                Box::pin(async move { http.call(dst).await.map_err(|e| Box::new(e) as BoxError) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_environment_as_curl_reads_it() {
        let r = Rules::new(
            &ProxyChoice::Env,
            env(&[
                ("HTTPS_PROXY", "http://user:pw@proxy.corp:3128"),
                ("no_proxy", "internal.corp,.box.test"),
            ]),
        );
        let (p, auth) = r
            .proxy_for(&"https://upload.box.com/api/2.0".parse().unwrap())
            .unwrap();
        assert_eq!(p.host(), Some("proxy.corp"));
        assert!(
            auth.is_some(),
            "the URL's credentials become Proxy-Authorization"
        );
        assert!(r
            .proxy_for(&"https://internal.corp/x".parse().unwrap())
            .is_none());
        assert!(r
            .proxy_for(&"https://a.box.test/x".parse().unwrap())
            .is_none());
        assert!(
            r.proxy_for(&"http://upload.box.com/x".parse().unwrap())
                .is_none(),
            "HTTPS_PROXY is for https"
        );
        assert!(
            r.proxy_for(&"https://127.0.0.1:8080/".parse().unwrap())
                .is_none(),
            "loopback skips env proxies"
        );
        let all = Rules::new(&ProxyChoice::Env, env(&[("ALL_PROXY", "http://p:1")]));
        assert!(all
            .proxy_for(&"http://example.com/".parse().unwrap())
            .is_some());
        let none = Rules::new(&ProxyChoice::Env, env(&[]));
        assert!(none
            .proxy_for(&"https://upload.box.com/".parse().unwrap())
            .is_none());
    }

    #[test]
    fn an_explicit_proxy_takes_everything_but_no_proxy() {
        let r = Rules::new(
            &ProxyChoice::Url("http://127.0.0.1:9".into()),
            env(&[("NO_PROXY", "example.org")]),
        );
        assert!(r
            .proxy_for(&"https://127.0.0.1:8443/".parse().unwrap())
            .is_some());
        assert!(r
            .proxy_for(&"http://api.box.com/".parse().unwrap())
            .is_some());
        assert!(r
            .proxy_for(&"https://example.org/".parse().unwrap())
            .is_none());
        let off = Rules::new(&ProxyChoice::Off, env(&[("HTTPS_PROXY", "http://p:1")]));
        assert!(off
            .proxy_for(&"https://upload.box.com/".parse().unwrap())
            .is_none());
    }
}
