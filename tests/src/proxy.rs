//! A lying reverse proxy: forwards every request to a server and lets the
//! test rewrite answers on the way back (a commit answered with another
//! SHA-1, say), as a broken gateway or a hostile server would.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::{Arc, OnceLock};

/// Rewrites an answer: given the request's method and path, the status and
/// the body, the body to send instead (or `None` to pass it on unchanged).
pub type Rewrite = Arc<dyn Fn(&str, &str, u16, &[u8]) -> Option<Vec<u8>> + Send + Sync>;

/// A running proxy: its URL, and where it forwards (set once, after the
/// server behind it has started with the proxy's URL as its public URL).
pub struct LyingProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The server's base URL (`http://127.0.0.1:PORT`), set once.
    pub upstream: Arc<OnceLock<String>>,
}

impl LyingProxy {
    /// Listens on a free loopback port; answers pass through `rewrite`.
    pub async fn start(rewrite: Rewrite) -> Self {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy binds");
        let url = format!("http://{}", l.local_addr().expect("proxy address"));
        let upstream: Arc<OnceLock<String>> = Arc::default();
        let up = upstream.clone();
        let client: Client<HttpConnector, Incoming> =
            Client::builder(TokioExecutor::new()).build_http();
        tokio::spawn(async move {
            while let Ok((stream, _)) = l.accept().await {
                let (client, up, rewrite) = (client.clone(), up.clone(), rewrite.clone());
                let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    forward(client.clone(), up.clone(), rewrite.clone(), req)
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc),
                );
            }
        });
        Self { url, upstream }
    }
}

async fn forward(
    client: Client<HttpConnector, Incoming>,
    up: Arc<OnceLock<String>>,
    rewrite: Rewrite,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let (mut head, body) = req.into_parts();
    let (method, path) = (head.method.to_string(), head.uri.path().to_owned());
    let pq = head
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let base = up.get().cloned().unwrap_or_default();
    head.uri = format!("{base}{pq}").parse().expect("an upstream URL");
    let answer = match client.request(hyper::Request::from_parts(head, body)).await {
        Ok(a) => a,
        Err(e) => {
            let mut why = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                why = format!("{why}: {c}");
                cause = c.source();
            }
            let mut r = hyper::Response::new(Full::new(Bytes::from(why)));
            *r.status_mut() = hyper::StatusCode::BAD_GATEWAY;
            return Ok(r);
        }
    };
    let (mut head, body) = answer.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = rewrite(&method, &path, head.status.as_u16(), &body).map_or(body, Bytes::from);
    head.headers.remove(hyper::header::CONTENT_LENGTH);
    head.headers.remove(hyper::header::TRANSFER_ENCODING);
    Ok(hyper::Response::from_parts(head, Full::new(body)))
}
