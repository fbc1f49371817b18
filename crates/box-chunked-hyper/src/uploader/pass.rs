//! A new version's one read pass: every part's SHA-512 (for the server's
//! plan), every part's SHA-1 and the whole-file SHA-1 chain, computed over
//! one read of the file on two threads (the read and the two SHA-1 chains
//! on one, SHA-512 shared between both). The parts the plan finds stored are then
//! verified from these digests ([`box_chunked_core::Input::Digested`])
//! without being read again, so a large file with a small change is read
//! about once.

use box_chunked_core::PartHashes;
use box_chunked_proto::{PartPlan, PlannedPart, Sha1Digest, Sha512Digest};
use box_chunked_sha1::{Backend, DualSha1};
use sha2::{Digest as _, Sha512};
use std::io::Read as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

/// Pieces the file is read in: large enough for few reads, small enough to
/// be hashed while in the CPU's cache.
const PIECE: usize = 1 << 20;
/// The most bytes read ahead of the SHA-512 thread: up to two parts, so
/// that it always has work queued while the reading thread hashes a part
/// itself.
const AHEAD_MAX: u64 = 128 << 20;

/// A part's digest as soon as the pass has it, for planning and sending
/// while the pass reads on (`early.rs`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Ready {
    /// Part `i`'s SHA-1 (only when the chains run).
    Sha1(usize, Sha1Digest),
    /// Part `i`'s SHA-512.
    Sha512(usize, Sha512Digest),
}

/// Where the pass tells of each digest it has (or nowhere).
pub(super) type ReadyTx = Option<tokio::sync::mpsc::UnboundedSender<Ready>>;

fn tell(to: &ReadyTx, r: Ready) {
    if let Some(tx) = to {
        let _ = tx.send(r);
    }
}

/// What the pass computed.
pub(super) struct Pass {
    /// Each part's offset, size and SHA-512, for the plan.
    pub(super) planned: Vec<PlannedPart>,
    /// The whole-file chain at each part boundary (`parts + 1` states) and
    /// each part's SHA-1; empty when the part size is not a whole number of
    /// SHA-1 blocks (then stored parts are read again to be verified).
    chain: Vec<DualSha1>,
    part_sha1: Vec<Sha1Digest>,
    part_size: u64,
    /// Bytes read.
    pub(super) bytes_read: u64,
}

impl Pass {
    /// The digests of the part that is exactly `start..end`, if the pass
    /// computed them.
    pub(super) fn hashes(&self, start: u64, end: u64) -> Option<Box<PartHashes>> {
        if self.part_size == 0 || !start.is_multiple_of(self.part_size) {
            return None;
        }
        let i = usize::try_from(start / self.part_size).ok()?;
        let part = self.planned.get(i)?;
        if part.offset + part.size != end {
            return None;
        }
        Some(Box::new(PartHashes {
            part_sha1: *self.part_sha1.get(i)?,
            before: self.chain.get(i)?.clone(),
            after: self.chain.get(i + 1)?.clone(),
        }))
    }
}

/// Reads `path` once on the grid `grid`, telling `ready` of each part's
/// digests as it has them; fails if the file is shorter.
///
/// The calling thread reads each piece and feeds the two SHA-1 chains; a
/// part's SHA-512 goes to the second thread unless that thread still has
/// a whole part queued, in which case the calling thread hashes the part
/// itself while the other works through its queue. On this project's
/// 2-core machine the reading thread ends up with one part in three; a
/// split by measured costs (aiming at one in four) was slower there: its
/// two virtual cores do not both hash at full speed (docs/performance.md).
pub(super) fn read_pass(path: &Path, grid: &PartPlan, ready: ReadyTx) -> std::io::Result<Pass> {
    let file = std::fs::File::open(path)?;
    let parts = usize::try_from(grid.total_parts()).unwrap_or(0);
    let chained = grid.part_size().is_multiple_of(64);
    let ahead = usize::try_from(grid.part_size().saturating_mul(2).min(AHEAD_MAX) / PIECE as u64)
        .unwrap_or(1)
        .max(1);
    let (full_tx, full_rx) = mpsc::sync_channel::<Piece>(ahead);
    let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
    for _ in 0..ahead + 2 {
        let _ = free_tx.send(vec![0u8; PIECE]);
    }
    let behind = AtomicU64::new(0);
    std::thread::scope(|s| {
        let (free, shared, told) = (free_tx.clone(), &behind, ready.clone());
        let helper = std::thread::Builder::new()
            .name("box-chunked-sha512".into())
            .spawn_scoped(s, move || sha512_thread(full_rx, free, shared, &told))?;
        let mut r = Reading {
            file,
            chained,
            dual: DualSha1::new(Backend::detect()),
            chain: Vec::with_capacity(if chained { parts + 1 } else { 0 }),
            part_sha1: Vec::with_capacity(if chained { parts } else { 0 }),
            sha512: vec![None; parts],
            bytes_read: 0,
            behind: &behind,
            full: full_tx,
            free_tx,
            free_rx,
            ready,
        };
        if chained {
            r.chain.push(r.dual.clone());
        }
        let read = grid
            .parts()
            .enumerate()
            .try_for_each(|(i, part)| r.part(i, part.len));
        let Reading {
            chain,
            part_sha1,
            mut sha512,
            bytes_read,
            full,
            ..
        } = r;
        drop(full);
        let helped = helper
            .join()
            .map_err(|_| std::io::Error::other("the SHA-512 thread panicked"))?;
        read?;
        for (i, d) in helped {
            if let Some(slot) = sha512.get_mut(i) {
                *slot = Some(d);
            }
        }
        let planned = planned(grid, sha512)?;
        Ok(Pass {
            planned,
            chain,
            part_sha1,
            part_size: if chained { grid.part_size() } else { 0 },
            bytes_read,
        })
    })
}

/// Each part's offset, size and SHA-512, from the SHA-512s by part.
fn planned(
    grid: &PartPlan,
    sha512: Vec<Option<Sha512Digest>>,
) -> std::io::Result<Vec<PlannedPart>> {
    grid.parts()
        .zip(sha512)
        .map(|(p, d)| {
            d.map(|sha512| PlannedPart {
                offset: p.offset,
                size: p.len,
                sha512,
            })
            .ok_or_else(|| std::io::Error::other("a part's SHA-512 is missing"))
        })
        .collect()
}

/// The reading thread's side of the pass.
struct Reading<'a> {
    file: std::fs::File,
    /// Whether the SHA-1 chains run (parts of whole SHA-1 blocks).
    chained: bool,
    dual: DualSha1,
    chain: Vec<DualSha1>,
    part_sha1: Vec<Sha1Digest>,
    /// The SHA-512s this thread computed, by part.
    sha512: Vec<Option<Sha512Digest>>,
    bytes_read: u64,
    /// Bytes sent to the SHA-512 thread and not yet hashed.
    behind: &'a AtomicU64,
    full: mpsc::SyncSender<Piece>,
    free_tx: mpsc::Sender<Vec<u8>>,
    free_rx: mpsc::Receiver<Vec<u8>>,
    ready: ReadyTx,
}

impl Reading<'_> {
    /// Reads part `i` (`len` bytes), hashing it here or handing its
    /// SHA-512 to the other thread.
    fn part(&mut self, i: usize, len: u64) -> std::io::Result<()> {
        let stopped = || std::io::Error::other("the SHA-512 thread stopped");
        // Hashed here while the other thread has a part's work queued.
        let mut own = (self.behind.load(Ordering::Acquire) >= len).then(Sha512::new);
        let mut left = len;
        while left > 0 {
            let mut buf = self.free_rx.recv().map_err(|_| stopped())?;
            let n = usize::try_from(left.min(PIECE as u64)).unwrap_or(PIECE);
            self.file.read_exact(&mut buf[..n])?;
            if self.chained {
                self.dual.update(&buf[..n]);
            }
            left -= n as u64;
            self.bytes_read += n as u64;
            if let Some(h) = own.as_mut() {
                h.update(&buf[..n]);
                let _ = self.free_tx.send(buf);
                continue;
            }
            self.behind.fetch_add(n as u64, Ordering::AcqRel);
            let ends = (left == 0).then_some(i);
            self.full
                .send(Piece { buf, len: n, ends })
                .map_err(|_| stopped())?;
        }
        if self.chained {
            let sha1 = self.dual.finish_part();
            self.part_sha1.push(sha1);
            self.chain.push(self.dual.clone());
            tell(&self.ready, Ready::Sha1(i, sha1));
        }
        if let (Some(h), Some(slot)) = (own, self.sha512.get_mut(i)) {
            let d = Sha512Digest(h.finalize().into());
            *slot = Some(d);
            tell(&self.ready, Ready::Sha512(i, d));
        }
        Ok(())
    }
}

/// A piece read, on its way to the SHA-512 thread; `ends` is the index of
/// the part it ends.
struct Piece {
    buf: Vec<u8>,
    len: usize,
    ends: Option<usize>,
}

/// Hashes the pieces it is sent, one SHA-512 per part, and hands each
/// buffer back for the next read; `behind` counts bytes sent and not yet
/// hashed.
fn sha512_thread(
    pieces: mpsc::Receiver<Piece>,
    free: mpsc::Sender<Vec<u8>>,
    behind: &AtomicU64,
    ready: &ReadyTx,
) -> Vec<(usize, Sha512Digest)> {
    let mut out = Vec::new();
    let mut h = Sha512::new();
    for p in pieces {
        h.update(&p.buf[..p.len]);
        behind.fetch_sub(p.len as u64, Ordering::AcqRel);
        if let Some(i) = p.ends {
            let d = Sha512Digest(h.finalize_reset().into());
            tell(ready, Ready::Sha512(i, d));
            out.push((i, d));
        }
        let _ = free.send(p.buf);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pass's digests are those of each part computed on its own, on a
    /// grid of a few parts longer than a piece and on one of many short
    /// parts (where both threads take parts).
    #[test]
    fn the_pass_gives_each_part_its_own_digests() {
        check_grid(PIECE as u64 + 4096, 3);
        check_grid(64 << 10, 41);
    }

    fn check_grid(part_size: u64, parts: usize) {
        let dir = std::env::temp_dir().join(format!("bc-pass-{}-{part_size}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.bin");
        let data: Vec<u8> = (0..(5 * PIECE / 2 + 777))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let grid = PartPlan::new(data.len() as u64, part_size).unwrap();
        let pass = read_pass(&path, &grid, None).unwrap();
        assert_eq!(pass.bytes_read, data.len() as u64);
        assert_eq!(pass.planned.len(), parts);
        let mut chain = DualSha1::new(Backend::Portable);
        for (i, p) in pass.planned.iter().enumerate() {
            let bytes = &data[p.offset as usize..(p.offset + p.size) as usize];
            assert_eq!(p.sha512.0[..], Sha512::digest(bytes)[..], "part {i}");
            let h = pass.hashes(p.offset, p.offset + p.size).unwrap();
            assert!(h.before.same_file_chain(&chain), "part {i}");
            chain.update(bytes);
            assert_eq!(h.part_sha1, chain.finish_part(), "part {i}");
            assert!(h.after.same_file_chain(&chain), "part {i}");
        }
        assert!(pass.hashes(1, part_size).is_none());
        assert!(pass.hashes(0, 10).is_none());
        // A file shorter than the grid is an error, not digests of zeros.
        let grid = PartPlan::new(data.len() as u64 + 1, part_size).unwrap();
        assert!(read_pass(&path, &grid, None).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
