//! The layers of the HTTP stack. Each is [`Around`], one `Service` type
//! whose request handling is a function of the request and the ready inner
//! service: [`deadline`] (the attempt's deadline), [`trace`] (method, path,
//! status, never headers or bodies) and [`Auth`] (the token, `As-User`, one
//! refresh after a `401`); and [`ConnectRetry`], tower's retry policy for
//! requests that never left.

use super::{Deadline, Failure, ReqBody, CONNECT_ATTEMPTS};
use crate::tokens::{OriginPolicy, TokenProvider};
use box_chunked_core::retry::{Jitter, RetryPolicy};
use bytes::Bytes;
use http::{Request, Response};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::retry::budget::{Budget, TpsBudget};
use tower::{Service, ServiceExt};

pub(super) type BoxFut<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;
type Answer = BoxFut<Result<Response<Bytes>, Failure>>;

/// A layer: `wrap(request, inner)` handles each request with the inner
/// service, which is ready (tower's "take the ready one" idiom).
#[derive(Clone)]
pub(super) struct Around<S, F> {
    inner: S,
    wrap: F,
}

impl<S, F> Around<S, F> {
    pub(super) fn new(inner: S, wrap: F) -> Self {
        Self { inner, wrap }
    }
}

impl<S, F> Service<Request<ReqBody>> for Around<S, F>
where
    S: Service<Request<ReqBody>, Response = Response<Bytes>, Error = Failure> + Clone,
    F: Fn(Request<ReqBody>, S) -> Answer,
{
    type Response = Response<Bytes>;
    type Error = Failure;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Answer {
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        (self.wrap)(req, ready)
    }
}

/// The attempt's deadline (a request extension), as a timeout.
pub(super) fn deadline<S>(req: Request<ReqBody>, mut inner: S) -> Answer
where
    S: Service<Request<ReqBody>, Response = Response<Bytes>, Error = Failure>,
    S::Future: Send + 'static,
{
    let at = req.extensions().get::<Deadline>().map(|d| d.0);
    let fut = inner.call(req);
    Box::pin(async move {
        match at {
            Some(d) => tokio::time::timeout_at(d, fut)
                .await
                .map_err(|_| Failure::TimedOut)?,
            None => fut.await,
        }
    })
}

/// One debug line per request: method and path only, never headers
/// (tokens) or bodies.
pub(super) fn trace<S>(req: Request<ReqBody>, mut inner: S) -> Answer
where
    S: Service<Request<ReqBody>, Response = Response<Bytes>, Error = Failure>,
    S::Future: Send + 'static,
{
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let started = std::time::Instant::now();
    let fut = inner.call(req);
    Box::pin(async move {
        let r = fut.await;
        let ms = started.elapsed().as_millis() as u64;
        match &r {
            Ok(resp) => {
                tracing::debug!(%method, %path, status = resp.status().as_u16(), ms, "box request")
            }
            Err(e) => tracing::debug!(%method, %path, error = %e, ms, "box request failed"),
        }
        r
    })
}

/// Credentials: the token (and `As-User`) only to the configured origins,
/// and one refresh and repeat after a `401`, as the core says.
#[derive(Clone)]
pub(super) struct Auth {
    pub(super) provider: Arc<dyn TokenProvider>,
    pub(super) origins: Arc<OriginPolicy>,
    /// `As-User`, sent with the token (so only to the same origins).
    pub(super) as_user: Option<http::HeaderValue>,
}

impl Auth {
    pub(super) fn call<S>(self, mut req: Request<ReqBody>, inner: S) -> Answer
    where
        S: Service<Request<ReqBody>, Response = Response<Bytes>, Error = Failure>
            + Clone
            + Send
            + 'static,
        S::Future: Send,
    {
        if req
            .extensions()
            .get::<box_chunked_core::fetch::Anonymous>()
            .is_some()
        {
            // Its own credential (a download URL): no token, no As-User.
            return Box::pin(inner.oneshot(req));
        }
        if let Some(id) = &self.as_user {
            req.headers_mut().insert("as-user", id.clone());
        }
        Box::pin(async move {
            if !self.origins.allows(req.uri()) {
                let to = crate::tokens::origin(req.uri()).unwrap_or_else(|| req.uri().to_string());
                return Err(Failure::Final(crate::Error::new(
                    crate::ErrorKind::Config,
                    format!(
                        "refused to send the credentials to {to}: it is not an origin of the configured URLs ({}); check the URLs given and, on resume, the checkpoint's",
                        self.origins.describe()
                    ),
                )));
            }
            let token = self.provider.token().await.map_err(Failure::Final)?;
            let mut again = clone_request(&req);
            set_bearer(&mut req, token.expose())?;
            let resp = inner.clone().oneshot(req).await?;
            if !box_chunked_core::retry::refresh_token_and_repeat(resp.status().as_u16()) {
                return Ok(resp);
            }
            // The auth layer owns 401 (the core says so): refresh once and repeat.
            tracing::debug!("401: refreshing the token once");
            let fresh = self
                .provider
                .refresh(&token)
                .await
                .map_err(Failure::Final)?;
            set_bearer(&mut again, fresh.expose())?;
            inner.oneshot(again).await
        })
    }
}

/// Retries connect errors only, with the core's backoff, under a budget.
#[derive(Clone)]
pub(super) struct ConnectRetry {
    policy: RetryPolicy,
    attempts: u32,
    jitter: Jitter,
    budget: Arc<TpsBudget>,
}

impl ConnectRetry {
    pub(super) fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            attempts: 0,
            jitter: Jitter::new(super::os_seed()),
            budget: Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.2)),
        }
    }
}

impl tower::retry::Policy<Request<ReqBody>, Response<Bytes>, Failure> for ConnectRetry {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _req: &mut Request<ReqBody>,
        result: &mut Result<Response<Bytes>, Failure>,
    ) -> Option<Self::Future> {
        self.attempts += 1;
        match result {
            Err(Failure::NotSent(_))
                if self.attempts < self.policy.max_attempts.min(CONNECT_ATTEMPTS)
                    && self.budget.withdraw() =>
            {
                let delay = self.policy.backoff(self.attempts, None, &mut self.jitter);
                tracing::debug!(attempt = self.attempts, ?delay, "connect failed; retrying");
                Some(tokio::time::sleep(delay))
            }
            Err(_) => None,
            Ok(_) => {
                self.budget.deposit();
                None
            }
        }
    }

    fn clone_request(&mut self, req: &Request<ReqBody>) -> Option<Request<ReqBody>> {
        Some(clone_request(req))
    }
}

/// A request again, for a repeat: the body (cheap: `Bytes` or a file's
/// path), method, URI, headers, the deadline and where a streamed answer
/// goes (a download repeated after a `401` still streams to its sink).
fn clone_request(req: &Request<ReqBody>) -> Request<ReqBody> {
    let mut r = Request::new(req.body().clone());
    *r.method_mut() = req.method().clone();
    *r.uri_mut() = req.uri().clone();
    *r.version_mut() = req.version();
    *r.headers_mut() = req.headers().clone();
    if let Some(d) = req.extensions().get::<Deadline>() {
        r.extensions_mut().insert(*d);
    }
    if let Some(s) = req.extensions().get::<super::StreamTo>() {
        r.extensions_mut().insert(s.clone());
    }
    r
}

fn set_bearer(req: &mut Request<ReqBody>, token: &str) -> Result<(), Failure> {
    let mut v = http::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        Failure::Final(crate::Error::new(
            crate::ErrorKind::Auth,
            "the token is not a valid header value",
        ))
    })?;
    v.set_sensitive(true);
    req.headers_mut().insert(http::header::AUTHORIZATION, v);
    Ok(())
}
