//! The upload session plan: the request that tells a server which parts
//! of a new version it may already have (by offset, size and SHA-512), and
//! what its answer means (the hits it recorded, the misses to send).

use crate::io::RequestKind;
use crate::ops::{built, json_post, Reply, Verdict};
use box_chunked_proto::{encode_json, PlanRequest, PlanResponse, PlannedPart};
use bytes::Bytes;

/// Parts per plan request (Box takes at least one; batches keep each
/// request and answer small).
pub const PLAN_BATCH: usize = 1000;

/// `POST` of an upload session plan to the session's `plan` URL.
pub fn plan(url: String, parts: Vec<PlannedPart>) -> Result<http::Request<Bytes>, String> {
    built(
        json_post(url),
        Bytes::from(encode_json(&PlanRequest { parts })),
    )
}

/// The answer to a plan: the hits (recorded in the session) and misses.
pub fn plan_reply(reply: &Reply) -> Verdict<PlanResponse> {
    let kind = RequestKind::Plan;
    match reply.class(kind) {
        None => match reply.decode(kind) {
            Ok(p) => Verdict::Success(p),
            Err(e) => Verdict::Fail(e),
        },
        Some(class) => Verdict::refused(class, reply, kind),
    }
}
