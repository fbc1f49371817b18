//! The one error type callers see.

use box_chunked_core::{
    ApiFailure, RequestKind, ResumeError, SourceChange, StartError, UploadError,
};
use std::fmt;

/// What went wrong, in the categories a caller acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Box said no (a `4xx` answer, a name conflict, a failed precondition, an expired session).
    Refused,
    /// The source changed during the upload, or since the checkpoint; nothing was committed.
    SourceChanged,
    /// The network or the server kept failing until the retry budget ran out.
    NetworkExhausted,
    /// The upload was cancelled or aborted by the caller.
    Cancelled,
    /// The token could not be obtained or refreshed.
    Auth,
    /// The source could not be read, or the checkpoint could not be written or read.
    Io,
    /// Bad arguments or configuration (before any request).
    Config,
    /// The server broke the protocol.
    Protocol,
    /// The server answered a commit or an upload with a file whose size or
    /// SHA-1 is not what was sent: the answer is not a result.
    Unverified,
}

/// What the caller can change so that a refused call goes through: a
/// program (the `box-chunked` command, for one) names it in its own terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Remedy {
    /// Another conflict policy ([`crate::OnConflict`]: a version, a numbered
    /// name, or a skip of a file that is the same).
    ConflictPolicy,
    /// Trust the server's certificate authority
    /// ([`crate::ClientBuilder::root_certificates_pem`]).
    TrustCertificate,
    /// Nothing this client trusts helps: the server needs another
    /// certificate (one made for a server, for this host name, and valid now).
    ServerCertificate,
}

/// An error from this crate: what failed, and Box's answer when there was one.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    remedy: Option<Remedy>,
    operation: Option<RequestKind>,
    message: String,
    api: Option<Box<ApiFailure>>,
    attempts: Option<u32>,
    session_gone: bool,
    /// The cause, for [`std::error::Error::source`].
    cause: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match self.remedy {
            Some(Remedy::ConflictPolicy) => f.write_str(
                "; choose another conflict policy (OnConflict::Version, Rename or Skip)",
            ),
            Some(Remedy::TrustCertificate) => f.write_str(
                "; give its CA (ClientBuilder::root_certificates_pem, or SSL_CERT_FILE)",
            ),
            Some(Remedy::ServerCertificate) => {
                f.write_str("; the server needs another certificate")
            }
            None => Ok(()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl Error {
    /// An error of `kind` with a message for people: for example from your
    /// own [`crate::TokenProvider`] when it cannot get a token
    /// (`Error::new(ErrorKind::Auth, "the vault is locked")`).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            remedy: None,
            operation: None,
            message: message.into(),
            api: None,
            attempts: None,
            session_gone: false,
            cause: None,
        }
    }

    /// The same error with its cause, which [`std::error::Error::source`] returns.
    #[must_use]
    pub fn with_source(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(std::sync::Arc::new(cause));
        self
    }

    /// The same error with what the caller can change.
    #[must_use]
    pub fn with_remedy(mut self, remedy: Remedy) -> Self {
        self.remedy = Some(remedy);
        self
    }

    /// What the caller can change so that the call goes through, if anything.
    pub fn remedy(&self) -> Option<Remedy> {
        self.remedy
    }

    /// What went wrong, without the advice [`Error::remedy`] adds in this
    /// crate's terms (for a program that gives its own).
    pub fn fact(&self) -> &str {
        &self.message
    }

    pub(crate) fn with_operation(mut self, op: RequestKind) -> Self {
        self.operation = Some(op);
        self
    }

    /// The category.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether the upload session is gone (expired, deleted, or unknown to
    /// the server): it cannot be resumed. Only a call on a session says
    /// this; a `404` for a folder or a file (a create, a preflight, a
    /// one-shot upload) is about that item, not about a session.
    pub fn session_gone(&self) -> bool {
        self.session_gone
            || self.api.as_ref().is_some_and(|a| {
                matches!(a.status, 404 | 410)
                    && matches!(
                        a.kind,
                        RequestKind::UploadPart { .. }
                            | RequestKind::ListParts { .. }
                            | RequestKind::Commit
                            | RequestKind::Abort
                            | RequestKind::GetSession
                            | RequestKind::Plan
                    )
            })
    }

    /// Whether the server's answer was Box's error body (`type: error`),
    /// as opposed to no answer, or one from something that is not Box (a
    /// web server at a wrong URL).
    pub fn answered_as_box(&self) -> bool {
        self.api.as_ref().is_some_and(|a| a.error.is_some())
    }

    /// The operation that failed, when one did.
    pub fn operation(&self) -> Option<RequestKind> {
        self.operation
    }

    /// Box's answer: status, `code`, `message`, `request_id`, `context_info`.
    pub fn api(&self) -> Option<&ApiFailure> {
        self.api.as_deref()
    }

    /// The HTTP status, when Box answered.
    pub fn status(&self) -> Option<u16> {
        self.api.as_ref().map(|a| a.status)
    }

    /// Box's error code, when Box answered with one.
    pub fn code(&self) -> Option<&str> {
        self.api.as_ref().and_then(|a| a.code())
    }

    /// Box's request id, for Box support.
    pub fn request_id(&self) -> Option<&str> {
        self.api.as_ref().and_then(|a| {
            a.request_id
                .as_deref()
                .or_else(|| a.error.as_ref().and_then(|e| e.request_id.as_deref()))
        })
    }

    /// Attempts made, for [`ErrorKind::NetworkExhausted`].
    pub fn attempts(&self) -> Option<u32> {
        self.attempts
    }
}

impl From<UploadError> for Error {
    fn from(e: UploadError) -> Self {
        let message = e.to_string();
        let (kind, operation, api, attempts) = match &e {
            UploadError::Api(a)
            | UploadError::PreconditionFailed(a)
            | UploadError::PartsMismatch(a) => (
                ErrorKind::Refused,
                Some(a.kind),
                Some(Box::new(a.clone())),
                None,
            ),
            UploadError::NameConflict { failure, .. } => (
                ErrorKind::Refused,
                Some(failure.kind),
                Some(Box::new(failure.clone())),
                None,
            ),
            UploadError::RetriesExhausted {
                kind,
                attempts,
                api,
                ..
            } => (
                ErrorKind::NetworkExhausted,
                Some(*kind),
                api.clone(),
                Some(*attempts),
            ),
            UploadError::SourceChanged(_) => (ErrorKind::SourceChanged, None, None, None),
            UploadError::SessionExpired { .. } | UploadError::CommitTimedOut { .. } => {
                (ErrorKind::Refused, None, None, None)
            }
            UploadError::EchoMismatch { index, .. } => (
                ErrorKind::Protocol,
                Some(RequestKind::UploadPart { index: *index }),
                None,
                None,
            ),
            UploadError::Protocol { kind, .. } => (ErrorKind::Protocol, Some(*kind), None, None),
            UploadError::StoredMismatch { kind, .. } => {
                (ErrorKind::Unverified, Some(*kind), None, None)
            }
            UploadError::SourceRead { .. } => (ErrorKind::Io, None, None, None),
            UploadError::DeadlineExceeded(_) => (ErrorKind::NetworkExhausted, None, None, None),
            _ => (ErrorKind::Protocol, None, None, None),
        };
        Self {
            session_gone: matches!(e, UploadError::SessionExpired { .. }),
            remedy: matches!(e, UploadError::NameConflict { .. }).then_some(Remedy::ConflictPolicy),
            cause: Some(std::sync::Arc::new(e)),
            kind,
            operation,
            message,
            api,
            attempts,
        }
    }
}

impl From<StartError> for Error {
    fn from(e: StartError) -> Self {
        Self::new(ErrorKind::Config, e.to_string())
    }
}

impl From<ResumeError> for Error {
    fn from(e: ResumeError) -> Self {
        let kind = match e {
            ResumeError::SourceChanged(_) => ErrorKind::SourceChanged,
            _ => ErrorKind::Config,
        };
        Self::new(kind, e.to_string())
    }
}

impl From<SourceChange> for Error {
    fn from(e: SourceChange) -> Self {
        Self::new(ErrorKind::SourceChanged, format!("the source changed: {e}"))
    }
}
