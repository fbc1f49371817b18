//! The window of parts: reads issued in offset order while the window has
//! room, bytes hashed strictly in offset order (one pass for the part and
//! whole-file digests), parts sent up to the parallelism, confirmed parts
//! dropped. It never decides what an answer means (`replies`) or changes
//! the stage except through `state`'s transitions.

use super::state::{Part, PartEvent, PartState, Stage, Transition};
use super::Upload;
use crate::error::{InputError, SourceChange, UploadError};
use crate::event::{Confirmation, Event};
use crate::io::{Output, PartHashes, ReadId, ReadPurpose, ReadRequest, RequestKind};
use crate::ops::{self, SessionUrls};
use box_chunked_proto::{PartPlan, UploadPart};
use box_chunked_sha1::FileHasher;
use bytes::Bytes;

impl Upload {
    pub(super) fn plan(&self) -> Option<PartPlan> {
        self.session.as_ref().map(|s| s.plan)
    }

    /// Asks for the next parts' bytes while the window (parallelism + 1)
    /// has room.
    pub(super) fn issue_reads(&mut self) {
        let Some(plan) = self.plan() else { return };
        let window = self.limit().saturating_add(1);
        while self.parts.len() < window {
            let Some(range) = plan.part(self.read_next) else {
                break;
            };
            let purpose = if self.confirmed.contains_key(&range.index) {
                ReadPurpose::Verify
            } else {
                ReadPurpose::Upload
            };
            let id = ReadId(self.next_read);
            self.next_read += 1;
            self.reads.insert(id, range.index);
            self.parts.insert(range.index, Part::new(range, purpose));
            self.read_next += 1;
            self.out.push_back(Output::Read(ReadRequest {
                id,
                range: range.range(),
                purpose,
            }));
        }
    }

    /// Sends ready parts while fewer than the limit (fixed, or tuned) are in flight.
    pub(super) fn send_parts(&mut self) {
        if !self.gate_open() {
            return;
        }
        let limit = self.limit();
        let now = self.now;
        let room = limit.saturating_sub(self.parts.values().filter(|p| p.in_flight()).count());
        let ready: Vec<u64> = self
            .parts
            .iter()
            .filter(|(_, p)| p.sendable(now))
            .map(|(i, _)| *i)
            .collect();
        for index in ready.into_iter().take(room) {
            let kind = RequestKind::UploadPart { index };
            let request = match self.build_part(index) {
                Ok(r) => r,
                Err(detail) => {
                    return self
                        .transition(Transition::Failed(UploadError::Protocol { kind, detail }))
                }
            };
            let attempt = self
                .parts
                .get(&index)
                .and_then(Part::payload)
                .map_or(1, |p| p.tries.attempts + 1);
            let id = self.send(kind, attempt, request);
            if let Some(p) = self.parts.get_mut(&index) {
                p.apply(PartEvent::Sent(id, now));
            }
            self.note_flights();
        }
    }

    fn build_part(&self, index: u64) -> Result<http::Request<Bytes>, String> {
        let (p, s) = match (self.parts.get(&index), self.session.as_ref()) {
            (Some(p), Some(s)) => (p, s),
            _ => return Err("no such part".to_owned()),
        };
        let payload = p.payload().ok_or("part not hashed")?;
        let range = p
            .range
            .content_range(s.plan.file_size())
            .map_err(|e| e.to_string())?;
        let url = SessionUrls {
            id: &s.id,
            endpoints: &s.endpoints,
            upload_root: &self.cfg.upload_root,
        }
        .upload_part();
        ops::upload_part(url, range, &payload.sha1, payload.data.clone())
    }

    /// The part read `id` is for, if it is still wanted (a read whose part
    /// is gone is forgotten); an error for an id never issued.
    fn read_part(&mut self, id: ReadId) -> Result<Option<u64>, InputError> {
        if id.0 >= self.next_read {
            return Err(InputError::UnknownRead(id));
        }
        let Some(&index) = self.reads.get(&id) else {
            return Ok(None);
        };
        if !self.parts.contains_key(&index) {
            self.reads.remove(&id);
            return Ok(None);
        }
        Ok(Some(index))
    }

    pub(super) fn on_data(
        &mut self,
        id: ReadId,
        bytes: Bytes,
        hashes: Option<Box<PartHashes>>,
    ) -> Result<(), InputError> {
        let Some(index) = self.read_part(id)? else {
            return Ok(());
        };
        let Some(p) = self.parts.get_mut(&index) else {
            return Ok(());
        };
        if bytes.len() as u64 != p.range.len {
            return Err(InputError::WrongLength {
                id,
                expected: p.range.len,
                actual: bytes.len() as u64,
            });
        }
        self.reads.remove(&id);
        p.apply(PartEvent::Arrived {
            data: bytes,
            hashes,
        });
        self.advance_hashing();
        Ok(())
    }

    /// A verify read answered with digests only ([`crate::Input::Digested`]).
    pub(super) fn on_digests(
        &mut self,
        id: ReadId,
        hashes: Box<PartHashes>,
    ) -> Result<(), InputError> {
        let Some(index) = self.read_part(id)? else {
            return Ok(());
        };
        let Some(p) = self.parts.get_mut(&index) else {
            return Ok(());
        };
        // Digests are adopted only into the two-chain hasher (part sizes
        // that are whole SHA-1 blocks, as Box's always are).
        if p.purpose != ReadPurpose::Verify || !matches!(self.file_hasher, FileHasher::Dual(_)) {
            return Err(InputError::NeedsBytes(id));
        }
        self.reads.remove(&id);
        p.apply(PartEvent::Arrived {
            data: Bytes::new(),
            hashes: Some(hashes),
        });
        self.advance_hashing();
        Ok(())
    }

    /// Hashes parts in offset order as their bytes arrive: each byte feeds the
    /// part's SHA-1 and the whole-file SHA-1 in the same pass. A driver's
    /// digests are adopted only if its chain before the part is ours; digests
    /// without bytes that are not are a changed source.
    fn advance_hashing(&mut self) {
        while let Some(p) = self.parts.get_mut(&self.hash_next) {
            let PartState::Read { data, hashes } = &mut p.state else {
                break;
            };
            let offered = hashes.take();
            let sha =
                match (offered, &mut self.file_hasher) {
                    (Some(h), FileHasher::Dual(d))
                        if h.before.same_file_chain(d)
                            && h.before.file_len() == p.range.offset
                            && h.after.file_len() == p.range.offset + p.range.len =>
                    {
                        *d = h.after;
                        self.parts_hashed_by_driver += 1;
                        h.part_sha1
                    }
                    (offered, _) if data.len() as u64 != p.range.len => {
                        let detail =
                            format!(
                        "part {} no longer has the digests computed when the upload began{}",
                        self.hash_next,
                        if offered.is_some() { "" } else { " (none were given)" }
                    );
                        return self.transition(Transition::Failed(UploadError::SourceChanged(
                            SourceChange::Modified { detail },
                        )));
                    }
                    _ => self.file_hasher.part(data),
                };
            p.apply(PartEvent::Hashed(sha));
            let (index, range, purpose) = (self.hash_next, p.range, p.purpose);
            self.hash_next += 1;
            if purpose != ReadPurpose::Verify {
                continue;
            }
            match self.confirmed.get(&index).cloned() {
                Some(stored) if stored.matches(range.offset, range.len, &sha) => {
                    self.parts.remove(&index);
                    self.count_confirmed(index, range.len, Confirmation::Verified);
                }
                Some(stored) => {
                    return self.transition(Transition::Failed(UploadError::SourceChanged(
                        SourceChange::StoredPartDiffers {
                            index,
                            source_sha1: sha,
                            stored: Box::new(stored),
                        },
                    )));
                }
                // Cannot happen: Verify reads are issued only for confirmed parts.
                None => {
                    if let Some(p) = self.parts.get_mut(&index) {
                        p.purpose = ReadPurpose::Upload;
                    }
                }
            }
        }
    }

    fn count_confirmed(&mut self, index: u64, size: u64, how: Confirmation) {
        self.bytes_done = self.bytes_done.saturating_add(size);
        self.parts_done += 1;
        self.out.push_back(Output::Event(Event::PartConfirmed {
            index,
            size,
            how,
            bytes_done: self.bytes_done,
            parts_done: self.parts_done,
        }));
    }

    /// The server stores part `index` as ours: it leaves the window.
    pub(super) fn confirm_part(&mut self, index: u64, stored: UploadPart, how: Confirmation) {
        let Some(p) = self.parts.remove(&index) else {
            return;
        };
        self.confirmed.insert(index, stored);
        self.count_confirmed(index, p.range.len, how);
        self.out.push_back(Output::Event(Event::CheckpointChanged));
    }

    /// Once every part is hashed and stored, the commit starts.
    pub(super) fn maybe_commit(&mut self) {
        let Some(plan) = self.plan() else { return };
        let total = plan.total_parts();
        if self.hash_next < total
            || !self.parts.is_empty()
            || (self.confirmed.len() as u64) < total
            || !matches!(self.stage, Stage::Uploading { reconcile: None })
        {
            return;
        }
        let sha = self.file_hasher.finish();
        self.transition(Transition::AllStored(sha));
    }
}
