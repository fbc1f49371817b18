//! The token endpoint, shared by every grant: a token request sent with the
//! core's rules for throttled and refused answers ([`box_chunked_core::auth`]),
//! and the cache that lets one refresh run at a time however many requests
//! are waiting for a token.

use crate::error::{Error, ErrorKind};
use crate::tokens::{Secret, TokenProvider};
use crate::transport::Transport;
use box_chunked_core::auth::{refresh_after, token_reply, TokenReply};
use box_chunked_proto::oauth::{Grant, OAuthError, TokenAnswer};
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Mutex;

/// A provider that needs the client's transport (its proxies and roots)
/// and token URL: the builder hands them over in `build`.
pub(crate) trait Bind: TokenProvider {
    /// Gives the provider its transport and the client's token URL (which a
    /// URL set on the provider itself overrides).
    fn bind(&self, transport: &Transport, token_url: &str);
}

/// Where a grant's requests go. Set once, when the client is built.
#[derive(Default)]
pub(crate) struct TokenEndpoint {
    url: OnceLock<String>,
    transport: OnceLock<Transport>,
}

/// A granted token and what was learnt on the way.
pub(crate) struct Granted {
    pub(crate) answer: TokenAnswer,
    /// When the request that got it was sent.
    pub(crate) sent_at: Instant,
    /// The server's clock minus ours, from the answer's `Date`.
    pub(crate) skew: Option<i64>,
}

impl Granted {
    /// The token and when to renew it.
    pub(crate) fn fresh(&self) -> Fresh {
        Fresh {
            token: Secret::new(self.answer.access_token.clone()),
            renew_at: self.sent_at + refresh_after(self.answer.expires_in),
        }
    }
}

/// A token request that did not give a token.
pub(crate) enum GrantFailure {
    /// The endpoint refused the grant.
    Refused {
        status: u16,
        error: OAuthError,
        skew: Option<i64>,
    },
    /// Anything else (the endpoint unreachable, a bad URL).
    Failed(Error),
}

impl GrantFailure {
    /// The error for people: what was refused, and Box's reason.
    pub(crate) fn into_error(self, what: &str) -> Error {
        match self {
            Self::Refused { status, error, .. } => Error::new(
                ErrorKind::Auth,
                format!(
                    "the token endpoint refused {what} ({status} {}: {})",
                    error.error,
                    error.error_description.as_deref().unwrap_or("no details")
                ),
            ),
            Self::Failed(e) => e,
        }
    }
}

impl TokenEndpoint {
    pub(crate) fn bind(&self, transport: &Transport, token_url: &str) {
        let _ = self.transport.set(transport.clone());
        let _ = self.url.set(token_url.to_owned());
    }

    /// The token URL.
    pub(crate) fn url(&self) -> &str {
        self.url
            .get()
            .map_or(box_chunked_proto::urls::BOX_TOKEN_URL, String::as_str)
    }

    /// Sends the grant `make` builds (built again for each attempt: a JWT
    /// assertion is used once) until the core says it is granted or refused.
    pub(crate) async fn request(
        &self,
        mut make: impl FnMut() -> Result<Grant, Error>,
    ) -> Result<Granted, GrantFailure> {
        let transport = self.transport.get().ok_or_else(|| {
            GrantFailure::Failed(Error::new(
                ErrorKind::Config,
                "this token provider is not part of a client yet; pass it to a ClientBuilder",
            ))
        })?;
        let mut attempt = 0;
        loop {
            let form = make().map_err(GrantFailure::Failed)?.to_form();
            let req = http::Request::post(self.url())
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(bytes::Bytes::from(form))
                .map_err(|e| {
                    GrantFailure::Failed(Error::new(
                        ErrorKind::Config,
                        format!("the OAuth URL {}: {e}", self.url()),
                    ))
                })?;
            let sent_at = Instant::now();
            let resp = transport
                .send_unauthenticated(req, Duration::from_secs(30))
                .await
                .map_err(|e| {
                    GrantFailure::Failed(Error::new(
                        ErrorKind::Auth,
                        format!("cannot reach the OAuth endpoint {}: {e}", self.url()),
                    ))
                })?;
            let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok());
            let date = header("date");
            let skew = date.and_then(|d| box_chunked_core::auth::clock_skew(SystemTime::now(), d));
            match token_reply(
                resp.status().as_u16(),
                resp.body(),
                header("retry-after"),
                date,
                attempt,
            ) {
                TokenReply::Granted(answer) => {
                    return Ok(Granted {
                        answer,
                        sent_at,
                        skew,
                    })
                }
                TokenReply::Refused { status, error } => {
                    return Err(GrantFailure::Refused {
                        status,
                        error,
                        skew,
                    })
                }
                TokenReply::Repeat { after, status } => {
                    tracing::debug!(status, ?after, "token endpoint busy; asking again");
                    tokio::time::sleep(after).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// A token and when to renew it.
pub(crate) struct Fresh {
    pub(crate) token: Secret,
    pub(crate) renew_at: Instant,
}

/// The cached token. Its lock is held while a new one is fetched, so one
/// refresh runs at a time and everyone waiting gets its result.
#[derive(Default)]
pub(crate) struct TokenCache {
    slot: Mutex<Option<Fresh>>,
}

impl TokenCache {
    /// The cached token while it is fresh, else the one `fetch` gets.
    pub(crate) async fn token<F>(&self, fetch: impl FnOnce() -> F) -> Result<Secret, Error>
    where
        F: Future<Output = Result<Fresh, Error>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(f) = slot.as_ref() {
            if Instant::now() < f.renew_at {
                return Ok(f.token.clone());
            }
        }
        let f = fetch().await?;
        let t = f.token.clone();
        *slot = Some(f);
        Ok(t)
    }

    /// A token other than `stale` (refused with `401`): another request's
    /// refresh if one happened meanwhile, else the one `fetch` gets.
    pub(crate) async fn refresh<F>(
        &self,
        stale: &Secret,
        fetch: impl FnOnce() -> F,
    ) -> Result<Secret, Error>
    where
        F: Future<Output = Result<Fresh, Error>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(f) = slot.as_ref() {
            if &f.token != stale && Instant::now() < f.renew_at {
                return Ok(f.token.clone());
            }
        }
        let f = fetch().await?;
        let t = f.token.clone();
        *slot = Some(f);
        Ok(t)
    }
}

/// A random id for an assertion's `jti` or a login's `state`: 32 hex digits
/// from the operating system.
pub(crate) fn random_id() -> Result<String, Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| {
        Error::new(
            ErrorKind::Auth,
            format!("the operating system gave no random bytes: {e}"),
        )
    })?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}
