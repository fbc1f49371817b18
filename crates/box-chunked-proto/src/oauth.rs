//! OAuth 2.0 at Box's token endpoint: the four grants' form bodies, the
//! token answer, the error answer, the authorize URL, and the token file a
//! refresh-token sign-in keeps between runs.
//!
//! Every type that holds a secret (a client secret, an assertion, a token)
//! prints `***` for it in `Debug`.
//!
//! ```
//! use box_chunked_proto::oauth::{Grant, TokenAnswer};
//! let grant = Grant::RefreshToken {
//!     refresh_token: "R1".into(),
//!     client_id: "app".into(),
//!     client_secret: "s3cret".into(),
//! };
//! let form = grant.to_form();
//! assert_eq!(form, "grant_type=refresh_token&refresh_token=R1&client_id=app&client_secret=s3cret");
//! assert_eq!(Grant::parse_form(form.as_bytes()).unwrap(), grant);
//! assert!(!format!("{grant:?}").contains("s3cret"));
//! let answer: TokenAnswer = serde_json::from_str(
//!     r#"{"access_token":"A","expires_in":3600,"token_type":"bearer","refresh_token":"R2"}"#,
//! ).unwrap();
//! assert_eq!(answer.refresh_token.as_deref(), Some("R2"));
//! ```

use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime};

/// `grant_type` of the client-credentials grant.
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
/// `grant_type` of the JWT-bearer grant (JWT server auth).
pub const GRANT_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// `grant_type` that trades an authorization code for tokens.
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
/// `grant_type` that trades a refresh token for a new pair.
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub use crate::urls::BOX_AUTHORIZE_URL;

/// Who a client-credentials or JWT token acts as (`box_subject_type`,
/// `box_sub_type`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubjectType {
    /// The enterprise's service account (`enterprise`).
    Enterprise,
    /// A managed or app user (`user`).
    User,
}

impl SubjectType {
    /// The wire value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Enterprise => "enterprise",
            Self::User => "user",
        }
    }

    /// Parses the wire value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "enterprise" => Some(Self::Enterprise),
            "user" => Some(Self::User),
            _ => None,
        }
    }
}

/// A request to the token endpoint, as its form fields.
#[derive(Clone, PartialEq, Eq)]
pub enum Grant {
    /// `client_credentials`: the app's own credentials, for a subject.
    ClientCredentials {
        /// The app's client id.
        client_id: String,
        /// The app's client secret.
        client_secret: String,
        /// `box_subject_type`.
        subject_type: SubjectType,
        /// `box_subject_id`: the enterprise or user id.
        subject_id: String,
    },
    /// The JWT-bearer grant: a signed assertion and the app's credentials.
    JwtBearer {
        /// The signed JWT.
        assertion: String,
        /// The app's client id.
        client_id: String,
        /// The app's client secret.
        client_secret: String,
    },
    /// `authorization_code`: the code the authorize redirect carried.
    AuthorizationCode {
        /// The code.
        code: String,
        /// The app's client id.
        client_id: String,
        /// The app's client secret.
        client_secret: String,
        /// The redirect URI the code was issued for, when one was sent.
        redirect_uri: Option<String>,
    },
    /// `refresh_token`: a refresh token, used once.
    RefreshToken {
        /// The refresh token.
        refresh_token: String,
        /// The app's client id.
        client_id: String,
        /// The app's client secret.
        client_secret: String,
    },
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, client_id) = match self {
            Self::ClientCredentials { client_id, .. } => ("ClientCredentials", client_id),
            Self::JwtBearer { client_id, .. } => ("JwtBearer", client_id),
            Self::AuthorizationCode { client_id, .. } => ("AuthorizationCode", client_id),
            Self::RefreshToken { client_id, .. } => ("RefreshToken", client_id),
        };
        f.debug_struct(kind)
            .field("client_id", client_id)
            .finish_non_exhaustive()
    }
}

/// Why a token request's form cannot be read (the server's `400`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantFormError {
    /// `grant_type` is missing or not one of the four.
    #[error("the grant type {0:?} is not supported")]
    UnsupportedGrant(String),
    /// A field the grant needs is missing.
    #[error("the {0} field is required")]
    Missing(&'static str),
    /// `box_subject_type` is neither `enterprise` nor `user`.
    #[error("box_subject_type must be enterprise or user")]
    SubjectType,
}

impl GrantFormError {
    /// The OAuth `error` code for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedGrant(_) => "unsupported_grant_type",
            Self::Missing(_) | Self::SubjectType => "invalid_request",
        }
    }
}

impl Grant {
    /// The `application/x-www-form-urlencoded` body.
    pub fn to_form(&self) -> String {
        let mut s = form_urlencoded_serializer();
        match self {
            Self::ClientCredentials {
                client_id,
                client_secret,
                subject_type,
                subject_id,
            } => {
                s.pair("grant_type", GRANT_CLIENT_CREDENTIALS)
                    .pair("client_id", client_id)
                    .pair("client_secret", client_secret)
                    .pair("box_subject_type", subject_type.as_str())
                    .pair("box_subject_id", subject_id);
            }
            Self::JwtBearer {
                assertion,
                client_id,
                client_secret,
            } => {
                s.pair("grant_type", GRANT_JWT_BEARER)
                    .pair("assertion", assertion)
                    .pair("client_id", client_id)
                    .pair("client_secret", client_secret);
            }
            Self::AuthorizationCode {
                code,
                client_id,
                client_secret,
                redirect_uri,
            } => {
                s.pair("grant_type", GRANT_AUTHORIZATION_CODE)
                    .pair("code", code)
                    .pair("client_id", client_id)
                    .pair("client_secret", client_secret);
                if let Some(r) = redirect_uri {
                    s.pair("redirect_uri", r);
                }
            }
            Self::RefreshToken {
                refresh_token,
                client_id,
                client_secret,
            } => {
                s.pair("grant_type", GRANT_REFRESH_TOKEN)
                    .pair("refresh_token", refresh_token)
                    .pair("client_id", client_id)
                    .pair("client_secret", client_secret);
            }
        }
        s.finish()
    }

    /// Reads a token request's form (the server side).
    pub fn parse_form(body: &[u8]) -> Result<Self, GrantFormError> {
        let fields = parse_form(body);
        let get = |k: &'static str| {
            fields
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let need = |k: &'static str| get(k).ok_or(GrantFormError::Missing(k));
        let grant = get("grant_type").unwrap_or_default();
        match grant.as_str() {
            GRANT_CLIENT_CREDENTIALS => Ok(Self::ClientCredentials {
                client_id: need("client_id")?,
                client_secret: need("client_secret")?,
                subject_type: match get("box_subject_type") {
                    None => SubjectType::Enterprise,
                    Some(t) => SubjectType::parse(&t).ok_or(GrantFormError::SubjectType)?,
                },
                subject_id: get("box_subject_id").unwrap_or_default(),
            }),
            GRANT_JWT_BEARER => Ok(Self::JwtBearer {
                assertion: need("assertion")?,
                client_id: need("client_id")?,
                client_secret: need("client_secret")?,
            }),
            GRANT_AUTHORIZATION_CODE => Ok(Self::AuthorizationCode {
                code: need("code")?,
                client_id: need("client_id")?,
                client_secret: need("client_secret")?,
                redirect_uri: get("redirect_uri"),
            }),
            GRANT_REFRESH_TOKEN => Ok(Self::RefreshToken {
                refresh_token: need("refresh_token")?,
                client_id: need("client_id")?,
                client_secret: need("client_secret")?,
            }),
            other => Err(GrantFormError::UnsupportedGrant(other.to_owned())),
        }
    }

    /// The client id the request names.
    pub fn client_id(&self) -> &str {
        match self {
            Self::ClientCredentials { client_id, .. }
            | Self::JwtBearer { client_id, .. }
            | Self::AuthorizationCode { client_id, .. }
            | Self::RefreshToken { client_id, .. } => client_id,
        }
    }

    /// The client secret the request carries.
    pub fn client_secret(&self) -> &str {
        match self {
            Self::ClientCredentials { client_secret, .. }
            | Self::JwtBearer { client_secret, .. }
            | Self::AuthorizationCode { client_secret, .. }
            | Self::RefreshToken { client_secret, .. } => client_secret,
        }
    }
}

/// The token endpoint's `200` answer.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenAnswer {
    /// The access token.
    pub access_token: String,
    /// Seconds the access token lives.
    #[serde(default = "default_expires_in")]
    pub expires_in: u64,
    /// `bearer`.
    #[serde(default = "default_token_type")]
    pub token_type: String,
    /// The new refresh token (user grants only; it replaces the one used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Scopes the token is restricted to (empty: none).
    #[serde(default)]
    pub restricted_to: Vec<serde_json::Value>,
    /// `urn:ietf:params:oauth:token-type:access_token`, where given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
}

fn default_expires_in() -> u64 {
    3600
}

fn default_token_type() -> String {
    "bearer".to_owned()
}

impl fmt::Debug for TokenAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAnswer")
            .field("access_token", &"***")
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// The token endpoint's error answer (`400 invalid_grant` and the like).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthError {
    /// The OAuth error code: `invalid_grant`, `invalid_client`, ...
    pub error: String,
    /// Box's sentence about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl OAuthError {
    /// An error answer.
    pub fn new(error: &str, description: impl Into<String>) -> Self {
        Self {
            error: error.to_owned(),
            error_description: Some(description.into()),
        }
    }

    /// Whether Box refused an assertion for its `exp` claim, which usually
    /// means the local clock is off ("Please check the 'exp' claim.").
    pub fn is_about_exp(&self) -> bool {
        self.error == "invalid_grant"
            && self
                .error_description
                .as_deref()
                .is_some_and(|d| d.contains("'exp'"))
    }
}

/// The token file of a refresh-token sign-in: the newest pair and when the
/// access token expires. Written whole and atomically by whoever rotates it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFile {
    /// The access token.
    pub access_token: String,
    /// The refresh token (single use).
    pub refresh_token: String,
    /// When the access token expires (RFC 3339).
    pub expires_at: Timestamp,
}

impl fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFile")
            .field("access_token", &"***")
            .field("refresh_token", &"***")
            .field("expires_at", &self.expires_at.as_str())
            .finish()
    }
}

/// Why a token file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFileError {
    /// The file is not the JSON of a token file.
    #[error("it is not a token file ({0}); it needs access_token, refresh_token and expires_at (RFC 3339)")]
    Format(String),
    /// An answer without a refresh token cannot make a token file.
    #[error("the answer has no refresh_token")]
    NoRefreshToken,
}

impl TokenFile {
    /// Reads a token file's JSON.
    pub fn from_json(text: &[u8]) -> Result<Self, TokenFileError> {
        let f: Self =
            serde_json::from_slice(text).map_err(|e| TokenFileError::Format(e.to_string()))?;
        f.expires_at
            .to_system_time()
            .map_err(|e| TokenFileError::Format(e.to_string()))?;
        Ok(f)
    }

    /// The JSON to write, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// The file for a token answer received at `now`.
    pub fn from_answer(answer: &TokenAnswer, now: SystemTime) -> Result<Self, TokenFileError> {
        Ok(Self {
            access_token: answer.access_token.clone(),
            refresh_token: answer
                .refresh_token
                .clone()
                .ok_or(TokenFileError::NoRefreshToken)?,
            expires_at: Timestamp::from_system_time(now + Duration::from_secs(answer.expires_in)),
        })
    }

    /// When the access token expires.
    pub fn expires(&self) -> SystemTime {
        self.expires_at
            .to_system_time()
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// The URL that asks a user to approve `client_id`; the browser comes back
/// to `redirect_uri` with `code` and `state`.
///
/// ```
/// use box_chunked_proto::oauth::authorize_url;
/// assert_eq!(
///     authorize_url("https://account.box.com/api/oauth2/authorize", "app", "http://127.0.0.1:53682/", "xyz"),
///     "https://account.box.com/api/oauth2/authorize?response_type=code&client_id=app&redirect_uri=http%3A%2F%2F127.0.0.1%3A53682%2F&state=xyz",
/// );
/// ```
pub fn authorize_url(base: &str, client_id: &str, redirect_uri: &str, state: &str) -> String {
    let mut s = form_urlencoded_serializer();
    s.pair("response_type", "code")
        .pair("client_id", client_id)
        .pair("redirect_uri", redirect_uri)
        .pair("state", state);
    format!("{base}?{}", s.finish())
}

/// Decodes `a=b&c=d` (a form body or a query string) into pairs.
pub fn parse_form(text: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(text).into_owned().collect()
}

struct Serializer(form_urlencoded::Serializer<'static, String>);

fn form_urlencoded_serializer() -> Serializer {
    Serializer(form_urlencoded::Serializer::new(String::new()))
}

impl Serializer {
    fn pair(&mut self, k: &str, v: &str) -> &mut Self {
        self.0.append_pair(k, v);
        self
    }

    fn finish(mut self) -> String {
        self.0.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every grant survives its form, whatever its text holds.
        #[test]
        fn grant_forms_round_trip(a in ".{1,40}", b in ".{1,40}", c in ".{1,40}") {
            for g in [
                Grant::RefreshToken { refresh_token: a.clone(), client_id: b.clone(), client_secret: c.clone() },
                Grant::JwtBearer { assertion: a.clone(), client_id: b.clone(), client_secret: c.clone() },
                Grant::AuthorizationCode { code: a.clone(), client_id: b.clone(), client_secret: c.clone(), redirect_uri: Some(a.clone()) },
                Grant::ClientCredentials { client_id: a.clone(), client_secret: b.clone(), subject_type: SubjectType::User, subject_id: c.clone() },
            ] {
                prop_assert_eq!(Grant::parse_form(g.to_form().as_bytes()).unwrap(), g);
            }
        }
    }

    #[test]
    fn bad_forms_are_named() {
        assert_eq!(
            Grant::parse_form(b"grant_type=password").unwrap_err(),
            GrantFormError::UnsupportedGrant("password".into())
        );
        assert_eq!(
            Grant::parse_form(b"grant_type=refresh_token&client_id=a&client_secret=b").unwrap_err(),
            GrantFormError::Missing("refresh_token")
        );
        assert_eq!(
            parse_form(b"a=%zz&b=%4"),
            vec![("a".into(), "%zz".into()), ("b".into(), "%4".into())]
        );
    }

    #[test]
    fn token_file_round_trips_and_hides_tokens() {
        let answer = TokenAnswer {
            access_token: "A".into(),
            expires_in: 60,
            token_type: "bearer".into(),
            refresh_token: Some("R".into()),
            restricted_to: vec![],
            issued_token_type: None,
        };
        let f = TokenFile::from_answer(&answer, SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(f.expires_at.as_str(), "1970-01-01T00:01:00Z");
        assert_eq!(TokenFile::from_json(f.to_json().as_bytes()).unwrap(), f);
        assert!(!format!("{f:?}{answer:?}").contains("\"A\""));
        assert!(TokenFile::from_json(br#"{"access_token":"A"}"#).is_err());
    }
}
