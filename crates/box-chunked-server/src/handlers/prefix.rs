//! The hashed prefix of each session: the whole-file SHA-1 over the parts
//! stored in order so far, advanced as parts arrive or in the background,
//! so that a commit waits only for the tail. It keeps the chain's state
//! after each part, which the commit stores; parts that hold the current
//! version's bytes are taken from the states that version kept instead of
//! hashed (`kept.rs`), while every part before them was too.

use super::common::FLUSH_AT;
use super::kept::Base;
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
    /// The current version a plan found this session's parts in, kept
    /// across rebuilds.
    pub(crate) base: Option<Arc<Base>>,
    /// Whether every part taken in so far came from `base`'s kept chain
    /// (so the next may too).
    pub(crate) on_base: bool,
}

impl Prefix {
    pub(crate) fn new(generation: u64) -> Self {
        Self {
            next: 0,
            hasher: DualSha1::new(Backend::detect()),
            generation,
            boundaries: Vec::new(),
            base: None,
            on_base: true,
        }
    }

    /// The prefix rebuilt from nothing (bytes it took in were not stored),
    /// keeping what it knows of the current version.
    pub(crate) fn rebuilt(&self) -> Self {
        Self {
            base: self.base.clone(),
            ..Self::new(self.generation + 1)
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
        self.on_base = false;
    }

    /// Takes in part `next` without hashing it: `state` is the chain after
    /// it, as the current version kept it.
    fn seeded(&mut self, state: ChainState) {
        if self.boundaries.len() as u64 == self.next {
            self.boundaries.push(state);
        }
        self.hasher = DualSha1::resume_file(Backend::detect(), state);
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

/// Sets the current version session `sid`'s parts may share (unless one is
/// set) and takes in, without hashing, the stored parts that hold its bytes
/// right after the prefix, unless the prefix is busy (whoever holds it
/// does the same before hashing). Answers nothing: it only saves work.
pub(crate) async fn seed_prefix(st: &Arc<State>, sid: &str, base: Option<Arc<Base>>) {
    let (lock, next) = prefix_of(st, sid);
    let Ok(mut p) = lock.clone().try_lock_owned() else {
        return;
    };
    if p.base.is_none() {
        p.base = base;
    }
    let _ = advance(st, sid, &mut p, &next, false).await;
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
    advance_prefix_from(st, sid, None).await
}

/// [`advance_prefix`], setting the current version the session's parts
/// may share first (unless one is set).
pub(crate) async fn advance_prefix_from(
    st: &Arc<State>,
    sid: &str,
    base: Option<Arc<Base>>,
) -> Result<(u64, DualSha1), StoreError> {
    let (prefix, next) = prefix_of(st, sid);
    let mut p = prefix.lock_owned().await;
    if p.base.is_none() {
        p.base = base;
    }
    advance(st, sid, &mut p, &next, true).await?;
    Ok((p.next, p.hasher.clone()))
}

/// Moves the prefix over the consecutive stored parts after it: first the
/// ones the current version's kept chain covers, then (when `hash`) the
/// rest, read back and hashed.
async fn advance(
    st: &Arc<State>,
    sid: &str,
    p: &mut Prefix,
    next: &tokio::sync::watch::Sender<u64>,
    hash: bool,
) -> Result<(), StoreError> {
    loop {
        let (store, id, from) = (st.store.clone(), sid.to_owned(), p.next);
        let base = p.base.clone().filter(|_| p.on_base);
        let (run, seeds) = tokio::task::spawn_blocking(move || {
            let parts = store.parts(&id, from, 64)?;
            let run: Vec<PartRow> = parts
                .into_iter()
                .enumerate()
                .take_while(|(i, r)| r.index == from + *i as u64)
                .map(|(_, r)| r)
                .collect();
            let seeds = match base {
                Some(b) => b.seeds(&store, &id, &run)?,
                None => Vec::new(),
            };
            Ok::<_, StoreError>((run, seeds))
        })
        .await
        .map_err(joined)??;
        let (seeded, stored) = (seeds.len(), run.len());
        Counters::add(&st.counters.prefix_parts_resumed, seeded as u64);
        for state in seeds {
            p.seeded(state);
        }
        next.send_replace(p.next);
        if stored == 0 || (seeded < stored && !hash) {
            return Ok(());
        }
        let rest: Vec<PartRow> = run.into_iter().skip(seeded).collect();
        if rest.is_empty() {
            continue;
        }
        let (store, id) = (st.store.clone(), sid.to_owned());
        let hasher = p.hasher.clone();
        let (after, read) =
            tokio::task::spawn_blocking(move || hash_into(&store, &id, &rest, hasher))
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
