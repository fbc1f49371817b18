//! The arguments of `box-chunked serve`: every flag of the local server,
//! each with its `BOX_CHUNKED_*` variable (a flag wins over its variable;
//! repeatable flags take a comma-separated list there). Parsing only;
//! `serve.rs` turns them into the server's configuration.

use crate::values::{parse_size, positive_secs};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080", env = "BOX_CHUNKED_ADDR")]
    pub(crate) addr: SocketAddr,
    /// Data directory (default: box-chunked/server under the user's data
    /// directory). One server at a time may use a directory.
    #[arg(long, env = "BOX_CHUNKED_DATA")]
    pub(crate) data: Option<PathBuf>,
    /// An accepted bearer token, as TOKEN=USER or TOKEN (a user of its own). Repeatable.
    /// The value splits at its last `=` before a user name, so base64 padding
    /// (`abc==`) stays in the token. Without any token, a random one is
    /// generated and printed.
    #[arg(
        long = "token",
        value_name = "TOKEN[=USER]",
        env = "BOX_CHUNKED_TOKEN",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub(crate) tokens: Vec<String>,
    /// Tokens from a file instead of the command line (where `ps` shows
    /// them): one TOKEN[=USER] per line; blank lines and `#` comments are skipped.
    #[arg(long, value_name = "FILE", env = "BOX_CHUNKED_TOKENS_FILE")]
    pub(crate) tokens_file: Option<PathBuf>,
    /// Bytes each user may hold (`500M`, `10G`, or a number of bytes): every
    /// version of their files plus the size of each open upload session,
    /// reserved from create to commit or abort. What does not fit is refused
    /// (403 storage_limit_exceeded).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, env = "BOX_CHUNKED_QUOTA")]
    pub(crate) quota: Option<u64>,
    /// Upload sessions each user may have open at once; one more is refused
    /// with 429 rate_limit_exceeded (0: no limit).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1000,
        env = "BOX_CHUNKED_MAX_OPEN_SESSIONS"
    )]
    pub(crate) max_open_sessions: u64,
    /// The token of the server's own routes (`/__box-chunked/counters` and
    /// `/__box-chunked/faults`); no user token opens them. Without it they are closed.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "BOX_CHUNKED_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub(crate) admin_token: Option<String>,
    /// An OAuth client, as ID:SECRET=USER: the client-credentials grant for
    /// USER, and GET /oauth2/authorize approved at once for USER (then the
    /// authorization_code and single-use refresh_token grants). Repeatable.
    #[arg(
        long = "client",
        value_name = "ID:SECRET=USER",
        env = "BOX_CHUNKED_CLIENT",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub(crate) clients: Vec<String>,
    /// A redirect URI registered for a --client, as ID=URI; the authorize
    /// route redirects only to its client's registered URIs (exact match).
    /// A client with none may use loopback http URIs (http://127.0.0.1:PORT/...,
    /// http://localhost:PORT/...). Repeatable.
    #[arg(
        long = "redirect-uri",
        value_name = "ID=URI",
        env = "BOX_CHUNKED_REDIRECT_URI",
        value_delimiter = ','
    )]
    pub(crate) redirect_uris: Vec<String>,
    /// A Box app for JWT server auth, from its config file (the one Box's
    /// developer console hands out): assertions are checked with its public
    /// key (`appAuth.publicKey`, or derived from the private key with the
    /// passphrase); tokens for its enterprise act as the app's service
    /// account, which may act as the users of --token and --client with
    /// As-User. The client-credentials grant works for it too. Repeatable.
    #[arg(
        long = "app",
        value_name = "FILE",
        env = "BOX_CHUNKED_APP",
        value_delimiter = ','
    )]
    pub(crate) apps: Vec<PathBuf>,
    /// Base URL for session_endpoints, when the server sits behind a proxy.
    #[arg(long, env = "BOX_CHUNKED_PUBLIC_URL")]
    pub(crate) public_url: Option<String>,
    /// A fixed part size for every session (`8M`, or bytes; default: Box's observed policy).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, env = "BOX_CHUNKED_PART_SIZE")]
    pub(crate) part_size: Option<u64>,
    /// The smallest file a session accepts (`20000000`, `1M`...).
    #[arg(long, value_name = "SIZE", default_value_t = box_chunked_proto::rules::MIN_CHUNKED_FILE_SIZE, value_parser = parse_size, env = "BOX_CHUNKED_MIN_FILE_SIZE")]
    pub(crate) min_file_size: u64,
    /// Faults to inject (grammar in docs/server.md), e.g. `part:500@0.05,commit:202=2@first1`.
    #[arg(long, value_name = "SPEC", env = "BOX_CHUNKED_FAULTS")]
    pub(crate) faults: Option<String>,
    /// Box-like network and service conditions (docs/server.md): a profile
    /// (`datacenter`, `office`, `transatlantic`) and/or settings, e.g.
    /// `transatlantic,parts=upload` or `conn=3MB,total=50MB,rtt=90ms,part=150ms,api=1000,uploads=240`.
    #[arg(long, value_name = "LINK", env = "BOX_CHUNKED_LINK")]
    pub(crate) link: Option<String>,
    /// How long sessions live.
    #[arg(long, value_name = "SECS", default_value_t = box_chunked_proto::rules::SESSION_LIFETIME_SECS, env = "BOX_CHUNKED_SESSION_LIFETIME")]
    pub(crate) session_lifetime: u64,
    /// How long deleted files and folders stay in the trash before they are
    /// removed for good (Box's default: 30 days); 0 deletes at once.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30 * 86_400,
        env = "BOX_CHUNKED_TRASH_RETENTION"
    )]
    pub(crate) trash_retention: u64,
    /// Lifetime of the access tokens /oauth2/token issues, by every grant.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 3600,
        env = "BOX_CHUNKED_TOKEN_TTL"
    )]
    pub(crate) token_ttl: u64,
    /// How long a commit waits for the whole-file check before answering 202.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 5000,
        env = "BOX_CHUNKED_COMMIT_WAIT_MS"
    )]
    pub(crate) commit_wait_ms: u64,
    /// How long a client may take to send a request's headers, or to start
    /// its next request on a kept-alive connection, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = positive_secs, env = "BOX_CHUNKED_HEADER_TIMEOUT")]
    pub(crate) header_timeout: f64,
    /// A connection on which no byte moves for this long is closed, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 120.0, value_parser = positive_secs, env = "BOX_CHUNKED_IDLE_TIMEOUT")]
    pub(crate) idle_timeout: f64,
    /// How long a JSON body may take to arrive, in seconds (then 408).
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = positive_secs, env = "BOX_CHUNKED_JSON_BODY_TIMEOUT")]
    pub(crate) json_body_timeout: f64,
    /// Connections open at once; at the cap the one idle longest is closed
    /// to make room (default: three quarters of the open-files limit, which
    /// the server first raises to its hard limit).
    #[arg(long, value_name = "N", env = "BOX_CHUNKED_MAX_CONNECTIONS")]
    pub(crate) max_connections: Option<usize>,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) with this certificate chain (PEM);
    /// needs --tls-key. Clients trust it with --ca-cert.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        env = "BOX_CHUNKED_TLS_CERT"
    )]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_cert",
        env = "BOX_CHUNKED_TLS_KEY"
    )]
    pub(crate) tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate for 127.0.0.1, ::1 and localhost,
    /// signed by a certificate authority made for this server (both kept
    /// in the data directory's `tls/`, made once); the CA's file, for
    /// clients' --ca-cert, is printed at start.
    #[arg(long, conflicts_with = "tls_cert", env = "BOX_CHUNKED_TLS_SELF_SIGNED", value_parser = clap::builder::FalseyValueParser::new())]
    pub(crate) tls_self_signed: bool,
    /// Benchmark aid: verify part digests but keep no bytes (no disk writes;
    /// the whole-file digest is taken as sent; files cannot be downloaded).
    #[arg(long, env = "BOX_CHUNKED_VERIFY_ONLY", value_parser = clap::builder::FalseyValueParser::new())]
    pub(crate) verify_only: bool,
    /// A web origin whose pages may call the server from a browser (CORS),
    /// as a Box app lists them: `https://app.example.com`, or `*` for any.
    /// Repeatable. Without one, every browser request is refused
    /// (`403 cors_origin_not_whitelisted`), as by a Box app with none.
    #[arg(
        long = "cors-origin",
        value_name = "ORIGIN",
        env = "BOX_CHUNKED_CORS_ORIGIN",
        value_delimiter = ','
    )]
    pub(crate) cors_origins: Vec<String>,
    /// How many of the last requests GET /__box-chunked/requests keeps (0:
    /// none).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10_000,
        env = "BOX_CHUNKED_JOURNAL_SIZE"
    )]
    pub(crate) journal_size: usize,
    /// Answer `GET /files/{id}/content` with the content at once, instead
    /// of Box's `302` to a short-lived download URL (for clients that do
    /// not follow redirects).
    #[arg(long, env = "BOX_CHUNKED_DOWNLOAD_DIRECT", value_parser = clap::builder::FalseyValueParser::new())]
    pub(crate) download_direct: bool,
    /// The `box-version` header values taken, comma-separated, or `any`
    /// (default Box's: 2024.0).
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        env = "BOX_CHUNKED_BOX_VERSIONS"
    )]
    pub(crate) box_versions: Vec<String>,
    /// At start, make the tree in DIR the folders and files of USER (who
    /// needs a --token), through the server's own API; or plant a JSON
    /// fixture FILE (users' folders and files with given ids, versions and
    /// timestamps; docs/server.md). Names there already are skipped (a
    /// restart on the same data). Repeatable.
    #[arg(
        long = "seed",
        value_name = "USER=DIR|FILE.json",
        env = "BOX_CHUNKED_SEED",
        value_delimiter = ','
    )]
    pub(crate) seeds: Vec<String>,
}
