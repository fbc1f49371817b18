//! Helpers for the cross-crate tests: a raw HTTP client, a server on a free
//! loopback port with its own data directory, and test data.

pub mod api;
pub mod proxy;
pub mod raw;

use box_chunked_proto::{DigestHeader, Sha1Digest};
use box_chunked_server::{RunningServer, Server, ServerConfig};
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sha1::{Digest as _, Sha1};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The token of user `alice` on test servers.
pub const ALICE: &str = "alice-token";
/// The token of user `bob` on test servers.
pub const BOB: &str = "bob-token";
/// The test servers' admin token (their own routes: counters, faults).
pub const ADMIN: &str = "admin-token";

/// A response, body read in full.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (`Value::Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Box's error `code`, if the body is an error.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_owned()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A minimal HTTP client over hyper, for talking to the server as raw HTTP
/// (and HTTPS, trusting a test CA).
#[derive(Clone, Debug)]
pub struct Http {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    /// A pooled HTTP/1.1 client.
    pub fn new() -> Self {
        Self::with_tls(None, false)
    }

    /// A client that trusts the CA certificate `ca_pem` over HTTPS and
    /// offers HTTP/2 (`http2`) or HTTP/1.1 only by ALPN.
    pub fn trusting(ca_pem: &str, http2: bool) -> Self {
        Self::with_tls(Some(ca_pem), http2)
    }

    fn with_tls(ca_pem: Option<&str>, http2: bool) -> Self {
        use rustls_pki_types::pem::PemObject as _;
        let mut roots = rustls::RootCertStore::empty();
        if let Some(pem) = ca_pem {
            for c in rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots
                    .add(c.expect("a PEM certificate"))
                    .expect("a usable root");
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let b = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let connector = if http2 {
            b.enable_http2().build()
        } else {
            b.enable_http1().build()
        };
        let mut cb = Client::builder(TokioExecutor::new());
        if http2 {
            cb.http2_only(true);
        }
        Self {
            client: cb.build(connector),
        }
    }

    /// `GET url` with `token`, and the `302` Box answers a download with
    /// followed once, without the token (the URL is its own credential).
    pub async fn download(&self, url: &str, token: &str) -> Reply {
        let r = self.get(url).bearer(token).send().await;
        match (r.status, r.header("location")) {
            (302, Some(to)) => self.get(to).send().await,
            _ => r,
        }
    }

    /// A request to build: `http.put(url).bearer(ALICE).header("digest",
    /// d).body(bytes).send().await`.
    pub fn request(&self, method: &str, url: &str) -> RequestBuilder<'_> {
        RequestBuilder {
            http: self,
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
            within: None,
        }
    }

    /// A `GET` request to build.
    pub fn get(&self, url: &str) -> RequestBuilder<'_> {
        self.request("GET", url)
    }

    /// A `POST` request to build.
    pub fn post(&self, url: &str) -> RequestBuilder<'_> {
        self.request("POST", url)
    }

    /// A `PUT` request to build.
    pub fn put(&self, url: &str) -> RequestBuilder<'_> {
        self.request("PUT", url)
    }

    /// A `DELETE` request to build.
    pub fn delete(&self, url: &str) -> RequestBuilder<'_> {
        self.request("DELETE", url)
    }

    /// An `OPTIONS` request to build.
    pub fn options(&self, url: &str) -> RequestBuilder<'_> {
        self.request("OPTIONS", url)
    }
}

/// A request under construction (see [`Http::request`]): headers in the
/// order given, an empty body unless one is set.
#[derive(Debug)]
#[must_use = "a request is sent only by send() or try_send()"]
pub struct RequestBuilder<'a> {
    http: &'a Http,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Bytes,
    within: Option<std::time::Duration>,
}

impl RequestBuilder<'_> {
    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// Adds one header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Adds each header of `list`.
    pub fn headers(mut self, list: &[(&str, String)]) -> Self {
        for (k, v) in list {
            self.headers.push(((*k).to_owned(), v.clone()));
        }
        self
    }

    /// Sets the body, sent as given (no `Content-Type` is added).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Gives up after `limit`: then `try_send` answers `Err("timed out")`.
    pub fn within(mut self, limit: std::time::Duration) -> Self {
        self.within = Some(limit);
        self
    }

    /// Sends it; `Err` is a transport failure (the connection dropped) or
    /// the time limit passed.
    pub async fn try_send(self) -> Result<Reply, String> {
        match self.within {
            Some(limit) => tokio::time::timeout(limit, self.exchange())
                .await
                .unwrap_or_else(|_| Err("timed out".into())),
            None => self.exchange().await,
        }
    }

    async fn exchange(self) -> Result<Reply, String> {
        let mut b = http::Request::builder()
            .method(self.method.as_str())
            .uri(&self.url);
        for (k, v) in &self.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let req = b.body(Full::new(self.body)).map_err(|e| e.to_string())?;
        let resp = self
            .http
            .client
            .request(req)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Sends it, panicking on a transport failure.
    pub async fn send(self) -> Reply {
        let what = format!("{} {}", self.method, self.url);
        self.try_send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    }
}

/// A server on a free loopback port, with a fresh data directory.
#[derive(Debug)]
pub struct TestServer {
    /// Its base URL (the public URL when one is configured).
    pub url: String,
    /// `http://` and the address it listens on.
    pub local: String,
    /// Its data directory.
    pub dir: TempDir,
    running: Option<RunningServer>,
}

impl TestServer {
    /// Starts a server with tokens for alice and bob, a minimum file size of
    /// 1 byte and 1 KiB parts, then `tweak`.
    pub async fn start(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = TempDir::new("server");
        Self::start_in(dir, tweak).await
    }

    /// Starts a server on an existing data directory.
    pub async fn start_in(dir: TempDir, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut cfg = ServerConfig::new(dir.path());
        cfg.addr = ([127, 0, 0, 1], 0).into();
        cfg.tokens = vec![(ALICE.into(), "alice".into()), (BOB.into(), "bob".into())];
        cfg.admin_token = Some(ADMIN.into());
        cfg.min_file_size = 1;
        cfg.part_size = Some(1024);
        // Content at once, as these tests read it; tests/it/downloads.rs
        // checks Box's redirect, which is the server's default.
        cfg.download_redirect = false;
        tweak(&mut cfg);
        let server = Server::bind(cfg).await.expect("server starts");
        let url = server.url().to_owned();
        let local = format!("http://{}", server.local_addr());
        Self {
            url,
            local,
            dir,
            running: Some(server.spawn()),
        }
    }

    /// The upload API root.
    pub fn upload_root(&self) -> String {
        format!("{}/api/2.0", self.url)
    }

    /// Stops the server, keeping the data directory.
    pub async fn stop(mut self) -> TempDir {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("server stops cleanly");
        }
        self.dir
    }

    /// Moves the server's clock `secs` ahead (its admin route), so that
    /// sessions and tokens expire without waiting.
    pub async fn advance_clock(&self, http: &Http, secs: i64) {
        let r = http
            .post(&format!("{}/__box-chunked/clock", self.local))
            .bearer(ADMIN)
            .body(serde_json::json!({ "advance_secs": secs }).to_string())
            .send()
            .await;
        assert_eq!(r.status, 200, "{:?}", r.json());
    }

    /// The counters once no request but the one reading them is running
    /// (a request whose client went away still runs to its end).
    pub async fn settled(&self, http: &Http) -> Value {
        for _ in 0..1000 {
            let c = self.counters(http).await;
            if c["requests_running"] == 1 {
                return c;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("requests still running after 10 s");
    }

    /// Waits (polling, at most 10 s) until the counter `name` reaches `n`.
    pub async fn counter_reaches(&self, http: &Http, name: &str, n: u64) {
        for _ in 0..1000 {
            if self.counters(http).await[name].as_u64() >= Some(n) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("counter {name} never reached {n}");
    }

    /// The server's counters.
    pub async fn counters(&self, http: &Http) -> Value {
        http.get(&format!("{}/__box-chunked/counters", self.url))
            .bearer(ADMIN)
            .send()
            .await
            .json()
    }
}

/// A directory removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A directory at `path` (created if missing), emptied on drop like the others.
    pub fn at(path: &Path) -> Self {
        std::fs::create_dir_all(path).expect("test directory");
        Self(path.to_path_buf())
    }

    /// A new empty directory under the system's temporary directory.
    pub fn new(label: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "box-chunked-test-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// SHA-1 of bytes.
pub fn sha1(bytes: &[u8]) -> Sha1Digest {
    Sha1Digest(Sha1::digest(bytes).into())
}

/// The `Digest` header value for bytes.
pub fn digest(bytes: &[u8]) -> String {
    DigestHeader::sha1_value(&sha1(bytes))
}

/// Deterministic pseudo-random bytes.
pub fn pseudo_random(size: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 8);
    let mut s = seed ^ 0x9e37_79b9_7f4a_7c15;
    while out.len() < size {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(size);
    out
}

/// Uploads `data` through the raw API into folder `0` as `name`: create,
/// parts (sequentially), commit. Returns the commit reply.
pub async fn raw_upload(http: &Http, root: &str, token: &str, name: &str, data: &[u8]) -> Reply {
    let create = http
        .post(&format!("{root}/files/upload_sessions"))
        .bearer(token)
        .body(
            serde_json::to_vec(
                &serde_json::json!({"folder_id": "0", "file_size": data.len(), "file_name": name}),
            )
            .unwrap_or_default(),
        )
        .send()
        .await;
    assert_eq!(create.status, 201, "{:?}", create.json());
    let s = create.json();
    let part_size = s["part_size"].as_u64().unwrap_or(1) as usize;
    let up = s["session_endpoints"]["upload_part"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let mut parts = Vec::new();
    for (i, chunk) in data.chunks(part_size).enumerate() {
        let off = i * part_size;
        let r = http
            .put(&up)
            .bearer(token)
            .headers(&[
                (
                    "content-range",
                    format!("bytes {}-{}/{}", off, off + chunk.len() - 1, data.len()),
                ),
                ("digest", digest(chunk)),
            ])
            .body(Bytes::copy_from_slice(chunk))
            .send()
            .await;
        assert_eq!(r.status, 200, "{:?}", r.json());
        parts.push(r.json()["part"].clone());
    }
    let commit = s["session_endpoints"]["commit"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    http.post(&commit)
        .bearer(token)
        .headers(&[("digest", digest(data))])
        .body(serde_json::to_vec(&serde_json::json!({ "parts": parts })).unwrap_or_default())
        .send()
        .await
}

/// A test CA and a certificate it signed for `127.0.0.1` and `localhost`:
/// (CA certificate, leaf certificate, leaf key), PEM.
pub fn test_certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("CA key")).expect("CA");
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf parameters");
    leaf.subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    let key = KeyPair::generate().expect("leaf key");
    let cert = leaf.signed_by(&key, &ca).expect("leaf");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// The JWT test keys (`tests/fixtures/jwt`): Box console style (PKCS#8,
/// PBES2, PBKDF2-HMAC-SHA1, DES-EDE3), and their passphrases.
pub const CONSOLE_KEY: (&str, &str) = ("console-key.pem", "test-passphrase");
/// A second key of the same kind, for wrong signatures.
pub const OTHER_KEY: (&str, &str) = ("other-key.pem", "other-passphrase");

/// The text of a fixture under `tests/fixtures/`.
pub fn fixture(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A Box app config file's JSON, as Box's developer console writes it:
/// client `app-client`, secret `app-secret`, key id `kid-1`, enterprise
/// `ent-1`, with `key` (a fixture name and its passphrase).
pub fn box_app_config(key: (&str, &str)) -> String {
    serde_json::json!({
        "boxAppSettings": {
            "clientID": "app-client",
            "clientSecret": "app-secret",
            "appAuth": {
                "publicKeyID": "kid-1",
                "privateKey": fixture(&format!("jwt/{}", key.0)),
                "passphrase": key.1,
            }
        },
        "enterpriseID": "ent-1"
    })
    .to_string()
}

/// A `CONNECT` proxy on loopback, started by the test: its URL, and the
/// request heads it saw (one per tunnel).
pub async fn connect_proxy() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("proxy binds");
    let url = format!("http://{}", l.local_addr().expect("proxy address"));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = l.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if c.read(&mut b).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                log.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(text.clone());
                let target = text.split_whitespace().nth(1).unwrap_or("").to_owned();
                let Ok(mut up) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let _ = c
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut c, &mut up).await;
            });
        }
    });
    (url, seen)
}
