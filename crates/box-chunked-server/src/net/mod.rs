//! Connections: the accept loop with graceful shutdown (and the background
//! collection of expired sessions it starts), the connection cap and the
//! timeouts of idle and silent clients (`conns`). It knows connections, not
//! routes: each request goes to `crate::routes::handle`. A connection must
//! send its first byte within the header timeout, as it must send its
//! headers; at shutdown, the server waits for every request under way before
//! it lets go of the data directory.

mod conns;

pub(crate) use conns::cap_for;

use crate::handlers::collect_expired;
use crate::link::Shaped;
use crate::routes::handle;
use crate::{Counters, State};
use conns::{Conns, Slot, Watched};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::Watcher;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// Serves `listener` until `shutdown` resolves, then waits for the requests
/// under way and lets go of the store.
pub(crate) async fn serve(
    state: Arc<State>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = connection_builder(&state);
    let conns = Conns::new(state.max_connections);
    let collector = tokio::spawn(collect_expired(state.clone()));
    let mut tasks = tokio::task::JoinSet::new();
    let mut backoff = ACCEPT_BACKOFF_MIN;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => {
                        backoff = ACCEPT_BACKOFF_MIN;
                        stream
                    }
                    Err(e) => {
                        // Out of file descriptors (or another transient
                        // failure): wait instead of spinning on accept.
                        tracing::warn!(error = %e, open = conns.len(), wait_ms = backoff.as_millis() as u64, "accept failed; waiting");
                        Counters::add(&state.counters.accept_errors, 1);
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (slot, evicted) = conns.admit();
                if evicted {
                    Counters::add(&state.counters.connections_evicted, 1);
                }
                tasks.spawn(serve_connection(
                    state.clone(),
                    stream,
                    slot,
                    tls.clone(),
                    builder.clone(),
                    graceful.watcher(),
                ));
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    collector.abort();
    let _ = collector.await;
    released(&state).await;
}

/// HTTP/1.1 and HTTP/2 as the server speaks them.
fn connection_builder(state: &State) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    // A request's headers, and the wait for the next request on a kept-alive
    // connection, are bounded by the header timeout (hyper starts it when a
    // connection goes idle).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(state.cfg.header_timeout);
    // Part bodies are megabytes: with HTTP/2's default 64 KiB windows and
    // 16 KiB frames every stream keeps waiting for window updates. Windows
    // of a part's size and 1 MiB frames took a 256 MiB upload over HTTPS
    // from 1.20 to 1.05 times HTTP/1.1's time (docs/performance.md). The
    // window is credit, not a buffer: bodies are read as they arrive.
    builder
        .http2()
        .timer(TokioTimer::new())
        .initial_stream_window_size(8 << 20)
        .initial_connection_window_size(32 << 20)
        .max_frame_size(1 << 20);
    builder
}

/// Serves one accepted connection (after its TLS handshake, if any) until
/// it closes, is evicted at the cap, or the server stops.
async fn serve_connection(
    state: Arc<State>,
    stream: TcpStream,
    slot: Slot,
    tls: Option<TlsAcceptor>,
    builder: Builder<TokioExecutor>,
    watcher: Watcher,
) {
    let handshake_timeout = state.cfg.header_timeout;
    if let Some(link) = &state.link {
        // The handshake's round trips (the client's first bytes wait in the
        // kernel meanwhile).
        link.connection_delay(tls.is_some()).await;
    }
    let stream = Shaped::new(stream, state.link.as_ref());
    let mut io = Watched::new(stream, &slot, state.cfg.idle_timeout);
    let svc = service_fn(move |req| handle(state.clone(), req));
    let served = async {
        match tls {
            None => {
                // The header clock starts at accept.
                io.expect_bytes_within(handshake_timeout);
                let conn = builder.serve_connection(TokioIo::new(io), svc);
                let _ = watcher.watch(conn.into_owned()).await;
            }
            Some(tls) => {
                // rustls asks for one record (at most 16 KiB) per read; a
                // buffer below it turns a part's body into a few large
                // reads instead of tens of thousands of small ones.
                let io = tokio::io::BufReader::with_capacity(TLS_READ_BUFFER, io);
                // A client that does not finish the handshake in time is
                // dropped, like one slow to send headers.
                let Ok(Ok(mut io)) = tokio::time::timeout(handshake_timeout, tls.accept(io)).await
                else {
                    return;
                };
                // And again once the handshake is done.
                io.get_mut()
                    .0
                    .get_mut()
                    .expect_bytes_within(handshake_timeout);
                let conn = builder.serve_connection(TokioIo::new(io), svc);
                let _ = watcher.watch(conn.into_owned()).await;
            }
        }
    };
    tokio::select! {
        () = served => {}
        () = slot.activity.evicted() => {}
    }
    drop(slot);
}

/// Waits until nothing but the caller holds the server's state and store:
/// requests whose body was read run to their end on tasks of their own,
/// and the data directory is let go only after them.
async fn released(state: &Arc<State>) {
    let started = std::time::Instant::now();
    while Arc::strong_count(state) > 1 || Arc::strong_count(&state.store) > 1 {
        if started.elapsed() > Duration::from_secs(60) {
            tracing::warn!("requests still running 60 s after shutdown; stopping without them");
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The read buffer below rustls: 256 KiB (a scratch study measured 0.04 to
/// 0.11 CPU-s/GiB less than reading record by record).
const TLS_READ_BUFFER: usize = 256 << 10;

/// The first and the longest wait after a failed accept.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
