//! JWT server auth from a Box app config file: a new RS256 assertion for
//! every token (JWT has no refresh token), with the clock corrected once
//! when Box refuses `exp` and its `Date` shows our clock is off.

use super::grant::{random_id, Bind, Fresh, GrantFailure, TokenCache, TokenEndpoint};
use super::Subject;
use crate::error::{Error, ErrorKind};
use crate::tokens::{BoxFuture, Secret, TokenProvider};
use crate::transport::Transport;
use box_chunked_core::auth::{assertion_exp, retry_with_server_time};
use box_chunked_proto::jwt::{AppConfig, AppKey, Assertion, Claims};
use box_chunked_proto::oauth::Grant;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// JWT server auth with the config file Box's developer console hands out
/// (`boxAppSettings.appAuth` with an encrypted private key and its
/// passphrase). Tokens act as the enterprise's service account unless a
/// user subject is given, are renewed before they expire and once after a
/// `401`, one request at a time. The key, the passphrase and the client
/// secret never appear in `Debug`, logs or errors.
///
/// ```
/// use box_chunked_hyper::{BoxClient, JwtAuth};
/// # let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/jwt/console-key.pem")).unwrap();
/// # let config_json = serde_json::json!({"boxAppSettings": {"clientID": "app", "clientSecret": "s",
/// #   "appAuth": {"publicKeyID": "kid1", "privateKey": pem, "passphrase": "test-passphrase"}},
/// #   "enterpriseID": "e1"}).to_string();
/// // From the file's contents (BOX_CONFIG_JSON), or JwtAuth::from_config_file(path).
/// let jwt = JwtAuth::from_config_json(&config_json)?.with_user_subject("alice");
/// let client = BoxClient::builder().auth(jwt).build()?;
/// # let _ = client;
/// # Ok::<(), box_chunked_hyper::Error>(())
/// ```
pub struct JwtAuth {
    config: AppConfig,
    key: AppKey,
    subject: Subject,
    skew: AtomicI64,
    endpoint: TokenEndpoint,
    cache: TokenCache,
}

impl fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field("client_id", &self.config.client_id)
            .field("public_key_id", &self.config.public_key_id)
            .field("subject", &self.subject)
            .field("token_url", &self.endpoint.url())
            .finish_non_exhaustive()
    }
}

impl JwtAuth {
    /// From a Box app config file.
    pub fn from_config_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "cannot read the Box app config file {}: {e}",
                    path.display()
                ),
            )
        })?;
        Self::from_config_json(&text).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("the Box app config file {}: {e}", path.display()),
            )
        })
    }

    /// From the config file's contents (for CI secrets).
    pub fn from_config_json(json: &str) -> Result<Self, Error> {
        let config =
            AppConfig::from_json(json).map_err(|e| Error::new(ErrorKind::Config, e.to_string()))?;
        let key = config
            .private_key()
            .map_err(|e| Error::new(ErrorKind::Config, e.to_string()))?;
        let subject = match (&config.enterprise_id, &config.user_id) {
            (Some(e), _) => Subject::Enterprise(e.clone()),
            (None, Some(u)) => Subject::User(u.clone()),
            (None, None) => Subject::Enterprise(String::new()),
        };
        Ok(Self {
            config,
            key,
            subject,
            skew: AtomicI64::new(0),
            endpoint: TokenEndpoint::default(),
            cache: TokenCache::default(),
        })
    }

    /// Tokens for this user instead of the service account.
    pub fn with_user_subject(mut self, user_id: impl Into<String>) -> Self {
        self.subject = Subject::User(user_id.into());
        self
    }

    /// Tokens for this enterprise's service account (the config file's
    /// `enterpriseID` by default).
    pub fn with_enterprise_subject(mut self, enterprise_id: impl Into<String>) -> Self {
        self.subject = Subject::Enterprise(enterprise_id.into());
        self
    }

    /// The app's client id.
    pub fn client_id(&self) -> &str {
        &self.config.client_id
    }

    fn what(&self) -> String {
        let (kind, id) = self.subject.wire();
        format!(
            "the JWT assertion of app {} for {} {id}",
            self.config.client_id,
            kind.as_str()
        )
    }

    fn grant(&self) -> Result<Grant, Error> {
        let (Subject::Enterprise(id) | Subject::User(id)) = &self.subject;
        if id.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "the Box app config file has no enterpriseID; give the subject (BOX_SUBJECT_TYPE and BOX_SUBJECT_ID)",
            ));
        }
        let (kind, id) = self.subject.wire();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let exp = assertion_exp(now, self.skew.load(Ordering::Relaxed));
        let claims = Claims::for_subject(&self.config, id, kind.as_str(), &random_id()?, exp);
        Ok(Grant::JwtBearer {
            assertion: Assertion::sign(&self.key, &self.config.public_key_id, &claims),
            client_id: self.config.client_id.clone(),
            client_secret: self.config.client_secret().to_owned(),
        })
    }

    async fn fetch(&self) -> Result<Fresh, Error> {
        let mut corrected = false;
        loop {
            match self.endpoint.request(|| self.grant()).await {
                Ok(g) => {
                    // Keep Box's time for the next assertion.
                    if let Some(skew) = g.skew {
                        self.skew.store(skew, Ordering::Relaxed);
                    }
                    return Ok(g.fresh());
                }
                Err(GrantFailure::Refused {
                    error,
                    skew: Some(skew),
                    ..
                }) if !corrected && retry_with_server_time(&error, Some(skew)) => {
                    tracing::warn!(
                        skew_seconds = skew,
                        "Box refused the assertion's exp; this clock differs from Box's, signing again with Box's time"
                    );
                    self.skew.store(skew, Ordering::Relaxed);
                    corrected = true;
                }
                Err(f) => return Err(f.into_error(&self.what())),
            }
        }
    }
}

impl TokenProvider for JwtAuth {
    fn token(&self) -> BoxFuture<'_, Result<Secret, Error>> {
        Box::pin(self.cache.token(|| self.fetch()))
    }

    fn refresh<'a>(&'a self, stale: &'a Secret) -> BoxFuture<'a, Result<Secret, Error>> {
        Box::pin(self.cache.refresh(stale, || self.fetch()))
    }
}

impl Bind for JwtAuth {
    fn bind(&self, transport: &Transport, token_url: &str) {
        self.endpoint.bind(transport, token_url);
    }
}
