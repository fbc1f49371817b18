//! OAuth 2.0 with a refresh token kept in a token file. Box's refresh
//! tokens are single use, so the rotated pair is written to the file
//! (temporary file, fsync, rename) before the new access token is used: a
//! crash at any point leaves a file with a refresh token that still works.
//! Processes that share one token file take turns: each refresh runs under
//! an advisory lock on `<file>.lock` (read, ask, write), so the second
//! process reads the pair the first one wrote and uses it instead of
//! spending a refresh token that is already used up. A refusal after the
//! file changed anyway (a writer that takes no lock) is asked once more
//! with the file's new pair.

use super::grant::{Bind, Fresh, GrantFailure, TokenCache, TokenEndpoint};
use crate::error::{Error, ErrorKind};
use crate::tokens::{BoxFuture, Secret, TokenProvider};
use crate::transport::Transport;
use box_chunked_core::auth::renew_in;
use box_chunked_proto::oauth::{Grant, TokenAnswer, TokenFile};
use box_chunked_proto::Timestamp;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// What the next token request trades.
enum Held {
    /// A code from the authorize redirect (a first sign-in).
    Code { code: String, redirect_uri: String },
    /// The token file's newest pair.
    File(TokenFile),
}

/// OAuth 2.0 with a rotating refresh token in a token file (JSON:
/// `access_token`, `refresh_token`, `expires_at` in RFC 3339), as
/// `box-chunked login` writes it. The access token is renewed before it
/// expires and once after a `401`, one refresh at a time however many
/// requests are in flight; each rotated pair is on disk before it is used.
///
/// ```no_run
/// use box_chunked_hyper::{BoxClient, RefreshTokenAuth};
/// let auth = RefreshTokenAuth::from_token_file("box-token.json", "CLIENT_ID", "CLIENT_SECRET")?;
/// let client = BoxClient::builder().auth(auth).build()?;
/// # let _ = client;
/// # Ok::<(), box_chunked_hyper::Error>(())
/// ```
pub struct RefreshTokenAuth {
    path: PathBuf,
    client_id: String,
    client_secret: Secret,
    held: Mutex<Held>,
    /// The held pair is newer than the file (its write failed).
    unsaved: AtomicBool,
    endpoint: TokenEndpoint,
    cache: TokenCache,
}

impl fmt::Debug for RefreshTokenAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenAuth")
            .field("token_file", &self.path)
            .field("client_id", &self.client_id)
            .field("token_url", &self.endpoint.url())
            .finish_non_exhaustive()
    }
}

fn read_file(path: &Path) -> Result<TokenFile, Error> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::new(
            ErrorKind::Config,
            format!("cannot read the token file {}: {e}", path.display()),
        )
    })?;
    TokenFile::from_json(&bytes).map_err(|e| {
        Error::new(
            ErrorKind::Config,
            format!("the token file {}: {e}", path.display()),
        )
    })
}

impl RefreshTokenAuth {
    /// Signs in with the token file at `path`, for the app `client_id`.
    pub fn from_token_file(
        path: impl Into<PathBuf>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Self, Error> {
        let path = path.into();
        let file = read_file(&path)?;
        Ok(Self::with(path, client_id, client_secret, Held::File(file)))
    }

    /// A first sign-in: the first token request trades `code` (from the
    /// authorize redirect to `redirect_uri`) and writes the token file at
    /// `path`.
    pub fn from_authorization_code(
        path: impl Into<PathBuf>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        code: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        Self::with(
            path.into(),
            client_id,
            client_secret,
            Held::Code {
                code: code.into(),
                redirect_uri: redirect_uri.into(),
            },
        )
    }

    fn with(
        path: PathBuf,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        held: Held,
    ) -> Self {
        Self {
            path,
            client_id: client_id.into(),
            client_secret: Secret::new(client_secret),
            held: Mutex::new(held),
            unsaved: AtomicBool::new(false),
            endpoint: TokenEndpoint::default(),
            cache: TokenCache::default(),
        }
    }

    /// The token file.
    pub fn token_file(&self) -> &Path {
        &self.path
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new access token; `stale` is the one a `401` refused, if any.
    /// Runs under the cache's lock (one at a time in this process) and the
    /// token file's lock (one at a time among processes).
    async fn fetch(&self, stale: Option<&Secret>) -> Result<Fresh, Error> {
        let _turn = self.take_turn().await;
        match self.fetch_locked(stale).await {
            // Another writer rotated the file between our read and our ask:
            // its pair is the one to use (once).
            Err(e) if e.kind() == ErrorKind::Auth && self.file_moved_on().await => {
                tracing::debug!(file = %self.path.display(), "token file rotated meanwhile; using its pair");
                self.fetch_locked(stale).await
            }
            other => other,
        }
    }

    /// The advisory lock on `<token file>.lock`, taken without blocking the
    /// runtime; released when dropped (and by the system when the process
    /// ends, `kill -9` included). Where no lock file can be made (a
    /// directory that cannot be written), the refresh goes on without one:
    /// its new pair then cannot be written either, and is kept in memory
    /// (see [`RefreshTokenAuth::save`]).
    async fn take_turn(&self) -> Option<std::fs::File> {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".lock");
        let lock_path = PathBuf::from(name);
        let taken = tokio::task::spawn_blocking(move || {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)?;
            f.lock()?;
            Ok::<_, std::io::Error>(f)
        })
        .await;
        match taken {
            Ok(Ok(f)) => Some(f),
            Ok(Err(e)) => {
                tracing::debug!(file = %self.path.display(), error = %e, "token file not locked");
                None
            }
            Err(_) => None,
        }
    }

    /// Whether the file now holds a refresh token other than ours.
    async fn file_moved_on(&self) -> bool {
        let disk = tokio::fs::read(&self.path)
            .await
            .ok()
            .and_then(|b| TokenFile::from_json(&b).ok());
        match (&*self.held(), disk) {
            (Held::File(mine), Some(disk)) => disk.refresh_token != mine.refresh_token,
            _ => false,
        }
    }

    async fn fetch_locked(&self, stale: Option<&Secret>) -> Result<Fresh, Error> {
        // A pair that could not be written is written before anything else.
        let unsaved = match &*self.held() {
            Held::File(f) if self.unsaved.load(Ordering::Acquire) => Some(f.clone()),
            _ => None,
        };
        if let Some(file) = unsaved {
            self.save(&file).await?;
        }
        // Follow a rotation another process made (its pair is newer than ours).
        let disk = tokio::fs::read(&self.path)
            .await
            .ok()
            .and_then(|b| TokenFile::from_json(&b).ok());
        let grant = match self.next_step(disk, stale) {
            Step::Use(fresh) => return Ok(fresh),
            Step::Ask(grant) => grant,
        };
        let first = matches!(grant, Grant::AuthorizationCode { .. });
        // A 429 or 5xx is asked again with the same refresh token: if the
        // endpoint had used it, the answer is the same refusal as not asking.
        let granted = self
            .endpoint
            .request(|| Ok(grant.clone()))
            .await
            .map_err(|f| match f {
                GrantFailure::Refused { status, error, .. } if !first => Error::new(
                    ErrorKind::Auth,
                    format!(
                        "the token endpoint refused the refresh token in {} ({status} {}: {}); it was used already or has expired, so sign in again to write a new token file",
                        self.path.display(),
                        error.error,
                        error.error_description.as_deref().unwrap_or("no details")
                    ),
                ),
                other => other.into_error(&format!("the authorization code of app {}", self.client_id)),
            })?;
        let file = self.pair_from(&granted.answer)?;
        // Kept in memory even if the write fails: the old refresh token is
        // used up, and this pair is then written before the next use.
        *self.held() = Held::File(file.clone());
        self.unsaved.store(true, Ordering::Release);
        self.save(&file).await?;
        Ok(granted.fresh())
    }

    /// The held token if it is still good, or the grant to ask for a new
    /// one: first following a rotation another process made. Under the
    /// file's lock, with our own pair written, the file is the truth: a
    /// pair there that differs from ours is the newer one.
    fn next_step(&self, disk: Option<TokenFile>, stale: Option<&Secret>) -> Step {
        let mut held = self.held();
        if let (Held::File(mine), Some(disk)) = (&*held, disk) {
            if disk.refresh_token != mine.refresh_token {
                *held = Held::File(disk);
            }
        }
        match &*held {
            Held::File(f) => {
                let left = f
                    .expires()
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                let refused = stale.is_some_and(|s| s.expose() == f.access_token);
                if let Some(usable) = renew_in(left).filter(|_| !refused) {
                    return Step::Use(Fresh {
                        token: Secret::new(f.access_token.clone()),
                        renew_at: Instant::now() + usable,
                    });
                }
                Step::Ask(Grant::RefreshToken {
                    refresh_token: f.refresh_token.clone(),
                    client_id: self.client_id.clone(),
                    client_secret: self.client_secret.expose().to_owned(),
                })
            }
            Held::Code { code, redirect_uri } => Step::Ask(Grant::AuthorizationCode {
                code: code.clone(),
                client_id: self.client_id.clone(),
                client_secret: self.client_secret.expose().to_owned(),
                redirect_uri: Some(redirect_uri.clone()),
            }),
        }
    }

    /// The pair to keep after a grant: its refresh token, or the one we
    /// hold when it gave none (that one stays valid).
    fn pair_from(&self, answer: &TokenAnswer) -> Result<TokenFile, Error> {
        let refresh_token = match (&answer.refresh_token, &*self.held()) {
            (Some(r), _) => r.clone(),
            (None, Held::File(old)) => old.refresh_token.clone(),
            (None, Held::Code { .. }) => {
                return Err(Error::new(
                    ErrorKind::Auth,
                    "the token endpoint gave no refresh token for the authorization code",
                ))
            }
        };
        Ok(TokenFile {
            access_token: answer.access_token.clone(),
            refresh_token,
            expires_at: Timestamp::from_system_time(
                SystemTime::now() + Duration::from_secs(answer.expires_in),
            ),
        })
    }
}

/// What [`RefreshTokenAuth::next_step`] found.
enum Step {
    /// The held access token is good for a while yet.
    Use(Fresh),
    /// Ask the token endpoint with this grant.
    Ask(Grant),
}

impl RefreshTokenAuth {
    /// Writes `file` to the token file (temporary file, fsync, rename; mode 0600).
    async fn save(&self, file: &TokenFile) -> Result<(), Error> {
        let json = file.to_json();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            crate::files::write_atomically_mode(&path, json.as_bytes(), 0o600)
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("the token file writer failed: {e}")))?
        .map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "cannot write the new tokens to {}: {e}; the refresh token the file held is used up, and the new pair is kept in memory and written at the next attempt, so free the disk or fix the path and its permissions",
                    self.path.display()
                ),
            )
        })?;
        self.unsaved.store(false, Ordering::Release);
        tracing::debug!(file = %self.path.display(), "token file rotated");
        Ok(())
    }
}

impl TokenProvider for RefreshTokenAuth {
    fn token(&self) -> BoxFuture<'_, Result<Secret, Error>> {
        Box::pin(self.cache.token(|| self.fetch(None)))
    }

    fn refresh<'a>(&'a self, stale: &'a Secret) -> BoxFuture<'a, Result<Secret, Error>> {
        Box::pin(self.cache.refresh(stale, || self.fetch(Some(stale))))
    }
}

impl Bind for RefreshTokenAuth {
    fn bind(&self, transport: &Transport, token_url: &str) {
        self.endpoint.bind(transport, token_url);
    }
}
