//! HTTP: the accept loop, routing, and every handler.

use crate::faults::{FaultAction, FaultSpec, FaultTarget};
use crate::store::{
    fsync_dir, io_err, persist, InsertPart, NewVersion, PartRow, SessionRow, SessionState, Store,
    StoreError,
};
use crate::{Counters, State, Verification};
use box_chunked_proto::endpoints::{Endpoint, Method, RouteError};
use box_chunked_proto::rules::{self, check_min_size, check_part_count, default_part_size};
use box_chunked_proto::{
    encode_json, BoxError, CommitAttributes, ContentRange, DigestHeader, ErrorCode, PartPlan,
    SessionEndpoints, Sha1Digest, Timestamp, UploadParts, UploadSession, UploadedPart,
};
use box_chunked_sha1::{Backend, DualSha1};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use sha1::{Digest as _, Sha1};
use std::io::{self, Read as _, Seek as _, Write as _};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

type Body = BoxBody<Bytes, io::Error>;
type Dropped = Box<dyn std::error::Error + Send + Sync>;

/// How much of a part body is hashed and written per blocking call.
const FLUSH_AT: usize = 1 << 20;

// ------------------------------------------------------------------ serving

pub(crate) async fn serve(
    state: Arc<State>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let collector = tokio::spawn(collect_expired(state.clone()));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let st = state.clone();
                let svc = service_fn(move |req| handle(st.clone(), req));
                let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    collector.abort();
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
}

async fn collect_expired(state: Arc<State>) {
    let mut tick = tokio::time::interval(state.cfg.collect_every);
    loop {
        tick.tick().await;
        let now = now_unix();
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

/// A failed request: an error answer, or a dropped connection.
pub(crate) enum Fail {
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
        context: Option<Value>,
        retry_after: Option<u64>,
    },
    /// Drop the connection without an answer (injected faults).
    Drop(&'static str),
    /// An OAuth-style error (`{"error": .., "error_description": ..}`).
    OAuth(u16, &'static str, &'static str),
}

/// Box's answer for an item that does not exist or that this user cannot see.
fn not_found() -> Fail {
    fail(
        404,
        ErrorCode::NotFound,
        "Could not find the specified resource",
    )
}

fn fail(status: u16, code: ErrorCode, message: impl Into<String>) -> Fail {
    Fail::Api {
        status,
        code,
        message: message.into(),
        context: None,
        retry_after: None,
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        fail(500, ErrorCode::InternalServerError, "Internal server error")
    }
}

async fn handle(st: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    Counters::add(&st.counters.requests, 1);
    let rid = request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    let result = route(&st, req).await;
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
            let mut r = json_response(status, &e);
            if let Some(secs) = retry_after {
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from(secs));
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
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now())) {
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

async fn route(st: &Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Fail> {
    let path = req.uri().path().to_owned();
    if path == "/oauth2/token" {
        return oauth_token(st, req).await;
    }
    let user = authenticate(st, req.headers())?;
    if let Some(rest) = path.strip_prefix("/__box-chunked/") {
        return admin(st, rest, req).await;
    }
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

fn authenticate(st: &State, headers: &HeaderMap) -> Result<String, Fail> {
    let unauthorized = || fail(401, ErrorCode::Unauthorized, "Unauthorized");
    let value = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let (scheme, token) = value.split_once(' ').ok_or_else(unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthorized());
    }
    let token = token.trim();
    if let Some((_, user)) = st.cfg.tokens.iter().find(|(t, _)| t == token) {
        return Ok(user.clone());
    }
    let issued = st
        .issued
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match issued.get(token) {
        Some((user, expires)) if *expires > SystemTime::now() => Ok(user.clone()),
        _ => Err(unauthorized()),
    }
}

// ------------------------------------------------------------------ helpers

fn json_response<T: serde::Serialize>(status: u16, body: &T) -> Response<Body> {
    let bytes = Bytes::from(encode_json(body));
    let mut r = Response::new(Full::new(bytes).map_err(|e| match e {}).boxed());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn empty_response(status: u16) -> Response<Body> {
    let mut r = Response::new(Empty::new().map_err(|e| match e {}).boxed());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r
}

async fn blocking<T: Send + 'static>(
    st: &State,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Fail> {
    let store = st.store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|_| fail(500, ErrorCode::InternalServerError, "Internal server error"))?
        .map_err(Fail::from)
}

async fn small_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, Fail> {
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(fail(
            413,
            ErrorCode::RequestEntityTooLarge,
            "Request body too large",
        )),
        Err(_) => Err(Fail::Drop("client hung up")),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, Fail> {
    serde_json::from_slice(body).map_err(|e| {
        fail(
            400,
            ErrorCode::BadRequest,
            format!("Invalid JSON body: {e}"),
        )
    })
}

fn json_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn json_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn timestamp(unix: i64) -> String {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    Timestamp::from_system_time(t).as_str().to_owned()
}

fn random_hex(bytes: usize, upper: bool) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() {
        // No OS randomness: fall back to the clock and a counter (ids stay unique).
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seed = format!(
            "{:?}{}",
            SystemTime::now(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let h = Sha1::digest(seed.as_bytes());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = h[i % 20];
        }
    }
    let s: String = buf.iter().map(|b| format!("{b:02x}")).collect();
    if upper {
        s.to_uppercase()
    } else {
        s
    }
}

fn request_id() -> String {
    random_hex(12, false)
}

/// A short, non-reversible name derived from a secret (for logs and default user names).
pub(crate) fn short_hash(secret: &str) -> String {
    Sha1Digest(Sha1::digest(secret.as_bytes()).into()).to_hex()
}

fn valid_session_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

// ------------------------------------------------------------- chunked API

async fn chunked(
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
                | Endpoint::Abort { session_id } => Some(session_id.clone()),
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
            let reset = matches!(fault, Some(FaultAction::Reset));
            upload_part(st, user, &session_id, req, reset).await
        }
        Endpoint::ListParts { session_id } => list_parts(st, user, &session_id, req).await,
        Endpoint::Commit { session_id } => commit(st, user, &session_id, req, fault.as_ref()).await,
        Endpoint::Abort { session_id } => abort(st, user, &session_id).await,
    };
    if matches!(fault, Some(FaultAction::Lose)) {
        // The request was applied; the answer never arrives.
        return Err(Fail::Drop("injected lost response"));
    }
    result
}

fn session_json(st: &State, s: &SessionRow, processed: u64) -> UploadSession {
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
        },
    }
}

/// The folder exists for this user and has no item named like `name`
/// (compared case-insensitively): `404` or `409 item_name_in_use` otherwise.
async fn check_free_name(st: &State, owner: &str, folder: &str, name: &str) -> Result<(), Fail> {
    let (o, f, n) = (owner.to_owned(), folder.to_owned(), name.to_owned());
    let (exists, conflict) = blocking(st, move |s| {
        Ok((s.folder_exists(&o, &f)?, s.item_named(&o, &f, &n)?))
    })
    .await?;
    if !exists {
        return Err(not_found());
    }
    match conflict {
        Some((kind, id)) => Err(conflict_error(kind, id, name)),
        None => Ok(()),
    }
}

fn conflict_error(kind: &str, id: i64, name: &str) -> Fail {
    let item =
        json!({"type": kind, "id": id.to_string(), "name": name, "etag": "0", "sequence_id": "0"});
    // Box sends a single object for a file and an array for a folder.
    let conflicts = if kind == "file" { item } else { json!([item]) };
    Fail::Api {
        status: 409,
        code: ErrorCode::ItemNameInUse,
        message: "Item with the same name already exists".into(),
        context: Some(json!({ "conflicts": conflicts })),
        retry_after: None,
    }
}

async fn create_session(
    st: &Arc<State>,
    user: &str,
    file_id: Option<String>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let body = small_body(req, 64 * 1024).await?;
    let v = parse_json(&body)?;
    let size_value = v
        .get("file_size")
        .ok_or_else(|| fail(400, ErrorCode::MissingFileSize, "file_size is required"))?;
    let size = json_u64(size_value).ok_or_else(|| {
        fail(
            400,
            ErrorCode::InvalidFileSize,
            "file_size must be a non-negative integer",
        )
    })?;
    let name = match v.get("file_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(fail(
                400,
                ErrorCode::ItemNameInvalid,
                "file_name must be a string",
            ))
        }
    };
    if let Some(n) = &name {
        rules::validate_file_name(n).map_err(|e| {
            fail(
                400,
                ErrorCode::ItemNameInvalid,
                format!("Item name invalid: {e}"),
            )
        })?;
    }
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
    let owner = user.to_owned();
    let row = match file_id {
        None => {
            let folder_id = v
                .get("folder_id")
                .and_then(json_id)
                .ok_or_else(|| fail(400, ErrorCode::MissingDestination, "folder_id is required"))?;
            let name =
                name.ok_or_else(|| fail(400, ErrorCode::MissingFileName, "file_name is required"))?;
            check_free_name(st, &owner, &folder_id, &name).await?;
            new_session_row(
                st,
                owner,
                Some(folder_id),
                None,
                Some(name),
                size,
                part_size,
                &plan,
            )
        }
        Some(fid) => {
            let (o, f) = (owner.clone(), fid.clone());
            let file = blocking(st, move |s| s.file(&o, &f))
                .await?
                .ok_or_else(not_found)?;
            if let Some(n) = &name {
                if !rules::names_conflict(n, &file.name) {
                    let (o, folder, n2) = (owner.clone(), file.folder_id.clone(), n.clone());
                    if let Some((kind, id)) =
                        blocking(st, move |s| s.item_named(&o, &folder, &n2)).await?
                    {
                        if id != file.id || kind != "file" {
                            return Err(conflict_error(kind, id, n));
                        }
                    }
                }
            }
            new_session_row(st, owner, None, Some(file.id), name, size, part_size, &plan)
        }
    };
    let r = row.clone();
    blocking(st, move |s| s.create_session(&r)).await?;
    Counters::add(&st.counters.sessions_created, 1);
    Ok(json_response(201, &session_json(st, &row, 0)))
}

#[allow(clippy::too_many_arguments)]
fn new_session_row(
    st: &State,
    owner: String,
    folder_id: Option<String>,
    file_id: Option<i64>,
    name: Option<String>,
    size: u64,
    part_size: u64,
    plan: &PartPlan,
) -> SessionRow {
    let lifetime = i64::try_from(st.cfg.session_lifetime.as_secs()).unwrap_or(i64::MAX);
    SessionRow {
        id: random_hex(16, true),
        owner,
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

async fn load_session(st: &State, user: &str, sid: &str) -> Result<SessionRow, Fail> {
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

fn check_not_expired(s: &SessionRow) -> Result<(), Fail> {
    if s.state == SessionState::Open && s.expires_at <= now_unix() {
        return Err(fail(
            410,
            ErrorCode::SessionExpired,
            "The upload session has expired",
        ));
    }
    Ok(())
}

fn check_open(s: &SessionRow) -> Result<(), Fail> {
    check_not_expired(s)?;
    if s.state == SessionState::Committed {
        return Err(fail(
            409,
            ErrorCode::Other("upload_session_committed".into()),
            "The upload session has already been committed",
        ));
    }
    Ok(())
}

async fn get_session(st: &Arc<State>, user: &str, sid: &str) -> Result<Response<Body>, Fail> {
    let s = load_session(st, user, sid).await?;
    check_not_expired(&s)?;
    let id = s.id.clone();
    let n = blocking(st, move |store| store.part_count(&id)).await?;
    Ok(json_response(200, &session_json(st, &s, n)))
}

async fn upload_part(
    st: &Arc<State>,
    user: &str,
    sid: &str,
    req: Request<Incoming>,
    reset: bool,
) -> Result<Response<Body>, Fail> {
    let s = load_session(st, user, sid).await?;
    check_open(&s)?;
    let headers = req.headers();
    let declared = header(headers, "content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| fail(411, ErrorCode::LengthRequired, "Content-Length is required"))?;
    let range = header(headers, "content-range")
        .ok_or_else(|| fail(400, ErrorCode::BadRequest, "Content-Range is required"))
        .and_then(|v| {
            ContentRange::parse(v).map_err(|e| {
                fail(
                    400,
                    ErrorCode::BadRequest,
                    format!("Invalid Content-Range: {e}"),
                )
            })
        })?;
    let digest = header(headers, "digest")
        .ok_or_else(|| fail(400, ErrorCode::BadDigest, "Digest is required"))
        .and_then(|v| {
            DigestHeader::parse_sha1(v)
                .map_err(|e| fail(400, ErrorCode::BadDigest, format!("Invalid Digest: {e}")))
        })?;
    let plan = PartPlan::new(s.file_size, s.part_size)
        .map_err(|e| fail(500, ErrorCode::InternalServerError, e.to_string()))?;
    let part = plan.validate_content_range(&range).map_err(|e| {
        fail(
            416,
            ErrorCode::RequestedRangeNotSatisfiable,
            format!("Content-Range does not fit the session: {e}"),
        )
    })?;
    if declared > part.len {
        return Err(fail(
            413,
            ErrorCode::RequestEntityTooLarge,
            format!(
                "The body ({declared} bytes) is longer than the part ({} bytes)",
                part.len
            ),
        ));
    }
    if declared < part.len {
        return Err(fail(
            400,
            ErrorCode::BadRequest,
            format!(
                "Content-Length {declared} does not match Content-Range ({} bytes)",
                part.len
            ),
        ));
    }
    let (id, index) = (s.id.clone(), part.index);
    if let Some(existing) = blocking(st, move |store| store.part(&id, index)).await? {
        return Err(overlap(st, &existing));
    }

    let part_id = random_hex(4, true);
    if st.cfg.verify_only {
        return verify_only_part(st, &s, req.into_body(), part, digest, part_id, reset).await;
    }
    // Stream the body to a temporary file, hashing as it goes.
    let tmp = st.store.tmp_dir().join(format!("{}-{}", s.id, part_id));
    let t = tmp.clone();
    let file = tokio::task::spawn_blocking(move || std::fs::File::create(&t))
        .await
        .map_err(|_| fail(500, ErrorCode::InternalServerError, "Internal server error"))?
        .map_err(|e| Fail::from(io_err("creating", &tmp)(e)))?;
    // When every earlier part is already in the file's hashed prefix, this
    // part is hashed into the file's SHA-1 too, in the same pass as its own
    // digest, instead of being read back later. The prefix stays locked while
    // the part arrives (background hashing could not pass it anyway) and
    // takes the part in as soon as its digest checks out; should storing it
    // then fail, the prefix is dropped and rebuilt from the stored parts.
    // If the prefix is a few parts short (they are arriving or being hashed
    // right now), wait a little for it rather than hash this part twice.
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
    let received = receive_body(st, req.into_body(), Some(file), part.len, reset, hasher)
        .await
        .and_then(|(f, h)| {
            f.map(|f| (f, h.finish()))
                .ok_or_else(|| fail(500, ErrorCode::InternalServerError, "Internal server error"))
        });
    let (file, (sha, file_chain)) = match received {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let mut tentative = None;
    if let (Some(mut p), Some(chain)) = (prefix.take(), file_chain) {
        if sha == digest {
            p.hasher = chain;
            p.next += 1;
            next.send_replace(p.next);
            tentative = Some(p.generation);
        }
    }
    if sha != digest {
        let _ = std::fs::remove_file(&tmp);
        drop(file);
        return Err(fail(
            412,
            ErrorCode::PreconditionFailed,
            format!(
                "The Digest header ({}) does not match the part's SHA-1 ({})",
                digest.to_base64(),
                sha.to_base64()
            ),
        ));
    }
    let row = PartRow {
        index: part.index,
        offset: part.offset,
        size: part.len,
        part_id: part_id.clone(),
        sha1: sha,
    };
    let dest = st.store.blob_path(&s.id, &part_id);
    let (sid2, row2) = (s.id.clone(), row.clone());
    let inserted = blocking(st, move |store| {
        file.sync_all().map_err(io_err("syncing", &tmp))?;
        drop(file);
        persist(&tmp, &dest)?;
        let r = store.insert_part(&sid2, &row2);
        if matches!(r, Ok(InsertPart::Conflict(_)) | Err(_)) {
            let _ = std::fs::remove_file(&dest);
        }
        r
    })
    .await;
    if let Some(generation) = tentative {
        if matches!(inserted, Ok(InsertPart::Inserted)) {
            Counters::add(&st.counters.parts_hashed_in_one_pass, 1);
        } else {
            // The prefix took in bytes that are not stored: rebuild it.
            let mut p = lock.lock().await;
            if p.generation == generation {
                *p = Prefix::new(generation + 1);
                next.send_replace(0);
            }
        }
    }
    match inserted? {
        InsertPart::Inserted => {
            Counters::add(&st.counters.parts_stored, 1);
            // Hash the rest of the file's prefix in the background while the
            // bytes are still in the page cache, so a commit waits only for
            // the tail.
            let (st2, sid) = (st.clone(), s.id.clone());
            tokio::spawn(async move {
                let _ = advance_prefix(&st2, &sid).await;
            });
            Ok(json_response(
                200,
                &UploadedPart {
                    part: row.to_wire(),
                },
            ))
        }
        InsertPart::Conflict(existing) => Err(overlap(st, &existing)),
    }
}

/// The verify-only benchmark mode: hash the body, check it, record the part, keep no bytes.
async fn verify_only_part(
    st: &Arc<State>,
    s: &SessionRow,
    body: Incoming,
    part: box_chunked_proto::PartRange,
    digest: Sha1Digest,
    part_id: String,
    reset: bool,
) -> Result<Response<Body>, Fail> {
    let (_, hasher) = receive_body(
        st,
        body,
        None,
        part.len,
        reset,
        PartHasher::Single(Sha1::new()),
    )
    .await?;
    let (sha, _) = hasher.finish();
    if sha != digest {
        return Err(fail(
            412,
            ErrorCode::PreconditionFailed,
            "The Digest header does not match the part's SHA-1",
        ));
    }
    let row = PartRow {
        index: part.index,
        offset: part.offset,
        size: part.len,
        part_id,
        sha1: sha,
    };
    let (sid, r) = (s.id.clone(), row.clone());
    match blocking(st, move |store| store.insert_part(&sid, &r)).await? {
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
    }
}

fn overlap(st: &State, existing: &PartRow) -> Fail {
    Counters::add(&st.counters.parts_rejected_overlap, 1);
    let p = existing.to_wire();
    Fail::Api {
        status: 416,
        code: ErrorCode::RangeOverlapsExistingPart,
        message: format!(
            "Part overlaps with previously uploaded part: {{id: \"{}\", \"offset\": {}, \"size\": {}}}",
            p.part_id, p.offset, p.size
        ),
        context: Some(json!({ "conflicting_part": p })),
        retry_after: None,
    }
}

/// Receives exactly `len` bytes, hashing them and, when `file` is given,
/// writing them to it, in pieces of about [`FLUSH_AT`] so that a part is
/// never held whole in memory.
async fn receive_body(
    st: &State,
    mut body: Incoming,
    file: Option<std::fs::File>,
    len: u64,
    reset: bool,
    hasher: PartHasher,
) -> Result<(Option<std::fs::File>, PartHasher), Fail> {
    let mut pending: Vec<Bytes> = Vec::new();
    let mut pending_len = 0usize;
    let mut received = 0u64;
    // One batch is hashed and written on the blocking pool while the next
    // one arrives.
    let mut writer = Writer::Idle(file, hasher, 0);
    loop {
        // A client that stops sending (a half-open connection) must not hold
        // the part, or the session's hashed prefix, forever.
        let Ok(next) = tokio::time::timeout(st.cfg.body_idle, body.frame()).await else {
            return Err(Fail::Drop("client stopped sending the body"));
        };
        let Some(frame) = next else { break };
        let frame = frame.map_err(|_| Fail::Drop("client hung up"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        received += data.len() as u64;
        Counters::add(&st.counters.bytes_received, data.len() as u64);
        if received > len {
            return Err(fail(
                413,
                ErrorCode::RequestEntityTooLarge,
                "The body is longer than the part",
            ));
        }
        if reset && received >= len / 2 {
            return Err(Fail::Drop("injected reset in the middle of a part body"));
        }
        pending_len += data.len();
        pending.push(data);
        if pending_len >= FLUSH_AT {
            let chunks = std::mem::take(&mut pending);
            pending_len = 0;
            writer = writer.write(chunks).await?;
        }
    }
    if received < len {
        return Err(Fail::Drop("client sent a short body"));
    }
    let (file, hasher, _) = writer.write(pending).await?.finish().await?;
    Ok((file, hasher))
}

type WriteResult = io::Result<(Option<std::fs::File>, PartHasher, u64)>;

/// The part's file and hasher, idle or busy with one batch on the blocking pool.
enum Writer {
    Idle(Option<std::fs::File>, PartHasher, u64),
    Busy(tokio::task::JoinHandle<WriteResult>),
}

impl Writer {
    /// Waits for the batch in progress, if any.
    async fn finish(self) -> Result<(Option<std::fs::File>, PartHasher, u64), Fail> {
        match self {
            Self::Idle(f, h, at) => Ok((f, h, at)),
            Self::Busy(task) => task
                .await
                .map_err(|_| fail(500, ErrorCode::InternalServerError, "Internal server error"))?
                .map_err(|e| {
                    tracing::error!(error = %e, "writing a part failed");
                    fail(500, ErrorCode::InternalServerError, "Internal server error")
                }),
        }
    }

    /// Starts hashing and writing `chunks` once the previous batch is done.
    async fn write(self, chunks: Vec<Bytes>) -> Result<Self, Fail> {
        let (mut file, mut hasher, mut at) = self.finish().await?;
        Ok(Self::Busy(tokio::task::spawn_blocking(move || {
            let start = at;
            for c in &chunks {
                hasher.update(c);
                if let Some(f) = file.as_mut() {
                    f.write_all(c)?;
                }
                at += c.len() as u64;
            }
            if let Some(f) = file.as_ref() {
                crate::writeback::start(f, start, at - start);
            }
            Ok((file, hasher, at))
        })))
    }
}

/// A part's SHA-1 alone, or together with the file's SHA-1 when the part
/// continues the hashed prefix (one pass for both, see
/// `box_chunked_sha1`).
enum PartHasher {
    Single(Sha1),
    Dual(DualSha1),
}

impl PartHasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Single(h) => h.update(data),
            Self::Dual(h) => h.update(data),
        }
    }

    /// The part's digest and, for `Dual`, the file chain after the part.
    fn finish(self) -> (Sha1Digest, Option<DualSha1>) {
        match self {
            Self::Single(h) => (Sha1Digest(h.finalize().into()), None),
            Self::Dual(mut h) => (h.finish_part(), Some(h)),
        }
    }
}

async fn list_parts(
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

async fn commit(
    st: &Arc<State>,
    user: &str,
    sid: &str,
    req: Request<Incoming>,
    fault: Option<&FaultAction>,
) -> Result<Response<Body>, Fail> {
    let s = load_session(st, user, sid).await?;
    let headers = req.headers().clone();
    let digest = header(&headers, "digest")
        .ok_or_else(|| fail(400, ErrorCode::BadDigest, "Digest is required"))
        .and_then(|v| {
            DigestHeader::parse_sha1(v)
                .map_err(|e| fail(400, ErrorCode::BadDigest, format!("Invalid Digest: {e}")))
        })?;
    let body = small_body(req, 16 << 20).await?;
    let v = parse_json(&body)?;
    Counters::add(&st.counters.commits, 1);

    // A repeated commit after success returns the same file.
    if s.state == SessionState::Committed {
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
        return Err(digest_mismatch(
            s.committed_sha1
                .as_deref()
                .and_then(|h| Sha1Digest::from_hex(h).ok()),
            digest,
        ));
    }
    check_not_expired(&s)?;
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
                400,
                ErrorCode::PartsMismatch,
                "No matching part found on server",
            ));
        }
        _ => {}
    }

    // The parts listed must be exactly the parts stored, by offset.
    let listed = v.get("parts").and_then(Value::as_array).ok_or_else(|| {
        fail(
            400,
            ErrorCode::BadRequest,
            "parts is required and must be a list",
        )
    })?;
    let id = s.id.clone();
    let total = s.total_parts;
    let stored = blocking(st, move |store| store.parts(&id, 0, total.max(1))).await?;
    check_parts(listed, &stored, s.total_parts)?;

    // Preconditions: If-Match on versions; the name still free for new files.
    if let Some(file_id) = s.file_id {
        let (o, f) = (user.to_owned(), file_id.to_string());
        let file = blocking(st, move |store| store.file(&o, &f))
            .await?
            .ok_or_else(not_found)?;
        if let Some(etag) = header(&headers, "if-match") {
            if etag.trim().trim_matches('"') != file.etag.to_string() {
                return Err(fail(
                    412,
                    ErrorCode::PreconditionFailed,
                    "The resource has been modified. Please retrieve the resource again and retry",
                ));
            }
        }
    } else if let (Some(folder), Some(name)) = (s.folder_id.clone(), s.name.clone()) {
        let o = user.to_owned();
        let n = name.clone();
        if let Some((kind, id)) =
            blocking(st, move |store| store.item_named(&o, &folder, &n)).await?
        {
            return Err(conflict_error(kind, id, &name));
        }
    }

    // Verify the whole-file digest, answering 202 while that takes long.
    // (The verify-only benchmark mode keeps no bytes: it takes the digest as sent.)
    let mut rx = if st.cfg.verify_only {
        tokio::sync::watch::channel(Some(Ok(digest))).1
    } else {
        start_verification(st, &s, stored)
    };
    let waited = tokio::time::timeout(st.cfg.commit_wait, rx.wait_for(Option::is_some))
        .await
        .map(|r| r.map(|v| v.clone()));
    let actual = match waited {
        Err(_) => {
            Counters::add(&st.counters.commits_pending, 1);
            let mut r = empty_response(202);
            let secs = (s.file_size / 500_000_000).clamp(1, 30);
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
            return Ok(r);
        }
        Ok(Err(_)) => {
            return Err(fail(
                500,
                ErrorCode::InternalServerError,
                "verification stopped",
            ))
        }
        Ok(Ok(v)) => v,
    };
    st.verifications
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&s.id);
    let actual = match actual {
        Some(Ok(sha)) => sha,
        Some(Err(e)) => {
            tracing::error!(error = %e, "verification failed");
            return Err(fail(
                500,
                ErrorCode::InternalServerError,
                "Internal server error",
            ));
        }
        None => {
            return Err(fail(
                500,
                ErrorCode::InternalServerError,
                "Internal server error",
            ))
        }
    };
    if actual != digest {
        return Err(digest_mismatch(Some(actual), digest));
    }

    let attrs: Option<CommitAttributes> = v
        .get("attributes")
        .filter(|a| !a.is_null())
        .map(|a| serde_json::from_value(a.clone()))
        .transpose()
        .map_err(|e| {
            fail(
                400,
                ErrorCode::BadRequest,
                format!("Invalid attributes: {e}"),
            )
        })?;
    let attrs = attrs.unwrap_or_default();
    let nv = NewVersion {
        sha1: actual,
        description: attrs.description,
        content_created_at: attrs.content_created_at.map(|t| t.as_str().to_owned()),
        content_modified_at: attrs.content_modified_at.map(|t| t.as_str().to_owned()),
        now: now_unix(),
    };
    let (row, owner) = (s.clone(), user.to_owned());
    let file = blocking(st, move |store| {
        let id = store.commit(&row, &nv)?;
        store.file(&owner, &id.to_string())
    })
    .await?
    .ok_or_else(|| fail(500, ErrorCode::InternalServerError, "Internal server error"))?;
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

fn digest_mismatch(actual: Option<Sha1Digest>, sent: Sha1Digest) -> Fail {
    let actual = actual.map_or_else(|| "unknown".to_owned(), |a| a.to_base64());
    fail(
        400,
        ErrorCode::DigestMismatch,
        format!(
            "File digest was incorrect. Actual: {actual} Expected: {}",
            sent.to_base64()
        ),
    )
}

fn check_parts(listed: &[Value], stored: &[PartRow], total_parts: u64) -> Result<(), Fail> {
    let mismatch = |p: &Value| {
        fail(
            400,
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
        let offset = p.get("offset").and_then(json_u64);
        let size = p.get("size").and_then(json_u64);
        let part_id = p.get("part_id").and_then(json_id);
        let sha1 = p.get("sha1").and_then(Value::as_str);
        let ok = offset == Some(s.offset)
            && size == Some(s.size)
            && part_id
                .as_deref()
                .is_none_or(|id| id.is_empty() || id == s.part_id)
            && sha1.is_none_or(|h| h.eq_ignore_ascii_case(&s.sha1.to_hex()));
        if !ok {
            return Err(mismatch(p));
        }
    }
    if listed.len() != stored.len() || (stored.len() as u64) != total_parts {
        return Err(fail(
            400,
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

type VerifyRx = tokio::sync::watch::Receiver<Option<Result<Sha1Digest, String>>>;

/// The whole-file SHA-1 over a session's first `next` parts.
pub(crate) struct Prefix {
    next: u64,
    /// Its file chain is the prefix's SHA-1 (the part chain is unused here).
    hasher: DualSha1,
    /// Bumped when the prefix is dropped and rebuilt.
    generation: u64,
}

impl Prefix {
    fn new(generation: u64) -> Self {
        Self {
            next: 0,
            hasher: DualSha1::new(Backend::detect()),
            generation,
        }
    }
}

/// How far ahead of the prefix a part may be and still wait for it: about
/// the parts a client sends at once.
const PREFIX_AHEAD: u64 = 8;

/// How long a part waits for the prefix to move before it gives up
/// waiting (see `put_part`): 200 ms plus the time a part takes at 100 MB/s
/// (the part ahead may be arriving that slowly). The clock restarts at every
/// part the prefix takes in, so a queue of parts arriving in order all get
/// their turn, and a stalled one holds the others back by this much at most.
fn prefix_patience(part_size: u64) -> Duration {
    Duration::from_millis(200) + Duration::from_micros(part_size / 100)
}

/// A session's prefix, and its `next` readable (and awaitable) without the lock.
pub(crate) type PrefixHandle = (
    Arc<tokio::sync::Mutex<Prefix>>,
    Arc<tokio::sync::watch::Sender<u64>>,
);

/// The prefix, locked, once it has reached part `index`; `None` when the
/// part is too far ahead, or the prefix stops moving for `patience`.
async fn wait_for_prefix(
    lock: &Arc<tokio::sync::Mutex<Prefix>>,
    next: &tokio::sync::watch::Sender<u64>,
    index: u64,
    patience: Duration,
) -> Option<tokio::sync::OwnedMutexGuard<Prefix>> {
    let mut seen = next.subscribe();
    loop {
        let at = *seen.borrow_and_update();
        if at == index {
            return tokio::time::timeout(patience, lock.clone().lock_owned())
                .await
                .ok();
        }
        if !(at..at + PREFIX_AHEAD).contains(&index) {
            return None;
        }
        match tokio::time::timeout(patience, seen.changed()).await {
            Ok(Ok(())) => {}
            _ => return None,
        }
    }
}

fn prefix_of(st: &State, sid: &str) -> PrefixHandle {
    st.prefixes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(sid.to_owned())
        .or_insert_with(|| {
            (
                Arc::new(tokio::sync::Mutex::new(Prefix::new(0))),
                Arc::new(tokio::sync::watch::Sender::new(0)),
            )
        })
        .clone()
}

/// Hashes the consecutive stored parts after the prefix (read back from the
/// page cache, right after they were written), so that a commit only waits
/// for what is left. Returns the number of parts hashed so far.
async fn advance_prefix(st: &Arc<State>, sid: &str) -> Result<(u64, DualSha1), StoreError> {
    let (prefix, next) = prefix_of(st, sid);
    let mut p = prefix.lock().await;
    loop {
        let (store, id, from) = (st.store.clone(), sid.to_owned(), p.next);
        let parts = tokio::task::spawn_blocking(move || store.parts(&id, from, 64))
            .await
            .map_err(|e| StoreError::Io {
                what: "joining",
                path: std::path::PathBuf::new(),
                source: io::Error::other(e.to_string()),
            })??;
        let run: Vec<PartRow> = parts
            .into_iter()
            .enumerate()
            .take_while(|(i, r)| r.index == from + *i as u64)
            .map(|(_, r)| r)
            .collect();
        if run.is_empty() {
            return Ok((p.next, p.hasher.clone()));
        }
        let n = run.len() as u64;
        let (store, id) = (st.store.clone(), sid.to_owned());
        let hasher = p.hasher.clone();
        let hasher = tokio::task::spawn_blocking(move || hash_into(&store, &id, &run, hasher))
            .await
            .map_err(|e| StoreError::Io {
                what: "joining",
                path: std::path::PathBuf::new(),
                source: io::Error::other(e.to_string()),
            })??;
        p.hasher = hasher;
        p.next += n;
        next.send_replace(p.next);
    }
}

fn start_verification(st: &Arc<State>, s: &SessionRow, _parts: Vec<PartRow>) -> VerifyRx {
    let mut map = st
        .verifications
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(Verification::Running(rx)) = map.get(&s.id) {
        return rx.clone();
    }
    let (tx, rx) = tokio::sync::watch::channel(None);
    map.insert(s.id.clone(), Verification::Running(rx.clone()));
    let (st2, sid, total) = (st.clone(), s.id.clone(), s.total_parts);
    tokio::spawn(async move {
        let r = match advance_prefix(&st2, &sid).await {
            Ok((n, h)) if n == total => Ok(h.finish_file()),
            Ok((n, _)) => Err(format!(
                "only {n} of {total} parts could be hashed in order"
            )),
            Err(e) => Err(e.to_string()),
        };
        let _ = tx.send(Some(r));
    });
    rx
}

fn hash_into(
    store: &Store,
    sid: &str,
    parts: &[PartRow],
    mut h: DualSha1,
) -> Result<DualSha1, StoreError> {
    let mut buf = vec![0u8; FLUSH_AT];
    for p in parts {
        let path = store.blob_path(sid, &p.part_id);
        let mut f = std::fs::File::open(&path).map_err(io_err("opening", &path))?;
        loop {
            let n = f.read(&mut buf).map_err(io_err("reading", &path))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(h)
}

async fn abort(st: &Arc<State>, user: &str, sid: &str) -> Result<Response<Body>, Fail> {
    let s = load_session(st, user, sid).await?;
    if s.state == SessionState::Committed {
        // The file stays; deleting a committed session is a no-op, as on Box.
        return Ok(empty_response(204));
    }
    let id = s.id.clone();
    blocking(st, move |store| {
        if store.delete_session(&id)? {
            let dir = store.session_dir(&id);
            let _ = std::fs::remove_dir_all(&dir);
            if let Some(parent) = dir.parent() {
                let _ = fsync_dir(parent);
            }
        }
        Ok(())
    })
    .await?;
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

// ---------------------------------------------------------------- main API

async fn api(
    st: &Arc<State>,
    user: &str,
    rest: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["files", id]) => {
            let (o, f) = (user.to_owned(), (*id).to_owned());
            let file = blocking(st, move |s| s.file(&o, &f))
                .await?
                .ok_or_else(not_found)?;
            Ok(json_response(200, &file_json(st, &file).await?))
        }
        ("GET", ["files", id, "content"]) => download(st, user, id, req.headers()).await,
        ("POST", ["folders"]) => create_folder(st, user, req).await,
        ("GET", ["folders", id]) => {
            let folder = folder_json(st, user, id).await?;
            Ok(json_response(200, &folder))
        }
        (_, ["files", ..] | ["folders", ..]) => {
            Err(fail(405, ErrorCode::MethodNotAllowed, "Method Not Allowed"))
        }
        _ => Err(fail(404, ErrorCode::NotFound, "Not Found")),
    }
}

async fn path_collection(st: &State, owner: &str, folder_id: &str) -> Result<Vec<Value>, Fail> {
    let mut chain = Vec::new();
    let mut cur = folder_id.to_owned();
    for _ in 0..100 {
        if cur == "0" {
            break;
        }
        let (o, c) = (owner.to_owned(), cur.clone());
        let Some(f) = blocking(st, move |s| s.folder(&o, &c)).await? else {
            break;
        };
        chain.push(json!({"type": "folder", "id": f.id.to_string(), "sequence_id": "0", "etag": "0", "name": f.name}));
        cur = f.parent_id;
    }
    chain.push(root_folder_mini());
    chain.reverse();
    Ok(chain)
}

fn root_folder_mini() -> Value {
    json!({"type": "folder", "id": "0", "sequence_id": null, "etag": null, "name": "All Files"})
}

fn user_json(user: &str) -> Value {
    json!({"type": "user", "id": user, "name": user, "login": format!("{user}@box-chunked.local")})
}

async fn file_json(st: &State, f: &crate::store::FileRow) -> Result<Value, Fail> {
    let path = path_collection(st, &f.owner, &f.folder_id).await?;
    let parent = path.last().cloned().unwrap_or_else(root_folder_mini);
    Ok(json!({
        "type": "file",
        "id": f.id.to_string(),
        "etag": f.etag.to_string(),
        "sequence_id": f.etag.to_string(),
        "sha1": f.sha1,
        "name": f.name,
        "description": f.description,
        "size": f.size,
        "file_version": {"type": "file_version", "id": f.version_id.to_string(), "sha1": f.sha1},
        "path_collection": {"total_count": path.len(), "entries": path},
        "parent": parent,
        "created_at": timestamp(f.created_at),
        "modified_at": timestamp(f.modified_at),
        "content_created_at": f.content_created_at.clone().unwrap_or_else(|| timestamp(f.created_at)),
        "content_modified_at": f.content_modified_at.clone().unwrap_or_else(|| timestamp(f.modified_at)),
        "trashed_at": null,
        "purged_at": null,
        "created_by": user_json(&f.owner),
        "modified_by": user_json(&f.owner),
        "owned_by": user_json(&f.owner),
        "shared_link": null,
        "item_status": "active",
    }))
}

async fn folder_json(st: &State, user: &str, id: &str) -> Result<Value, Fail> {
    if id == "0" {
        return Ok(
            json!({"type": "folder", "id": "0", "sequence_id": null, "etag": null, "name": "All Files",
                         "path_collection": {"total_count": 0, "entries": []}, "owned_by": user_json(user)}),
        );
    }
    let (o, i) = (user.to_owned(), id.to_owned());
    let f = blocking(st, move |s| s.folder(&o, &i))
        .await?
        .ok_or_else(not_found)?;
    let path = path_collection(st, user, &f.parent_id).await?;
    let parent = path.last().cloned().unwrap_or_else(root_folder_mini);
    Ok(
        json!({"type": "folder", "id": f.id.to_string(), "sequence_id": "0", "etag": "0", "name": f.name,
              "created_at": timestamp(f.created_at), "modified_at": timestamp(f.created_at),
              "path_collection": {"total_count": path.len(), "entries": path}, "parent": parent,
              "owned_by": user_json(user), "item_status": "active"}),
    )
}

async fn create_folder(
    st: &Arc<State>,
    user: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let body = small_body(req, 64 * 1024).await?;
    let v = parse_json(&body)?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| fail(400, ErrorCode::BadRequest, "name is required"))?
        .to_owned();
    rules::validate_file_name(&name).map_err(|e| {
        fail(
            400,
            ErrorCode::ItemNameInvalid,
            format!("Item name invalid: {e}"),
        )
    })?;
    let parent = v
        .get("parent")
        .and_then(|p| p.get("id"))
        .and_then(json_id)
        .ok_or_else(|| fail(400, ErrorCode::BadRequest, "parent.id is required"))?;
    check_free_name(st, user, &parent, &name).await?;
    let (o, p, n) = (user.to_owned(), parent, name);
    let row = blocking(st, move |s| s.create_folder(&o, &p, &n, now_unix())).await?;
    Ok(json_response(
        201,
        &folder_json(st, user, &row.id.to_string()).await?,
    ))
}

/// Parses a single-range `Range` header against a size: `Ok(None)` means
/// serve everything (no header, or a form we do not honour), `Err` means
/// unsatisfiable.
fn parse_range(value: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(v) = value else { return Ok(None) };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        (start, end)
    };
    if size == 0 || range.0 >= size || range.1 < range.0 {
        return Err(());
    }
    Ok(Some(range))
}

async fn download(
    st: &Arc<State>,
    user: &str,
    id: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, Fail> {
    let (o, f) = (user.to_owned(), id.to_owned());
    let file = blocking(st, move |s| s.file(&o, &f))
        .await?
        .ok_or_else(not_found)?;
    if st.cfg.verify_only {
        return Err(fail(
            404,
            ErrorCode::NotFound,
            "This verify-only server keeps no file content",
        ));
    }
    let size = file.size;
    let range = match parse_range(header(headers, "range"), size) {
        Ok(r) => r,
        Err(()) => {
            let mut r = fail_response(
                416,
                ErrorCode::RequestedRangeNotSatisfiable,
                "Requested range not satisfiable",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert("content-range", v);
            }
            return Ok(r);
        }
    };
    let (start, end) = range.unwrap_or((0, size.saturating_sub(1)));
    let len = if size == 0 { 0 } else { end - start + 1 };
    let sid = file.session_id.clone();
    let parts = blocking(st, move |s| s.parts(&sid, 0, u64::MAX >> 1)).await?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(4);
    let store = st.store.clone();
    let sid = file.session_id.clone();
    tokio::task::spawn_blocking(move || {
        let mut pos = start;
        let stop = start + len;
        for p in parts {
            if pos >= stop {
                break;
            }
            let (p_start, p_end) = (p.offset, p.offset + p.size);
            if p_end <= pos {
                continue;
            }
            let path = store.blob_path(&sid, &p.part_id);
            let mut f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            if f.seek(io::SeekFrom::Start(pos - p_start)).is_err() {
                return;
            }
            while pos < stop.min(p_end) {
                let want = usize::try_from((stop.min(p_end) - pos).min(FLUSH_AT as u64))
                    .unwrap_or(FLUSH_AT);
                let mut buf = vec![0u8; want];
                match f.read_exact(&mut buf) {
                    Ok(()) => {}
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
                pos += want as u64;
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    return;
                }
            }
        }
    });
    let mut r = Response::new(ChannelBody { rx, remaining: len }.boxed());
    r.headers_mut()
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    r.headers_mut().insert(
        http::header::ACCEPT_RANGES,
        HeaderValue::from_static("bytes"),
    );
    if range.is_some() {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")) {
            r.headers_mut().insert("content-range", v);
        }
    }
    Ok(r)
}

fn fail_response(status: u16, code: ErrorCode, message: &str) -> Response<Body> {
    json_response(status, &BoxError::new(status, code, message))
}

/// A response body fed by a blocking reader through a bounded channel.
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, io::Error>>,
    remaining: u64,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => {
                self.remaining = self.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

// ------------------------------------------------------------------- OAuth

async fn oauth_token(st: &Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Fail> {
    if req.method() != http::Method::POST {
        return Err(fail(405, ErrorCode::MethodNotAllowed, "Method Not Allowed"));
    }
    let body = small_body(req, 64 * 1024).await?;
    let mut grant = None;
    let mut client_id = None;
    let mut secret = None;
    for (k, v) in form_urlencoded::parse(&body) {
        match &*k {
            "grant_type" => grant = Some(v.into_owned()),
            "client_id" => client_id = Some(v.into_owned()),
            "client_secret" => secret = Some(v.into_owned()),
            _ => {}
        }
    }
    if grant.as_deref() != Some("client_credentials") {
        return Err(Fail::OAuth(
            400,
            "unsupported_grant_type",
            "The grant type is unsupported; use client_credentials",
        ));
    }
    let (Some(id), Some(secret)) = (client_id, secret) else {
        return Err(Fail::OAuth(
            400,
            "invalid_request",
            "client_id and client_secret are required",
        ));
    };
    let Some((_, _, user)) = st
        .cfg
        .clients
        .iter()
        .find(|(c, s, _)| *c == id && *s == secret)
    else {
        return Err(Fail::OAuth(
            400,
            "invalid_client",
            "The client credentials are invalid",
        ));
    };
    let token = random_hex(16, false);
    let expires = SystemTime::now() + st.cfg.token_ttl;
    st.issued
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(token.clone(), (user.clone(), expires));
    Ok(json_response(
        200,
        &json!({
            "access_token": token,
            "expires_in": st.cfg.token_ttl.as_secs(),
            "token_type": "bearer",
            "restricted_to": [],
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        }),
    ))
}

// ------------------------------------------------------------------- admin

async fn admin(
    st: &Arc<State>,
    rest: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    match (req.method().as_str(), rest) {
        ("GET", "counters") => Ok(json_response(200, &st.counters.snapshot())),
        ("PUT", "faults") => {
            let body = small_body(req, 64 * 1024).await?;
            let text = String::from_utf8_lossy(&body);
            let spec = FaultSpec::parse(&text)
                .map_err(|e| fail(400, ErrorCode::BadRequest, e.to_string()))?;
            st.faults.set(spec);
            Ok(empty_response(204))
        }
        _ => Err(fail(404, ErrorCode::NotFound, "Not Found")),
    }
}

impl Store {
    /// Moves a session's expiry to now (fault injection).
    pub(crate) fn expire_now(&self, id: &str) -> Result<(), StoreError> {
        self.set_expiry(id, now_unix())
    }
}
