//! Who a request is: the registered JWT apps, the tokens issued and what
//! each stands for (a user, or an app's service account), the single-use
//! codes, refresh tokens and assertion ids, and `As-User`.
//!
//! Everything here is in memory: a restart of the server forgets issued
//! tokens (clients sign in again), as `docs/server.md` says.

use crate::clock::Clock;
use box_chunked_proto::jwt::{AppConfig, AppConfigError, AppPublicKey};
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How long an authorization code may wait to be traded (Box: 30 s).
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(30);
/// How long a refresh token lives (Box: 60 days).
pub(crate) const REFRESH_LIFETIME: Duration = Duration::from_secs(60 * 24 * 3600);

/// A Box app registered with `serve --app FILE`: its credentials, the
/// public key its assertions are checked with, and its enterprise.
#[derive(Clone)]
pub struct ServerApp {
    /// The app's client id.
    pub client_id: String,
    client_secret: String,
    /// The `kid` its assertions carry.
    pub public_key_id: String,
    public_key: AppPublicKey,
    /// The enterprise whose service account the app acts as.
    pub enterprise_id: String,
    /// The origins the app's tokens may be used from in a browser (its
    /// "CORS Domains": `boxAppSettings.corsDomains` in its config file).
    pub cors_origins: Vec<String>,
}

impl fmt::Debug for ServerApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("public_key_id", &self.public_key_id)
            .field("enterprise_id", &self.enterprise_id)
            .field("cors_origins", &self.cors_origins)
            .finish_non_exhaustive()
    }
}

impl ServerApp {
    /// From a Box app config file's JSON: the public key is
    /// `appAuth.publicKey` when present, else derived from the private key
    /// with the passphrase. The enterprise is `enterpriseID` (`"0"` when
    /// the file has none). Its CORS domains are
    /// `boxAppSettings.corsDomains`, a list or one comma-separated string
    /// as Box's console takes them (none when absent).
    pub fn from_config_json(text: &str) -> Result<Self, AppConfigError> {
        let cfg = AppConfig::from_json(text)?;
        let raw: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let cors_origins = match &raw["boxAppSettings"]["corsDomains"] {
            serde_json::Value::String(s) => s
                .split([',', ' '])
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect(),
            serde_json::Value::Array(list) => list
                .iter()
                .filter_map(|o| o.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Self {
            cors_origins,
            public_key: cfg.public_key()?,
            client_secret: cfg.client_secret().to_owned(),
            client_id: cfg.client_id,
            public_key_id: cfg.public_key_id,
            enterprise_id: cfg.enterprise_id.unwrap_or_else(|| "0".to_owned()),
        })
    }

    /// Whether `secret` is the app's.
    pub(crate) fn secret_is(&self, secret: &str) -> bool {
        self.client_secret == secret
    }

    /// The key its assertions are signed with.
    pub(crate) fn public_key(&self) -> &AppPublicKey {
        &self.public_key
    }

    /// The user id of the app's service account.
    pub fn service_account(&self) -> String {
        format!("AutomationUser_{}", self.client_id)
    }
}

/// What a token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    /// The user the token acts as.
    pub(crate) user: String,
    /// Whether it is an app's service account (which may use `As-User`).
    pub(crate) service_account: bool,
    /// The client id of the `--app` the token was issued to (its CORS
    /// domains apply), if it was.
    pub(crate) app: Option<String>,
}

impl Principal {
    pub(crate) fn user(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            service_account: false,
            app: None,
        }
    }
}

struct Issued {
    who: Principal,
    expires: SystemTime,
}

struct Pending {
    client_id: String,
    user: String,
    redirect_uri: Option<String>,
    expires: SystemTime,
}

/// The tokens, codes and assertion ids the server has issued or seen, each
/// expiring on the server's clock.
#[derive(Default)]
pub(crate) struct Book {
    inner: Mutex<BookInner>,
    clock: Clock,
}

#[derive(Default)]
struct BookInner {
    access: HashMap<String, Issued>,
    refresh: HashMap<String, Pending>,
    codes: HashMap<String, Pending>,
    /// `(iss, jti)` of assertions seen, until their `exp`.
    jtis: HashMap<(String, String), SystemTime>,
}

impl Book {
    /// An empty book on `clock`.
    pub(crate) fn new(clock: Clock) -> Self {
        Self {
            inner: Mutex::default(),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BookInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records an access token for `who`, valid for `ttl`.
    pub(crate) fn issue(&self, token: &str, who: Principal, ttl: Duration) {
        let now = self.clock.now();
        let mut b = self.lock();
        if b.access.len() % 1024 == 1023 {
            b.access.retain(|_, i| i.expires > now);
        }
        b.access.insert(
            token.to_owned(),
            Issued {
                who,
                expires: now + ttl,
            },
        );
    }

    /// Who an issued access token stands for, while it is valid.
    pub(crate) fn access(&self, token: &str) -> Option<Principal> {
        let b = self.lock();
        b.access
            .get(token)
            .filter(|i| i.expires > self.clock.now())
            .map(|i| i.who.clone())
    }

    /// Records a refresh token of `client_id` for `user`.
    pub(crate) fn issue_refresh(&self, token: &str, client_id: &str, user: &str) {
        self.lock().refresh.insert(
            token.to_owned(),
            Pending {
                client_id: client_id.to_owned(),
                user: user.to_owned(),
                redirect_uri: None,
                expires: self.clock.now() + REFRESH_LIFETIME,
            },
        );
    }

    /// Uses a refresh token up: the user it was for, when it is valid and
    /// belongs to `client_id`. A second use finds nothing.
    pub(crate) fn take_refresh(&self, token: &str, client_id: &str) -> Option<String> {
        let p = self.lock().refresh.remove(token)?;
        (p.client_id == client_id && p.expires > self.clock.now()).then_some(p.user)
    }

    /// Records an authorization code.
    pub(crate) fn issue_code(
        &self,
        code: &str,
        client_id: &str,
        user: &str,
        redirect: Option<&str>,
    ) {
        let now = self.clock.now();
        let mut b = self.lock();
        b.codes.retain(|_, p| p.expires > now);
        b.codes.insert(
            code.to_owned(),
            Pending {
                client_id: client_id.to_owned(),
                user: user.to_owned(),
                redirect_uri: redirect.map(str::to_owned),
                expires: now + CODE_LIFETIME,
            },
        );
    }

    /// Uses a code up: its user, when it is valid, for `client_id`, and
    /// `redirect_uri` (when the token request sends one; Box's SDKs do not)
    /// is the one it was issued for.
    pub(crate) fn take_code(
        &self,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
    ) -> Option<String> {
        let p = self.lock().codes.remove(code)?;
        let redirect_ok = match (&p.redirect_uri, redirect_uri) {
            (Some(issued), Some(given)) => issued == given,
            _ => true,
        };
        (p.client_id == client_id && p.expires > self.clock.now() && redirect_ok).then_some(p.user)
    }

    /// Records an assertion's id; `false` when it was seen before.
    pub(crate) fn first_use_of_jti(&self, iss: &str, jti: &str, exp: SystemTime) -> bool {
        let now = self.clock.now();
        let mut b = self.lock();
        b.jtis
            .retain(|_, until| *until + Duration::from_secs(120) > now);
        b.jtis
            .insert((iss.to_owned(), jti.to_owned()), exp)
            .is_none()
    }
}

impl crate::State {
    /// Whether `id` is a managed user of the enterprise: a user of a
    /// configured token or client.
    pub(crate) fn is_managed_user(&self, id: &str) -> bool {
        self.cfg.tokens.iter().any(|(_, u)| u == id)
            || self.cfg.clients.iter().any(|(_, _, u)| u == id)
    }

    /// Who a request's bearer token stands for.
    pub(crate) fn principal(&self, token: &str) -> Option<Principal> {
        if let Some((_, user)) = self.cfg.tokens.iter().find(|(t, _)| t == token) {
            return Some(Principal::user(user));
        }
        self.book.access(token)
    }
}
