//! CORS as Box answers it: a browser's preflight (`OPTIONS` with `Origin`
//! and `Access-Control-Request-Method`, no token) is answered before
//! authentication, and told apart from Box's own `OPTIONS /files/content`
//! (the check before an upload, which carries a token); a request from a
//! listed origin is answered for the browser (`Access-Control-Allow-Origin:
//! *` and the headers a client reads exposed); any other origin gets
//! `403 cors_origin_not_whitelisted` naming it. Origins are listed per
//! server (`--cors-origin`, for every token) and per app (its CORS domains,
//! for the tokens issued to it): a preflight, which has no token, passes
//! for an origin any list names; the request itself, once its token is
//! known, must come from the server's list or its own app's.

use crate::handlers::{empty_response, fail, Body, Fail};
use crate::state::State;
use box_chunked_proto::ErrorCode;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use serde_json::json;

/// The headers a browser client needs to read from answers.
const EXPOSED: &str = "ETag, Location, Retry-After, BOX-REQUEST-ID, Digest, Content-Range";
/// The methods Box's API takes.
const METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";
/// The request headers Box's clients send, allowed when a preflight names
/// none it may echo.
const HEADERS: &str =
    "Authorization, Content-Type, Content-Range, Digest, If-Match, As-User, Box-Version, X-Box-UA";

/// What a request is to CORS.
pub(crate) enum Browser {
    /// No `Origin`: not a browser's cross-origin request.
    NotCors,
    /// A preflight, answered here before authentication.
    Preflight(Response<Body>),
    /// From a listed origin: answered as usual, marked for the browser.
    Allowed,
    /// From an origin that is not listed: refused.
    Refused(Fail),
}

/// Whether `list` names `origin` (or is `*`).
fn listed(list: &[String], origin: &str) -> bool {
    list.iter()
        .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// Whether `origin` may call the server from a browser with some token:
/// the server's list or any app's names it.
fn allowed(st: &State, origin: &str) -> bool {
    listed(&st.cfg.cors_origins, origin)
        || st.cfg.apps.iter().any(|a| listed(&a.cors_origins, origin))
}

fn refusal(origin: &str) -> Fail {
    fail(
        ErrorCode::CorsOriginNotWhitelisted,
        "Access denied - Did you forget to safelist your origin in the CORS config of your app?",
    )
    .with_context(json!({ "origin": origin }))
}

/// Once the token is known: a browser's request (it has `Origin`) must come
/// from an origin the server lists for every token, or that the token's own
/// app lists; another app's list does not count.
pub(crate) fn check_token(st: &State, headers: &HeaderMap, app: Option<&str>) -> Result<(), Fail> {
    let Some(origin) = headers
        .get(http::header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    else {
        return Ok(());
    };
    let own = app
        .and_then(|id| st.cfg.apps.iter().find(|a| a.client_id == id))
        .is_some_and(|a| listed(&a.cors_origins, origin));
    if own || listed(&st.cfg.cors_origins, origin) {
        Ok(())
    } else {
        Err(refusal(origin))
    }
}

/// What `headers` of a request with `method` are to CORS.
pub(crate) fn classify(st: &State, method: &Method, headers: &HeaderMap) -> Browser {
    let Some(origin) = headers
        .get(http::header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    else {
        return Browser::NotCors;
    };
    let refused = || Browser::Refused(refusal(origin));
    let preflight = method == Method::OPTIONS
        && headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
        && !headers.contains_key(http::header::AUTHORIZATION);
    match (preflight, allowed(st, origin)) {
        (true, true) => Browser::Preflight(preflight_answer(headers)),
        (_, false) => refused(),
        (false, true) => Browser::Allowed,
    }
}

/// `204` with what the browser may send: Box's methods, and the headers the
/// preflight asked for (or Box's clients' headers).
fn preflight_answer(headers: &HeaderMap) -> Response<Body> {
    let asked = headers
        .get(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
        .filter(|v| {
            v.to_str().is_ok_and(|s| {
                s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_, ".contains(&b))
            })
        })
        .cloned()
        .unwrap_or(HeaderValue::from_static(HEADERS));
    let mut r = empty_response(StatusCode::NO_CONTENT.as_u16());
    let h = r.headers_mut();
    h.insert(
        http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        http::header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(METHODS),
    );
    h.insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
    h.insert(
        http::header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    h.insert(http::header::VARY, HeaderValue::from_static("Origin"));
    r
}

/// An answer to a browser's request, readable by its page.
pub(crate) fn mark(r: &mut Response<Body>) {
    let h = r.headers_mut();
    h.insert(
        http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED),
    );
    h.insert(http::header::VARY, HeaderValue::from_static("Origin"));
}
