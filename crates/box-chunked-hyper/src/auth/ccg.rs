//! Box's client-credentials grant (CCG): the app's id and secret, for the
//! enterprise's service account or for one user.

use super::grant::{Bind, TokenCache, TokenEndpoint};
use crate::error::Error;
use crate::tokens::{BoxFuture, Secret, TokenProvider};
use crate::transport::Transport;
use box_chunked_proto::oauth::{Grant, SubjectType};
use std::fmt;

/// Who a client-credentials or JWT token acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The enterprise's service account (the enterprise id).
    Enterprise(String),
    /// A managed or app user (the user id).
    User(String),
}

impl Subject {
    pub(crate) fn wire(&self) -> (SubjectType, &str) {
        match self {
            Self::Enterprise(id) => (SubjectType::Enterprise, id),
            Self::User(id) => (SubjectType::User, id),
        }
    }
}

/// Box's client-credentials grant: a token is fetched from the OAuth URL,
/// cached, renewed before it expires and once after a `401`, one request
/// at a time.
///
/// ```
/// use box_chunked_hyper::{BoxClient, ClientCredentials, Subject};
/// let ccg = ClientCredentials::new("CLIENT_ID", "CLIENT_SECRET", Subject::Enterprise("12345".into()));
/// assert!(!format!("{ccg:?}").contains("CLIENT_SECRET"));
/// let client = BoxClient::builder().auth(ccg).build()?;
/// # let _ = client;
/// # Ok::<(), box_chunked_hyper::Error>(())
/// ```
pub struct ClientCredentials {
    client_id: String,
    client_secret: Secret,
    subject: Subject,
    endpoint: TokenEndpoint,
    cache: TokenCache,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("subject", &self.subject)
            .field("token_url", &self.endpoint.url())
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// The grant for `subject`, with the app's client id and secret. The
    /// token URL is the client's (`ClientBuilder::oauth_url`).
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        subject: Subject,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: Secret::new(client_secret),
            subject,
            endpoint: TokenEndpoint::default(),
            cache: TokenCache::default(),
        }
    }

    async fn fetch(&self) -> Result<super::grant::Fresh, Error> {
        let (subject_type, subject_id) = self.subject.wire();
        let granted = self
            .endpoint
            .request(|| {
                Ok(Grant::ClientCredentials {
                    client_id: self.client_id.clone(),
                    client_secret: self.client_secret.expose().to_owned(),
                    subject_type: subject_type.clone(),
                    subject_id: subject_id.to_owned(),
                })
            })
            .await
            .map_err(|f| {
                f.into_error(&format!("the client credentials of app {}", self.client_id))
            })?;
        Ok(granted.fresh())
    }
}

impl TokenProvider for ClientCredentials {
    fn token(&self) -> BoxFuture<'_, Result<Secret, Error>> {
        Box::pin(self.cache.token(|| self.fetch()))
    }

    fn refresh<'a>(&'a self, stale: &'a Secret) -> BoxFuture<'a, Result<Secret, Error>> {
        Box::pin(self.cache.refresh(stale, || self.fetch()))
    }
}

impl Bind for ClientCredentials {
    fn bind(&self, transport: &Transport, token_url: &str) {
        self.endpoint.bind(transport, token_url);
    }
}
