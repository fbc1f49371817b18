//! A new version's plan, made while its read pass runs: the parts' SHA-512s
//! are planned as the pass computes them, and the first parts the plan
//! misses are sent at once, while the pass reads on. The server then
//! hashes the new version from its first change while the client is
//! still hashing the rest, instead of after the whole pass, and the commit
//! waits for less. Up to [`EARLY_PARTS`] misses go this way (in file order
//! as the plan finds them), during the pass or after it, at the upload's
//! parallelism; misses
//! past them, or whose early send failed, are left to the upload machine
//! (its self-tuning parallelism, its checks), which finds the rest stored
//! and verifies them from the pass's digests.

use super::pass::{read_pass, Pass, Ready};
use super::source::{read_at, FileHandle};
use super::{UploadEvent, Uploader};
use crate::error::{Error, ErrorKind};
use crate::SessionRef;
use box_chunked_core::plan::PLAN_BATCH;
use box_chunked_proto::{PartPlan, PlannedPart, Sha1Digest, UploadSession};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use tokio::task::JoinSet;

/// About how many plan requests a file's pass makes.
const PLAN_REQUESTS: u64 = 16;

/// The most missed parts sent during the pass: enough for a small change;
/// a file that changed throughout goes to the machine's parallel sends.
pub(super) const EARLY_PARTS: usize = 8;

/// What planning during the pass did.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Planned {
    /// Parts the server had (recorded in the session).
    pub(super) hits: u64,
    /// Missed parts sent and stored this way, and their bytes.
    pub(super) sent: u64,
    pub(super) sent_bytes: u64,
    /// The bytes read again to send them (parts whose send failed too).
    pub(super) read_bytes: u64,
}

/// The plan's state while the pass runs.
#[derive(Default)]
struct Plan {
    grid: Option<PartPlan>,
    sha1: HashMap<usize, Sha1Digest>,
    ready: Vec<PlannedPart>,
    misses: VecDeque<PlannedPart>,
    /// A plan request failed: nothing more is planned (the rest is sent).
    failed: bool,
    started: usize,
    done: Planned,
}

impl Plan {
    fn take(&mut self, r: Ready) {
        match r {
            Ready::Sha1(i, d) => {
                self.sha1.insert(i, d);
            }
            Ready::Sha512(i, sha512) => {
                if let Some(p) = self.grid.and_then(|g| g.part(i as u64)) {
                    self.ready.push(PlannedPart {
                        offset: p.offset,
                        size: p.len,
                        sha512,
                    });
                }
            }
        }
    }

    /// The next miss to send early (the first in file order whose SHA-1
    /// is known), if one may go now.
    fn next_send(&mut self, in_flight: usize, cap: usize) -> Option<(PlannedPart, Sha1Digest)> {
        if in_flight >= cap || self.started >= EARLY_PARTS {
            return None;
        }
        let part = self.grid?.part_size().max(1);
        let at = self
            .misses
            .iter()
            .position(|m| self.sha1.contains_key(&((m.offset / part) as usize)))?;
        let m = self.misses.remove(at)?;
        let sha1 = *self.sha1.get(&((m.offset / part) as usize))?;
        self.started += 1;
        Some((m, sha1))
    }

    /// Counts an early send that ended: the bytes it read, and whether
    /// the part was stored.
    fn account(&mut self, ended: Option<(u64, bool)>) {
        if let Some((read, stored)) = ended {
            self.done.read_bytes += read;
            if stored {
                self.done.sent += 1;
                self.done.sent_bytes += read;
            }
        }
    }
}

impl Uploader {
    /// One read pass over the file on `session`'s grid, planned at `url`
    /// while it runs (see the module's note): the pass, for the machine to
    /// verify the stored parts from, and what the plan did.
    pub(super) async fn pass_and_plan(
        &self,
        path: &Path,
        size: u64,
        session: &UploadSession,
        url: &str,
    ) -> Result<(Pass, Planned), Error> {
        let grid = PartPlan::new(size, session.part_size)
            .map_err(|e| Error::new(ErrorKind::Protocol, e.to_string()))?;
        let cannot = |e: String| {
            Error::new(
                ErrorKind::Io,
                format!("cannot read {}: {e}", path.display()),
            )
        };
        let file = std::fs::File::open(path).map_err(|e| cannot(e.to_string()))?;
        #[cfg(unix)]
        let file: FileHandle = Arc::new(file);
        #[cfg(not(unix))]
        let file: FileHandle = Arc::new(std::sync::Mutex::new(file));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let p = path.to_path_buf();
        let pass = tokio::task::spawn_blocking(move || read_pass(&p, &grid, Some(tx)));
        let mut plan = Plan {
            grid: Some(grid),
            ..Plan::default()
        };
        // During the pass, a request waits for a sixteenth of the parts:
        // a few requests per file, however many parts (each costs the
        // server a look at the whole current version).
        let min_batch = (grid.total_parts() / PLAN_REQUESTS).max(1);
        let mut sends = Sends {
            set: JoinSet::new(),
            session: self.client.session(session),
            file,
            size,
            cap: self.parallelism_now().clamp(1, EARLY_PARTS),
            pace: self.throttle.clone(),
        };
        while let Some(r) = rx.recv().await {
            plan.take(r);
            while let Ok(r) = rx.try_recv() {
                plan.take(r);
            }
            while let Some(done) = sends.set.try_join_next() {
                plan.account(done.ok().flatten());
            }
            if plan.ready.len() as u64 >= min_batch {
                self.plan_ready(url, &mut plan, PLAN_BATCH).await;
            }
            sends.start(&mut plan);
        }
        let pass = pass
            .await
            .map_err(|e| cannot(e.to_string()))?
            .map_err(|e| cannot(e.to_string()))?;
        while !plan.failed && !plan.ready.is_empty() {
            self.plan_ready(url, &mut plan, PLAN_BATCH).await;
            sends.start(&mut plan);
        }
        while let Some(done) = sends.set.join_next().await {
            plan.account(done.ok().flatten());
            sends.start(&mut plan);
        }
        if plan.done.sent > 0 {
            if let Some(f) = &self.on_event {
                f(&UploadEvent::SentDuringPass {
                    parts: plan.done.sent,
                    bytes: plan.done.sent_bytes,
                });
            }
        }
        Ok((pass, plan.done))
    }

    /// Plans up to `batch` of the parts ready; a failed request ends the
    /// plan (the parts not planned are sent).
    async fn plan_ready(&self, url: &str, plan: &mut Plan, batch: usize) {
        if plan.failed || plan.ready.is_empty() {
            return;
        }
        let parts: Vec<PlannedPart> = plan.ready.drain(..plan.ready.len().min(batch)).collect();
        match self.client.plan(url, parts).await {
            Ok(answer) => {
                plan.done.hits += answer.hits.len() as u64;
                // Only a part of this grid is sent early, whatever the
                // answer names (a wrong offset or size goes to the machine,
                // which checks every part against the session).
                let grid = plan.grid;
                plan.misses
                    .extend(answer.misses.into_iter().filter(|m| on_grid(grid, m)));
                plan.misses.make_contiguous().sort_by_key(|m| m.offset);
            }
            Err(e) => {
                tracing::info!(error = %e, "the plan failed; sending the parts not planned");
                plan.failed = true;
            }
        }
    }
}

/// Whether `m` is exactly a part of `grid`.
fn on_grid(grid: Option<PartPlan>, m: &PlannedPart) -> bool {
    grid.and_then(|g| g.part(m.offset / g.part_size().max(1)))
        .is_some_and(|p| p.offset == m.offset && p.len == m.size)
}

/// The early sends in flight.
struct Sends {
    /// Each ends with the bytes it read and whether the part was stored
    /// (`None` when it could not read them).
    set: JoinSet<Option<(u64, bool)>>,
    session: SessionRef,
    file: FileHandle,
    size: u64,
    /// The most in flight at once: the upload's parallelism (where it
    /// starts, when it tunes itself), at most [`EARLY_PARTS`].
    cap: usize,
    /// The upload's pace (`--bwlimit`), which these sends share.
    pace: Option<Arc<crate::body::Throttle>>,
}

impl Sends {
    /// Starts the misses that may go now.
    fn start(&mut self, plan: &mut Plan) {
        while let Some((m, sha1)) = plan.next_send(self.set.len(), self.cap) {
            let (s, file, size) = (self.session.clone(), self.file.clone(), self.size);
            let pace = self.pace.clone();
            self.set.spawn(async move {
                let bytes = part_bytes(file, m.offset, m.size).await?;
                match s
                    .upload_part_paced(bytes, m.offset, size, Some(sha1), pace)
                    .await
                {
                    Ok(_) => Some((m.size, true)),
                    Err(e) => {
                        tracing::debug!(offset = m.offset, error = %e, "a part sent during the read pass was not stored; the upload sends it");
                        Some((m.size, false))
                    }
                }
            });
        }
    }
}

/// A part's bytes for an early send: mapped where files are, else read.
async fn part_bytes(file: FileHandle, offset: u64, len: u64) -> Option<Bytes> {
    let len = usize::try_from(len).ok()?;
    tokio::task::spawn_blocking(move || {
        #[cfg(target_os = "linux")]
        if let Some(m) = super::mapped::MappedPart::map(&file, offset, len) {
            return Some(Bytes::from_owner(m));
        }
        let mut buf = vec![0u8; len];
        read_at(&file, &mut buf, offset).ok()?;
        Some(Bytes::from(buf))
    })
    .await
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use box_chunked_proto::Sha512Digest;

    fn part(offset: u64, size: u64) -> PlannedPart {
        PlannedPart {
            offset,
            size,
            sha512: Sha512Digest([0; 64]),
        }
    }

    /// A miss is sent early only if it is exactly a part of the session's
    /// grid (a lying answer cannot make the client map or allocate what it
    /// names), once its SHA-1 is known, first in file order, at most
    /// `cap` at once and [`EARLY_PARTS`] in all.
    #[test]
    fn only_parts_of_the_grid_go_early_in_file_order_once_their_sha1_is_known() {
        const MIB: u64 = 1 << 20;
        let grid = PartPlan::new(10 * MIB, 4 * MIB).unwrap();
        assert!(on_grid(Some(grid), &part(4 * MIB, 4 * MIB)));
        assert!(on_grid(Some(grid), &part(8 * MIB, 2 * MIB)));
        assert!(!on_grid(Some(grid), &part(8 * MIB, 4 * MIB)));
        assert!(!on_grid(Some(grid), &part(5, 4 * MIB)));
        assert!(!on_grid(Some(grid), &part(0, u64::MAX)));
        assert!(!on_grid(Some(grid), &part(40 * MIB, MIB)));
        let mut plan = Plan {
            grid: Some(grid),
            ..Plan::default()
        };
        plan.misses.extend([
            part(0, 4 * MIB),
            part(4 * MIB, 4 * MIB),
            part(8 * MIB, 2 * MIB),
        ]);
        assert!(plan.next_send(0, 2).is_none(), "no SHA-1 known yet");
        plan.take(Ready::Sha1(2, Sha1Digest([2; 20])));
        plan.take(Ready::Sha1(0, Sha1Digest([0; 20])));
        let (first, sha1) = plan.next_send(0, 2).unwrap();
        assert_eq!((first.offset, sha1), (0, Sha1Digest([0; 20])));
        let (second, _) = plan.next_send(1, 2).unwrap();
        assert_eq!(second.offset, 8 * MIB);
        assert!(plan.next_send(2, 2).is_none(), "at the cap");
        plan.take(Ready::Sha1(1, Sha1Digest([1; 20])));
        plan.started = EARLY_PARTS;
        assert!(plan.next_send(0, 2).is_none(), "past EARLY_PARTS");
    }
}
