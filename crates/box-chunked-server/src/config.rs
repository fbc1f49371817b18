//! How to run the server: [`ServerConfig`] (addresses, users and apps,
//! limits, timeouts, faults) and [`ServerTls`]. Neither `Debug` shows a
//! token, a secret or a key.

use crate::faults::FaultSpec;
use crate::ServerApp;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How to run the server. Its `Debug` shows no token or secret.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Where to listen (default `127.0.0.1:8080`; port 0 picks a free port).
    pub addr: SocketAddr,
    /// The data directory (created if missing).
    pub data_dir: PathBuf,
    /// Accepted bearer tokens and the user each stands for.
    pub tokens: Vec<(String, String)>,
    /// OAuth clients: (client id, secret, user). Each gets the
    /// client-credentials grant for its user, and `GET /oauth2/authorize`
    /// approves it at once for that user (then the `authorization_code` and
    /// single-use `refresh_token` grants).
    pub clients: Vec<(String, String, String)>,
    /// Registered redirect URIs: (client id, URI). `GET /oauth2/authorize`
    /// redirects only to one of its client's, compared exactly; a client
    /// with none registered may use loopback `http` URIs
    /// (`http://127.0.0.1:PORT/...`, `http://localhost:PORT/...`, any port
    /// and path). Any other `redirect_uri` is a `400`, with no code issued.
    pub redirect_uris: Vec<(String, String)>,
    /// Box apps for JWT server auth (and the client-credentials grant),
    /// from their config files ([`ServerApp::from_config_json`]). The users
    /// of `tokens` and `clients` are their enterprise's managed users.
    pub apps: Vec<ServerApp>,
    /// The bearer token of the server's own routes (`/__box-chunked/*`:
    /// counters, fault rules). It is no user's token, and a user's token is
    /// refused there (`403`). Without one, those routes answer `403` to
    /// everyone; `faults` still applies from the start.
    pub admin_token: Option<String>,
    /// Lifetime of access tokens issued by `/oauth2/token`, by every grant
    /// (default 1 hour).
    pub token_ttl: Duration,
    /// The base URL that `session_endpoints` use (default: the listening address).
    pub public_url: Option<String>,
    /// A fixed part size; `None` uses Box's observed policy
    /// ([`box_chunked_proto::rules::default_part_size`]).
    pub part_size: Option<u64>,
    /// Bytes each user may hold: every version of their files, and the
    /// size of each open upload session (reserved from create until its
    /// commit, abort or expiry). A session, a commit or a one-shot upload
    /// that does not fit is refused with `403 storage_limit_exceeded`, the
    /// check made in the transaction that adds the bytes. Default: no limit.
    pub quota: Option<u64>,
    /// The web origins whose pages may call the server from a browser
    /// (CORS; `*` for any), as a Box app lists them: a request with
    /// another `Origin` gets `403 cors_origin_not_whitelisted`. Empty by
    /// default, like a new Box app: every browser request is refused.
    pub cors_origins: Vec<String>,
    /// The `box-version` header values taken (default Box's: `2024.0`;
    /// `any` takes every one), so that a pipeline stays green the day an
    /// SDK sends a newer one. A request without the header is always taken.
    pub box_versions: Vec<String>,
    /// `GET /files/{id}/content` answers `302` to a short-lived URL of the
    /// server that needs no token, as Box does (default); `false` answers
    /// the content at once, for clients (and old tests) that do not follow.
    pub download_redirect: bool,
    /// How many of the last requests `GET /__box-chunked/requests` keeps
    /// (default 10,000; 0 keeps none).
    pub journal_size: usize,
    /// Upload sessions each user may have open at once; one more is
    /// refused with `429 rate_limit_exceeded` (`Retry-After: 60`).
    /// Default 1,000; `None`: no limit.
    pub max_open_sessions: Option<u64>,
    /// The smallest file a session accepts (default 20,000,000 bytes).
    pub min_file_size: u64,
    /// How long sessions live (default 7 days).
    pub session_lifetime: Duration,
    /// How long deleted items stay in the trash (default 30 days, Box's);
    /// `None` deletes at once. Purged by the collector.
    pub trash_retention: Option<Duration>,
    /// How often expired sessions are collected (default 60 s).
    pub collect_every: Duration,
    /// How long a commit waits for verification before answering `202` (default 5 s).
    pub commit_wait: Duration,
    /// How long a part body may go without a byte before its connection is
    /// dropped (default 60 s).
    pub body_idle: Duration,
    /// How long a client may take to send a request's headers, and to start
    /// the next request on a kept-alive HTTP/1.1 connection (default 30 s).
    pub header_timeout: Duration,
    /// A connection on which no byte moves either way for this long is
    /// closed, HTTP/1.1 or HTTP/2 (default 120 s).
    pub idle_timeout: Duration,
    /// How long a JSON body (create, commit, folders, OAuth) may take to
    /// arrive whole (default 30 s); then `408 request_timeout`.
    pub json_body_timeout: Duration,
    /// Connections open at once (default `None`: three quarters of the
    /// process's open-files limit, which the server first raises to its
    /// hard limit, at most 10,000). At the cap, the connection idle longest
    /// is closed to make room, so idle or slow clients cannot lock others
    /// out.
    pub max_connections: Option<usize>,
    /// Faults to inject (default none).
    pub faults: FaultSpec,
    /// Box-like network and service conditions (bandwidth, round trips,
    /// part processing, per-user request limits); default none.
    pub link: crate::link::LinkModel,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with this certificate and
    /// key instead of plain HTTP; `session_endpoints` then carry `https://`
    /// URLs. Default: plain HTTP.
    pub tls: Option<ServerTls>,
    /// Benchmark aid: verify each part's `Digest` but keep no bytes (nothing
    /// is written or fsynced; the whole-file digest cannot be checked and is
    /// taken as sent; committed files have no content to download). It
    /// isolates a client's speed from this server's disk.
    pub verify_only: bool,
    /// Test aid: this server's clock runs this many seconds ahead of the
    /// machine's (behind when negative), for everything that expires
    /// (sessions, tokens, codes), its `Date` headers and the JWT `exp` it
    /// checks, as a Box whose clock differs from a client's. The admin
    /// route `POST /__box-chunked/clock` moves it at run time. Default 0.
    pub clock_offset_secs: i64,
}

impl ServerConfig {
    /// Defaults, with data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: data_dir.into(),
            tokens: Vec::new(),
            clients: Vec::new(),
            redirect_uris: Vec::new(),
            apps: Vec::new(),
            admin_token: None,
            token_ttl: Duration::from_secs(3600),
            public_url: None,
            part_size: None,
            quota: None,
            max_open_sessions: Some(1000),
            cors_origins: Vec::new(),
            journal_size: 10_000,
            download_redirect: true,
            box_versions: vec!["2024.0".to_owned()],
            min_file_size: box_chunked_proto::rules::MIN_CHUNKED_FILE_SIZE,
            session_lifetime: Duration::from_secs(box_chunked_proto::rules::SESSION_LIFETIME_SECS),
            trash_retention: Some(Duration::from_secs(30 * 86_400)),
            collect_every: Duration::from_secs(60),
            commit_wait: Duration::from_secs(5),
            body_idle: Duration::from_secs(60),
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            json_body_timeout: Duration::from_secs(30),
            max_connections: None,
            faults: FaultSpec::default(),
            link: crate::link::LinkModel::default(),
            tls: None,
            verify_only: false,
            clock_offset_secs: 0,
        }
    }

    /// Parses a `--token` value: `TOKEN=USER`, or `TOKEN` for a user of its own.
    ///
    /// The value splits at its **last** `=` when what follows is a user name
    /// (letters, digits, `.`, `_`, `-`, `@`, `+`; never `=`). So a token that
    /// ends in `=` (base64 padding) is taken whole, and a token with `=`
    /// inside is given with its user after one more `=`.
    ///
    /// ```
    /// use box_chunked_server::ServerConfig;
    /// assert_eq!(ServerConfig::parse_token("abc=alice"), ("abc".into(), "alice".into()));
    /// assert_eq!(ServerConfig::parse_token("YWJjZA==").0, "YWJjZA==");
    /// assert_eq!(ServerConfig::parse_token("YWJjZA===bob"), ("YWJjZA==".into(), "bob".into()));
    /// ```
    pub fn parse_token(value: &str) -> (String, String) {
        let is_user = |u: &str| {
            !u.is_empty()
                && u.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-@+".contains(&b))
        };
        match value.rsplit_once('=') {
            Some((t, u)) if !t.is_empty() && is_user(u) => (t.to_owned(), u.to_owned()),
            _ => {
                let t = value.to_owned();
                // A token without a user is a user of its own, named after a hash
                // of the token so that the token itself never becomes a name.
                let user = format!("user-{}", &crate::handlers::short_hash(&t)[..8]);
                (t, user)
            }
        }
    }
}

/// A certificate chain and its private key, PEM, for HTTPS.
#[derive(Clone)]
pub struct ServerTls {
    /// The certificate chain, leaf first (PEM `CERTIFICATE` blocks).
    pub cert_chain_pem: Vec<u8>,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret.
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let users: Vec<&str> = self.tokens.iter().map(|(_, u)| u.as_str()).collect();
        let clients: Vec<&str> = self.clients.iter().map(|(id, _, _)| id.as_str()).collect();
        f.debug_struct("ServerConfig")
            .field("addr", &self.addr)
            .field("data_dir", &self.data_dir)
            .field("token_users", &users)
            .field("client_ids", &clients)
            .field("apps", &self.apps)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("token_ttl", &self.token_ttl)
            .field("public_url", &self.public_url)
            .field("part_size", &self.part_size)
            .field("quota", &self.quota)
            .field("max_open_sessions", &self.max_open_sessions)
            .field("trash_retention", &self.trash_retention)
            .field("cors_origins", &self.cors_origins)
            .field("min_file_size", &self.min_file_size)
            .field("tls", &self.tls.is_some())
            .field("faults", &self.faults)
            .field("link", &self.link.to_string())
            .finish_non_exhaustive()
    }
}
