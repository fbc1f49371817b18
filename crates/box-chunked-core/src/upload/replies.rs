//! What answers mean for the upload. [`crate::ops`] says what each answer
//! is (a [`Verdict`]); this module applies it: success moves the upload on,
//! and every other verdict goes through [`Upload::settle`], the one place
//! that decides between waiting (a `202`), retrying (within the budget of
//! [`crate::retry::RetryPolicy`], by [`crate::timing::retry_delay`]) and
//! failing.

use super::state::{Attempt, Listing, Part, PartEvent, Stage, Transition, Tries};
use super::{Session, Upload};
use crate::error::{ApiFailure, UploadError};
use crate::event::Event;
use crate::io::{Output, RequestId, RequestKind, TransportError};
use crate::ops::{self, Reply, Retry, Verdict};
use crate::retry::FailureClass;
use crate::timing::{add, pending_wait, retry_delay, session_deadline};
use crate::tune::Signal;
use crate::Instant;
use box_chunked_proto::UploadPart;
use box_chunked_sha1::FileHasher;
use std::time::Duration;

/// Whose attempt a verdict is about.
#[derive(Debug, Clone, Copy)]
enum Subject {
    /// The stage's control operation.
    Control(RequestKind),
    /// A part of the window, by index.
    Part(u64),
}

impl Subject {
    const fn kind(self) -> RequestKind {
        match self {
            Self::Control(k) => k,
            Self::Part(index) => RequestKind::UploadPart { index },
        }
    }
}

impl Upload {
    /// The answer's `Date` anchors the session's expiry in this machine's
    /// time (a resumed session learns it from its first answer).
    pub(super) fn learn_date(&mut self, reply: &Reply) {
        let now = self.now;
        let Some(s) = self.session.as_mut() else {
            return;
        };
        if s.deadline.is_some() || reply.date.is_none() || s.expires_at.is_none() {
            return;
        }
        s.deadline = Some(session_deadline(s.expires_at.as_ref(), reply.date, now));
    }

    pub(super) fn on_reply(&mut self, id: RequestId, kind: RequestKind, reply: Reply) {
        if !matches!(kind, RequestKind::UploadPart { .. }) {
            if let Some(c) = self.stage.control_mut() {
                c.flight = None;
            }
        }
        match kind {
            RequestKind::CreateSession => self.on_create(&reply),
            RequestKind::UploadPart { index } => self.on_part(id, index, &reply),
            RequestKind::ListParts { .. } => self.on_list(&reply),
            RequestKind::Commit => self.on_commit(&reply),
            RequestKind::Abort => self.on_abort(ops::abort_reply(&reply)),
            // Never issued by the machine (single calls only).
            RequestKind::GetSession
            | RequestKind::GetFile
            | RequestKind::Preflight
            | RequestKind::UploadFile
            | RequestKind::Plan
            | RequestKind::CreateFolder
            | RequestKind::ListItems
            | RequestKind::GetFolder
            | RequestKind::DeleteItem => {}
        }
    }

    pub(super) fn on_transport_failure(
        &mut self,
        id: RequestId,
        kind: RequestKind,
        error: TransportError,
    ) {
        let v = Verdict::Retry(Retry::transport(&error));
        if matches!(kind, RequestKind::UploadPart { .. })
            && error.kind == crate::io::TransportErrorKind::TimedOut
        {
            self.signal(Signal::TimedOut);
        }
        match kind {
            RequestKind::Abort => self.on_abort(v),
            RequestKind::UploadPart { index } => {
                if self.parts.get(&index).is_some_and(|p| p.sent_as(id)) {
                    self.settle::<()>(Subject::Part(index), v);
                }
            }
            _ => self.settle::<()>(Subject::Control(kind), v),
        }
    }

    /// Every verdict but the successes each handler takes: wait after a
    /// `202`, retry within the budget, or fail; a gone session is the
    /// stage's to handle; nothing is retried once the caller asked to abort
    /// the session being created.
    fn settle<T>(&mut self, who: Subject, v: Verdict<T>) {
        let kind = who.kind();
        let r = match v {
            Verdict::Pending { retry_after } => return self.commit_pending(retry_after),
            Verdict::Retry(r) if r.class == FailureClass::PartsMismatch => {
                return self.commit_mismatch(r)
            }
            Verdict::Retry(r) if self.abort_requested() => {
                let attempts = self.stage.control().map_or(1, |c| c.tries.attempts);
                return self.transition(Transition::Failed(r.exhausted(kind, attempts)));
            }
            Verdict::Retry(r) => r,
            Verdict::SessionGone(_) => return self.transition(Transition::SessionGone),
            Verdict::Fail(e) if kind == RequestKind::Abort => {
                let detail = e.api().map_or_else(|| e.to_string(), ApiFailure::to_string);
                return self.transition(Transition::AbortEnded(Some(detail)));
            }
            Verdict::Fail(e) => return self.transition(Transition::Failed(e)),
            // Each handler takes these itself; nothing else yields them.
            Verdict::Success(_) | Verdict::Reconcile => return,
        };
        let tries = match who {
            Subject::Control(_) => self.stage.control().map(|c| c.tries),
            Subject::Part(index) => self
                .parts
                .get(&index)
                .and_then(Part::payload)
                .map(|p| p.tries),
        };
        let Some(tries) = tries else { return };
        match self.plan_retry(kind, tries, &r) {
            Ok(at) => match who {
                Subject::Control(_) => {
                    if let Some(c) = self.stage.control_mut() {
                        c.flight = None;
                        c.not_before = at;
                    }
                }
                Subject::Part(index) => {
                    if let Some(p) = self.parts.get_mut(&index) {
                        p.apply(PartEvent::BackOff(at));
                    }
                }
            },
            Err(_) if kind == RequestKind::Abort => {
                self.transition(Transition::AbortEnded(Some(r.last)));
            }
            Err(e) => self.transition(Transition::Failed(e)),
        }
    }

    /// Whether the caller asked to abort while the session is being created.
    fn abort_requested(&self) -> bool {
        matches!(
            self.stage,
            Stage::Creating {
                abort_requested: true,
                ..
            }
        )
    }

    /// The delay before retrying, or the final error if the budget is spent
    /// or the class is not the core's to retry.
    fn plan_retry(
        &mut self,
        kind: RequestKind,
        tries: Tries,
        r: &Retry,
    ) -> Result<Instant, UploadError> {
        let max_attempts = if kind == RequestKind::Abort {
            self.cfg.retry.abort_attempts
        } else {
            self.cfg.retry.max_attempts
        };
        let elapsed = tries
            .first_at
            .map_or(Duration::ZERO, |t| self.now.saturating_duration_since(t));
        let policy = &self.cfg.retry;
        let delay = retry_delay(
            policy,
            &mut self.jitter,
            r.class,
            r.retry_after,
            tries.attempts,
            max_attempts,
            elapsed,
        )
        .ok_or_else(|| r.clone().exhausted(kind, tries.attempts))?;
        let at = add(self.now, delay);
        if r.class == FailureClass::Throttled {
            let until = self.throttle_until.map_or(at, |t| t.max(at));
            self.throttle_until = Some(until);
            self.out
                .push_back(Output::Event(Event::Throttled { pause: delay }));
        }
        self.out.push_back(Output::Event(Event::RetryScheduled {
            kind,
            attempt: tries.attempts,
            delay,
            cause: r.class,
            status: r.status,
        }));
        match (r.class, kind) {
            (FailureClass::Throttled, _) => self.signal(Signal::Throttled { pause: delay }),
            (FailureClass::ServerError, RequestKind::UploadPart { .. }) => {
                self.signal(Signal::ServerBusy);
            }
            _ => {}
        }
        Ok(at)
    }

    /// A `202`: the same commit again after `Retry-After`, within the
    /// commit's time limit.
    fn commit_pending(&mut self, retry_after: Option<Duration>) {
        let (now, limit) = (self.now, self.cfg.commit_wait);
        let (policy, poll) = (&self.cfg.retry, self.cfg.commit_poll_default);
        let Stage::Committing(c) = &mut self.stage else {
            return;
        };
        c.polls += 1;
        let first = c.call.tries.first_at.unwrap_or(now);
        let waited = now.saturating_duration_since(first);
        match pending_wait(policy, retry_after, poll, waited, limit) {
            Ok(wait) => {
                c.call.not_before = add(now, wait);
                let polls = c.polls;
                self.out.push_back(Output::Event(Event::CommitPending {
                    retry_after: wait,
                    polls,
                }));
            }
            Err(waited) => {
                let polls = c.polls;
                let e = UploadError::CommitTimedOut { waited, polls };
                self.transition(Transition::Failed(e));
            }
        }
    }

    /// A `parts_mismatch` at commit: Box may not list a part it just
    /// stored, so the commit is repeated a few times before it fails.
    fn commit_mismatch(&mut self, r: Retry) {
        let kind = RequestKind::Commit;
        let (now, allowed) = (self.now, self.cfg.parts_mismatch_retries);
        let Stage::Committing(c) = &mut self.stage else {
            return;
        };
        c.mismatches += 1;
        let mismatches = c.mismatches;
        if mismatches > allowed {
            let api = r.api.unwrap_or(ApiFailure {
                kind,
                status: r.status.unwrap_or(400),
                error: None,
                request_id: None,
            });
            return self.transition(Transition::Failed(UploadError::PartsMismatch(api)));
        }
        let delay = self
            .cfg
            .retry
            .backoff(mismatches, r.retry_after, &mut self.jitter);
        if let Stage::Committing(c) = &mut self.stage {
            c.call.not_before = add(now, delay);
        }
        self.out.push_back(Output::Event(Event::RetryScheduled {
            kind,
            attempt: mismatches,
            delay,
            cause: FailureClass::PartsMismatch,
            status: r.status,
        }));
    }

    fn on_create(&mut self, reply: &Reply) {
        let kind = RequestKind::CreateSession;
        let (session, plan) = match ops::create_session_reply(reply, self.source.size) {
            Verdict::Success(s) => s,
            other => return self.settle(Subject::Control(kind), other),
        };
        let expires = session.session_expires_at.as_ref();
        let deadline = session_deadline(expires, reply.date, self.now);
        self.file_hasher = FileHasher::for_part_size(plan.part_size());
        self.tune_part_size(plan.part_size());
        self.session = Some(Session {
            id: session.id.clone(),
            endpoints: session.session_endpoints,
            plan,
            expires_at: session.session_expires_at,
            deadline: Some(deadline),
        });
        self.out.push_back(Output::Event(Event::SessionReady {
            session_id: session.id,
            part_size: plan.part_size(),
            total_parts: plan.total_parts(),
        }));
        self.out.push_back(Output::Event(Event::CheckpointChanged));
        self.transition(Transition::SessionReady);
    }

    fn on_part(&mut self, id: RequestId, index: u64, reply: &Reply) {
        let Some(p) = self.parts.get(&index).filter(|p| p.sent_as(id)) else {
            return;
        };
        let Some(payload) = p.payload() else { return };
        let (offset, size) = (p.range.offset, p.range.len);
        match ops::upload_part_reply(reply, index, offset, size, &payload.sha1) {
            Verdict::Success((stored, how)) => {
                self.part_delivered(index);
                self.confirm_part(index, stored, how);
            }
            Verdict::Reconcile => self.start_reconcile(index),
            Verdict::Fail(e)
                if ops::part_bytes_refused(reply) && self.source.fingerprint.is_some() =>
            {
                self.check_source_for(e);
            }
            other => self.settle(Subject::Part(index), other),
        }
    }

    /// A part's bytes did not match their digest: a file changed under a
    /// read that shares its pages (a mapped part) sends bytes other than
    /// those hashed. The driver checks the file; the upload fails with what
    /// changed, or with the refusal if nothing did (once, for the first
    /// refused part).
    fn check_source_for(&mut self, refused: UploadError) {
        if self.refused_part.is_none() {
            self.refused_part = Some(refused);
            self.out.push_back(Output::CheckSource);
        }
    }

    /// A `416` did not say what is stored: the part waits for a listing.
    fn start_reconcile(&mut self, index: u64) {
        if let Some(p) = self.parts.get_mut(&index) {
            p.apply(PartEvent::Reconcile);
        }
        let now = self.now;
        if let Stage::Uploading { reconcile } = &mut self.stage {
            reconcile.get_or_insert_with(|| Listing::new(now));
        }
    }

    fn on_list(&mut self, reply: &Reply) {
        let Some(offset) = self.stage.listing_mut().map(|l| l.offset) else {
            return;
        };
        let kind = RequestKind::ListParts { offset };
        let page = match ops::list_parts_reply(reply, offset) {
            Verdict::Success(page) => page,
            other => return self.settle(Subject::Control(kind), other),
        };
        let total_parts = self.plan().map_or(0, |p| p.total_parts());
        let now = self.now;
        let Some(listing) = self.stage.listing_mut() else {
            return;
        };
        let next = page.next_offset();
        listing.collected.extend(page.entries);
        if (listing.collected.len() as u64) > total_parts {
            let detail = format!("the server lists more than the session's {total_parts} parts");
            return self.transition(Transition::Failed(UploadError::Protocol { kind, detail }));
        }
        if let Some(next) = next {
            listing.offset = next;
            listing.call = Attempt::new(now);
            return;
        }
        let parts = std::mem::take(&mut listing.collected);
        match &mut self.stage {
            Stage::Resuming { .. } => self.finish_resume_listing(parts),
            Stage::Uploading { reconcile } => {
                *reconcile = None;
                self.finish_reconcile(&parts);
            }
            _ => {}
        }
    }

    /// Every part waiting for the listing learns its fate.
    fn finish_reconcile(&mut self, listed: &[UploadPart]) {
        let waiting: Vec<u64> = self
            .parts
            .iter()
            .filter(|(_, p)| p.reconciling())
            .map(|(i, _)| *i)
            .collect();
        for index in waiting {
            let Some(p) = self.parts.get(&index) else {
                continue;
            };
            let Some(payload) = p.payload() else { continue };
            let (offset, size) = (p.range.offset, p.range.len);
            match ops::reconciled_part(listed, index, offset, size, &payload.sha1) {
                Some(Verdict::Success((stored, how))) => self.confirm_part(index, stored, how),
                Some(other) => return self.settle(Subject::Part(index), other),
                // Not stored after all: send it again (bounded by its attempts).
                None => self.settle::<()>(
                    Subject::Part(index),
                    Verdict::Retry(ops::not_listed_after_overlap()),
                ),
            }
            if matches!(self.stage, Stage::Done(_) | Stage::Aborting { .. }) {
                return;
            }
        }
    }

    fn on_commit(&mut self, reply: &Reply) {
        let Stage::Committing(c) = &self.stage else {
            return;
        };
        match ops::commit_reply(reply, &c.sha1, self.source.size) {
            Verdict::Success(file) => self.transition(Transition::Committed(Box::new(file))),
            // The server says it committed: there is no session left to delete.
            Verdict::Fail(e @ UploadError::StoredMismatch { .. }) => {
                self.transition(Transition::CommittedOther(e));
            }
            other => self.settle(Subject::Control(RequestKind::Commit), other),
        }
    }

    fn on_abort(&mut self, verdict: Verdict<()>) {
        match verdict {
            Verdict::Success(()) => self.transition(Transition::AbortEnded(None)),
            other => self.settle(Subject::Control(RequestKind::Abort), other),
        }
    }
}
