//! A durable, Box-compatible local server for the Chunked Upload API.
//!
//! It is what the `box-chunked` CLI uploads to when no Box credentials are
//! given, what this project's tests drive, and a tool you can run in your own
//! CI in place of Box: Box's official SDKs work against it unchanged.
//!
//! - It **follows Box's wire contract**: Box's paths (upload root `<url>/api/2.0`,
//!   API root `<url>/2.0`), status codes, error bodies and `code` strings, and
//!   `session_endpoints` as absolute URLs pointing back at itself. Where Box's
//!   behaviour is undocumented, the choice made is listed in `docs/server.md`.
//! - It **is durable**: a part is acknowledged only after its bytes are
//!   fsynced; metadata lives in SQLite (WAL); a commit appears atomically;
//!   `kill -9` at any moment loses nothing acknowledged.
//! - It **fails on request** ([`faults`]): 5xx, 429 with `Retry-After`,
//!   connection resets in the middle of a part body, lost responses, latency,
//!   `202` commits and transient `parts_mismatch`.
//! - It **binds to loopback** unless told otherwise, and never logs tokens.
//!
//! ```no_run
//! # async fn demo() -> Result<(), box_chunked_server::ServerError> {
//! use box_chunked_server::{Server, ServerConfig};
//! let mut config = ServerConfig::new("/tmp/box-data");
//! config.tokens.push(("DEV_TOKEN".into(), "alice".into()));
//! let server = Server::bind(config).await?;
//! println!("listening on {}", server.url());
//! let running = server.spawn();
//! // ... point a client at running.url() ...
//! running.shutdown().await?;
//! # Ok(()) }
//! ```

mod auth;
mod clock;
mod config;
mod cors;
pub mod faults;
mod fdlimit;
pub mod fixture;
mod handlers;
mod journal;
pub mod link;
mod net;
mod routes;
mod state;
mod store;
mod tls;
mod writeback;

pub use auth::ServerApp;
pub use config::{ServerConfig, ServerTls};
pub use fdlimit::raise_open_files_limit;
pub use store::StoreError;

pub(crate) use state::{Counters, State, Verification};

use faults::Faults;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory could not be opened, or another server holds it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The public URL is not an absolute http(s) URL.
    #[error("--public-url must be an absolute http or https URL, not {0:?}")]
    PublicUrl(String),
    /// The certificate or key for HTTPS could not be used.
    #[error("cannot serve HTTPS: {0}")]
    Tls(String),
    /// The server task failed.
    #[error("server task failed: {0}")]
    Task(String),
}

/// A bound server, not yet serving.
pub struct Server {
    state: Arc<State>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    addr: SocketAddr,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("url", &self.state.url)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Takes the data directory (refused, changing nothing, when another
    /// server holds it), recovers it from any crash, raises the open-files
    /// limit and binds.
    pub async fn bind(config: ServerConfig) -> Result<Self, ServerError> {
        let dir = config.data_dir.clone();
        let clock = clock::Clock::new(config.clock_offset_secs);
        let limits = store::Limits {
            quota: config.quota,
            max_open_sessions: config.max_open_sessions,
            trash_retention: config.trash_retention.map(|d| d.as_secs()),
            clock: clock.clone(),
        };
        let store = tokio::task::spawn_blocking(move || Store::open(&dir, limits))
            .await
            .map_err(|e| ServerError::Task(e.to_string()))??;
        let max_connections = config
            .max_connections
            .unwrap_or_else(|| net::cap_for(raise_open_files_limit().unwrap_or(1024)));
        let listener =
            TcpListener::bind(config.addr)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.addr,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.addr,
            source,
        })?;
        let url = match &config.public_url {
            Some(u) => {
                let ok = (u.starts_with("http://") || u.starts_with("https://"))
                    && u.parse::<http::Uri>().is_ok_and(|x| x.host().is_some());
                if !ok {
                    return Err(ServerError::PublicUrl(u.clone()));
                }
                u.trim_end_matches('/').to_owned()
            }
            None if config.tls.is_some() => format!("https://{addr}"),
            None => format!("http://{addr}"),
        };
        let tls = config.tls.as_ref().map(ServerTls::acceptor).transpose()?;
        let faults = Faults::new(config.faults.clone());
        if config.link.is_active() {
            tracing::info!(link = %config.link, "link model in force");
        }
        let state = Arc::new(State {
            max_connections,
            url,
            store: Arc::new(store),
            faults,
            link: link::Link::new(&config.link),
            counters: Counters::default(),
            book: auth::Book::new(clock.clone()),
            clock,
            verifications: Mutex::new(HashMap::new()),
            prefixes: Mutex::new(HashMap::new()),
            journal: journal::Journal::new(config.journal_size),
            downloads: Mutex::new(HashMap::new()),
            cfg: config,
        });
        Ok(Self {
            state,
            listener,
            tls,
            addr,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use: upload root `<url>/api/2.0`, API root `<url>/2.0`.
    pub fn url(&self) -> &str {
        &self.state.url
    }

    /// Plants a JSON fixture's folders and files (with their ids, versions
    /// and timestamps) before the server serves; see [`fixture`].
    pub async fn plant(
        &self,
        fixture: fixture::Fixture,
    ) -> Result<fixture::Planting, fixture::FixtureError> {
        let (store, now) = (self.state.store.clone(), self.state.now_unix());
        tokio::task::spawn_blocking(move || fixture::plant(&store, &fixture, now))
            .await
            .map_err(|e| fixture::FixtureError::Invalid(format!("the planting task failed: {e}")))?
    }

    /// Serves until `shutdown` completes, then stops accepting, lets
    /// requests in progress finish (connections get at most 10 seconds; a
    /// request whose body was read always runs to its end) and releases
    /// the data directory.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServerError> {
        net::serve(self.state, self.listener, self.tls, shutdown).await;
        Ok(())
    }

    /// Serves on a background task.
    pub fn spawn(self) -> RunningServer {
        let (tx, mut rx) = watch::channel(false);
        let url = self.state.url.clone();
        let addr = self.addr;
        let task = tokio::spawn(self.run_until(async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }));
        RunningServer {
            url,
            addr,
            stop: tx,
            task,
        }
    }
}

/// A server serving on a background task.
#[derive(Debug)]
pub struct RunningServer {
    url: String,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    /// The base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        let _ = self.stop.send(true);
        self.task
            .await
            .map_err(|e| ServerError::Task(e.to_string()))?
    }
}
