//! Resuming from a checkpoint: what makes a checkpoint usable, and what the
//! server's listing of stored parts (the truth; the checkpoint is a hint)
//! turns into. Re-reading and re-hashing the stored parts is the window's
//! ordinary work (reads of purpose `Verify`).

use super::state::{Listing, Stage, Transition};
use super::{validate_start, Session, Upload};
use crate::checkpoint::{Checkpoint, CHECKPOINT_FORMAT};
use crate::config::{Source, UploadConfig};
use crate::error::{ResumeError, SourceChange, UploadError};
use crate::event::Event;
use crate::io::{Output, RequestKind};
use crate::Instant;
use box_chunked_proto::{PartPlan, UploadPart};
use box_chunked_sha1::FileHasher;
use std::collections::BTreeMap;

impl Upload {
    /// Resumes from a checkpoint made by an earlier upload (possibly in
    /// another process). `source` is what the driver sees now; a different
    /// size is [`ResumeError::SourceChanged`]. A different fingerprint alone
    /// (a `touch`, a checkout, a copy with `rsync -t`) is not: the content
    /// decides, since every stored part is re-read and checked against the
    /// server's SHA-1 anyway, and `source`'s fingerprint is the one the
    /// upload checks from then on.
    ///
    /// The machine lists the server's parts (the truth; the checkpoint's list
    /// is only a hint), re-reads and re-hashes every stored part to rebuild
    /// the whole-file SHA-1 and to prove the source did not change, uploads
    /// what is missing, and commits.
    pub fn resume(
        checkpoint: Checkpoint,
        source: Source,
        mut config: UploadConfig,
        now: Instant,
    ) -> Result<Self, ResumeError> {
        if checkpoint.format != CHECKPOINT_FORMAT {
            return Err(ResumeError::UnsupportedFormat {
                found: checkpoint.format,
                supported: CHECKPOINT_FORMAT,
            });
        }
        if checkpoint.source.size != source.size {
            return Err(ResumeError::SourceChanged(SourceChange::Fingerprint {
                recorded: describe_source(&checkpoint.source),
                now: describe_source(&source),
            }));
        }
        validate_start(&checkpoint.target, &config)?;
        let s = &checkpoint.session;
        let plan = PartPlan::new(source.size, s.part_size)
            .map_err(|e| ResumeError::Inconsistent(e.to_string()))?;
        if plan.total_parts() != s.total_parts {
            return Err(ResumeError::Inconsistent(format!(
                "{} parts of {} bytes cannot hold {} bytes",
                s.total_parts, s.part_size, source.size
            )));
        }
        if s.id.is_empty() {
            return Err(ResumeError::Inconsistent("empty session id".to_owned()));
        }
        for p in &checkpoint.parts {
            plan.validate(p.offset, p.size)
                .map_err(|e| ResumeError::Inconsistent(format!("part at {}: {e}", p.offset)))?;
        }
        if config.attributes.is_none() {
            config.attributes = checkpoint.attributes.clone();
        }
        let session = Session {
            id: s.id.clone(),
            endpoints: s.endpoints.clone(),
            plan,
            expires_at: s.expires_at.clone(),
            deadline: None,
        };
        let stage = Stage::Resuming {
            listing: Listing::new(now),
        };
        let mut up = Self::with_stage(checkpoint.target, source, config, now, stage);
        up.file_hasher = FileHasher::for_part_size(plan.part_size());
        up.session = Some(session);
        up.tune_part_size(s.part_size);
        Ok(up)
    }

    /// The server's parts are listed: they become the confirmed parts (each
    /// verified when its bytes are re-read and hashed), and uploading starts.
    pub(super) fn finish_resume_listing(&mut self, parts: Vec<UploadPart>) {
        let Some(plan) = self.plan() else { return };
        let kind = RequestKind::ListParts { offset: 0 };
        let mut stored = BTreeMap::new();
        for p in parts {
            let range = match plan.validate(p.offset, p.size) {
                Ok(r) => r,
                Err(e) => {
                    let detail = e.to_string();
                    return self
                        .transition(Transition::Failed(UploadError::Protocol { kind, detail }));
                }
            };
            if p.sha1.is_none() {
                let detail = format!("the server lists part {} without a SHA-1", range.index);
                return self.transition(Transition::Failed(UploadError::Protocol { kind, detail }));
            }
            stored.insert(range.index, p);
        }
        self.confirmed = stored;
        let Some(s) = &self.session else { return };
        self.out.push_back(Output::Event(Event::SessionReady {
            session_id: s.id.clone(),
            part_size: s.plan.part_size(),
            total_parts: s.plan.total_parts(),
        }));
        self.out.push_back(Output::Event(Event::CheckpointChanged));
        self.transition(Transition::SessionReady);
    }
}

fn describe_source(s: &Source) -> String {
    format!("{} bytes", s.size)
}
