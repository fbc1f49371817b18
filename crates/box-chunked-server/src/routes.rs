//! The one routing home: every request passes here. It counts the request,
//! runs it on a task of its own (so a client that goes away cannot stop it
//! halfway), authenticates it, routes it with proto's endpoint table (both
//! roots and OAuth; `405` lists come from the table too), injects the fault
//! rules' faults by target, hands it to its handler, and turns a [`Fail`]
//! into Box's error answer with `BOX-REQUEST-ID` and `Date`.

use crate::cors;
use crate::faults::{FaultAction, FaultTarget};
use crate::handlers::*;
use crate::{Counters, State};
use box_chunked_proto::endpoints::{Endpoint, Method, RouteError};
use box_chunked_proto::{BoxError, ErrorCode};
use http::{HeaderMap, HeaderValue, Request, Response};
use hyper::body::Incoming;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// Counts a request as running until it is dropped (at its end, or if its
/// task panics).
struct Running<'a>(&'a std::sync::atomic::AtomicU64);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What a request is, read before it is handled: for its answer's
/// headers, the log and the journal.
struct Seen {
    rid: String,
    method: http::Method,
    path: String,
    started: Instant,
    /// When it arrived, Unix milliseconds on the server's clock.
    at_ms: u64,
    /// Its body's declared size.
    declared: Option<u64>,
    /// It came from a browser page (`Origin`), outside the admin routes.
    for_browser: bool,
    /// One of the server's own routes: neither CORS nor the journal.
    admin: bool,
    /// An HTTP/1.1 request with a body that an error may answer before the
    /// body is read: then the connection closes, so that the client reads
    /// the answer instead of meeting a broken pipe, and no unread bytes are
    /// taken for the next request.
    may_leave_body: bool,
}

/// A path as logs and the journal show it: a download URL's token (which
/// is its credential) left out.
fn shown_path(path: &str) -> String {
    match path.strip_prefix("/dl/") {
        Some(_) => "/dl/(token)".to_owned(),
        None => path.to_owned(),
    }
}

impl Seen {
    fn of(st: &State, req: &Request<Incoming>) -> Self {
        let h = req.headers();
        let path = shown_path(req.uri().path());
        let admin = path.starts_with("/__box-chunked/");
        Self {
            rid: request_id(),
            method: req.method().clone(),
            started: Instant::now(),
            at_ms: st
                .now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            declared: h
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok()),
            for_browser: !admin && h.contains_key(http::header::ORIGIN),
            admin,
            may_leave_body: req.version() <= http::Version::HTTP_11
                && (h.contains_key(http::header::TRANSFER_ENCODING)
                    || h.get(http::header::CONTENT_LENGTH)
                        .is_some_and(|v| v.as_bytes() != b"0")),
            path,
        }
    }
}

/// The service: one request in, one answer out (or a dropped connection).
pub(crate) async fn handle(
    st: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    Counters::add(&st.counters.requests, 1);
    if req.version() == http::Version::HTTP_2 {
        Counters::add(&st.counters.requests_http2, 1);
    }
    let seen = Seen::of(&st, &req);
    // The user a request acted as, once signed in, for the journal.
    let who: Arc<std::sync::OnceLock<String>> = Arc::default();
    // A browser's request: its preflight is answered here, before any
    // token is asked for; another origin than those listed is refused.
    let browser = if seen.admin {
        cors::Browser::NotCors
    } else {
        cors::classify(&st, req.method(), req.headers())
    };
    let result = match browser {
        cors::Browser::Preflight(answer) => Ok(answer),
        cors::Browser::Refused(refusal) => Err(refusal),
        cors::Browser::NotCors | cors::Browser::Allowed => {
            // The request runs on a task of its own, so that a client that
            // goes away (hyper then drops this future) cannot stop it
            // halfway: once its body is read, a request's effect and its
            // counters happen whole.
            let (st2, who2) = (st.clone(), who.clone());
            Counters::add(&st.counters.requests_running, 1);
            tokio::spawn(async move {
                let _running = Running(&st2.counters.requests_running);
                route(&st2, req, &who2).await
            })
            .await
            .unwrap_or_else(|_| Err(internal()))
        }
    };
    if let (Some(link), false) = (&st.link, seen.admin) {
        link.answer_delay().await;
    }
    let (mut resp, refusal) = answer_of(&st, result, &seen)?;
    if let Ok(v) = HeaderValue::from_str(&seen.rid) {
        resp.headers_mut().insert("box-request-id", v);
    }
    if seen.for_browser {
        cors::mark(&mut resp);
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(st.now())) {
        resp.headers_mut().insert("date", v);
    }
    let ms = seen.started.elapsed().as_millis() as u64;
    let status = resp.status().as_u16();
    let (method, path, rid) = (&seen.method, &seen.path, &seen.rid);
    tracing::info!(%method, %path, status, request_id = %rid, ms, "request");
    if !seen.admin {
        st.journal.record(crate::journal::Entry {
            at_ms: seen.at_ms,
            method: method.to_string(),
            path: path.clone(),
            user: who.get().cloned(),
            status,
            code: refusal,
            bytes: seen.declared,
            ms,
            request_id: rid.clone(),
        });
    }
    Ok(resp)
}

/// The answer of a handled request, and Box's error code when it is a
/// refusal; a dropped connection stays dropped.
fn answer_of(
    st: &State,
    result: Result<Response<Body>, Fail>,
    seen: &Seen,
) -> Result<(Response<Body>, Option<String>), Dropped> {
    Ok(match result {
        Ok(r) => (r, None),
        Err(Fail::Drop(why)) => {
            let (method, path, rid) = (&seen.method, &seen.path, &seen.rid);
            tracing::info!(%method, %path, request_id = %rid, why, "connection dropped");
            return Err(why.into());
        }
        Err(Fail::OAuth(status, error, description)) => (
            json_response(
                status,
                &json!({"error": error, "error_description": description}),
            ),
            None,
        ),
        Err(Fail::Api {
            code,
            message,
            context,
            retry_after,
        }) => {
            let refusal = Some(code.as_str().to_owned());
            let mut e = BoxError::of(code, message).with_request_id(seen.rid.clone());
            if let Some(c) = context {
                e = e.with_context(c);
            }
            (
                error_answer(st, &e, retry_after, seen.may_leave_body),
                refusal,
            )
        }
    })
}

/// Box's error answer for `e`, with `Retry-After`, `WWW-Authenticate` on a
/// `401`, and `Connection: close` when the request's body may be left
/// unread.
fn error_answer(
    st: &State,
    e: &BoxError,
    retry_after: Option<u64>,
    may_leave_body: bool,
) -> Response<Body> {
    let status = e.status.and_then(|s| u16::try_from(s).ok()).unwrap_or(500);
    let mut r = error_response(e);
    let h = r.headers_mut();
    if let Some(secs) = retry_after {
        h.insert("retry-after", HeaderValue::from(secs));
    }
    if may_leave_body {
        h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    if status == 401 {
        Counters::add(&st.counters.unauthorized, 1);
        h.insert(
            "www-authenticate",
            HeaderValue::from_static(
                "Bearer realm=\"Service\", error=\"invalid_token\", error_description=\"The access token provided is invalid.\"",
            ),
        );
    }
    r
}

async fn route(
    st: &Arc<State>,
    req: Request<Incoming>,
    who: &std::sync::OnceLock<String>,
) -> Result<Response<Body>, Fail> {
    let path = req.uri().path().to_owned();
    // A shared file's download URL: the link's settings decide.
    if let Some(token) = path.strip_prefix("/shared/static/") {
        if req.method() != http::Method::GET {
            return Err(method_not_allowed());
        }
        return shared_download(st, token, req.headers()).await;
    }
    // A shared link's page (Box's preview): a file's goes to its content.
    if let Some(token) = path.strip_prefix("/s/") {
        if req.method() != http::Method::GET {
            return Err(method_not_allowed());
        }
        return shared_page(st, token).await;
    }
    // A download URL the server handed out: it is its own credential.
    if let Some(token) = path.strip_prefix("/dl/") {
        if req.method() != http::Method::GET {
            return Err(method_not_allowed());
        }
        return download_granted(st, token, req.headers()).await;
    }
    if let Some(rest) = path.strip_prefix("/__box-chunked/") {
        if rest == "health" && req.method() == http::Method::GET {
            // No credentials: a container's health check has none.
            return Ok(json_response(
                200,
                &json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
            ));
        }
        check_box_version(st, req.headers())?;
        authenticate_admin(st, req.headers())?;
        return admin(st, rest, req).await;
    }
    let method = Method::parse(req.method().as_str());
    let ep = match method.and_then(|m| Endpoint::route_path(m, &path)) {
        Some(Ok(ep)) => ep,
        Some(Err(RouteError::MethodNotAllowed { .. })) => return Err(method_not_allowed()),
        Some(Err(RouteError::NotFound)) => return Err(not_found()),
        // A method outside the table on a path of the table is a 405.
        None if matches!(
            Endpoint::route_path(Method::Get, &path),
            Some(Ok(_) | Err(RouteError::MethodNotAllowed { .. }))
        ) =>
        {
            return Err(method_not_allowed())
        }
        None => return Err(not_found()),
    };
    // Signing in needs no token.
    let user = match &ep {
        Endpoint::Token | Endpoint::Authorize => String::new(),
        _ => {
            check_box_version(st, req.headers())?;
            authenticate(st, req.headers())?
        }
    };
    if !user.is_empty() {
        let _ = who.set(user.clone());
        admit(st, &user, &ep)?;
    }
    run_endpoint(st, &user, ep, req).await
}

/// An endpoint with its fault, if one fires, and the link model's part
/// processing time.
async fn run_endpoint(
    st: &Arc<State>,
    user: &str,
    ep: Endpoint,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let is_part = matches!(ep, Endpoint::UploadPart { .. });
    let fault = pick_fault(st, &ep).await?;
    let result = dispatch(st, user, ep, req, fault.as_ref()).await;
    if let (Some(link), true) = (&st.link, is_part) {
        link.part_delay().await;
    }
    if matches!(fault, Some(FaultAction::Lose)) {
        // The request was applied; the answer never arrives.
        return Err(Fail::Drop("injected lost response"));
    }
    result
}

/// Every endpoint to its handler.
async fn dispatch(
    st: &Arc<State>,
    user: &str,
    ep: Endpoint,
    req: Request<Incoming>,
    fault: Option<&FaultAction>,
) -> Result<Response<Body>, Fail> {
    let query = req.uri().query().map(str::to_owned);
    let q = query.as_deref();
    match ep {
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
        Endpoint::ListParts { session_id } => list_parts(st, user, &session_id, q).await,
        Endpoint::Commit { session_id } => commit(st, user, &session_id, req, fault).await,
        Endpoint::Abort { session_id } => abort(st, user, &session_id).await,
        Endpoint::Plan { session_id } => plan(st, user, &session_id, req).await,
        Endpoint::UploadFile => upload_file(st, user, None, req).await,
        Endpoint::UploadFileVersion { file_id } => upload_file(st, user, Some(file_id), req).await,
        Endpoint::Preflight => preflight(st, user, None, req).await,
        Endpoint::PreflightVersion { file_id } => preflight(st, user, Some(&file_id), req).await,
        Endpoint::GetFile { file_id } => get_file(st, user, &file_id, q).await,
        Endpoint::UpdateFile { file_id } => update_file(st, user, &file_id, req).await,
        Endpoint::CopyFile { file_id } => copy_file(st, user, &file_id, req).await,
        Endpoint::SharedItem => shared_item(st, user, req.headers()).await,
        Endpoint::PromoteVersion { file_id } => promote_version(st, user, &file_id, req).await,
        Endpoint::DeleteVersion {
            file_id,
            version_id,
        } => delete_version(st, user, &file_id, &version_id).await,
        Endpoint::DeleteFile { file_id } => delete_file(st, user, &file_id, req.headers()).await,
        Endpoint::Download { file_id } => download(st, user, &file_id, req.headers()).await,
        Endpoint::ListVersions { file_id } => versions(st, user, &file_id).await,
        Endpoint::CreateFolder => create_folder(st, user, req).await,
        Endpoint::GetFolder { folder_id } => get_folder(st, user, &folder_id, q).await,
        Endpoint::UpdateFolder { folder_id } => update_folder(st, user, &folder_id, req).await,
        Endpoint::DeleteFolder { folder_id } => {
            delete_folder(st, user, &folder_id, q, req.headers()).await
        }
        Endpoint::ListItems { folder_id } => list_items(st, user, &folder_id, q).await,
        Endpoint::ListTrash => list_trash(st, user, q).await,
        Endpoint::GetTrashedFile { file_id } => {
            get_trashed(st, user, Kind::File, &file_id, q).await
        }
        Endpoint::GetTrashedFolder { folder_id } => {
            get_trashed(st, user, Kind::Folder, &folder_id, q).await
        }
        Endpoint::RestoreFile { file_id } => restore(st, user, Kind::File, &file_id, req).await,
        Endpoint::RestoreFolder { folder_id } => {
            restore(st, user, Kind::Folder, &folder_id, req).await
        }
        Endpoint::PurgeFile { file_id } => purge(st, user, Kind::File, &file_id).await,
        Endpoint::PurgeFolder { folder_id } => purge(st, user, Kind::Folder, &folder_id).await,
        Endpoint::GetCurrentUser => users_me(st, user).await,
        Endpoint::Token => oauth_token(st, req).await,
        Endpoint::Authorize => authorize(st, &req),
    }
}

/// What a fault rule may strike: the upload root's operations and the token
/// endpoint (`None`: the API root's calls, which no rule targets).
fn fault_target(ep: &Endpoint) -> Option<FaultTarget> {
    Some(match ep {
        Endpoint::CreateSession | Endpoint::CreateVersionSession { .. } => FaultTarget::Create,
        Endpoint::GetSession { .. } => FaultTarget::Get,
        Endpoint::UploadPart { .. } => FaultTarget::Part,
        Endpoint::ListParts { .. } => FaultTarget::List,
        Endpoint::Commit { .. } => FaultTarget::Commit,
        Endpoint::Abort { .. } => FaultTarget::Abort,
        Endpoint::Plan { .. } => FaultTarget::Plan,
        Endpoint::UploadFile | Endpoint::UploadFileVersion { .. } => FaultTarget::Upload,
        Endpoint::Token => FaultTarget::Token,
        _ => return None,
    })
}

/// The session an endpoint acts on, for the `expire` fault.
fn session_of(ep: &Endpoint) -> Option<&str> {
    match ep {
        Endpoint::GetSession { session_id }
        | Endpoint::UploadPart { session_id }
        | Endpoint::ListParts { session_id }
        | Endpoint::Commit { session_id }
        | Endpoint::Abort { session_id }
        | Endpoint::Plan { session_id } => Some(session_id),
        _ => None,
    }
}

/// The fault a rule picks for this request, applied when it answers before
/// the handler (an error status, `429`, a reset) or changes what the
/// handler sees (a delay, an expired session); the others (a lost answer, a
/// part's body faults, a commit's `202`) are the caller's to apply.
async fn pick_fault(st: &Arc<State>, ep: &Endpoint) -> Result<Option<FaultAction>, Fail> {
    let Some(target) = fault_target(ep) else {
        return Ok(None);
    };
    let Some(f) = st.faults.pick(target) else {
        return Ok(None);
    };
    Counters::add(&st.counters.faults_injected, 1);
    tracing::info!(%target, fault = ?f, "injecting fault");
    match &f {
        FaultAction::Status(s) => return Err(fail(server_error(*s), "Injected server error")),
        FaultAction::Throttle(secs) => {
            let e = fail(
                ErrorCode::RateLimitExceeded,
                "Request rate limit exceeded, please try again later",
            );
            return Err(e.with_retry_after(*secs));
        }
        FaultAction::Delay(d) => tokio::time::sleep(*d).await,
        FaultAction::Reset if target != FaultTarget::Part => {
            return Err(Fail::Drop("injected reset"))
        }
        FaultAction::Expire => {
            if let Some(sid) = session_of(ep).map(str::to_owned) {
                blocking(st, move |s| s.expire_now(&sid)).await?;
            }
        }
        _ => {}
    }
    Ok(Some(f))
}

/// The link model's per-user request limits: Box's `429
/// rate_limit_exceeded` with the seconds until a request fits.
fn admit(st: &State, user: &str, ep: &Endpoint) -> Result<(), Fail> {
    use crate::link::Class;
    let Some(link) = &st.link else {
        return Ok(());
    };
    let class = match ep {
        Endpoint::UploadPart { .. } => Class::Part,
        _ if ep.root() == box_chunked_proto::endpoints::Root::Upload => Class::Upload,
        _ => Class::Api,
    };
    link.admit(user, class, Instant::now()).map_err(|wait| {
        Counters::add(&st.counters.requests_rate_limited, 1);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        fail(
            ErrorCode::RateLimitExceeded,
            "Request rate limit exceeded, please try again later",
        )
        .with_retry_after(secs.max(1))
    })
}

/// Box's API versions this server speaks: `2024.0` (and no header, which
/// Box takes as the default version). Any other value is Box's `400
/// invalid_api_version`.
fn check_box_version(st: &State, headers: &HeaderMap) -> Result<(), Fail> {
    let taken = &st.cfg.box_versions;
    match headers
        .get("box-version")
        .map(|v| v.to_str().unwrap_or("").trim())
    {
        None => Ok(()),
        Some(v) if taken.iter().any(|t| t == "any" || t == v) => Ok(()),
        Some(v) => Err(fail(
            ErrorCode::InvalidApiVersion,
            format!(
                "The API version {v:?} is not supported; use {}",
                taken.join(" or ")
            ),
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

/// Who the request is: the token's user, or with `As-User` the managed user
/// an app's service account acts as.
fn authenticate(st: &State, headers: &HeaderMap) -> Result<String, Fail> {
    let unauthorized = || fail(ErrorCode::Unauthorized, "Unauthorized");
    let token = bearer(headers).ok_or_else(unauthorized)?;
    let who = st.principal(token).ok_or_else(unauthorized)?;
    cors::check_token(st, headers, who.app.as_deref())?;
    let Some(as_user) = headers.get("as-user") else {
        return Ok(who.user);
    };
    // As-User: an app's service account acts as one of its enterprise's
    // managed users; anyone else, or an unknown user, gets Box's 403.
    let target = as_user.to_str().unwrap_or("").trim();
    if !who.service_account {
        return Err(fail(
            ErrorCode::AccessDeniedInsufficientPermissions,
            "As-User needs the token of an app's service account; this token is a user's",
        ));
    }
    if !st.is_managed_user(target) {
        return Err(fail(
            ErrorCode::AccessDeniedInsufficientPermissions,
            format!("As-User names {target:?}, who is not a managed user of this enterprise"),
        ));
    }
    Ok(target.to_owned())
}
