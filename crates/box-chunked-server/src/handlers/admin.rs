//! The server's own routes (`/__box-chunked/*`): counters, fault rules (set
//! and shown), the request journal (filtered, or cleared), a reset of one
//! user's data or everyone's,
//! the open upload sessions (all, or `?owner=USER`'s), which Box has no
//! route to list, and the server's clock (`POST` moves it ahead, so tests
//! see sessions and tokens expire without waiting).

use super::common::{
    blocking, empty_response, fail, json_response, not_found, small_body, Body, Fail,
};
use crate::faults::FaultSpec;
use crate::store::{Store, StoreError};
use crate::State;
use box_chunked_proto::ErrorCode;
use http::{Request, Response};
use hyper::body::Incoming;
use std::sync::Arc;

pub(crate) async fn admin(
    st: &Arc<State>,
    rest: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    match (req.method().as_str(), rest) {
        ("GET", "counters") => Ok(json_response(200, &st.counters.snapshot())),
        ("GET", "clock") => Ok(json_response(200, &clock_json(st))),
        ("POST", "clock") => {
            let body = small_body(st, req, 1024).await?;
            let v: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| fail(ErrorCode::BadRequest, format!("Invalid JSON body: {e}")))?;
            let secs = v["advance_secs"]
                .as_i64()
                .filter(|s| *s >= 0)
                .ok_or_else(|| {
                    fail(
                        ErrorCode::BadRequest,
                        "advance_secs is required: the seconds (0 or more) to move the clock ahead by",
                    )
                })?;
            st.clock.advance(secs);
            Ok(json_response(200, &clock_json(st)))
        }
        ("GET", "sessions") => {
            let owner = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .find(|(k, _)| k == "owner")
                .map(|(_, v)| v.into_owned());
            let open = blocking(st, move |s| s.open_sessions(owner.as_deref())).await?;
            Ok(json_response(200, &serde_json::json!({ "entries": open })))
        }
        ("GET", "faults") => Ok(json_response(200, &st.faults.snapshot())),
        ("GET", "requests") => {
            let f = journal_filter(req.uri().query().unwrap_or(""))?;
            let entries = st.journal.select(&f);
            Ok(json_response(
                200,
                &serde_json::json!({ "entries": entries }),
            ))
        }
        ("POST", "reset") => {
            let body = small_body(st, req, 4096).await?;
            let user = if body.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                let v: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| fail(ErrorCode::BadRequest, format!("Invalid JSON body: {e}")))?;
                Some(
                    v["user"]
                        .as_str()
                        .ok_or_else(|| {
                            fail(ErrorCode::BadRequest, "user is required in a body: the user whose data goes, or no body for everyone's")
                        })?
                        .to_owned(),
                )
            };
            Ok(json_response(200, &reset(st, user).await?))
        }
        ("DELETE", "requests") => {
            st.journal.clear();
            Ok(empty_response(204))
        }
        ("PUT", "faults") => {
            let body = small_body(st, req, 64 * 1024).await?;
            let text = String::from_utf8_lossy(&body);
            let spec =
                FaultSpec::parse(&text).map_err(|e| fail(ErrorCode::BadRequest, e.to_string()))?;
            st.faults.set(spec);
            Ok(empty_response(204))
        }
        _ => Err(not_found()),
    }
}

impl Store {
    /// Moves a session's expiry to now (fault injection).
    pub(crate) fn expire_now(&self, id: &str) -> Result<(), StoreError> {
        self.set_expiry(id, self.now_unix())
    }
}

/// Removes `user`'s data, or everyone's: the store's rows and blobs, and
/// what the server keeps in memory about them (download URLs, the hashes
/// of open sessions; all of the journal for everyone's).
async fn reset(st: &Arc<State>, user: Option<String>) -> Result<serde_json::Value, Fail> {
    let u = user.clone();
    let sessions = blocking(st, move |s| s.reset(u.as_deref())).await?;
    let gone: std::collections::HashSet<&String> = sessions.iter().collect();
    st.prefixes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .retain(|sid, _| !gone.contains(sid));
    st.downloads
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .retain(|_, g| user.as_deref().is_some_and(|u| g.user() != u));
    if user.is_none() {
        st.journal.clear();
    }
    Ok(serde_json::json!({ "user": user, "sessions_removed": sessions.len() }))
}

/// The journal's filter from a query: `user`, `path_prefix`, `since` (Unix
/// milliseconds) and `limit`.
fn journal_filter(query: &str) -> Result<crate::journal::Filter, Fail> {
    let mut f = crate::journal::Filter::default();
    let number = |k: &str, v: &str| {
        v.parse::<u64>().map_err(|_| {
            fail(
                ErrorCode::BadRequest,
                format!("{k} must be a whole number, not {v:?}"),
            )
        })
    };
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "user" => f.user = Some(v.into_owned()),
            "path_prefix" => f.path_prefix = Some(v.into_owned()),
            "since" => f.since_ms = Some(number("since", &v)?),
            "limit" => f.limit = Some(usize::try_from(number("limit", &v)?).unwrap_or(usize::MAX)),
            other => {
                return Err(fail(
                    ErrorCode::BadRequest,
                    format!("unknown filter {other:?}: use user, path_prefix, since (Unix milliseconds) or limit"),
                ))
            }
        }
    }
    Ok(f)
}

/// The clock as the admin route shows it.
fn clock_json(st: &State) -> serde_json::Value {
    serde_json::json!({
        "offset_secs": st.clock.offset(),
        "now": httpdate::fmt_http_date(st.now()),
    })
}
