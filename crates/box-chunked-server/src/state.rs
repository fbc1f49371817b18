//! What a running server holds: its configuration, the store, the fault
//! rules, the counters tests read, the sign-in book, and the whole-file
//! verifications and hashed prefixes of open sessions (in memory).

use crate::clock::Clock;
use crate::store::Store;
use crate::{auth, faults::Faults, handlers, ServerConfig};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Counters a test can read at `GET /__box-chunked/counters`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    /// Requests begun and not yet at their end (a gauge, not a count; the
    /// request that reads the counters is one of them). A test waits for it
    /// to fall to 1 to know that the work of a killed client is finished.
    pub requests_running: AtomicU64,
    /// Requests that came over HTTP/2.
    pub requests_http2: AtomicU64,
    pub bytes_received: AtomicU64,
    pub parts_stored: AtomicU64,
    /// Parts hashed into the whole-file SHA-1 while they arrived (the rest
    /// are read back and hashed in the background).
    pub parts_hashed_in_one_pass: AtomicU64,
    /// Bytes of stored parts read back to hash the whole-file SHA-1.
    pub prefix_bytes_read: AtomicU64,
    /// Parts the whole-file SHA-1 did not hash: a plan started it from the
    /// chain a previous version kept after them.
    pub prefix_parts_resumed: AtomicU64,
    pub parts_rejected_overlap: AtomicU64,
    pub sessions_created: AtomicU64,
    pub commits: AtomicU64,
    pub commits_pending: AtomicU64,
    pub files_committed: AtomicU64,
    pub sessions_aborted: AtomicU64,
    /// Requests refused with `429` by the link model's per-user limits.
    pub requests_rate_limited: AtomicU64,
    pub sessions_expired: AtomicU64,
    /// Items removed from the trash for good after the retention.
    pub trash_purged: AtomicU64,
    pub faults_injected: AtomicU64,
    pub unauthorized: AtomicU64,
    /// Accepts that failed (out of file descriptors, for example).
    pub accept_errors: AtomicU64,
    /// Connections closed to make room at the connection cap.
    pub connections_evicted: AtomicU64,
    /// JSON bodies that did not arrive in time.
    pub bodies_timed_out: AtomicU64,
    /// Planned parts the server had (recorded without their bytes).
    pub plan_hits: AtomicU64,
    /// Planned parts the server did not have.
    pub plan_misses: AtomicU64,
    /// Files (and versions) stored by one-shot uploads.
    pub files_uploaded_one_shot: AtomicU64,
    /// Access tokens issued, by every grant.
    pub tokens_issued: AtomicU64,
    /// `refresh_token` grants that gave a new pair.
    pub tokens_refreshed: AtomicU64,
    /// Token requests refused (`invalid_grant`, `invalid_client`, ...).
    pub grants_refused: AtomicU64,
}

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> serde_json::Value {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "requests": g(&self.requests),
            "requests_running": g(&self.requests_running),
            "requests_http2": g(&self.requests_http2),
            "bytes_received": g(&self.bytes_received),
            "parts_stored": g(&self.parts_stored),
            "parts_hashed_in_one_pass": g(&self.parts_hashed_in_one_pass),
            "prefix_bytes_read": g(&self.prefix_bytes_read),
            "prefix_parts_resumed": g(&self.prefix_parts_resumed),
            "parts_rejected_overlap": g(&self.parts_rejected_overlap),
            "sessions_created": g(&self.sessions_created),
            "commits": g(&self.commits),
            "commits_pending": g(&self.commits_pending),
            "files_committed": g(&self.files_committed),
            "sessions_aborted": g(&self.sessions_aborted),
            "sessions_expired": g(&self.sessions_expired),
            "trash_purged": g(&self.trash_purged),
            "faults_injected": g(&self.faults_injected),
            "requests_rate_limited": g(&self.requests_rate_limited),
            "unauthorized": g(&self.unauthorized),
            "accept_errors": g(&self.accept_errors),
            "connections_evicted": g(&self.connections_evicted),
            "bodies_timed_out": g(&self.bodies_timed_out),
            "plan_hits": g(&self.plan_hits),
            "plan_misses": g(&self.plan_misses),
            "files_uploaded_one_shot": g(&self.files_uploaded_one_shot),
            "tokens_issued": g(&self.tokens_issued),
            "tokens_refreshed": g(&self.tokens_refreshed),
            "grants_refused": g(&self.grants_refused),
        })
    }
}

/// A whole-file verification running or done for a session.
#[derive(Debug, Clone)]
pub(crate) enum Verification {
    Running(watch::Receiver<Option<Result<box_chunked_proto::Sha1Digest, String>>>),
}

pub(crate) struct State {
    pub cfg: ServerConfig,
    /// The connection cap in force (from the config, or the open-files limit).
    pub max_connections: usize,
    pub url: String,
    pub store: Arc<Store>,
    pub faults: Faults,
    /// The link model in force, if any (`--link`).
    pub link: Option<crate::link::Link>,
    pub counters: Counters,
    /// Tokens, codes and assertion ids issued or seen by the OAuth endpoint.
    pub book: auth::Book,
    /// The clock everything that expires reads.
    pub clock: Clock,
    pub verifications: Mutex<HashMap<String, Verification>>,
    /// Whole-file SHA-1 of each open session's stored prefix, advanced in the
    /// background as consecutive parts arrive (lost on restart: then rebuilt).
    pub prefixes: Mutex<HashMap<String, handlers::PrefixHandle>>,
    /// Download URLs handed out (`/dl/TOKEN`), until they expire.
    pub downloads: Mutex<HashMap<String, handlers::Grant>>,
    /// The last requests answered (`GET /__box-chunked/requests`).
    pub journal: crate::journal::Journal,
}

impl State {
    /// Now, on the server's clock.
    pub(crate) fn now(&self) -> std::time::SystemTime {
        self.clock.now()
    }

    /// Now, in Unix seconds on the server's clock.
    pub(crate) fn now_unix(&self) -> i64 {
        self.clock.unix()
    }
}
