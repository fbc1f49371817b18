//! Small files, name conflicts and the upload session plan: which files
//! go up in one request, the check before upload (`OPTIONS
//! /files/content`), the one-shot multipart request's shape and what its
//! answer means, what a name conflict leads to under each [`OnConflict`]
//! policy, and the plan request. Shapes and meanings only: the driver
//! streams the file between the multipart's head and tail.

use crate::config::Target;
use crate::error::{ApiFailure, UploadError};
use crate::io::RequestKind;
use crate::ops::{built, json_post, name_conflict, Reply, Verdict};
use crate::retry::FailureClass;
use box_chunked_proto::endpoints::Endpoint;
use box_chunked_proto::rules::{numbered_name, MIN_CHUNKED_FILE_SIZE};
use box_chunked_proto::{
    encode_json, CommitAttributes, ErrorCode, File, Files, PlanRequest, PlanResponse, PlannedPart,
    Sha1Digest, UploadUrl,
};
use bytes::Bytes;
use serde_json::json;

/// Below this size a file goes up in one request by default (Box's
/// chunked minimum, 20,000,000 bytes).
pub const DEFAULT_ONE_SHOT_BELOW: u64 = MIN_CHUNKED_FILE_SIZE;

/// Whether a file of `size` bytes goes up in one request: below
/// `threshold` (and always at zero bytes, which no session accepts).
pub const fn is_one_shot(size: u64, threshold: u64) -> bool {
    size < threshold || size == 0
}

/// What to do when the name is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Fail, as Box does (the default).
    #[default]
    Error,
    /// Upload a new version of the file that has the name.
    Version,
    /// Do nothing when that file has the same SHA-1 and size; fail otherwise.
    Skip,
    /// Take the first free name of `name (1).ext`, `name (2).ext`, ...
    Rename,
}

impl std::str::FromStr for OnConflict {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "error" => Ok(Self::Error),
            "version" => Ok(Self::Version),
            "skip" => Ok(Self::Skip),
            "rename" => Ok(Self::Rename),
            _ => Err(format!(
                "{s:?} is not a conflict policy; use error, version, skip or rename"
            )),
        }
    }
}

/// The item that holds a name, from a `409 item_name_in_use`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// `"file"` or `"folder"`.
    pub kind: String,
    /// Its id.
    pub id: String,
    /// Its SHA-1, when Box gave it (files).
    pub sha1: Option<Sha1Digest>,
}

/// The conflicting item an error names, if it is a name conflict.
pub fn conflict_of(e: &UploadError) -> Option<Conflict> {
    match e {
        UploadError::NameConflict { failure, .. } => conflict_in(failure),
        UploadError::Api(a) => conflict_in(a),
        _ => None,
    }
}

/// The conflicting item of a refused request, if Box said the name is taken.
pub fn conflict_in(api: &ApiFailure) -> Option<Conflict> {
    if api.status != 409 {
        return None;
    }
    let err = api.error.as_deref()?;
    if err.code() != ErrorCode::ItemNameInUse {
        return None;
    }
    let c = err.conflicts().into_iter().next()?;
    Some(Conflict {
        kind: if c.kind.is_empty() {
            "file".to_owned()
        } else {
            c.kind
        },
        id: c.id,
        sha1: c.sha1,
    })
}

/// What to do next about a conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Fail with the conflict.
    Fail,
    /// Upload as a new version of this file instead.
    NewVersion {
        /// The file that has the name.
        file_id: String,
    },
    /// Compare with this file: the same SHA-1 and size is done, anything
    /// else fails.
    CompareWith {
        /// The file that has the name.
        file_id: String,
    },
    /// Try this name instead.
    Rename(String),
}

/// How many numbered names [`OnConflict::Rename`] tries before it gives up.
pub const MAX_RENAMES: u32 = 1000;

/// What `policy` does about `conflict` for a file named `name`, on its
/// `attempt`th conflict (from 1; renames number from it).
pub fn resolve(policy: OnConflict, conflict: &Conflict, name: &str, attempt: u32) -> Resolution {
    let file = conflict.kind == "file";
    match policy {
        OnConflict::Error => Resolution::Fail,
        OnConflict::Version if file && attempt == 1 => Resolution::NewVersion {
            file_id: conflict.id.clone(),
        },
        OnConflict::Skip if file && attempt == 1 => Resolution::CompareWith {
            file_id: conflict.id.clone(),
        },
        OnConflict::Rename if attempt <= MAX_RENAMES => {
            Resolution::Rename(numbered_name(name, attempt))
        }
        _ => Resolution::Fail,
    }
}

/// Whether an existing file is the one being uploaded (skip, or a one-shot
/// upload whose answer was lost and whose name is now taken).
pub fn is_same_file(existing: &File, sha1: &Sha1Digest, size: u64) -> bool {
    existing.sha1.as_ref() == Some(sha1) && existing.size == Some(size)
}

/// The check before upload: `OPTIONS /files/content` (new files) or
/// `OPTIONS /files/{id}/content` (versions), under the API root.
pub fn preflight(
    api_root: &str,
    target: &Target,
    size: u64,
) -> Result<http::Request<Bytes>, String> {
    let (url, body) = match target {
        Target::NewFile { folder_id, name } => (
            Endpoint::Preflight.url(api_root),
            json!({"name": name, "parent": {"id": folder_id}, "size": size}),
        ),
        Target::NewVersion { file_id, name, .. } => {
            let mut b = json!({ "size": size });
            if let Some(n) = name {
                b["name"] = json!(n);
            }
            let file_id = file_id.clone();
            (Endpoint::PreflightVersion { file_id }.url(api_root), b)
        }
    };
    built(
        http::Request::options(url).header(http::header::CONTENT_TYPE, "application/json"),
        Bytes::from(body.to_string()),
    )
}

/// The answer to the check before upload: where to send the file, or the
/// conflict (a [`UploadError::NameConflict`]), or Box's refusal.
pub fn preflight_reply(reply: &Reply) -> Verdict<UploadUrl> {
    let kind = RequestKind::Preflight;
    match reply.class(kind) {
        None => match reply.decode::<UploadUrl>(kind) {
            Ok(u) => Verdict::Success(u),
            Err(e) => Verdict::Fail(e),
        },
        Some(FailureClass::Fatal) if reply.code() == ErrorCode::ItemNameInUse => {
            Verdict::Fail(name_conflict(reply.failure(kind)))
        }
        Some(class) => Verdict::refused(class, reply, kind),
    }
}

/// The tail of a one-shot request, after the file's bytes: the driver
/// sends the request's body (the head), then the file, then this. The
/// request's `Content-Length` counts all three.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartTail {
    /// The file's length in the body.
    pub file_len: u64,
    /// What follows the file.
    pub tail: Bytes,
}

/// A one-shot upload: `POST /files/content` (new files) or `POST
/// /files/{id}/content` (versions) under the upload root, a multipart form
/// with the `attributes` JSON first and the file second; `Content-MD5`
/// carries the file's SHA-1 in hex when it is known before sending.
///
/// Returns the request with the form's head as its body, and the tail.
pub fn upload_file(
    upload_root: &str,
    target: &Target,
    size: u64,
    sha1: Option<&Sha1Digest>,
    attributes: Option<&CommitAttributes>,
    boundary_seed: u64,
) -> Result<(http::Request<Bytes>, MultipartTail), String> {
    let (url, mut attrs, if_match) = match target {
        Target::NewFile { folder_id, name } => (
            Endpoint::UploadFile.url(upload_root),
            json!({"name": name, "parent": {"id": folder_id}}),
            None,
        ),
        Target::NewVersion {
            file_id,
            name,
            if_match,
        } => {
            let mut a = json!({});
            if let Some(n) = name {
                a["name"] = json!(n);
            }
            (
                Endpoint::UploadFileVersion {
                    file_id: file_id.clone(),
                }
                .url(upload_root),
                a,
                if_match.clone(),
            )
        }
    };
    if let Some(a) = attributes {
        if let Some(t) = &a.content_created_at {
            attrs["content_created_at"] = json!(t.as_str());
        }
        if let Some(t) = &a.content_modified_at {
            attrs["content_modified_at"] = json!(t.as_str());
        }
        if let Some(d) = &a.description {
            attrs["description"] = json!(d);
        }
    }
    // The boundary must not occur in the body: 40 hex digits of a seed the
    // driver draws at random (or the file's SHA-1) never do in practice, and
    // the attributes are JSON without them.
    let boundary = format!(
        "box-chunked-{boundary_seed:016x}{}",
        sha1.map_or_else(String::new, |s| s.to_hex()[..24].to_owned())
    );
    let name = match target {
        Target::NewFile { name, .. } => name.clone(),
        Target::NewVersion { name, .. } => name.clone().unwrap_or_else(|| "file".to_owned()),
    };
    let safe_name: String = name
        .chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"attributes\"\r\nContent-Type: application/json\r\n\r\n{}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
        String::from_utf8_lossy(&encode_json(&attrs))
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let len = head.len() as u64 + size + tail.len() as u64;
    let mut b = http::Request::post(url)
        .header(
            http::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header(http::header::CONTENT_LENGTH, len);
    if let Some(s) = sha1 {
        b = b.header("content-md5", s.to_hex());
    }
    if let Some(etag) = if_match {
        b = b.header(http::header::IF_MATCH, etag);
    }
    let req = built(b, Bytes::from(head))?;
    Ok((
        req,
        MultipartTail {
            file_len: size,
            tail: Bytes::from(tail),
        },
    ))
}

/// The answer to a one-shot upload of `size` bytes with `sha1` (when known):
/// the file, after checking that the server stored what was sent.
pub fn upload_file_reply(reply: &Reply, sha1: Option<&Sha1Digest>, size: u64) -> Verdict<File> {
    let kind = RequestKind::UploadFile;
    match reply.class(kind) {
        None => {
            let file = match reply.decode::<Files>(kind) {
                Ok(f) => f.entries.into_iter().next(),
                Err(e) => return Verdict::Fail(e),
            };
            let Some(file) = file else {
                return Verdict::Fail(UploadError::Protocol {
                    kind,
                    detail: "the answer lists no file".into(),
                });
            };
            let sha_ok = match (sha1, &file.sha1) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            if !sha_ok || file.size.is_some_and(|s| s != size) {
                return Verdict::Fail(UploadError::Protocol {
                    kind,
                    detail: format!(
                        "the server stored {} bytes with SHA-1 {}; {} bytes with SHA-1 {} were sent",
                        file.size.map_or_else(|| "?".to_owned(), |s| s.to_string()),
                        file.sha1.map_or_else(|| "?".to_owned(), |s| s.to_hex()),
                        size,
                        sha1.map_or_else(|| "?".to_owned(), Sha1Digest::to_hex),
                    ),
                });
            }
            Verdict::Success(file)
        }
        Some(FailureClass::Fatal) if reply.code() == ErrorCode::ItemNameInUse => {
            Verdict::Fail(name_conflict(reply.failure(kind)))
        }
        Some(class) => Verdict::refused(class, reply, kind),
    }
}

/// `POST /folders` under the API root: a folder named `name` in `parent`.
pub fn create_folder(
    api_root: &str,
    parent: &str,
    name: &str,
) -> Result<http::Request<Bytes>, String> {
    let url = Endpoint::CreateFolder.url(api_root);
    let body = json!({"name": name, "parent": {"id": parent}});
    built(json_post(url), Bytes::from(body.to_string()))
}

/// The answer to a folder's creation: its id, or (a folder of that name
/// being there already) the existing folder's id, so a tree is created or
/// reused by name. A *file* holding the name is a conflict.
pub fn create_folder_reply(reply: &Reply) -> Verdict<String> {
    let kind = RequestKind::CreateFolder;
    match reply.class(kind) {
        None => match reply.decode::<serde_json::Value>(kind) {
            Ok(v) => match v["id"].as_str() {
                Some(id) => Verdict::Success(id.to_owned()),
                None => Verdict::Fail(UploadError::Protocol {
                    kind,
                    detail: "the folder has no id".into(),
                }),
            },
            Err(e) => Verdict::Fail(e),
        },
        Some(FailureClass::Fatal) if reply.code() == ErrorCode::ItemNameInUse => {
            let failure = reply.failure(kind);
            match conflict_in(&failure) {
                Some(c) if c.kind == "folder" => Verdict::Success(c.id),
                _ => Verdict::Fail(name_conflict(failure)),
            }
        }
        Some(class) => Verdict::refused(class, reply, kind),
    }
}

/// Parts per plan request (Box takes at least one; batches keep each
/// request and answer small).
pub const PLAN_BATCH: usize = 1000;

/// `POST` of an upload session plan to the session's `plan` URL.
pub fn plan(url: String, parts: Vec<PlannedPart>) -> Result<http::Request<Bytes>, String> {
    built(
        json_post(url),
        Bytes::from(encode_json(&PlanRequest { parts })),
    )
}

/// The answer to a plan: the hits (recorded in the session) and misses.
pub fn plan_reply(reply: &Reply) -> Verdict<PlanResponse> {
    let kind = RequestKind::Plan;
    match reply.class(kind) {
        None => match reply.decode(kind) {
            Ok(p) => Verdict::Success(p),
            Err(e) => Verdict::Fail(e),
        },
        Some(class) => Verdict::refused(class, reply, kind),
    }
}
