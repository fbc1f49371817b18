//! Requests the upload sends: ids and deadlines for every attempt, and the
//! stage's one control request (create, list, commit, abort), built by
//! [`crate::ops`]. It does not interpret answers (`replies`).

use super::state::{Commit, Stage, Transition};
use super::{Flight, Upload};
use crate::config::Target;
use crate::error::UploadError;
use crate::io::{OutgoingRequest, Output, RequestId, RequestKind};
use crate::ops::{self, SessionUrls};
use crate::timing::add;
use bytes::Bytes;

impl Upload {
    /// Queues one attempt and tracks it until its answer or deadline.
    pub(super) fn send(
        &mut self,
        kind: RequestKind,
        attempt: u32,
        request: http::Request<Bytes>,
    ) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let timeout = match kind {
            RequestKind::UploadPart { .. } => self.cfg.timeouts.part,
            _ => self.cfg.timeouts.control,
        };
        let deadline = add(self.now, timeout);
        self.inflight.insert(id, Flight { kind, deadline });
        self.out.push_back(Output::Request(OutgoingRequest {
            id,
            kind,
            attempt,
            deadline,
            request,
        }));
        id
    }

    /// The stage's control operation, if one is due.
    fn control_kind(&self) -> Option<RequestKind> {
        Some(match &self.stage {
            Stage::Creating { .. } => RequestKind::CreateSession,
            Stage::Resuming { listing }
            | Stage::Uploading {
                reconcile: Some(listing),
            } => RequestKind::ListParts {
                offset: listing.offset,
            },
            Stage::Committing(_) => RequestKind::Commit,
            Stage::Aborting { .. } => RequestKind::Abort,
            Stage::Uploading { reconcile: None }
            | Stage::CheckingSource { .. }
            | Stage::Done(_) => return None,
        })
    }

    fn urls(&self) -> Option<SessionUrls<'_>> {
        self.session.as_ref().map(|s| SessionUrls {
            id: &s.id,
            endpoints: &s.endpoints,
            upload_root: &self.cfg.upload_root,
        })
    }

    fn build_control(&self, kind: RequestKind) -> Result<http::Request<Bytes>, String> {
        let urls = || self.urls().ok_or("no session");
        match kind {
            RequestKind::CreateSession => {
                ops::create_session(&self.cfg.upload_root, &self.target, self.source.size)
            }
            RequestKind::ListParts { offset } => {
                ops::list_parts(&urls()?.list_parts(), offset, self.cfg.list_limit)
            }
            RequestKind::Commit => {
                let Stage::Committing(Commit { sha1, .. }) = &self.stage else {
                    return Err("commit before the file digest is known".to_owned());
                };
                let if_match = match &self.target {
                    Target::NewVersion { if_match, .. } => if_match.as_deref(),
                    Target::NewFile { .. } => None,
                };
                ops::commit(
                    urls()?.commit(),
                    sha1,
                    self.confirmed.values().cloned().collect(),
                    self.cfg.attributes.clone(),
                    if_match,
                )
            }
            RequestKind::Abort => ops::abort(urls()?.abort()),
            RequestKind::UploadPart { .. }
            | RequestKind::GetSession
            | RequestKind::GetFile
            | RequestKind::Preflight
            | RequestKind::UploadFile
            | RequestKind::Plan
            | RequestKind::CreateFolder
            | RequestKind::ListItems
            | RequestKind::GetFolder
            | RequestKind::DeleteItem => Err(format!("{kind} is not a control request")),
        }
    }

    /// Sends the stage's control request when it is due (and, but for the
    /// abort, when no `429` pause holds).
    pub(super) fn drive_control(&mut self) {
        let Some(kind) = self.control_kind() else {
            return;
        };
        let now = self.now;
        let Some(c) = self.stage.control() else {
            return;
        };
        if c.flight.is_some() || c.not_before > now {
            return;
        }
        let is_abort = kind == RequestKind::Abort;
        if !is_abort && !self.gate_open() {
            return;
        }
        match self.build_control(kind) {
            Ok(req) => {
                let attempt = self.stage.control_mut().map_or(1, |c| c.tries.start(now));
                let id = self.send(kind, attempt, req);
                if let Some(c) = self.stage.control_mut() {
                    c.flight = Some(id);
                }
            }
            Err(detail) if is_abort => self.transition(Transition::AbortEnded(Some(format!(
                "cannot build the abort request: {detail}"
            )))),
            Err(detail) => {
                self.transition(Transition::Failed(UploadError::Protocol { kind, detail }));
            }
        }
    }
}
