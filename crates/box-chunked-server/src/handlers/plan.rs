//! The upload session plan (`POST .../plan`): which of a new version's
//! parts the server already has. A hit is a part of the file's current
//! version with the same offset, size and SHA-512 that also lies on the new
//! session's part grid; it is recorded in the session at once (its blob
//! hard-linked, no byte copied), so listing, the hashed prefix and the
//! commit treat it like an uploaded part. Everything else is a miss. Parts'
//! SHA-512 are computed when a plan first asks for them, never on ingest.
//! The new version's first parts that are hits are not hashed for its
//! whole-file SHA-1: it starts from the chain the current version kept
//! after them (`kept.rs`), however many plan requests they came in.

use super::checks::refused;
use super::common::{blocking, decode_body, fail, internal, json_response, small_body, Body, Fail};
use super::kept::Base;
use super::prefix::{advance_prefix_from, prefix_of, seed_prefix};
use super::sessions::{check_open, load_session};
use crate::store::{InsertPart, PartRow, Refusal, SessionRow};
use crate::{Counters, State};
use box_chunked_proto::rules::MAX_PARTS;
use box_chunked_proto::{ErrorCode, PartPlan, PlanHit, PlanRequest, PlanResponse, PlannedPart};
use http::{Request, Response};
use hyper::body::Incoming;
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) async fn plan(
    st: &Arc<State>,
    user: &str,
    sid: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let s = load_session(st, user, sid).await?;
    check_open(st, &s)?;
    let body = small_body(st, req, 8 << 20).await?;
    let v: PlanRequest = decode_body(&body, |_| ErrorCode::BadRequest)?;
    if v.parts.is_empty() || v.parts.len() as u64 > MAX_PARTS {
        return Err(fail(
            ErrorCode::BadRequest,
            format!("parts must list between 1 and {MAX_PARTS} parts"),
        ));
    }
    let grid = PartPlan::new(s.file_size, s.part_size).map_err(|e| {
        tracing::error!(error = %e, "a session's part plan");
        internal()
    })?;
    let (owner, session) = (user.to_owned(), s.clone());
    // The current version is loaded once per session, not per request.
    let need_base = prefix_of(st, &s.id)
        .0
        .try_lock()
        .map_or(true, |p| p.base.is_none());
    let outcome = blocking(st, move |store| {
        plan_in_store(store, &owner, &session, &grid, v, need_base)
    })
    .await?;
    let (answer, base) = outcome.map_err(|r| refused(r, ""))?;
    // Before the answer, so that a miss sent right after it finds the
    // prefix at its door.
    let base = base.map(Arc::new);
    seed_prefix(st, &s.id, base.clone()).await;
    Counters::add(&st.counters.plan_hits, answer.hits.len() as u64);
    Counters::add(&st.counters.plan_misses, answer.misses.len() as u64);
    if !answer.hits.is_empty() {
        let (st2, sid) = (st.clone(), s.id.clone());
        tokio::spawn(async move {
            let _ = advance_prefix_from(&st2, &sid, base).await;
        });
    }
    Ok(json_response(200, &answer))
}

/// A plan's answer and the current version its hits came from.
type Answer = (PlanResponse, Option<Base>);

/// A plan's answer, worked out in the store: every part a hit (recorded in
/// the session) or a miss, and the current version (with its kept chain)
/// when there were hits; or why the session refused it.
fn plan_in_store(
    store: &crate::store::Store,
    owner: &str,
    session: &SessionRow,
    grid: &PartPlan,
    v: PlanRequest,
    need_base: bool,
) -> Result<Result<Answer, Refusal>, crate::StoreError> {
    // The current version's parts, by offset (none for a new file).
    let previous = match session.file_id {
        Some(fid) => match store.file(owner, &fid.to_string())? {
            Some(f) => {
                let parts = store.parts(&f.session_id, 0, MAX_PARTS)?;
                let by_offset: HashMap<(u64, u64), PartRow> =
                    parts.into_iter().map(|p| ((p.offset, p.size), p)).collect();
                let asked: Vec<&PartRow> = v
                    .parts
                    .iter()
                    .filter_map(|p| by_offset.get(&(p.offset, p.size)))
                    .collect();
                store.keep_sha512s(&f.session_id, &asked)?;
                Some((f.session_id, by_offset))
            }
            None => None,
        },
        None => None,
    };
    let mut answer = PlanResponse {
        upload_session_id: session.id.clone(),
        hits: Vec::new(),
        misses: Vec::new(),
    };
    for p in v.parts {
        match plan_part(store, session, grid, previous.as_ref(), &p)? {
            Planned::Hit(part_id) => {
                answer.hits.push(PlanHit {
                    offset: p.offset,
                    size: p.size,
                    sha512: p.sha512,
                    part_id,
                });
            }
            Planned::Miss => answer.misses.push(p),
            Planned::Refused(r) => return Ok(Err(r)),
        }
    }
    let base = match &previous {
        Some((old_sid, by_offset)) if need_base && !answer.hits.is_empty() => {
            Base::load(store, old_sid, by_offset)?
        }
        _ => None,
    };
    Ok(Ok((answer, base)))
}

/// What the plan says of one part.
enum Planned {
    /// The session has it now, under this part id.
    Hit(String),
    Miss,
    /// The session closed or expired meanwhile.
    Refused(Refusal),
}

type Previous = (String, HashMap<(u64, u64), PartRow>);

fn plan_part(
    store: &crate::store::Store,
    s: &SessionRow,
    grid: &PartPlan,
    previous: Option<&Previous>,
    p: &PlannedPart,
) -> Result<Planned, crate::StoreError> {
    // Only a part on this session's grid can be one of its parts.
    let index = p.offset / s.part_size.max(1);
    let Some(slot) = grid.part(index) else {
        return Ok(Planned::Miss);
    };
    if slot.offset != p.offset || slot.len != p.size {
        return Ok(Planned::Miss);
    }
    // Already in this session (uploaded, or a hit of an earlier plan).
    if let Some(existing) = store.part(&s.id, index)? {
        let same = store.part_sha512(&s.id, &existing)? == p.sha512;
        return Ok(if same {
            Planned::Hit(existing.part_id)
        } else {
            Planned::Miss
        });
    }
    let Some((old_sid, by_offset)) = previous else {
        return Ok(Planned::Miss);
    };
    let Some(old) = by_offset.get(&(p.offset, p.size)) else {
        return Ok(Planned::Miss);
    };
    if store.part_sha512(old_sid, old)? != p.sha512 {
        return Ok(Planned::Miss);
    }
    let row = PartRow {
        index,
        offset: p.offset,
        size: p.size,
        part_id: String::new(),
        sha1: old.sha1,
    };
    match store.record_hit(old_sid, old, &s.id, row, p.sha512)? {
        (InsertPart::Inserted, part_id) => Ok(Planned::Hit(part_id)),
        // Uploaded meanwhile: a hit if it is the same content.
        (InsertPart::Conflict(existing), _) => {
            let same = store.part_sha512(&s.id, &existing)? == p.sha512;
            Ok(if same {
                Planned::Hit(existing.part_id)
            } else {
                Planned::Miss
            })
        }
        (InsertPart::Refused(r), _) => Ok(Planned::Refused(r)),
    }
}
