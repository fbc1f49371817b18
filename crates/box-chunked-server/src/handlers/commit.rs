//! Commit: the listed parts against the stored ones, preconditions, the
//! whole-file SHA-1 (from the hashed prefix, `202` while it is not ready),
//! and the new file or version in one transaction.

use super::checks::{check_if_match, conflict_error, if_match, refused};
use super::common::{
    blocking, decode_body, empty_response, fail, header, internal, json_response, not_found,
    small_body, Body, Fail,
};
use super::prefix::start_verification;
use super::repr::file_json;
use super::sessions::{check_not_expired, load_session};
use crate::faults::FaultAction;
use crate::store::{NewVersion, PartRow, Refusal, SessionRow, SessionState};
use crate::{Counters, State};
use box_chunked_proto::{
    CommitAttributes, CommitFields, CommitPartFields, DigestHeader, ErrorCode, Sha1Digest,
};
use http::{HeaderMap, HeaderValue, Request, Response};
use hyper::body::Incoming;
use serde_json::json;
use std::sync::Arc;

pub(crate) async fn commit(
    st: &Arc<State>,
    user: &str,
    sid: &str,
    req: Request<Incoming>,
    fault: Option<&FaultAction>,
) -> Result<Response<Body>, Fail> {
    let s = load_session(st, user, sid).await?;
    let headers = req.headers().clone();
    let digest = header(&headers, "digest")
        .ok_or_else(|| fail(ErrorCode::BadDigest, "Digest is required"))
        .and_then(|v| {
            DigestHeader::parse_sha1(v)
                .map_err(|e| fail(ErrorCode::BadDigest, format!("Invalid Digest: {e}")))
        })?;
    let body = small_body(st, req, 16 << 20).await?;
    let v: CommitFields = decode_body(&body, |_| ErrorCode::BadRequest)?;
    Counters::add(&st.counters.commits, 1);
    if s.state == SessionState::Committed {
        return repeated_commit(st, user, &s, digest).await;
    }
    match commit_open(st, user, &s, &headers, digest, v, fault).await {
        Ok(r) => Ok(r),
        // Another commit, an abort or the expiry may have won meanwhile
        // (they are exclusive in the store): answer as after the winner.
        Err(e) => match load_session(st, user, sid).await? {
            fresh if fresh.state == SessionState::Committed => {
                repeated_commit(st, user, &fresh, digest).await
            }
            _ => Err(e),
        },
    }
}

/// The commit of a session that was open when it was loaded.
async fn commit_open(
    st: &Arc<State>,
    user: &str,
    s: &SessionRow,
    headers: &HeaderMap,
    digest: Sha1Digest,
    v: CommitFields,
    fault: Option<&FaultAction>,
) -> Result<Response<Body>, Fail> {
    check_not_expired(st, s)?;
    match fault {
        Some(FaultAction::Accepted(ra)) => {
            Counters::add(&st.counters.commits_pending, 1);
            let mut r = empty_response(202);
            if let Some(secs) = ra {
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from(*secs));
            }
            return Ok(r);
        }
        Some(FaultAction::PartsMismatch) => {
            return Err(fail(
                ErrorCode::PartsMismatch,
                "No matching part found on server",
            ));
        }
        _ => {}
    }
    let stored = check_commit_parts(st, s, &v).await?;
    check_preconditions(st, user, s, headers).await?;
    let Some(actual) = verified_digest(st, s, stored, digest).await? else {
        Counters::add(&st.counters.commits_pending, 1);
        let mut r = empty_response(202);
        let secs = (s.file_size / 500_000_000).clamp(1, 30);
        r.headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
        return Ok(r);
    };
    if actual != digest {
        return Err(digest_mismatch(Some(actual), digest));
    }
    write_commit(st, user, s, actual, v.attributes, if_match(headers)).await
}

/// A commit of a session committed already: the same file when the digest
/// is the same, `digest_mismatch` otherwise.
async fn repeated_commit(
    st: &Arc<State>,
    user: &str,
    s: &SessionRow,
    digest: Sha1Digest,
) -> Result<Response<Body>, Fail> {
    if s.committed_sha1.as_deref() == Some(digest.to_hex().as_str()) {
        let fid = s.committed_file_id.unwrap_or(0).to_string();
        let owner = user.to_owned();
        let file = blocking(st, move |store| store.file(&owner, &fid))
            .await?
            .ok_or_else(not_found)?;
        return Ok(json_response(
            201,
            &json!({"total_count": 1, "entries": [file_json(st, &file).await?]}),
        ));
    }
    Err(digest_mismatch(
        s.committed_sha1
            .as_deref()
            .and_then(|h| Sha1Digest::from_hex(h).ok()),
        digest,
    ))
}

/// The parts listed must be exactly the parts stored, by offset: the stored
/// parts, or `parts_mismatch`.
async fn check_commit_parts(
    st: &Arc<State>,
    s: &SessionRow,
    v: &CommitFields,
) -> Result<Vec<PartRow>, Fail> {
    let listed = v.parts.as_deref().ok_or_else(|| {
        fail(
            ErrorCode::BadRequest,
            "parts is required and must be a list",
        )
    })?;
    let id = s.id.clone();
    let total = s.total_parts;
    let stored = blocking(st, move |store| store.parts(&id, 0, total.max(1))).await?;
    check_parts(listed, &stored, s.total_parts)?;
    check_sha512(st, s, listed, &stored).await?;
    Ok(stored)
}

/// A commit lists `sha512` on every part or on none (Box refuses a mix);
/// when it does, each must be the stored part's (computed on demand).
async fn check_sha512(
    st: &Arc<State>,
    s: &SessionRow,
    listed: &[CommitPartFields],
    stored: &[PartRow],
) -> Result<(), Fail> {
    let with = listed.iter().filter(|p| p.sha512.is_some()).count();
    if with == 0 {
        return Ok(());
    }
    if with != listed.len() {
        return Err(fail(
            ErrorCode::BadRequest,
            "Include sha512 on every listed part or on none of them",
        ));
    }
    let (id, stored) = (s.id.clone(), stored.to_vec());
    let actual = blocking(st, move |store| {
        stored
            .iter()
            .map(|p| store.part_sha512(&id, p))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    for (p, a) in listed.iter().zip(actual) {
        if p.sha512 != Some(a) {
            return Err(fail(ErrorCode::PartsMismatch,
                format!(
                    "No matching part found on server for the part at offset {}: its sha512 differs",
                    p.offset.unwrap_or(0)
                ),
            ));
        }
    }
    Ok(())
}

/// `If-Match` on versions; the name still free for new files. These
/// answer early, before the whole-file check; the commit's transaction
/// checks them again with everything else.
async fn check_preconditions(
    st: &Arc<State>,
    user: &str,
    s: &SessionRow,
    headers: &HeaderMap,
) -> Result<(), Fail> {
    if let Some(file_id) = s.file_id {
        let (o, f) = (user.to_owned(), file_id.to_string());
        let file = blocking(st, move |store| store.file(&o, &f))
            .await?
            .ok_or_else(not_found)?;
        check_if_match(headers, file.etag)?;
    } else if let (Some(folder), Some(name)) = (s.folder_id.clone(), s.name.clone()) {
        let o = user.to_owned();
        let n = name.clone();
        if let Some((kind, id)) =
            blocking(st, move |store| store.item_named(&o, &folder, &n)).await?
        {
            return Err(conflict_error(kind, id, &name));
        }
    }
    Ok(())
}

/// The whole file's SHA-1 from the hashed prefix, or `None` when it is not
/// ready within the server's commit wait (the caller answers `202`). The
/// verify-only benchmark mode keeps no bytes: it takes the digest as sent.
async fn verified_digest(
    st: &Arc<State>,
    s: &SessionRow,
    stored: Vec<PartRow>,
    sent: Sha1Digest,
) -> Result<Option<Sha1Digest>, Fail> {
    let mut rx = if st.cfg.verify_only {
        tokio::sync::watch::channel(Some(Ok(sent))).1
    } else {
        start_verification(st, s, stored)
    };
    let waited = tokio::time::timeout(st.cfg.commit_wait, rx.wait_for(Option::is_some))
        .await
        .map(|r| r.map(|v| v.clone()));
    let result = match waited {
        Err(_) => return Ok(None),
        Ok(Err(_)) => return Err(fail(ErrorCode::InternalServerError, "verification stopped")),
        Ok(Ok(v)) => v,
    };
    st.verifications
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&s.id);
    match result {
        Some(Ok(sha)) => Ok(Some(sha)),
        Some(Err(e)) => {
            tracing::error!(error = %e, "verification failed");
            Err(internal())
        }
        None => Err(internal()),
    }
}

/// The new file or version, in one transaction that checks again that its
/// folder or file is there and the user's (with `if_match`, at that etag),
/// that the name is free and that the quota holds; Box's answer with it.
async fn write_commit(
    st: &Arc<State>,
    user: &str,
    s: &SessionRow,
    sha1: Sha1Digest,
    attributes: Option<CommitAttributes>,
    if_match: Option<i64>,
) -> Result<Response<Body>, Fail> {
    let attrs = attributes.unwrap_or_default();
    // The chain after each part, kept so that a later version's plan can
    // resume the hash there (the prefix has them all once verified).
    let prefix = st
        .prefixes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&s.id)
        .cloned();
    let chain = match prefix {
        Some((lock, _)) => lock.lock().await.chain_of_whole(s.total_parts),
        None => Vec::new(),
    };
    let nv = NewVersion {
        sha1,
        description: attrs.description,
        content_created_at: attrs.content_created_at.map(|t| t.as_str().to_owned()),
        content_modified_at: attrs.content_modified_at.map(|t| t.as_str().to_owned()),
        now: st.now_unix(),
        if_match,
        chain,
    };
    let row = s.clone();
    let file = match blocking(st, move |store| store.commit(&row, &nv)).await? {
        Ok(file) => file,
        // Another commit won: answer as after it.
        Err(Refusal::SessionClosed(true)) => {
            let s = load_session(st, user, &s.id).await?;
            return repeated_commit(st, user, &s, sha1).await;
        }
        Err(r) => return Err(refused(r, s.name.as_deref().unwrap_or(""))),
    };
    st.prefixes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&s.id);
    Counters::add(&st.counters.files_committed, 1);
    Ok(json_response(
        201,
        &json!({"total_count": 1, "entries": [file_json(st, &file).await?]}),
    ))
}

pub(crate) fn digest_mismatch(actual: Option<Sha1Digest>, sent: Sha1Digest) -> Fail {
    let actual = actual.map_or_else(|| "unknown".to_owned(), |a| a.to_base64());
    fail(
        ErrorCode::DigestMismatch,
        format!(
            "File digest was incorrect. Actual: {actual} Expected: {}",
            sent.to_base64()
        ),
    )
}

pub(crate) fn check_parts(
    listed: &[CommitPartFields],
    stored: &[PartRow],
    total_parts: u64,
) -> Result<(), Fail> {
    let mismatch = |p: &CommitPartFields| {
        fail(
            ErrorCode::PartsMismatch,
            format!(
                "No matching part found on server for {}",
                serde_json::to_string(p).unwrap_or_default()
            ),
        )
    };
    for (i, p) in listed.iter().enumerate() {
        let Some(s) = stored.get(i) else {
            return Err(mismatch(p));
        };
        let ok = p.offset == Some(s.offset)
            && p.size == Some(s.size)
            && p.part_id
                .as_deref()
                .is_none_or(|id| id.is_empty() || id == s.part_id)
            && p.sha1.is_none_or(|h| h == s.sha1);
        if !ok {
            return Err(mismatch(p));
        }
    }
    if listed.len() != stored.len() || (stored.len() as u64) != total_parts {
        return Err(fail(
            ErrorCode::PartsMismatch,
            format!(
                "Parts mismatch: the commit lists {} parts, the server stores {} of {}",
                listed.len(),
                stored.len(),
                total_parts
            ),
        ));
    }
    Ok(())
}
