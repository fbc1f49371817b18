//! What the upload session plan reuses of a stored version: parts'
//! SHA-512, computed from the stored blob the first time a plan asks and
//! kept (the ingest path never pays for it); the whole-file SHA-1 chain
//! after each part, kept at the commit; and recording a planned hit by
//! linking a stored blob into another session, so no byte is copied.

use super::{fsync_dir, io_err, InsertPart, PartRow, Store, StoreError};
use box_chunked_proto::Sha512Digest;
use box_chunked_sha1::ChainState;
use rusqlite::{params, OptionalExtension};
use sha2::{Digest as _, Sha512};
use std::collections::{HashMap, HashSet};
use std::io::Read as _;
use std::sync::atomic::{AtomicUsize, Ordering};

impl Store {
    /// The whole-file SHA-1 chain after each part of committed session
    /// `session_id`, in part order, as its commit kept them: state `i` is
    /// the chain over the bytes before part `i + 1`. Empty when none were
    /// kept (a one-shot upload, a store written before version 3).
    pub(crate) fn chain_states(&self, session_id: &str) -> Result<Vec<ChainState>, StoreError> {
        let blob: Option<Vec<u8>> = self
            .conn()
            .query_row(
                "SELECT states FROM part_chains WHERE session_id = ?1",
                params![session_id],
                |r| r.get(0),
            )
            .optional()?;
        let blob = blob.unwrap_or_default();
        let states: Option<Vec<ChainState>> = blob
            .chunks(ChainState::LEN)
            .map(ChainState::from_bytes)
            .collect();
        Ok(states.unwrap_or_default())
    }

    /// A stored part's SHA-512: from the cache, or read from its blob once.
    pub(crate) fn part_sha512(
        &self,
        session_id: &str,
        part: &PartRow,
    ) -> Result<Sha512Digest, StoreError> {
        if let Some(d) = self.kept_sha512(session_id, &part.part_id)? {
            return Ok(d);
        }
        let d = self.blob_sha512(session_id, part)?;
        self.conn().execute(
            "INSERT OR REPLACE INTO part_digests(session_id, part_id, sha512) VALUES (?1, ?2, ?3)",
            params![session_id, part.part_id, d.to_hex()],
        )?;
        Ok(d)
    }

    /// A stored part's SHA-512 if it is kept (never computed here).
    pub(crate) fn kept_sha512(
        &self,
        session_id: &str,
        part_id: &str,
    ) -> Result<Option<Sha512Digest>, StoreError> {
        let cached: Option<String> = self
            .conn()
            .query_row(
                "SELECT sha512 FROM part_digests WHERE session_id = ?1 AND part_id = ?2",
                params![session_id, part_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(cached.and_then(|h| Sha512Digest::from_hex(&h).ok()))
    }

    /// The SHA-512s kept for session `session_id`'s parts, by part id.
    pub(crate) fn kept_sha512s(
        &self,
        session_id: &str,
    ) -> Result<HashMap<String, Sha512Digest>, StoreError> {
        let conn = self.conn();
        let mut q =
            conn.prepare("SELECT part_id, sha512 FROM part_digests WHERE session_id = ?1")?;
        let rows = q.query_map(params![session_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (id, hex) = row?;
            if let Ok(d) = Sha512Digest::from_hex(&hex) {
                out.insert(id, d);
            }
        }
        Ok(out)
    }

    /// Computes on every core the SHA-512 of those of `parts` (of session
    /// `session_id`) not kept yet, and keeps them: a plan's first look at a
    /// large version costs one pass over its parts shared by the cores,
    /// not one core's pass.
    pub(crate) fn keep_sha512s(
        &self,
        session_id: &str,
        parts: &[&PartRow],
    ) -> Result<(), StoreError> {
        let kept: HashSet<String> = {
            let conn = self.conn();
            let mut q = conn.prepare("SELECT part_id FROM part_digests WHERE session_id = ?1")?;
            let ids = q.query_map(params![session_id], |r| r.get(0))?;
            ids.collect::<Result<_, _>>()?
        };
        let todo: Vec<&PartRow> = parts
            .iter()
            .copied()
            .filter(|p| !kept.contains(&p.part_id))
            .collect();
        let workers = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(todo.len());
        if workers < 2 {
            return Ok(()); // part_sha512 computes the one or none left
        }
        let next = AtomicUsize::new(0);
        let work = || -> Result<Vec<(String, Sha512Digest)>, StoreError> {
            let mut out = Vec::new();
            while let Some(p) = todo.get(next.fetch_add(1, Ordering::Relaxed)) {
                out.push((p.part_id.clone(), self.blob_sha512(session_id, p)?));
            }
            Ok(out)
        };
        let done: Vec<Result<Vec<_>, StoreError>> = std::thread::scope(|sc| {
            let threads: Vec<_> = (0..workers).map(|_| sc.spawn(work)).collect();
            threads
                .into_iter()
                .map(|t| {
                    t.join().unwrap_or_else(|_| {
                        Err(StoreError::Io {
                            what: "hashing the parts of",
                            path: self.session_dir(session_id),
                            source: std::io::Error::other("a hashing thread stopped"),
                        })
                    })
                })
                .collect()
        });
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for batch in done {
            for (part_id, d) in batch? {
                tx.execute(
                    "INSERT OR REPLACE INTO part_digests(session_id, part_id, sha512) VALUES (?1, ?2, ?3)",
                    params![session_id, part_id, d.to_hex()],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A stored part's SHA-512, read from its blob.
    fn blob_sha512(&self, session_id: &str, part: &PartRow) -> Result<Sha512Digest, StoreError> {
        let path = self.blob_path(session_id, &part.part_id);
        let mut f = std::fs::File::open(&path).map_err(io_err("opening", &path))?;
        let mut h = Sha512::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(io_err("reading", &path))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(Sha512Digest(h.finalize().into()))
    }

    /// Records `from`'s stored part (of session `from_sid`) as part `to` of
    /// the open session `to_sid` under a new part id: its blob is
    /// hard-linked (durably) and the row written only while the session is
    /// open. The outcome and the part id used.
    pub(crate) fn record_hit(
        &self,
        from_sid: &str,
        from: &PartRow,
        to_sid: &str,
        mut to: PartRow,
        sha512: Sha512Digest,
    ) -> Result<(InsertPart, String), StoreError> {
        let src = self.blob_path(from_sid, &from.part_id);
        let dir = self.session_dir(to_sid);
        std::fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        let dest = loop {
            to.part_id = self.new_part_id()?;
            let dest = self.blob_path(to_sid, &to.part_id);
            match std::fs::hard_link(&src, &dest) {
                Ok(()) => break dest,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("linking into", &dest)(e)),
            }
        };
        fsync_dir(&dir)?;
        let r = self.insert_part(to_sid, &to);
        match &r {
            Ok(InsertPart::Inserted) => {
                self.conn().execute(
                    "INSERT OR REPLACE INTO part_digests(session_id, part_id, sha512) VALUES (?1, ?2, ?3)",
                    params![to_sid, to.part_id, sha512.to_hex()],
                )?;
            }
            _ => {
                let _ = std::fs::remove_file(&dest);
            }
        }
        Ok((r?, to.part_id))
    }
}
