//! The accept loop with graceful shutdown, and the background collection of
//! expired sessions. It knows connections, not routes.

use super::common::now_unix;
use super::route::handle;
use crate::store::StoreError;
use crate::{Counters, State};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub(crate) async fn serve(
    state: Arc<State>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let collector = tokio::spawn(collect_expired(state.clone()));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let st = state.clone();
                let svc = service_fn(move |req| handle(st.clone(), req));
                let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    collector.abort();
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
}

pub(crate) async fn collect_expired(state: Arc<State>) {
    let mut tick = tokio::time::interval(state.cfg.collect_every);
    loop {
        tick.tick().await;
        let now = now_unix();
        let store = state.store.clone();
        let done =
            tokio::task::spawn_blocking(move || -> Result<(u64, Vec<String>), StoreError> {
                let mut n = 0;
                let mut expired = Vec::new();
                for id in store.expired_sessions(now)? {
                    if store.delete_session(&id)? {
                        let _ = std::fs::remove_dir_all(store.session_dir(&id));
                        n += 1;
                    }
                    expired.push(id);
                }
                Ok((n, expired))
            })
            .await;
        if let Ok(Ok((_, ids))) = &done {
            let mut prefixes = state
                .prefixes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for id in ids {
                prefixes.remove(id);
            }
        }
        match done {
            Ok(Ok((n, _))) if n > 0 => {
                Counters::add(&state.counters.sessions_expired, n);
                tracing::info!(sessions = n, "collected expired sessions");
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "collecting expired sessions failed"),
            _ => {}
        }
    }
}
