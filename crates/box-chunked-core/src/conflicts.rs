//! Names: the check before upload (`OPTIONS /files/content`) and what its
//! answer means, the item a `409 item_name_in_use` names, and what a
//! conflict leads to under each [`OnConflict`] policy (an error, a new
//! version, a skip when the file there is the same, a numbered name).

use crate::config::Target;
use crate::error::{ApiFailure, UploadError};
use crate::io::RequestKind;
use crate::ops::{built, name_conflict, Reply, Verdict};
use crate::retry::FailureClass;
use box_chunked_proto::endpoints::Endpoint;
use box_chunked_proto::rules::numbered_name;
use box_chunked_proto::{ErrorCode, File, Sha1Digest, UploadUrl};
use bytes::Bytes;
use serde_json::json;

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
    is_same_content(existing.sha1.as_ref(), existing.size, sha1, size)
}

/// Whether a file Box describes by SHA-1 and size (a listing's entry, say)
/// holds the bytes of a local file: the same SHA-1 and the same size.
pub fn is_same_content(
    there_sha1: Option<&Sha1Digest>,
    there_size: Option<u64>,
    sha1: &Sha1Digest,
    size: u64,
) -> bool {
    there_sha1 == Some(sha1) && there_size == Some(size)
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
