//! The hashed prefix of each session: the whole-file SHA-1 over the parts
//! stored in order so far, advanced as parts arrive or in the background,
//! so that a commit waits only for the tail. It keeps the chain's state
//! after each part, which the commit stores, and a plan can start it from
//! the states a previous version kept ([`seed_prefix`]).

use super::common::FLUSH_AT;
use crate::store::{io_err, PartRow, SessionRow, Store, StoreError};
use crate::{Counters, State, Verification};
use box_chunked_proto::Sha1Digest;
use box_chunked_sha1::{Backend, ChainState, DualSha1};
use std::io::{self, Read as _};
use std::sync::Arc;
use std::time::Duration;

pub(crate) type VerifyRx = tokio::sync::watch::Receiver<Option<Result<Sha1Digest, String>>>;

/// The whole-file SHA-1 over a session's first `next` parts.
pub(crate) struct Prefix {
    pub(crate) next: u64,
    /// Its file chain is the prefix's SHA-1 (the part chain is unused here).
    pub(crate) hasher: DualSha1,
    /// Bumped when the prefix is dropped and rebuilt.
    pub(crate) generation: u64,
    /// The file chain after each part taken in (`boundaries[i]` after part
    /// `i`), as long as every one was at a block boundary.
    pub(crate) boundaries: Vec<ChainState>,
}

impl Prefix {
    pub(crate) fn new(generation: u64) -> Self {
        Self {
            next: 0,
            hasher: DualSha1::new(Backend::detect()),
            generation,
            boundaries: Vec::new(),
        }
    }

    /// Takes in part `next`: `hasher` is the chain after it.
    pub(crate) fn took(&mut self, hasher: DualSha1) {
        if self.boundaries.len() as u64 == self.next {
            if let Some(state) = hasher.file_state() {
                self.boundaries.push(state);
            }
        }
        self.hasher = hasher;
        self.next += 1;
    }

    /// The chain after every part of a session of `total` parts (all but
    /// the last when that one ends inside a block), if the prefix has taken
    /// them all in; else empty.
    pub(crate) fn chain_of_whole(&self, total: u64) -> Vec<ChainState> {
        if self.next == total && self.boundaries.len() as u64 + 1 >= total {
            self.boundaries.clone()
        } else {
            Vec::new()
        }
    }
}

/// How far ahead of the prefix a part may be and still wait for it: about
/// the parts a client sends at once.
pub(crate) const PREFIX_AHEAD: u64 = 8;

/// How long a part waits for the prefix to move before it gives up
/// waiting (see `put_part`): 200 ms plus the time a part takes at 100 MB/s
/// (the part ahead may be arriving that slowly). The clock restarts at every
/// part the prefix takes in, so a queue of parts arriving in order all get
/// their turn, and a stalled one holds the others back by this much at most.
pub(crate) fn prefix_patience(part_size: u64) -> Duration {
    Duration::from_millis(200) + Duration::from_micros(part_size / 100)
}

/// A session's prefix, and its `next` readable (and awaitable) without the lock.
pub(crate) type PrefixHandle = (
    Arc<tokio::sync::Mutex<Prefix>>,
    Arc<tokio::sync::watch::Sender<u64>>,
);

/// The prefix, locked, once it has reached part `index`; `None` when the
/// part is too far ahead, or the prefix stops moving for `patience`.
pub(crate) async fn wait_for_prefix(
    lock: &Arc<tokio::sync::Mutex<Prefix>>,
    next: &tokio::sync::watch::Sender<u64>,
    index: u64,
    patience: Duration,
) -> Option<tokio::sync::OwnedMutexGuard<Prefix>> {
    let mut seen = next.subscribe();
    loop {
        let at = *seen.borrow_and_update();
        if at == index {
            return tokio::time::timeout(patience, lock.clone().lock_owned())
                .await
                .ok();
        }
        if !(at..at + PREFIX_AHEAD).contains(&index) {
            return None;
        }
        match tokio::time::timeout(patience, seen.changed()).await {
            Ok(Ok(())) => {}
            _ => return None,
        }
    }
}

pub(crate) fn prefix_of(st: &State, sid: &str) -> PrefixHandle {
    st.prefixes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(sid.to_owned())
        .or_insert_with(|| {
            (
                Arc::new(tokio::sync::Mutex::new(Prefix::new(0))),
                Arc::new(tokio::sync::watch::Sender::new(0)),
            )
        })
        .clone()
}

/// Starts session `sid`'s prefix after its first `states.len()` parts,
/// whose bytes are those of a previous version's first parts (`states` is
/// the chain that version kept after each), unless the prefix is that far
/// already or busy taking in a part. The parts it did not have to hash.
pub(crate) fn seed_prefix(st: &State, sid: &str, states: Vec<ChainState>) -> u64 {
    let Some(last) = states.last().copied() else {
        return 0;
    };
    let (lock, next) = prefix_of(st, sid);
    let Ok(mut p) = lock.try_lock() else {
        return 0;
    };
    let m = states.len() as u64;
    if p.next >= m {
        return 0;
    }
    let skipped = m - p.next;
    p.hasher = DualSha1::resume_file(Backend::detect(), last);
    p.boundaries = states;
    p.next = m;
    next.send_replace(m);
    Counters::add(&st.counters.prefix_parts_resumed, skipped);
    skipped
}

/// A blocking task that could not be joined, as a store error.
fn joined(e: tokio::task::JoinError) -> StoreError {
    StoreError::Io {
        what: "joining",
        path: std::path::PathBuf::new(),
        source: io::Error::other(e.to_string()),
    }
}

/// Hashes the consecutive stored parts after the prefix (read back from the
/// page cache, right after they were written), so that a commit only waits
/// for what is left. Returns the number of parts hashed so far.
pub(crate) async fn advance_prefix(
    st: &Arc<State>,
    sid: &str,
) -> Result<(u64, DualSha1), StoreError> {
    let (prefix, next) = prefix_of(st, sid);
    let mut p = prefix.lock().await;
    loop {
        let (store, id, from) = (st.store.clone(), sid.to_owned(), p.next);
        let parts = tokio::task::spawn_blocking(move || store.parts(&id, from, 64))
            .await
            .map_err(joined)??;
        let run: Vec<PartRow> = parts
            .into_iter()
            .enumerate()
            .take_while(|(i, r)| r.index == from + *i as u64)
            .map(|(_, r)| r)
            .collect();
        if run.is_empty() {
            return Ok((p.next, p.hasher.clone()));
        }
        let (store, id) = (st.store.clone(), sid.to_owned());
        let hasher = p.hasher.clone();
        let (after, read) =
            tokio::task::spawn_blocking(move || hash_into(&store, &id, &run, hasher))
                .await
                .map_err(joined)??;
        Counters::add(&st.counters.prefix_bytes_read, read);
        for h in after {
            p.took(h);
        }
        next.send_replace(p.next);
    }
}

pub(crate) fn start_verification(
    st: &Arc<State>,
    s: &SessionRow,
    _parts: Vec<PartRow>,
) -> VerifyRx {
    let mut map = st
        .verifications
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(Verification::Running(rx)) = map.get(&s.id) {
        return rx.clone();
    }
    let (tx, rx) = tokio::sync::watch::channel(None);
    map.insert(s.id.clone(), Verification::Running(rx.clone()));
    let (st2, sid, total) = (st.clone(), s.id.clone(), s.total_parts);
    tokio::spawn(async move {
        let r = match advance_prefix(&st2, &sid).await {
            Ok((n, h)) if n == total => Ok(h.finish_file()),
            Ok((n, _)) => Err(format!(
                "only {n} of {total} parts could be hashed in order"
            )),
            Err(e) => Err(e.to_string()),
        };
        let _ = tx.send(Some(r));
    });
    rx
}

/// Hashes `parts` after `h`, read from their blobs, into the file chain
/// only (their own digests were checked as they arrived): the chain after
/// each part, and the bytes read.
pub(crate) fn hash_into(
    store: &Store,
    sid: &str,
    parts: &[PartRow],
    mut h: DualSha1,
) -> Result<(Vec<DualSha1>, u64), StoreError> {
    h.discard_part();
    let mut buf = vec![0u8; FLUSH_AT];
    let (mut after, mut read) = (Vec::with_capacity(parts.len()), 0u64);
    for p in parts {
        let path = store.blob_path(sid, &p.part_id);
        let mut f = std::fs::File::open(&path).map_err(io_err("opening", &path))?;
        loop {
            let n = f.read(&mut buf).map_err(io_err("reading", &path))?;
            if n == 0 {
                break;
            }
            h.update_file(&buf[..n]);
            read += n as u64;
        }
        after.push(h.clone());
    }
    Ok((after, read))
}
