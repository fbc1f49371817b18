//! Ids that are never handed out again, also across restarts and crashes:
//! part ids and the counting half of session ids come from sequences kept
//! in the `counters` table. A sequence reserves a block of values at a time
//! (one durable write per block); a crash skips the rest of its block, so
//! values can be skipped but never repeated. Files, folders and versions get
//! theirs from SQLite's `AUTOINCREMENT`.

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension};
use std::sync::Mutex;

/// A sequence of never-repeated numbers, reserved in blocks.
#[derive(Debug)]
pub(super) struct Sequence {
    name: &'static str,
    block: u64,
    /// The next value and the end of the reserved block.
    at: Mutex<(u64, u64)>,
}

impl Sequence {
    pub(super) const fn new(name: &'static str, block: u64) -> Self {
        Self {
            name,
            block,
            at: Mutex::new((0, 0)),
        }
    }
}

impl Store {
    fn draw(&self, seq: &Sequence) -> Result<u64, StoreError> {
        // Lock order: a sequence, then the connection (never the reverse:
        // no caller draws an id while it holds the connection).
        let mut at = seq
            .at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if at.0 == at.1 {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            let next: u64 = tx
                .query_row(
                    "SELECT next FROM counters WHERE name = ?1",
                    [seq.name],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?
                .map_or(1, super::u);
            tx.execute(
                "INSERT INTO counters(name, next) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET next = excluded.next",
                params![seq.name, super::i(next + seq.block)],
            )?;
            tx.commit()?;
            *at = (next, next + seq.block);
        }
        let v = at.0;
        at.0 += 1;
        Ok(v)
    }

    /// A new part id: eight upper-case hex digits as Box's (more once the
    /// sequence passes 2^32), never handed out before on this store.
    pub(crate) fn new_part_id(&self) -> Result<String, StoreError> {
        Ok(format!("{:08X}", self.draw(&self.part_ids)?))
    }

    /// A new session id: 32 upper-case hex digits as Box's, the first 16 a
    /// sequence (so it is never handed out again), the rest random (so it
    /// cannot be guessed from another).
    pub(crate) fn new_session_id(&self) -> Result<String, StoreError> {
        let n = self.draw(&self.session_ids)?;
        Ok(format!("{n:016X}{}", random_hex(8).to_uppercase()))
    }
}

/// `bytes` random bytes as lower-case hex, from the operating system (the
/// clock and a counter when it has none; ids stay unique by their sequence).
pub(crate) fn random_hex(bytes: usize) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() {
        static N: AtomicU64 = AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = t ^ u128::from(N.fetch_add(1, Ordering::Relaxed)) << 64;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = seed.to_le_bytes()[i % 16];
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
