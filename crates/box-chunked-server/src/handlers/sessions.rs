//! Chunked upload sessions: create (new file and new version), get, list
//! parts, abort, and the background collection of expired sessions; the
//! session a request names, checked. Parts, commit and the plan have their
//! own modules.

use super::checks::refused;
use super::common::valid_name;
use super::common::{
    blocking, decode_body, empty_response, fail, internal, json_response, not_found, small_body,
    Body, Fail,
};
use super::repr::session_json;
use crate::store::{fsync_dir, PartRow, Refusal, SessionRow, SessionState, StoreError};
use crate::{Counters, State};
use box_chunked_proto::rules::{
    self as rules, check_min_size, check_part_count, default_part_size,
};
use box_chunked_proto::{CreateSessionFields, ErrorCode, PartPlan, UploadParts};
use http::{Request, Response};
use hyper::body::Incoming;
use std::sync::Arc;

pub(crate) fn valid_session_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
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
        .ok_or_else(|| fail(ErrorCode::MissingFileSize, "file_size is required"))?;
    let name = v.file_name;
    if let Some(n) = &name {
        valid_name(n)?;
    }
    if i64::try_from(size).is_err() {
        return Err(fail(
            ErrorCode::InvalidFileSize,
            "file_size must be below 2^63 bytes",
        ));
    }
    let (part_size, plan) = session_plan(st, size)?;
    let (folder_id, file_id) = match file_id {
        None => {
            let folder = v
                .folder_id
                .ok_or_else(|| fail(ErrorCode::MissingDestination, "folder_id is required"))?;
            if name.is_none() {
                return Err(fail(ErrorCode::MissingFileName, "file_name is required"));
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
            ErrorCode::FileSizeTooSmall,
            format!("File size is less than the minimum allowed for this API: {e}"),
        )
    })?;
    let part_size = st.cfg.part_size.unwrap_or_else(|| default_part_size(size));
    let plan = PartPlan::new(size, part_size).map_err(|e| {
        tracing::error!(error = %e, "a session's part plan");
        internal()
    })?;
    check_part_count(plan.total_parts()).map_err(|e| {
        fail(
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
        expires_at: st.now_unix().saturating_add(lifetime),
        state: SessionState::Open,
        committed_file_id: None,
        committed_sha1: None,
    }
}

pub(crate) async fn load_session(st: &State, user: &str, sid: &str) -> Result<SessionRow, Fail> {
    if !valid_session_id(sid) {
        return Err(fail(
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
            ErrorCode::Forbidden,
            "Only the user who initiated the upload session may upload to it.",
        ));
    }
    Ok(s)
}

pub(crate) fn check_not_expired(st: &State, s: &SessionRow) -> Result<(), Fail> {
    if s.state == SessionState::Open && s.expires_at <= st.now_unix() {
        return Err(fail(
            ErrorCode::SessionExpired,
            "The upload session has expired",
        ));
    }
    Ok(())
}

pub(crate) fn check_open(st: &State, s: &SessionRow) -> Result<(), Fail> {
    check_not_expired(st, s)?;
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
    check_not_expired(st, &s)?;
    let id = s.id.clone();
    let n = blocking(st, move |store| store.part_count(&id)).await?;
    Ok(json_response(200, &session_json(st, &s, n)))
}

pub(crate) async fn list_parts(
    st: &Arc<State>,
    user: &str,
    sid: &str,
    query: Option<&str>,
) -> Result<Response<Body>, Fail> {
    let s = load_session(st, user, sid).await?;
    check_not_expired(st, &s)?;
    let mut offset = 0u64;
    let mut limit = rules::MAX_LIST_PARTS_LIMIT;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let n = || {
            v.parse::<u64>().map_err(|_| {
                fail(
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
        return Err(fail(ErrorCode::BadRequest, "offset must not exceed 10000"));
    }
    if limit == 0 || limit > rules::MAX_LIST_PARTS_LIMIT {
        return Err(fail(
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

/// Every `every`, the sessions past their expiry are deleted with their
/// parts (their reservations go with them), and the trash's items past the
/// retention are purged.
pub(crate) async fn collect_expired(state: Arc<State>) {
    let mut tick = tokio::time::interval(state.cfg.collect_every);
    loop {
        tick.tick().await;
        let now = state.now_unix();
        let store = state.store.clone();
        let done =
            tokio::task::spawn_blocking(move || -> Result<(u64, Vec<String>), StoreError> {
                let mut n = 0;
                let mut expired = Vec::new();
                for id in store.expired_sessions(now)? {
                    if store.delete_session(&id)? {
                        let _ = std::fs::remove_dir_all(store.session_dir(&id));
                        n += 1;
                    }
                    expired.push(id);
                }
                Ok((n, expired))
            })
            .await;
        if let Ok(Ok((_, ids))) = &done {
            let mut prefixes = state
                .prefixes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for id in ids {
                prefixes.remove(id);
            }
        }
        if let Err(e) = super::trash::purge_expired(&state).await {
            tracing::warn!(error = %e, "purging the trash failed");
        }
        match done {
            Ok(Ok((n, _))) if n > 0 => {
                Counters::add(&state.counters.sessions_expired, n);
                tracing::info!(sessions = n, "collected expired sessions");
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "collecting expired sessions failed"),
            _ => {}
        }
    }
}
