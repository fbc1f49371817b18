//! `box-chunked login`: OAuth 2.0's authorization-code flow with a loopback
//! redirect. It prints the authorize URL, listens on the redirect URI's
//! loopback port for the browser to come back with `code` and `state`,
//! trades the code, and writes the token file (atomically, mode 0600) that
//! `--token-file` and `BOX_TOKEN_FILE` then use.

use crate::args::{Global, LoginArgs};
use crate::connect::{data_dir, shell_quote, transport_of};
use crate::failure::{exit, Failure};
use box_chunked_hyper::RefreshTokenAuth;
use box_chunked_proto::oauth::{authorize_url, parse_form};
use box_chunked_proto::urls::BaseUrls;
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What the browser brought back.
enum Back {
    Code(String),
    Refused(String),
}

pub(crate) async fn login(g: &Global, args: LoginArgs) -> Result<(), Failure> {
    let usage = |m: String| Failure::new(exit::USAGE, m);
    let conn = args.net.clone().or(&g.conn.net);
    let path = args
        .token_file
        .clone()
        .or_else(|| g.conn.auth.token_file.clone())
        .or_else(|| std::env::var_os("BOX_TOKEN_FILE").map(PathBuf::from))
        .unwrap_or_else(|| data_dir().join("box-token.json"));
    let (redirect_host, redirect_port, redirect_path) = loopback(&args.redirect_uri).ok_or_else(|| {
        usage(format!(
            "--redirect-uri {:?} must be a loopback http:// URL with a port, such as http://127.0.0.1:53682/ (register the same URI in the app's configuration)",
            args.redirect_uri
        ))
    })?;
    let (listener, redirect_uri) = listen(&redirect_host, redirect_port, &redirect_path).await?;
    let authorize_base = args.authorize_url.clone().unwrap_or_else(|| {
        conn.base_url
            .as_deref()
            .map_or_else(BaseUrls::box_com, BaseUrls::from_base)
            .authorize_url()
    });
    let state = crate::connect::random_token()?;
    let url = authorize_url(&authorize_base, &args.client_id, &redirect_uri, &state);
    eprintln!("Open this URL in a browser and approve the app:\n\n  {url}\n");
    eprintln!("Waiting for the browser to come back to {redirect_uri} ...");
    let back = tokio::time::timeout(
        Duration::from_secs(args.timeout),
        wait_for_redirect(listener, redirect_path, state),
    )
    .await
    .map_err(|_| {
        Failure::new(
            exit::REFUSED,
            format!(
                "the browser did not come back to {redirect_uri} within {} s; run box-chunked login again and open the URL it prints",
                args.timeout
            ),
        )
    })?;
    let code = match back {
        Back::Code(c) => c,
        Back::Refused(why) => {
            return Err(Failure::new(
                exit::REFUSED,
                format!("the sign-in was not approved ({why}); run box-chunked login again"),
            ))
        }
    };
    trade(&conn, &args, &path, code, redirect_uri).await?;
    let p = shell_quote(&path.display().to_string());
    eprintln!("Signed in. The tokens are in {p}; use them with --token-file {p} (or BOX_TOKEN_FILE={p}) and the same BOX_CLIENT_ID and BOX_CLIENT_SECRET.");
    Ok(())
}

/// A listener for the browser's redirect, and the redirect URI it answers
/// (with the port it got, when the URI's port is 0).
async fn listen(host: &str, port: u16, path: &str) -> Result<(TcpListener, String), Failure> {
    let listener = TcpListener::bind((host, port)).await.map_err(|e| {
        Failure::new(
            exit::USAGE,
            format!("cannot listen on {host}:{port} for the redirect: {e}; pick another --redirect-uri port"),
        )
    })?;
    let port = listener.local_addr().map_or(port, |a| a.port());
    let shown = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    Ok((listener, format!("http://{shown}:{port}{path}")))
}

/// Trades the browser's code for the first token pair, which the token
/// file at `path` receives.
async fn trade(
    conn: &crate::args::Net,
    args: &LoginArgs,
    path: &std::path::Path,
    code: String,
    redirect_uri: String,
) -> Result<(), Failure> {
    let auth = RefreshTokenAuth::from_authorization_code(
        path,
        args.client_id.clone(),
        args.client_secret.clone(),
        code,
        redirect_uri,
    );
    let (b, _) = transport_of(conn)?;
    let client = b
        .auth(auth)
        .build()
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    client.sign_in().await.map_err(|e| {
        Failure::new(
            exit::REFUSED,
            format!("the code from the browser could not be traded for tokens: {e}; check BOX_CLIENT_ID and BOX_CLIENT_SECRET, then run box-chunked login again"),
        )
    })
}

/// Host, port and path of a loopback `http://` redirect URI.
fn loopback(uri: &str) -> Option<(String, u16, String)> {
    let rest = uri.strip_prefix("http://")?;
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let addr: Option<SocketAddr> = authority.parse().ok();
    let (host, port) = match addr {
        Some(a) if a.ip().is_loopback() => (a.ip().to_string(), a.port()),
        Some(_) => return None,
        None => {
            let (h, p) = authority.rsplit_once(':')?;
            if !h.eq_ignore_ascii_case("localhost") {
                return None;
            }
            ("127.0.0.1".to_owned(), p.parse().ok()?)
        }
    };
    let path = path.split('?').next().unwrap_or("/").to_owned();
    Some((host, port, path))
}

/// Serves the redirect path until a request with our `state` arrives.
async fn wait_for_redirect(listener: TcpListener, path: String, state: String) -> Back {
    let (tx, mut rx) = mpsc::channel::<Back>(1);
    let path = Arc::new(path);
    let state = Arc::new(state);
    let done = Arc::new(Mutex::new(false));
    loop {
        tokio::select! {
            back = rx.recv() => {
                if let Some(b) = back {
                    return b;
                }
            }
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (tx, path, state, done) = (tx.clone(), path.clone(), state.clone(), done.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (tx, path, state, done) = (tx.clone(), path.clone(), state.clone(), done.clone());
                        async move {
                            Ok::<_, Infallible>(answer(&req, &path, &state, &done, &tx))
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    }
}

fn answer<B>(
    req: &http::Request<B>,
    path: &str,
    state: &str,
    done: &Mutex<bool>,
    tx: &mpsc::Sender<Back>,
) -> http::Response<Full<Bytes>> {
    let page = |status: u16, text: &str| {
        let mut r = http::Response::new(Full::new(Bytes::from(format!(
            "<!doctype html><meta charset=utf-8><title>box-chunked</title><p>{text}</p>\n"
        ))));
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r
    };
    if req.uri().path() != path {
        return page(404, "Not the sign-in redirect.");
    }
    let query = parse_form(req.uri().query().unwrap_or("").as_bytes());
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if get("state").as_deref() != Some(state) {
        return page(
            400,
            "This redirect is not from the sign-in box-chunked started (its state differs).",
        );
    }
    let mut finished = done
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if *finished {
        return page(200, "Already signed in; you can close this tab.");
    }
    *finished = true;
    match (get("code"), get("error")) {
        (Some(code), _) => {
            let _ = tx.try_send(Back::Code(code));
            page(200, "Signed in to box-chunked; you can close this tab.")
        }
        (None, error) => {
            let why = [error, get("error_description")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            let _ = tx.try_send(Back::Refused(if why.is_empty() {
                "no code".into()
            } else {
                why
            }));
            page(400, "The sign-in was not approved; see the terminal.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::loopback;

    #[test]
    fn only_loopback_redirects_are_listened_on() {
        assert_eq!(
            loopback("http://127.0.0.1:53682/"),
            Some(("127.0.0.1".into(), 53682, "/".into()))
        );
        assert_eq!(
            loopback("http://localhost:8080/cb?x=1"),
            Some(("127.0.0.1".into(), 8080, "/cb".into()))
        );
        assert_eq!(
            loopback("http://[::1]:0"),
            Some(("::1".into(), 0, "/".into()))
        );
        assert_eq!(loopback("http://192.168.1.2:80/"), None);
        assert_eq!(loopback("https://127.0.0.1:1/"), None);
        assert_eq!(loopback("http://127.0.0.1/"), None);
    }
}
