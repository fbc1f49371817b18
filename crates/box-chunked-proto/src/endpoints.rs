//! Every operation of Box's API this project uses or serves, in one table:
//! its root (the upload root, the API root or OAuth), method and path. A
//! client builds URLs from it ([`Endpoint::url`]); a server routes with it
//! ([`Endpoint::route`], [`Endpoint::route_path`]) and answers `405` with
//! the methods the table gives a path.
//!
//! Where the three roots are, for Box and for a server that serves them all
//! under one base URL (this project's server), is [`crate::urls::BaseUrls`].

use crate::urls::{API_PREFIX, OAUTH_PREFIX, UPLOAD_PREFIX};
use std::fmt;

/// HTTP methods of the table.
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
    /// `OPTIONS` (Box's check before upload)
    Options,
}

impl Method {
    /// The method's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
        }
    }

    /// Parses a method name (exact, upper-case, as HTTP requires).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GET" => Some(Self::Get),
            "POST" => Some(Self::Post),
            "PUT" => Some(Self::Put),
            "DELETE" => Some(Self::Delete),
            "OPTIONS" => Some(Self::Options),
            _ => None,
        }
    }
}

/// The root an operation's path is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Root {
    /// `https://upload.box.com/api/2.0`: sessions, parts, one-shot uploads.
    Upload,
    /// `https://api.box.com/2.0`: files, folders, users.
    Api,
    /// `https://api.box.com/oauth2`: tokens (and, on a local server, the
    /// authorize page Box serves at `https://account.box.com/api/oauth2`).
    OAuth,
}

/// One operation, with the ids its path carries. Not `non_exhaustive`: a
/// server matches every endpoint, and a new one should not compile until
/// it has its handler.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /files/upload_sessions` (upload root)
    CreateSession,
    /// `POST /files/{file_id}/upload_sessions` (upload root)
    CreateVersionSession {
        /// The file that gets a new version.
        file_id: String,
    },
    /// `GET /files/upload_sessions/{id}` (upload root)
    GetSession {
        /// Session id.
        session_id: String,
    },
    /// `PUT /files/upload_sessions/{id}` (upload root)
    UploadPart {
        /// Session id.
        session_id: String,
    },
    /// `GET /files/upload_sessions/{id}/parts` (upload root)
    ListParts {
        /// Session id.
        session_id: String,
    },
    /// `POST /files/upload_sessions/{id}/commit` (upload root)
    Commit {
        /// Session id.
        session_id: String,
    },
    /// `DELETE /files/upload_sessions/{id}` (upload root)
    Abort {
        /// Session id.
        session_id: String,
    },
    /// `POST /files/upload_sessions/{id}/plan` (upload root): which parts
    /// the server already has (the upload session plan).
    Plan {
        /// Session id.
        session_id: String,
    },
    /// `POST /files/content` (upload root): a small file in one multipart request.
    UploadFile,
    /// `POST /files/{file_id}/content` (upload root): a new version in one request.
    UploadFileVersion {
        /// The file that gets a new version.
        file_id: String,
    },
    /// `OPTIONS /files/content` (API root): the check before upload.
    Preflight,
    /// `OPTIONS /files/{file_id}/content` (API root): the check before a new version.
    PreflightVersion {
        /// The file.
        file_id: String,
    },
    /// `GET /files/{file_id}` (API root)
    GetFile {
        /// The file.
        file_id: String,
    },
    /// `PUT /files/{file_id}` (API root)
    UpdateFile {
        /// The file.
        file_id: String,
    },
    /// `DELETE /files/{file_id}` (API root)
    DeleteFile {
        /// The file.
        file_id: String,
    },
    /// `GET /files/{file_id}/content` (API root)
    Download {
        /// The file.
        file_id: String,
    },
    /// `GET /files/{file_id}/versions` (API root)
    ListVersions {
        /// The file.
        file_id: String,
    },
    /// `POST /files/{file_id}/versions/current` (API root): an earlier
    /// version made current again.
    PromoteVersion {
        /// The file.
        file_id: String,
    },
    /// `DELETE /files/{file_id}/versions/{file_version_id}` (API root)
    DeleteVersion {
        /// The file.
        file_id: String,
        /// The version.
        version_id: String,
    },
    /// `POST /files/{file_id}` (API root): a file restored from the trash.
    RestoreFile {
        /// The file.
        file_id: String,
    },
    /// `GET /files/{file_id}/trash` (API root): a file in the trash.
    GetTrashedFile {
        /// The file.
        file_id: String,
    },
    /// `DELETE /files/{file_id}/trash` (API root): a file removed for good.
    PurgeFile {
        /// The file.
        file_id: String,
    },
    /// `GET /shared_items` (API root): the item a shared link (in the
    /// `BoxApi` header) names.
    SharedItem,
    /// `POST /files/{file_id}/copy` (API root)
    CopyFile {
        /// The file.
        file_id: String,
    },
    /// `POST /folders` (API root)
    CreateFolder,
    /// `GET /folders/{folder_id}` (API root)
    GetFolder {
        /// The folder (`0`: the root, "All Files").
        folder_id: String,
    },
    /// `PUT /folders/{folder_id}` (API root)
    UpdateFolder {
        /// The folder.
        folder_id: String,
    },
    /// `DELETE /folders/{folder_id}` (API root)
    DeleteFolder {
        /// The folder.
        folder_id: String,
    },
    /// `GET /folders/{folder_id}/items` (API root)
    ListItems {
        /// The folder.
        folder_id: String,
    },
    /// `POST /folders/{folder_id}` (API root): a folder restored from the
    /// trash, with what it held when it was deleted.
    RestoreFolder {
        /// The folder.
        folder_id: String,
    },
    /// `GET /folders/{folder_id}/trash` (API root): a folder in the trash.
    GetTrashedFolder {
        /// The folder.
        folder_id: String,
    },
    /// `DELETE /folders/{folder_id}/trash` (API root): a folder removed for
    /// good, with everything in it.
    PurgeFolder {
        /// The folder.
        folder_id: String,
    },
    /// `GET /folders/trash/items` (API root): the items in the trash.
    ListTrash,
    /// `GET /users/me` (API root)
    GetCurrentUser,
    /// `POST /token` (OAuth root)
    Token,
    /// `GET /authorize` (OAuth root; Box serves it on `account.box.com`)
    Authorize,
}

/// One row of the table: root, method, path (`{}` is an id), and how the
/// endpoint is made from the path's ids.
struct Row {
    root: Root,
    method: Method,
    path: &'static str,
    make: fn(&[&str]) -> Endpoint,
}

fn id(ids: &[&str], i: usize) -> String {
    ids.get(i).copied().unwrap_or_default().to_owned()
}

macro_rules! rows {
    ($( $root:ident $method:ident $path:literal => $make:expr ),+ $(,)?) => {
        &[ $( Row { root: Root::$root, method: Method::$method, path: $path, make: $make } ),+ ]
    };
}

/// The table. Its order is the order of [`RouteError::MethodNotAllowed`]'s
/// methods for a path.
const TABLE: &[Row] = rows! {
    Upload Post "/files/upload_sessions" => |_| Endpoint::CreateSession,
    Upload Post "/files/{}/upload_sessions" => |i| Endpoint::CreateVersionSession { file_id: id(i, 0) },
    Upload Get "/files/upload_sessions/{}" => |i| Endpoint::GetSession { session_id: id(i, 0) },
    Upload Put "/files/upload_sessions/{}" => |i| Endpoint::UploadPart { session_id: id(i, 0) },
    Upload Delete "/files/upload_sessions/{}" => |i| Endpoint::Abort { session_id: id(i, 0) },
    Upload Get "/files/upload_sessions/{}/parts" => |i| Endpoint::ListParts { session_id: id(i, 0) },
    Upload Post "/files/upload_sessions/{}/commit" => |i| Endpoint::Commit { session_id: id(i, 0) },
    Upload Post "/files/upload_sessions/{}/plan" => |i| Endpoint::Plan { session_id: id(i, 0) },
    Upload Post "/files/content" => |_| Endpoint::UploadFile,
    Upload Post "/files/{}/content" => |i| Endpoint::UploadFileVersion { file_id: id(i, 0) },
    Api Options "/files/content" => |_| Endpoint::Preflight,
    Api Options "/files/{}/content" => |i| Endpoint::PreflightVersion { file_id: id(i, 0) },
    Api Get "/files/{}" => |i| Endpoint::GetFile { file_id: id(i, 0) },
    Api Put "/files/{}" => |i| Endpoint::UpdateFile { file_id: id(i, 0) },
    Api Delete "/files/{}" => |i| Endpoint::DeleteFile { file_id: id(i, 0) },
    Api Post "/files/{}" => |i| Endpoint::RestoreFile { file_id: id(i, 0) },
    Api Get "/files/{}/trash" => |i| Endpoint::GetTrashedFile { file_id: id(i, 0) },
    Api Delete "/files/{}/trash" => |i| Endpoint::PurgeFile { file_id: id(i, 0) },
    Api Get "/files/{}/content" => |i| Endpoint::Download { file_id: id(i, 0) },
    Api Get "/files/{}/versions" => |i| Endpoint::ListVersions { file_id: id(i, 0) },
    Api Post "/files/{}/copy" => |i| Endpoint::CopyFile { file_id: id(i, 0) },
    Api Get "/shared_items" => |_| Endpoint::SharedItem,
    Api Post "/files/{}/versions/current" => |i| Endpoint::PromoteVersion { file_id: id(i, 0) },
    Api Delete "/files/{}/versions/{}" => |i| Endpoint::DeleteVersion { file_id: id(i, 0), version_id: id(i, 1) },
    Api Post "/folders" => |_| Endpoint::CreateFolder,
    Api Get "/folders/{}" => |i| Endpoint::GetFolder { folder_id: id(i, 0) },
    Api Put "/folders/{}" => |i| Endpoint::UpdateFolder { folder_id: id(i, 0) },
    Api Delete "/folders/{}" => |i| Endpoint::DeleteFolder { folder_id: id(i, 0) },
    Api Get "/folders/{}/items" => |i| Endpoint::ListItems { folder_id: id(i, 0) },
    Api Post "/folders/{}" => |i| Endpoint::RestoreFolder { folder_id: id(i, 0) },
    Api Get "/folders/{}/trash" => |i| Endpoint::GetTrashedFolder { folder_id: id(i, 0) },
    Api Delete "/folders/{}/trash" => |i| Endpoint::PurgeFolder { folder_id: id(i, 0) },
    Api Get "/folders/trash/items" => |_| Endpoint::ListTrash,
    Api Get "/users/me" => |_| Endpoint::GetCurrentUser,
    OAuth Post "/token" => |_| Endpoint::Token,
    OAuth Get "/authorize" => |_| Endpoint::Authorize,
};

/// A method and path that is not in the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No endpoint has this path.
    #[error("no endpoint at this path")]
    NotFound,
    /// The path exists but not with this method.
    #[error("method not allowed; allowed: {}", allowed.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", "))]
    MethodNotAllowed {
        /// Methods the path accepts.
        allowed: Vec<Method>,
    },
}

/// Whether `path`'s segments fit `pattern`'s (`{}` takes one non-empty
/// segment, a literal is a literal, and `{}` never takes a literal the same
/// position has in another row: `upload_sessions`, `content` and `trash` are
/// not ids).
fn fits<'a>(pattern: &str, segs: &[&'a str]) -> Option<Vec<&'a str>> {
    let want: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    if want.len() != segs.len() {
        return None;
    }
    let mut ids = Vec::new();
    for (w, s) in want.iter().zip(segs) {
        match *w {
            "{}" if !s.is_empty() && !matches!(*s, "upload_sessions" | "content" | "trash") => {
                ids.push(*s)
            }
            "{}" => return None,
            lit if lit == *s => {}
            _ => return None,
        }
    }
    Some(ids)
}

impl Endpoint {
    fn row(&self) -> &'static Row {
        let ids = self.ids();
        // Every variant has exactly one row: the one whose maker gives it back.
        TABLE
            .iter()
            .find(|r| (r.make)(&ids) == *self)
            .unwrap_or(&TABLE[0])
    }

    /// The ids the path carries, in order.
    fn ids(&self) -> Vec<&str> {
        match self {
            Self::CreateVersionSession { file_id }
            | Self::UploadFileVersion { file_id }
            | Self::PreflightVersion { file_id }
            | Self::GetFile { file_id }
            | Self::UpdateFile { file_id }
            | Self::DeleteFile { file_id }
            | Self::Download { file_id }
            | Self::ListVersions { file_id }
            | Self::CopyFile { file_id }
            | Self::PromoteVersion { file_id }
            | Self::RestoreFile { file_id }
            | Self::GetTrashedFile { file_id }
            | Self::PurgeFile { file_id } => vec![file_id],
            Self::DeleteVersion {
                file_id,
                version_id,
            } => vec![file_id, version_id],
            Self::GetSession { session_id }
            | Self::UploadPart { session_id }
            | Self::ListParts { session_id }
            | Self::Commit { session_id }
            | Self::Abort { session_id }
            | Self::Plan { session_id } => vec![session_id],
            Self::GetFolder { folder_id }
            | Self::UpdateFolder { folder_id }
            | Self::DeleteFolder { folder_id }
            | Self::ListItems { folder_id }
            | Self::RestoreFolder { folder_id }
            | Self::GetTrashedFolder { folder_id }
            | Self::PurgeFolder { folder_id } => vec![folder_id],
            Self::CreateSession
            | Self::UploadFile
            | Self::Preflight
            | Self::CreateFolder
            | Self::GetCurrentUser
            | Self::SharedItem
            | Self::ListTrash
            | Self::Token
            | Self::Authorize => vec![],
        }
    }

    /// The root its path is under.
    pub fn root(&self) -> Root {
        self.row().root
    }

    /// Its HTTP method.
    pub fn method(&self) -> Method {
        self.row().method
    }

    /// The path below its root, ids percent-encoded where needed.
    pub fn path(&self) -> String {
        let mut ids = self.ids().into_iter();
        self.row()
            .path
            .split('/')
            .map(|seg| match seg {
                "{}" => encode_segment(ids.next().unwrap_or_default()),
                lit => lit.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The absolute URL under `root_url`, the URL of its [`Root`] (e.g.
    /// `https://upload.box.com/api/2.0`; a trailing `/` is ignored).
    pub fn url(&self, root_url: &str) -> String {
        format!("{}{}", root_url.trim_end_matches('/'), self.path())
    }

    /// Routes a request: `path` is below `root`'s URL, without the query
    /// string. Ids must be non-empty and free of `/`.
    ///
    /// ```
    /// use box_chunked_proto::endpoints::{Endpoint, Method, Root};
    /// assert_eq!(
    ///     Endpoint::route(Root::Upload, Method::Put, "/files/upload_sessions/ABC").unwrap(),
    ///     Endpoint::UploadPart { session_id: "ABC".into() },
    /// );
    /// ```
    pub fn route(root: Root, method: Method, path: &str) -> Result<Self, RouteError> {
        let path = path.strip_suffix('/').unwrap_or(path);
        let segs: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
        let mut allowed = Vec::new();
        for row in TABLE.iter().filter(|r| r.root == root) {
            let Some(ids) = fits(row.path, &segs) else {
                continue;
            };
            if row.method == method {
                return Ok((row.make)(&ids));
            }
            allowed.push(row.method);
        }
        if allowed.is_empty() {
            Err(RouteError::NotFound)
        } else {
            Err(RouteError::MethodNotAllowed { allowed })
        }
    }

    /// Routes a request to a server that serves the three roots under one
    /// base URL ([`crate::urls::BaseUrls::from_base`]): `path` is the whole
    /// path (`/api/2.0/...`, `/2.0/...`, `/oauth2/...`; Box's authorize path
    /// `/api/oauth2/authorize` too). `None` for a path under none of them.
    ///
    /// ```
    /// use box_chunked_proto::endpoints::{Endpoint, Method};
    /// assert_eq!(
    ///     Endpoint::route_path(Method::Get, "/2.0/users/me"),
    ///     Some(Ok(Endpoint::GetCurrentUser)),
    /// );
    /// ```
    pub fn route_path(method: Method, path: &str) -> Option<Result<Self, RouteError>> {
        // Box's authorize page is `/api/oauth2/authorize` on its account host.
        let oauth = path.strip_prefix(OAUTH_PREFIX).or_else(|| {
            path.strip_prefix("/api")
                .and_then(|p| p.strip_prefix(OAUTH_PREFIX))
        });
        let (root, rest) = if let Some(rest) = oauth {
            (Root::OAuth, rest)
        } else if let Some(rest) = path.strip_prefix(UPLOAD_PREFIX) {
            (Root::Upload, rest)
        } else {
            (Root::Api, path.strip_prefix(API_PREFIX)?)
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        Some(Self::route(root, method, rest))
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
mod tests;
