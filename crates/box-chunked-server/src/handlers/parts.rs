//! Receiving a part: validation against the session's plan, the body
//! streamed to a temporary file in batches while it is hashed (into the
//! hashed prefix when it continues it), fsync, rename and the row. The prefix
//! itself is in `prefix`.

use super::body::{receive_body, BodyFault, PartHasher};
use super::checks::refused;
use super::common::{blocking, fail, header, internal, json_response, random_hex, Body, Fail};
use super::prefix::{advance_prefix, prefix_of, prefix_patience, wait_for_prefix, PrefixHandle};
use super::sessions::{check_open, load_session};
use crate::store::{io_err, persist_new, InsertPart, PartRow, SessionRow};
use crate::{Counters, State};
use box_chunked_proto::{
    ContentRange, DigestHeader, ErrorCode, PartPlan, PartRange, Sha1Digest, UploadedPart,
};
use http::{HeaderMap, Request, Response};
use hyper::body::Incoming;
use serde_json::json;
use sha1::{Digest as _, Sha1};
use std::sync::Arc;

pub(crate) async fn upload_part(
    st: &Arc<State>,
    user: &str,
    sid: &str,
    req: Request<Incoming>,
    fault: BodyFault,
) -> Result<Response<Body>, Fail> {
    let s = load_session(st, user, sid).await?;
    check_open(st, &s)?;
    let (part, digest) = check_part_headers(req.headers(), req.version(), &s)?;
    let (id, index) = (s.id.clone(), part.index);
    if let Some(existing) = blocking(st, move |store| store.part(&id, index)).await? {
        return Err(overlap(st, &existing));
    }
    if st.cfg.verify_only {
        return verify_only_part(st, &s, req.into_body(), part, digest, fault).await;
    }
    let received = receive_to_file(st, &s, req.into_body(), part, digest, fault).await?;
    store_part(st, &s, part, received).await
}

/// The part a request's headers describe, checked against the session's
/// plan, and the SHA-1 its `Digest` promises.
fn check_part_headers(
    headers: &HeaderMap,
    version: http::Version,
    s: &SessionRow,
) -> Result<(PartRange, Sha1Digest), Fail> {
    // A streamed body (`Transfer-Encoding: chunked`, or HTTP/2's frames)
    // may come without `Content-Length`: its length is checked against the
    // range while it arrives (`receive_body`).
    let streamed = header(headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        || version == http::Version::HTTP_2;
    let declared = match header(headers, "content-length") {
        Some(v) => Some(
            v.trim()
                .parse::<u64>()
                .map_err(|_| fail(ErrorCode::BadRequest, "Content-Length is not a number"))?,
        ),
        None if streamed => None,
        None => {
            return Err(fail(
                ErrorCode::LengthRequired,
                "Content-Length (or a chunked body) is required",
            ))
        }
    };
    let range = header(headers, "content-range")
        .ok_or_else(|| fail(ErrorCode::BadRequest, "Content-Range is required"))
        .and_then(|v| {
            ContentRange::parse(v)
                .map_err(|e| fail(ErrorCode::BadRequest, format!("Invalid Content-Range: {e}")))
        })?;
    let digest = header(headers, "digest")
        .ok_or_else(|| fail(ErrorCode::BadDigest, "Digest is required"))
        .and_then(|v| {
            DigestHeader::parse_sha1(v)
                .map_err(|e| fail(ErrorCode::BadDigest, format!("Invalid Digest: {e}")))
        })?;
    let plan = PartPlan::new(s.file_size, s.part_size).map_err(|e| {
        tracing::error!(error = %e, "a session's part plan");
        internal()
    })?;
    let part = plan.validate_content_range(&range).map_err(|e| {
        fail(
            ErrorCode::RequestedRangeNotSatisfiable,
            format!("Content-Range does not fit the session: {e}"),
        )
    })?;
    let Some(declared) = declared else {
        return Ok((part, digest));
    };
    if declared > part.len {
        return Err(fail(
            ErrorCode::RequestEntityTooLarge,
            format!(
                "The body ({declared} bytes) is longer than the part ({} bytes)",
                part.len
            ),
        ));
    }
    if declared < part.len {
        return Err(fail(
            ErrorCode::BadRequest,
            format!(
                "Content-Length {declared} does not match Content-Range ({} bytes)",
                part.len
            ),
        ));
    }
    Ok((part, digest))
}

/// A part's body, received into a temporary file whose SHA-1 matched.
struct Received {
    file: std::fs::File,
    tmp: std::path::PathBuf,
    sha1: Sha1Digest,
    /// The prefix took this part in (its generation then), before it is stored.
    tentative: Option<u64>,
    prefix: PrefixHandle,
}

/// Streams the body to a temporary file, hashing as it goes.
///
/// When every earlier part is already in the file's hashed prefix, this part
/// is hashed into the file's SHA-1 too, in the same pass as its own digest,
/// instead of being read back later. The prefix stays locked while the part
/// arrives (background hashing could not pass it anyway) and takes the part
/// in as soon as its digest checks out; should storing it then fail, the
/// prefix is dropped and rebuilt from the stored parts ([`store_part`]). If
/// the prefix is a few parts short (they are arriving or being hashed right
/// now), the part waits a little for it rather than be hashed twice.
async fn receive_to_file(
    st: &Arc<State>,
    s: &SessionRow,
    body: Incoming,
    part: PartRange,
    digest: Sha1Digest,
    fault: BodyFault,
) -> Result<Received, Fail> {
    let tmp = st
        .store
        .tmp_dir()
        .join(format!("{}-{}", s.id, random_hex(8, false)));
    let t = tmp.clone();
    let file = tokio::task::spawn_blocking(move || std::fs::File::create(&t))
        .await
        .map_err(|_| internal())?
        .map_err(|e| Fail::from(io_err("creating", &tmp)(e)))?;
    let (lock, next) = prefix_of(st, &s.id);
    let mut prefix = wait_for_prefix(&lock, &next, part.index, prefix_patience(s.part_size))
        .await
        .filter(|p| p.next == part.index && p.hasher.at_block_boundary());
    let hasher = match prefix.as_ref() {
        Some(p) => {
            let mut d = p.hasher.clone();
            let _ = d.finish_part(); // a fresh part chain
            PartHasher::Dual(d)
        }
        None => PartHasher::Single(Sha1::new()),
    };
    let received = receive_body(st, body, Some(file), part.len, fault, hasher)
        .await
        .and_then(|(f, h)| f.map(|f| (f, h.finish())).ok_or_else(internal));
    let (file, (sha, file_chain)) = match received {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if sha != digest {
        let _ = std::fs::remove_file(&tmp);
        drop(file);
        return Err(fail(
            ErrorCode::PreconditionFailed,
            format!(
                "The Digest header ({}) does not match the part's SHA-1 ({})",
                digest.to_base64(),
                sha.to_base64()
            ),
        ));
    }
    let mut tentative = None;
    if let (Some(mut p), Some(chain)) = (prefix.take(), file_chain) {
        p.took(chain);
        next.send_replace(p.next);
        tentative = Some(p.generation);
    }
    Ok(Received {
        file,
        tmp,
        sha1: sha,
        tentative,
        prefix: (lock, next),
    })
}

/// Makes a received part durable (fsync, a new part id, rename, row) and
/// answers with it; a prefix that took it in is rebuilt if it could not be
/// stored.
async fn store_part(
    st: &Arc<State>,
    s: &SessionRow,
    part: PartRange,
    r: Received,
) -> Result<Response<Body>, Fail> {
    let mut row = PartRow {
        index: part.index,
        offset: part.offset,
        size: part.len,
        part_id: String::new(),
        sha1: r.sha1,
    };
    let (sid2, file, tmp) = (s.id.clone(), r.file, r.tmp);
    let inserted = blocking(st, move |store| {
        let stored = (|| {
            file.sync_all().map_err(io_err("syncing", &tmp))?;
            drop(file);
            // Part ids are never handed out twice, so no blob is replaced;
            // `persist_new` makes sure of it all the same.
            loop {
                row.part_id = store.new_part_id()?;
                let dest = store.blob_path(&sid2, &row.part_id);
                if persist_new(&tmp, &dest)? {
                    return Ok(dest);
                }
            }
        })();
        let dest = match stored {
            Ok(dest) => dest,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let r = store.insert_part(&sid2, &row);
        if !matches!(r, Ok(InsertPart::Inserted)) {
            let _ = std::fs::remove_file(&dest);
        }
        if matches!(r, Ok(InsertPart::Refused(_))) {
            // Aborted or expired while the part arrived: leave no trace (the
            // directory goes too unless the session's file still needs it).
            let _ = std::fs::remove_dir(store.session_dir(&sid2));
        }
        r.map(|r| (r, row))
    })
    .await;
    if let Some(generation) = r.tentative {
        if matches!(inserted, Ok((InsertPart::Inserted, _))) {
            Counters::add(&st.counters.parts_hashed_in_one_pass, 1);
        } else {
            // The prefix took in bytes that are not stored: rebuild it.
            let (lock, next) = &r.prefix;
            let mut p = lock.lock().await;
            if p.generation == generation {
                *p = p.rebuilt();
                next.send_replace(0);
            }
        }
    }
    let (inserted, row) = inserted?;
    if matches!(inserted, InsertPart::Inserted) {
        // Hash the rest of the file's prefix in the background while the
        // bytes are still in the page cache, so a commit waits only for the
        // tail.
        let (st2, sid) = (st.clone(), s.id.clone());
        tokio::spawn(async move {
            let _ = advance_prefix(&st2, &sid).await;
        });
    }
    part_answer(st, &row, inserted)
}

/// The answer to a part, by what recording it did: the stored part, the
/// overlap, or the closed session.
fn part_answer(st: &State, row: &PartRow, inserted: InsertPart) -> Result<Response<Body>, Fail> {
    match inserted {
        InsertPart::Inserted => {
            Counters::add(&st.counters.parts_stored, 1);
            Ok(json_response(
                200,
                &UploadedPart {
                    part: row.to_wire(),
                },
            ))
        }
        InsertPart::Conflict(existing) => Err(overlap(st, &existing)),
        InsertPart::Refused(r) => Err(refused(r, "")),
    }
}

/// The verify-only benchmark mode: hash the body, check it, record the part, keep no bytes.
pub(crate) async fn verify_only_part(
    st: &Arc<State>,
    s: &SessionRow,
    body: Incoming,
    part: box_chunked_proto::PartRange,
    digest: Sha1Digest,
    fault: BodyFault,
) -> Result<Response<Body>, Fail> {
    let (_, hasher) = receive_body(
        st,
        body,
        None,
        part.len,
        fault,
        PartHasher::Single(Sha1::new()),
    )
    .await?;
    let (sha, _) = hasher.finish();
    if sha != digest {
        return Err(fail(
            ErrorCode::PreconditionFailed,
            "The Digest header does not match the part's SHA-1",
        ));
    }
    let mut row = PartRow {
        index: part.index,
        offset: part.offset,
        size: part.len,
        part_id: String::new(),
        sha1: sha,
    };
    let sid = s.id.clone();
    let (inserted, row) = blocking(st, move |store| {
        row.part_id = store.new_part_id()?;
        Ok((store.insert_part(&sid, &row)?, row))
    })
    .await?;
    part_answer(st, &row, inserted)
}

pub(crate) fn overlap(st: &State, existing: &PartRow) -> Fail {
    Counters::add(&st.counters.parts_rejected_overlap, 1);
    let p = existing.to_wire();
    let message = format!(
        "Part overlaps with previously uploaded part: {{id: \"{}\", \"offset\": {}, \"size\": {}}}",
        p.part_id, p.offset, p.size
    );
    fail(ErrorCode::RangeOverlapsExistingPart, message)
        .with_context(json!({ "conflicting_part": p }))
}
