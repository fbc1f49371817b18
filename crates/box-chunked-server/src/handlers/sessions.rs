//! Chunked upload sessions: fault injection per endpoint of the upload
//! root, create (new file and new version), get, list parts and abort.
//! Parts, commit, the plan and one-shot uploads have their own modules.

use super::checks::refused;
use super::commit::commit;
use super::common::valid_name;
use super::common::{
    blocking, decode_body, empty_response, fail, json_response, not_found, now_unix, small_body,
    timestamp, Body, Fail,
};
use super::one_shot::upload_file;
use super::parts::{upload_part, BodyFault};
use super::plan::plan;
use crate::faults::{FaultAction, FaultTarget};
use crate::store::{fsync_dir, PartRow, Refusal, SessionRow, SessionState};
use crate::{Counters, State};
use box_chunked_proto::endpoints::Endpoint;
use box_chunked_proto::rules::{
    self as rules, check_min_size, check_part_count, default_part_size,
};
use box_chunked_proto::{
    CreateSessionFields, ErrorCode, PartPlan, SessionEndpoints, Timestamp, UploadParts,
    UploadSession,
};
use http::{Request, Response};
use hyper::body::Incoming;
use std::sync::Arc;

pub(crate) fn valid_session_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

pub(crate) async fn chunked(
    st: &Arc<State>,
    user: &str,
    ep: Endpoint,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let target = match ep {
        Endpoint::CreateSession | Endpoint::CreateVersionSession { .. } => FaultTarget::Create,
        Endpoint::GetSession { .. } => FaultTarget::Get,
        Endpoint::UploadPart { .. } => FaultTarget::Part,
        Endpoint::ListParts { .. } => FaultTarget::List,
        Endpoint::Commit { .. } => FaultTarget::Commit,
        Endpoint::Abort { .. } => FaultTarget::Abort,
        Endpoint::Plan { .. } => FaultTarget::Plan,
        Endpoint::UploadFile | Endpoint::UploadFileVersion { .. } => FaultTarget::Upload,
    };
    let fault = st.faults.pick(target);
    if let Some(f) = &fault {
        Counters::add(&st.counters.faults_injected, 1);
        tracing::info!(%target, fault = ?f, "injecting fault");
    }
    match &fault {
        Some(FaultAction::Status(s)) => {
            let code = if *s == 503 {
                ErrorCode::Unavailable
            } else {
                ErrorCode::InternalServerError
            };
            return Err(fail(*s, code, "Injected server error"));
        }
        Some(FaultAction::Throttle(secs)) => {
            return Err(Fail::Api {
                status: 429,
                code: ErrorCode::RateLimitExceeded,
                message: "Request rate limit exceeded, please try again later".into(),
                context: None,
                retry_after: Some(*secs),
            });
        }
        Some(FaultAction::Delay(d)) => tokio::time::sleep(*d).await,
        Some(FaultAction::Reset) if target != FaultTarget::Part => {
            return Err(Fail::Drop("injected reset"));
        }
        Some(FaultAction::Expire) => {
            let sid = match &ep {
                Endpoint::GetSession { session_id }
                | Endpoint::UploadPart { session_id }
                | Endpoint::ListParts { session_id }
                | Endpoint::Commit { session_id }
                | Endpoint::Abort { session_id }
                | Endpoint::Plan { session_id } => Some(session_id.clone()),
                _ => None,
            };
            if let Some(sid) = sid {
                blocking(st, move |s| s.expire_now(&sid)).await?;
            }
        }
        _ => {}
    }
    let result = match ep {
        Endpoint::CreateSession => create_session(st, user, None, req).await,
        Endpoint::CreateVersionSession { file_id } => {
            create_session(st, user, Some(file_id), req).await
        }
        Endpoint::GetSession { session_id } => get_session(st, user, &session_id).await,
        Endpoint::UploadPart { session_id } => {
            let body_fault = match fault {
                Some(FaultAction::Reset) => BodyFault::Reset,
                Some(FaultAction::NoSpace) => BodyFault::NoSpace,
                _ => BodyFault::None,
            };
            upload_part(st, user, &session_id, req, body_fault).await
        }
        Endpoint::ListParts { session_id } => list_parts(st, user, &session_id, req).await,
        Endpoint::Commit { session_id } => commit(st, user, &session_id, req, fault.as_ref()).await,
        Endpoint::Abort { session_id } => abort(st, user, &session_id).await,
        Endpoint::Plan { session_id } => plan(st, user, &session_id, req).await,
        Endpoint::UploadFile => upload_file(st, user, None, req).await,
        Endpoint::UploadFileVersion { file_id } => upload_file(st, user, Some(file_id), req).await,
    };
    if matches!(fault, Some(FaultAction::Lose)) {
        // The request was applied; the answer never arrives.
        return Err(Fail::Drop("injected lost response"));
    }
    result
}

pub(crate) fn session_json(st: &State, s: &SessionRow, processed: u64) -> UploadSession {
    let base = format!("{}/api/2.0/files/upload_sessions/{}", st.url, s.id);
    UploadSession {
        id: s.id.clone(),
        kind: "upload_session".into(),
        session_expires_at: Some(Timestamp::from_text(timestamp(s.expires_at))),
        part_size: s.part_size,
        total_parts: s.total_parts,
        num_parts_processed: Some(processed),
        session_endpoints: SessionEndpoints {
            upload_part: Some(base.clone()),
            commit: Some(format!("{base}/commit")),
            abort: Some(base.clone()),
            list_parts: Some(format!("{base}/parts")),
            status: Some(base.clone()),
            log_event: Some(format!("{base}/log")),
            plan: Some(format!("{base}/plan")),
        },
    }
}

pub(crate) async fn create_session(
    st: &Arc<State>,
    user: &str,
    file_id: Option<String>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let body = small_body(st, req, 64 * 1024).await?;
    let v: CreateSessionFields = decode_body(&body, |path| match path {
        "file_size" => ErrorCode::InvalidFileSize,
        "file_name" => ErrorCode::ItemNameInvalid,
        _ => ErrorCode::BadRequest,
    })?;
    let size = v
        .file_size
        .ok_or_else(|| fail(400, ErrorCode::MissingFileSize, "file_size is required"))?;
    let name = v.file_name;
    if let Some(n) = &name {
        valid_name(n)?;
    }
    if i64::try_from(size).is_err() {
        return Err(fail(
            400,
            ErrorCode::InvalidFileSize,
            "file_size must be below 2^63 bytes",
        ));
    }
    let (part_size, plan) = session_plan(st, size)?;
    let (folder_id, file_id) = match file_id {
        None => {
            let folder = v
                .folder_id
                .ok_or_else(|| fail(400, ErrorCode::MissingDestination, "folder_id is required"))?;
            if name.is_none() {
                return Err(fail(
                    400,
                    ErrorCode::MissingFileName,
                    "file_name is required",
                ));
            }
            (Some(folder), None)
        }
        // An id that is no number names no file.
        Some(fid) => (None, Some(fid.parse::<i64>().map_err(|_| not_found())?)),
    };
    let row = new_session_row(
        st,
        user,
        folder_id,
        file_id,
        name.clone(),
        size,
        part_size,
        &plan,
    );
    // The folder or file, the name, the open-session limit and the quota
    // are checked in the transaction that opens the session.
    let row = blocking(st, move |s| s.create_session(row))
        .await?
        .map_err(|r| refused(r, name.as_deref().unwrap_or("")))?;
    Counters::add(&st.counters.sessions_created, 1);
    Ok(json_response(201, &session_json(st, &row, 0)))
}

/// The part size and plan this server gives a file of `size` bytes, or
/// Box's refusal (too small for chunks, too many parts).
fn session_plan(st: &State, size: u64) -> Result<(u64, PartPlan), Fail> {
    check_min_size(size, st.cfg.min_file_size).map_err(|e| {
        fail(
            400,
            ErrorCode::FileSizeTooSmall,
            format!("File size is less than the minimum allowed for this API: {e}"),
        )
    })?;
    let part_size = st.cfg.part_size.unwrap_or_else(|| default_part_size(size));
    let plan = PartPlan::new(size, part_size)
        .map_err(|e| fail(500, ErrorCode::InternalServerError, e.to_string()))?;
    check_part_count(plan.total_parts()).map_err(|e| {
        fail(
            400,
            ErrorCode::InvalidFileSize,
            format!("File too large for this server's part size: {e}"),
        )
    })?;
    Ok((part_size, plan))
}

/// A session row for the store to open (it gives the id).
#[allow(clippy::too_many_arguments)]
pub(crate) fn new_session_row(
    st: &State,
    owner: &str,
    folder_id: Option<String>,
    file_id: Option<i64>,
    name: Option<String>,
    size: u64,
    part_size: u64,
    plan: &PartPlan,
) -> SessionRow {
    let lifetime = i64::try_from(st.cfg.session_lifetime.as_secs()).unwrap_or(i64::MAX);
    SessionRow {
        id: String::new(),
        owner: owner.to_owned(),
        folder_id,
        file_id,
        name,
        file_size: size,
        part_size,
        total_parts: plan.total_parts(),
        expires_at: now_unix().saturating_add(lifetime),
        state: SessionState::Open,
        committed_file_id: None,
        committed_sha1: None,
    }
}

pub(crate) async fn load_session(st: &State, user: &str, sid: &str) -> Result<SessionRow, Fail> {
    if !valid_session_id(sid) {
        return Err(fail(
            400,
            ErrorCode::InvalidUploadSessionId,
            "The upload session ID provided in the URL is not of a valid format.",
        ));
    }
    let id = sid.to_owned();
    let s = blocking(st, move |s| s.session(&id))
        .await?
        .ok_or_else(not_found)?;
    if s.owner != user {
        return Err(fail(
            403,
            ErrorCode::Forbidden,
            "Only the user who initiated the upload session may upload to it.",
        ));
    }
    Ok(s)
}

pub(crate) fn check_not_expired(s: &SessionRow) -> Result<(), Fail> {
    if s.state == SessionState::Open && s.expires_at <= now_unix() {
        return Err(fail(
            410,
            ErrorCode::SessionExpired,
            "The upload session has expired",
        ));
    }
    Ok(())
}

pub(crate) fn check_open(s: &SessionRow) -> Result<(), Fail> {
    check_not_expired(s)?;
    if s.state == SessionState::Committed {
        return Err(refused(Refusal::SessionClosed(true), ""));
    }
    Ok(())
}

pub(crate) async fn get_session(
    st: &Arc<State>,
    user: &str,
    sid: &str,
) -> Result<Response<Body>, Fail> {
    let s = load_session(st, user, sid).await?;
    check_not_expired(&s)?;
    let id = s.id.clone();
    let n = blocking(st, move |store| store.part_count(&id)).await?;
    Ok(json_response(200, &session_json(st, &s, n)))
}

pub(crate) async fn list_parts(
    st: &Arc<State>,
    user: &str,
    sid: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let s = load_session(st, user, sid).await?;
    check_not_expired(&s)?;
    let mut offset = 0u64;
    let mut limit = rules::MAX_LIST_PARTS_LIMIT;
    for (k, v) in form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()) {
        let n = || {
            v.parse::<u64>().map_err(|_| {
                fail(
                    400,
                    ErrorCode::BadRequest,
                    format!("{k} must be a non-negative integer"),
                )
            })
        };
        match &*k {
            "offset" => offset = n()?,
            "limit" => limit = n()?,
            _ => {}
        }
    }
    if offset > rules::MAX_LIST_PARTS_OFFSET {
        return Err(fail(
            400,
            ErrorCode::BadRequest,
            "offset must not exceed 10000",
        ));
    }
    if limit == 0 || limit > rules::MAX_LIST_PARTS_LIMIT {
        return Err(fail(
            400,
            ErrorCode::BadRequest,
            "limit must be between 1 and 1000",
        ));
    }
    let id = s.id.clone();
    let (rows, total) = blocking(st, move |store| {
        Ok((store.parts(&id, offset, limit)?, store.part_count(&id)?))
    })
    .await?;
    let page = UploadParts {
        entries: rows.iter().map(PartRow::to_wire).collect(),
        total_count: total,
        limit,
        offset,
        order: vec![box_chunked_proto::PageOrder {
            by: "type".into(),
            direction: "ASC".into(),
        }],
    };
    Ok(json_response(200, &page))
}

pub(crate) async fn abort(st: &Arc<State>, user: &str, sid: &str) -> Result<Response<Body>, Fail> {
    let s = load_session(st, user, sid).await?;
    if s.state == SessionState::Committed {
        // The file stays; deleting a committed session is a no-op, as on Box.
        return Ok(empty_response(204));
    }
    let id = s.id.clone();
    let deleted = blocking(st, move |store| {
        let deleted = store.delete_session(&id)?;
        if deleted {
            let dir = store.session_dir(&id);
            let _ = std::fs::remove_dir_all(&dir);
            if let Some(parent) = dir.parent() {
                let _ = fsync_dir(parent);
            }
        }
        Ok(deleted)
    })
    .await?;
    if !deleted {
        // A commit won the race: the file stays, and deleting a committed
        // session is a no-op, as on Box.
        return Ok(empty_response(204));
    }
    st.verifications
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&s.id);
    st.prefixes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&s.id);
    Counters::add(&st.counters.sessions_aborted, 1);
    Ok(empty_response(204))
}
