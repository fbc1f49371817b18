//! Routing: authentication, the upload root (`/api/2.0`, through proto's
//! endpoint table), the API root (`/2.0`), OAuth and admin, and turning a
//! [`Fail`] into Box's error answer with `BOX-REQUEST-ID` and `Date`.

use super::admin::admin;
use super::authorize::authorize;
use super::common::{error_response, fail, json_response, request_id, Body, Dropped, Fail};
use super::items::api;
use super::oauth::oauth_token;
use super::sessions::chunked;
use crate::{Counters, State};
use box_chunked_proto::endpoints::{Endpoint, Method, RouteError};
use box_chunked_proto::{BoxError, ErrorCode};
use http::{HeaderMap, HeaderValue, Request, Response};
use hyper::body::Incoming;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

pub(crate) async fn handle(
    st: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    Counters::add(&st.counters.requests, 1);
    if req.version() == http::Version::HTTP_2 {
        Counters::add(&st.counters.requests_http2, 1);
    }
    let rid = request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    // An HTTP/1.1 request with a body that an error may answer before the
    // body is read: then the connection closes, so that the client reads the
    // answer instead of meeting a broken pipe, and no unread bytes are taken
    // for the next request.
    let may_leave_body = req.version() <= http::Version::HTTP_11
        && (req.headers().contains_key(http::header::TRANSFER_ENCODING)
            || req
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0"));
    // The request runs on a task of its own, so that a client that goes
    // away (hyper then drops this future) cannot stop it halfway: once its
    // body is read, a request's effect and its counters happen whole.
    let st2 = st.clone();
    let result = tokio::spawn(async move { route(&st2, req).await })
        .await
        .unwrap_or_else(|_| {
            Err(fail(
                500,
                ErrorCode::InternalServerError,
                "Internal server error",
            ))
        });
    let mut resp = match result {
        Ok(r) => r,
        Err(Fail::Drop(why)) => {
            tracing::info!(%method, %path, request_id = %rid, why, "connection dropped");
            return Err(why.into());
        }
        Err(Fail::OAuth(status, error, description)) => json_response(
            status,
            &json!({"error": error, "error_description": description}),
        ),
        Err(Fail::Api {
            status,
            code,
            message,
            context,
            retry_after,
        }) => {
            let mut e = BoxError::new(status, code, message).with_request_id(rid.clone());
            if let Some(c) = context {
                e = e.with_context(c);
            }
            let mut r = error_response(&e);
            if let Some(secs) = retry_after {
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from(secs));
            }
            if may_leave_body {
                r.headers_mut()
                    .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            }
            if status == 401 {
                Counters::add(&st.counters.unauthorized, 1);
                r.headers_mut().insert(
                    "www-authenticate",
                    HeaderValue::from_static(
                        "Bearer realm=\"Service\", error=\"invalid_token\", error_description=\"The access token provided is invalid.\"",
                    ),
                );
            }
            r
        }
    };
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("box-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(st.cfg.now())) {
        resp.headers_mut().insert("date", v);
    }
    tracing::info!(
        %method,
        %path,
        status = resp.status().as_u16(),
        request_id = %rid,
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    Ok(resp)
}

pub(crate) async fn route(st: &Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Fail> {
    let path = req.uri().path().to_owned();
    if path == "/oauth2/token" {
        return oauth_token(st, req).await;
    }
    if path == "/oauth2/authorize" || path == "/api/oauth2/authorize" {
        return authorize(st, &req);
    }
    check_box_version(req.headers())?;
    if let Some(rest) = path.strip_prefix("/__box-chunked/") {
        authenticate_admin(st, req.headers())?;
        return admin(st, rest, req).await;
    }
    let user = authenticate(st, req.headers())?;
    if let Some(rest) = path.strip_prefix("/api/2.0") {
        let method = Method::parse(req.method().as_str())
            .ok_or_else(|| fail(405, ErrorCode::MethodNotAllowed, "Method not allowed"))?;
        let ep = Endpoint::route(method, rest).map_err(|e| match e {
            RouteError::NotFound => fail(404, ErrorCode::NotFound, "Not Found"),
            RouteError::MethodNotAllowed { .. } => {
                fail(405, ErrorCode::MethodNotAllowed, "Method Not Allowed")
            }
        })?;
        return chunked(st, &user, ep, req).await;
    }
    if let Some(rest) = path.strip_prefix("/2.0") {
        return api(st, &user, rest, req).await;
    }
    Err(fail(404, ErrorCode::NotFound, "Not Found"))
}

/// Box's API versions this server speaks: `2024.0` (and no header, which
/// Box takes as the default version). Any other value is Box's `400
/// invalid_api_version`.
fn check_box_version(headers: &HeaderMap) -> Result<(), Fail> {
    match headers
        .get("box-version")
        .map(|v| v.to_str().unwrap_or("").trim())
    {
        None | Some("2024.0") => Ok(()),
        Some(v) => Err(fail(
            400,
            ErrorCode::Other("invalid_api_version".into()),
            format!("The API version {v:?} is not supported; use 2024.0"),
        )),
    }
}

/// The server's own routes take the admin token alone: `403` for a user's
/// token (or when no admin token is configured), `401` for anything else.
fn authenticate_admin(st: &State, headers: &HeaderMap) -> Result<(), Fail> {
    let given = bearer(headers);
    if let (Some(admin), Some(given)) = (st.cfg.admin_token.as_deref(), given) {
        if same_secret(admin, given) {
            return Ok(());
        }
    }
    authenticate(st, headers)?;
    Err(fail(
        403,
        ErrorCode::Forbidden,
        "The server's own routes need its admin token (box-chunked serve --admin-token), not a user's token",
    ))
}

/// Compares two secrets in time that depends on their lengths only.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The bearer token of a request, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub(crate) fn authenticate(st: &State, headers: &HeaderMap) -> Result<String, Fail> {
    let unauthorized = || fail(401, ErrorCode::Unauthorized, "Unauthorized");
    let token = bearer(headers).ok_or_else(unauthorized)?;
    let who = st.principal(token).ok_or_else(unauthorized)?;
    let Some(as_user) = headers.get("as-user") else {
        return Ok(who.user);
    };
    // As-User: an app's service account acts as one of its enterprise's
    // managed users; anyone else, or an unknown user, gets Box's 403.
    let target = as_user.to_str().unwrap_or("").trim();
    if !who.service_account {
        return Err(fail(
            403,
            ErrorCode::AccessDeniedInsufficientPermissions,
            "As-User needs the token of an app's service account; this token is a user's",
        ));
    }
    if !st.is_managed_user(target) {
        return Err(fail(
            403,
            ErrorCode::AccessDeniedInsufficientPermissions,
            format!("As-User names {target:?}, who is not a managed user of this enterprise"),
        ));
    }
    Ok(target.to_owned())
}
