//! The chunked upload endpoints: their methods and paths, for building URLs
//! in a client and for routing in a server.
//!
//! Paths are relative to the upload API root (`https://upload.box.com/api/2.0`).

use std::fmt;

/// HTTP methods used by the chunked upload API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }

    /// Parses a method name (exact, upper-case, as HTTP requires).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GET" => Some(Self::Get),
            "POST" => Some(Self::Post),
            "PUT" => Some(Self::Put),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// One of the operations of the upload root: the seven chunked upload
/// operations, the upload session plan, and the one-shot uploads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /files/upload_sessions`
    CreateSession,
    /// `POST /files/{file_id}/upload_sessions`
    CreateVersionSession {
        /// The file that gets a new version.
        file_id: String,
    },
    /// `GET /files/upload_sessions/{id}`
    GetSession {
        /// Session id.
        session_id: String,
    },
    /// `PUT /files/upload_sessions/{id}`
    UploadPart {
        /// Session id.
        session_id: String,
    },
    /// `GET /files/upload_sessions/{id}/parts`
    ListParts {
        /// Session id.
        session_id: String,
    },
    /// `POST /files/upload_sessions/{id}/commit`
    Commit {
        /// Session id.
        session_id: String,
    },
    /// `DELETE /files/upload_sessions/{id}`
    Abort {
        /// Session id.
        session_id: String,
    },
    /// `POST /files/upload_sessions/{id}/plan`: which parts the server
    /// already has (the upload session plan).
    Plan {
        /// Session id.
        session_id: String,
    },
    /// `POST /files/content`: a small file in one multipart request.
    UploadFile,
    /// `POST /files/{file_id}/content`: a new version in one multipart request.
    UploadFileVersion {
        /// The file that gets a new version.
        file_id: String,
    },
}

/// A method and path that is not one of the chunked upload endpoints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No endpoint has this path.
    #[error("no chunked upload endpoint at this path")]
    NotFound,
    /// The path exists but not with this method.
    #[error("method not allowed; allowed: {}", allowed.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", "))]
    MethodNotAllowed {
        /// Methods the path accepts.
        allowed: Vec<Method>,
    },
}

impl Endpoint {
    /// The HTTP method of this operation.
    pub const fn method(&self) -> Method {
        match self {
            Self::CreateSession
            | Self::CreateVersionSession { .. }
            | Self::Commit { .. }
            | Self::Plan { .. }
            | Self::UploadFile
            | Self::UploadFileVersion { .. } => Method::Post,
            Self::GetSession { .. } | Self::ListParts { .. } => Method::Get,
            Self::UploadPart { .. } => Method::Put,
            Self::Abort { .. } => Method::Delete,
        }
    }

    /// The path below the upload API root, ids percent-encoded where needed.
    pub fn path(&self) -> String {
        match self {
            Self::CreateSession => "/files/upload_sessions".to_owned(),
            Self::CreateVersionSession { file_id } => {
                format!("/files/{}/upload_sessions", encode_segment(file_id))
            }
            Self::GetSession { session_id }
            | Self::UploadPart { session_id }
            | Self::Abort { session_id } => {
                format!("/files/upload_sessions/{}", encode_segment(session_id))
            }
            Self::ListParts { session_id } => {
                format!(
                    "/files/upload_sessions/{}/parts",
                    encode_segment(session_id)
                )
            }
            Self::Commit { session_id } => {
                format!(
                    "/files/upload_sessions/{}/commit",
                    encode_segment(session_id)
                )
            }
            Self::Plan { session_id } => {
                format!("/files/upload_sessions/{}/plan", encode_segment(session_id))
            }
            Self::UploadFile => "/files/content".to_owned(),
            Self::UploadFileVersion { file_id } => {
                format!("/files/{}/content", encode_segment(file_id))
            }
        }
    }

    /// The absolute URL of this operation under `upload_root`
    /// (e.g. `https://upload.box.com/api/2.0`; a trailing `/` is ignored).
    pub fn url(&self, upload_root: &str) -> String {
        format!("{}{}", upload_root.trim_end_matches('/'), self.path())
    }

    /// Routes a request: `path` is relative to the upload API root, without
    /// the query string. Ids must be non-empty and free of `/`.
    ///
    /// ```
    /// use box_chunked_proto::endpoints::{Endpoint, Method};
    /// assert_eq!(
    ///     Endpoint::route(Method::Put, "/files/upload_sessions/ABC").unwrap(),
    ///     Endpoint::UploadPart { session_id: "ABC".into() },
    /// );
    /// ```
    pub fn route(method: Method, path: &str) -> Result<Self, RouteError> {
        let path = path.strip_suffix('/').unwrap_or(path);
        let segs: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
        let id = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let (allowed, ep): (&[Method], Option<Self>) = match segs.as_slice() {
            ["files", "upload_sessions"] => (&[Method::Post], Some(Self::CreateSession)),
            ["files", "upload_sessions", sid] => {
                let Some(session_id) = id(sid) else {
                    return Err(RouteError::NotFound);
                };
                let ep = match method {
                    Method::Get => Some(Self::GetSession { session_id }),
                    Method::Put => Some(Self::UploadPart { session_id }),
                    Method::Delete => Some(Self::Abort { session_id }),
                    Method::Post => None,
                };
                (&[Method::Get, Method::Put, Method::Delete], ep)
            }
            ["files", "upload_sessions", sid, "parts"] => {
                let Some(session_id) = id(sid) else {
                    return Err(RouteError::NotFound);
                };
                (&[Method::Get], Some(Self::ListParts { session_id }))
            }
            ["files", "upload_sessions", sid, "commit"] => {
                let Some(session_id) = id(sid) else {
                    return Err(RouteError::NotFound);
                };
                (&[Method::Post], Some(Self::Commit { session_id }))
            }
            ["files", "upload_sessions", sid, "plan"] => {
                let Some(session_id) = id(sid) else {
                    return Err(RouteError::NotFound);
                };
                (&[Method::Post], Some(Self::Plan { session_id }))
            }
            ["files", "content"] => (&[Method::Post], Some(Self::UploadFile)),
            ["files", fid, "content"] => {
                let Some(file_id) = id(fid) else {
                    return Err(RouteError::NotFound);
                };
                (&[Method::Post], Some(Self::UploadFileVersion { file_id }))
            }
            ["files", fid, "upload_sessions"] => {
                let Some(file_id) = id(fid) else {
                    return Err(RouteError::NotFound);
                };
                (
                    &[Method::Post],
                    Some(Self::CreateVersionSession { file_id }),
                )
            }
            _ => return Err(RouteError::NotFound),
        };
        match ep {
            Some(ep) if allowed.contains(&method) && ep.method() == method => Ok(ep),
            _ => Err(RouteError::MethodNotAllowed {
                allowed: allowed.to_vec(),
            }),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method().as_str(), self.path())
    }
}

/// Percent-encodes a path segment (RFC 3986 unreserved characters pass).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Query string for a list-parts page (`offset` is an entry index).
pub fn list_parts_query(offset: u64, limit: u64) -> String {
    format!("offset={offset}&limit={limit}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(sid: &str) -> Vec<Endpoint> {
        let s = sid.to_owned();
        vec![
            Endpoint::CreateSession,
            Endpoint::CreateVersionSession {
                file_id: "12345".into(),
            },
            Endpoint::GetSession {
                session_id: s.clone(),
            },
            Endpoint::UploadPart {
                session_id: s.clone(),
            },
            Endpoint::ListParts {
                session_id: s.clone(),
            },
            Endpoint::Commit {
                session_id: s.clone(),
            },
            Endpoint::Abort {
                session_id: s.clone(),
            },
            Endpoint::Plan { session_id: s },
            Endpoint::UploadFile,
            Endpoint::UploadFileVersion {
                file_id: "12345".into(),
            },
        ]
    }

    #[test]
    fn every_endpoint_routes_back_to_itself() {
        for ep in all("F971964745A5CD0C001BBE4E58196BFD") {
            assert_eq!(
                Endpoint::route(ep.method(), &ep.path()),
                Ok(ep.clone()),
                "{ep}"
            );
            assert_eq!(
                Endpoint::route(ep.method(), &format!("{}/", ep.path())),
                Ok(ep.clone())
            );
        }
        assert_eq!(
            Endpoint::CreateSession.url("https://upload.box.com/api/2.0/"),
            "https://upload.box.com/api/2.0/files/upload_sessions"
        );
    }

    #[test]
    fn wrong_method_and_unknown_paths() {
        assert_eq!(
            Endpoint::route(Method::Post, "/files/upload_sessions/X"),
            Err(RouteError::MethodNotAllowed {
                allowed: vec![Method::Get, Method::Put, Method::Delete]
            })
        );
        assert_eq!(
            Endpoint::route(Method::Get, "/files/upload_sessions"),
            Err(RouteError::MethodNotAllowed {
                allowed: vec![Method::Post]
            })
        );
        for p in [
            "/",
            "",
            "/files",
            "/files/upload_sessions//parts",
            "/files/x/y/z/w",
            "/folders/0",
        ] {
            assert_eq!(
                Endpoint::route(Method::Get, p),
                Err(RouteError::NotFound),
                "{p}"
            );
        }
        assert_eq!(Method::parse("PATCH"), None);
    }

    proptest! {
        #[test]
        fn router_never_panics(path in "[/a-z_0-9A-Z%]{0,60}") {
            for m in [Method::Get, Method::Post, Method::Put, Method::Delete] {
                let _ = Endpoint::route(m, &path);
            }
        }

        #[test]
        fn ids_are_encoded(id in "[A-Za-z0-9 /?#%]{1,20}") {
            let ep = Endpoint::Commit { session_id: id };
            let p = ep.path();
            prop_assert!(!p.contains(' ') && !p.contains('?') && !p.contains('#'));
            prop_assert_eq!(p.matches('/').count(), 4);
        }
    }
}
