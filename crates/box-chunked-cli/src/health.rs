//! `box-chunked health [URL]`: asks a local server's health route
//! (`GET /__box-chunked/health`, no credentials) and exits 0 when it
//! answers 200. It is the container image's healthcheck, where there is no
//! curl: with no URL it reads the address the server was given
//! (`BOX_CHUNKED_ADDR`, default `127.0.0.1:8080`; an unspecified address
//! such as `0.0.0.0` is asked on loopback). Plain HTTP only.

use crate::args::HealthArgs;
use crate::failure::{exit, Failure};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;

/// The `host:port` to ask: the URL's, or the served address's.
fn target(args: &HealthArgs) -> Result<String, Failure> {
    let usage = |m: String| Failure::new(exit::USAGE, m);
    if let Some(url) = &args.url {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            usage(format!(
                "{url} is not an http:// URL; health asks plain HTTP only (for a TLS server, use curl --cacert)"
            ))
        })?;
        return Ok(rest.split('/').next().unwrap_or(rest).to_owned());
    }
    let addr: SocketAddr = args.addr.parse().map_err(|_| {
        usage(format!(
            "BOX_CHUNKED_ADDR={} is not an address such as 127.0.0.1:8080",
            args.addr
        ))
    })?;
    let ip = if addr.ip().is_unspecified() {
        match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        }
    } else {
        addr.ip()
    };
    Ok(SocketAddr::new(ip, addr.port()).to_string())
}

/// Asks the health route; `Ok` on a 200, with its body printed.
pub(crate) async fn health(args: HealthArgs) -> Result<(), Failure> {
    let host = target(&args)?;
    let failed = |m: String| {
        Failure::new(
            exit::FAILED,
            format!("the server at {host} is not healthy: {m}"),
        )
    };
    let ask = async {
        let stream = tokio::net::TcpStream::connect(&host)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed(e.to_string()))?;
        tokio::spawn(conn);
        let req = http::Request::get("/__box-chunked/health")
            .header(http::header::HOST, &host)
            .body(Empty::<Bytes>::new())
            .map_err(|e| failed(e.to_string()))?;
        let resp = send
            .send_request(req)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| failed(e.to_string()))?
            .to_bytes();
        if status != http::StatusCode::OK {
            return Err(failed(format!("it answered {status}")));
        }
        println!("{}", String::from_utf8_lossy(&body).trim());
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(args.timeout), ask)
        .await
        .map_err(|_| failed(format!("no answer within {} s", args.timeout)))?
}
