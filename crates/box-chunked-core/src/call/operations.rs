//! The single calls a [`super::Call`] can make, each a type with its own
//! answer type: what it sends (from [`crate::ops`] and
//! [`crate::one_shot`]) and what its answer means. A driver gets back
//! exactly the answer its operation promises, never "another answer".

use super::Operation;
use crate::config::Target;
use crate::io::RequestKind;
use crate::ops::{self, Reply, Verdict};
use crate::{conflicts, fetch, folders, one_shot, plan};
use box_chunked_proto::{
    CommitAttributes, ContentRange, File, PlanResponse, PlannedPart, Sha1Digest, UploadPart,
    UploadParts, UploadSession, UploadUrl,
};
use bytes::Bytes;

type Built = Result<http::Request<Bytes>, String>;

/// Create an upload session for `target` (`POST`; not repeated after an
/// ambiguous failure: a second session would be made).
#[derive(Debug, Clone)]
pub struct CreateSession {
    /// The upload root.
    pub upload_root: String,
    /// A new file in a folder, or a new version of a file.
    pub target: Target,
    /// The file's size.
    pub file_size: u64,
}

impl Operation for CreateSession {
    type Answer = UploadSession;
    fn kind(&self) -> RequestKind {
        RequestKind::CreateSession
    }
    fn idempotent(&self) -> bool {
        false
    }
    fn request(&self) -> Built {
        ops::create_session(&self.upload_root, &self.target, self.file_size)
    }
    fn interpret(&self, reply: &Reply) -> Verdict<UploadSession> {
        ops::create_session_reply(reply, self.file_size).map(|(s, _)| s)
    }
}

/// The session (`GET`).
#[derive(Debug, Clone)]
pub struct GetSession {
    /// The session's status URL.
    pub url: String,
}

impl Operation for GetSession {
    type Answer = UploadSession;
    fn kind(&self) -> RequestKind {
        RequestKind::GetSession
    }
    fn request(&self) -> Built {
        ops::get(self.url.clone())
    }
    fn interpret(&self, reply: &Reply) -> Verdict<UploadSession> {
        ops::get_reply(reply, self.kind())
    }
}

/// Upload one part (`PUT`); repeated safely, since Box answers a repeated
/// part with `416` and the stored part.
#[derive(Debug, Clone)]
pub struct PutPart {
    /// The session's part URL.
    pub url: String,
    /// The part's index, for errors.
    pub index: u64,
    /// The part's range in the file.
    pub range: ContentRange,
    /// The part's SHA-1.
    pub sha1: Sha1Digest,
    /// The part's bytes.
    pub data: Bytes,
}

impl Operation for PutPart {
    type Answer = UploadPart;
    fn kind(&self) -> RequestKind {
        RequestKind::UploadPart { index: self.index }
    }
    fn request(&self) -> Built {
        ops::upload_part(self.url.clone(), self.range, &self.sha1, self.data.clone())
    }
    fn interpret(&self, reply: &Reply) -> Verdict<UploadPart> {
        let (offset, len) = (self.range.offset(), self.range.len());
        ops::upload_part_reply(reply, self.index, offset, len, &self.sha1).map(|(p, _)| p)
    }
}

/// One page of the parts list (`GET`).
#[derive(Debug, Clone)]
pub struct ListParts {
    /// The session's list URL, without the page query.
    pub url: String,
    /// The first entry's index.
    pub offset: u64,
    /// Entries per page (at most 1000).
    pub limit: u64,
}

impl Operation for ListParts {
    type Answer = UploadParts;
    fn kind(&self) -> RequestKind {
        RequestKind::ListParts {
            offset: self.offset,
        }
    }
    fn request(&self) -> Built {
        ops::list_parts(&self.url, self.offset, self.limit)
    }
    fn interpret(&self, reply: &Reply) -> Verdict<UploadParts> {
        ops::list_parts_reply(reply, self.offset)
    }
}

/// Commit (`POST`), waiting through `202`.
#[derive(Debug, Clone)]
pub struct Commit {
    /// The session's commit URL.
    pub url: String,
    /// Every part, in order.
    pub parts: Vec<UploadPart>,
    /// The whole file's SHA-1.
    pub sha1: Sha1Digest,
    /// Attributes to set.
    pub attributes: Option<CommitAttributes>,
    /// `If-Match` (new versions).
    pub if_match: Option<String>,
}

impl Operation for Commit {
    type Answer = File;
    fn kind(&self) -> RequestKind {
        RequestKind::Commit
    }
    fn request(&self) -> Built {
        let (parts, attrs) = (self.parts.clone(), self.attributes.clone());
        ops::commit(
            self.url.clone(),
            &self.sha1,
            parts,
            attrs,
            self.if_match.as_deref(),
        )
    }
    fn interpret(&self, reply: &Reply) -> Verdict<File> {
        // The file's size is where the last part ends.
        let size = self
            .parts
            .iter()
            .map(|p| p.offset + p.size)
            .max()
            .unwrap_or(0);
        ops::commit_reply(reply, &self.sha1, size)
    }
}

/// Delete the session (`DELETE`). A session the server does not know is
/// an error (`404`: the id is wrong, or it was committed or deleted),
/// unless an earlier attempt of this call may have deleted it.
#[derive(Debug, Clone)]
pub struct Abort {
    /// The session's abort URL.
    pub url: String,
}

impl Operation for Abort {
    type Answer = ();
    fn kind(&self) -> RequestKind {
        RequestKind::Abort
    }
    fn request(&self) -> Built {
        ops::abort(self.url.clone())
    }
    fn interpret(&self, reply: &Reply) -> Verdict<()> {
        match ops::abort_reply(reply) {
            Verdict::Success(()) if reply.class(RequestKind::Abort).is_some() => {
                Verdict::SessionGone(reply.failure(RequestKind::Abort))
            }
            other => other,
        }
    }
    fn interpret_after_doubt(&self, reply: &Reply) -> Verdict<()> {
        ops::abort_reply(reply)
    }
}

/// A file object (`GET`).
#[derive(Debug, Clone)]
pub struct GetFile {
    /// The file's URL.
    pub url: String,
}

impl Operation for GetFile {
    type Answer = File;
    fn kind(&self) -> RequestKind {
        RequestKind::GetFile
    }
    fn request(&self) -> Built {
        ops::get(self.url.clone())
    }
    fn interpret(&self, reply: &Reply) -> Verdict<File> {
        ops::get_reply(reply, self.kind())
    }
}

/// A file's content (`GET`).
#[derive(Debug, Clone)]
pub struct Download {
    /// The content URL.
    pub url: String,
    /// The URL a redirect gave (Box's download host): it is sent without
    /// credentials ([`fetch::Anonymous`]).
    pub redirected: bool,
}

impl Operation for Download {
    type Answer = fetch::Fetched;
    fn kind(&self) -> RequestKind {
        RequestKind::GetFile
    }
    fn request(&self) -> Built {
        let mut r = ops::get(self.url.clone())?;
        if self.redirected {
            r.extensions_mut().insert(fetch::Anonymous);
        }
        Ok(r)
    }
    fn interpret(&self, reply: &Reply) -> Verdict<fetch::Fetched> {
        fetch::download_reply(reply, &self.url)
    }
}

/// Bytes `start..=end` of a file's content (`GET` with `Range`), from its
/// content URL or from where that URL sent the client (`redirected`: sent
/// without credentials). Repeated safely.
#[derive(Debug, Clone)]
pub struct DownloadRange {
    /// The content URL, or the download host's URL.
    pub url: String,
    /// `url` came from a redirect (it is its own credential).
    pub redirected: bool,
    /// The first byte.
    pub start: u64,
    /// The last byte.
    pub end: u64,
    /// The file's size (a `200` is taken only for a range of all of it).
    pub size: u64,
}

impl Operation for DownloadRange {
    type Answer = fetch::Fetched;
    fn kind(&self) -> RequestKind {
        RequestKind::GetFile
    }
    fn request(&self) -> Built {
        let mut r = ops::get(self.url.clone())?;
        let range = http::HeaderValue::from_str(&fetch::range_header(self.start, self.end))
            .map_err(|e| e.to_string())?;
        r.headers_mut().insert(http::header::RANGE, range);
        if self.redirected {
            r.extensions_mut().insert(fetch::Anonymous);
        }
        Ok(r)
    }
    fn interpret(&self, reply: &Reply) -> Verdict<fetch::Fetched> {
        let whole = self.start == 0 && self.end + 1 >= self.size;
        fetch::range_reply(reply, &self.url, whole)
    }
}

/// The check before upload (`OPTIONS`): where the file would go, or the
/// conflict.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// The API root.
    pub api_root: String,
    /// A new file in a folder, or a new version of a file.
    pub target: Target,
    /// The file's size.
    pub size: u64,
}

impl Operation for Preflight {
    type Answer = UploadUrl;
    fn kind(&self) -> RequestKind {
        RequestKind::Preflight
    }
    fn request(&self) -> Built {
        conflicts::preflight(&self.api_root, &self.target, self.size)
    }
    fn interpret(&self, reply: &Reply) -> Verdict<UploadUrl> {
        conflicts::preflight_reply(reply)
    }
}

/// A one-shot upload (`POST`, multipart; not repeated after an ambiguous
/// failure: a second file or version could be made). The request's body is
/// the form's head; its extensions carry the
/// [`MultipartTail`](crate::one_shot::MultipartTail): the driver sends the
/// file's bytes, then the tail.
#[derive(Debug, Clone)]
pub struct UploadFile {
    /// The upload root.
    pub upload_root: String,
    /// A new file in a folder, or a new version of a file.
    pub target: Target,
    /// The file's size.
    pub size: u64,
    /// Its SHA-1 when known before sending (`Content-MD5`).
    pub sha1: Option<Sha1Digest>,
    /// Attributes to set.
    pub attributes: Option<CommitAttributes>,
    /// Makes the form's boundary (draw it at random).
    pub boundary_seed: u64,
}

impl Operation for UploadFile {
    type Answer = File;
    fn kind(&self) -> RequestKind {
        RequestKind::UploadFile
    }
    fn idempotent(&self) -> bool {
        false
    }
    fn request(&self) -> Built {
        let (mut req, tail) = one_shot::upload_file(
            &self.upload_root,
            &self.target,
            self.size,
            self.sha1.as_ref(),
            self.attributes.as_ref(),
            self.boundary_seed,
        )?;
        req.extensions_mut().insert(tail);
        Ok(req)
    }
    fn interpret(&self, reply: &Reply) -> Verdict<File> {
        one_shot::upload_file_reply(reply, self.sha1.as_ref(), self.size)
    }
}

/// A folder (`POST /folders`; repeated safely: a folder of that name
/// already there is the answer, its id).
#[derive(Debug, Clone)]
pub struct CreateFolder {
    /// The API root.
    pub api_root: String,
    /// The parent folder.
    pub parent: String,
    /// The folder's name.
    pub name: String,
}

impl Operation for CreateFolder {
    type Answer = String;
    fn kind(&self) -> RequestKind {
        RequestKind::CreateFolder
    }
    fn request(&self) -> Built {
        folders::create_folder(&self.api_root, &self.parent, &self.name)
    }
    fn interpret(&self, reply: &Reply) -> Verdict<String> {
        folders::create_folder_reply(reply)
    }
}

/// An upload session plan (`POST`; repeated safely: planning again gives
/// the same hits).
#[derive(Debug, Clone)]
pub struct Plan {
    /// The session's plan URL.
    pub url: String,
    /// The parts, by offset, size and SHA-512.
    pub parts: Vec<PlannedPart>,
}

impl Operation for Plan {
    type Answer = PlanResponse;
    fn kind(&self) -> RequestKind {
        RequestKind::Plan
    }
    fn request(&self) -> Built {
        plan::plan(self.url.clone(), self.parts.clone())
    }
    fn interpret(&self, reply: &Reply) -> Verdict<PlanResponse> {
        plan::plan_reply(reply)
    }
}
