//! Small files: which go up in one request, the one-shot multipart
//! request's shape (the head as the body, the tail in an extension, the
//! file streamed between them by the driver) and what its answer means.

use crate::config::Target;
use crate::error::UploadError;
use crate::io::RequestKind;
use crate::ops::{built, name_conflict, stored_mismatch, Reply, Verdict};
use crate::retry::FailureClass;
use box_chunked_proto::endpoints::Endpoint;
use box_chunked_proto::rules::MIN_CHUNKED_FILE_SIZE;
use box_chunked_proto::{encode_json, CommitAttributes, ErrorCode, File, Files, Sha1Digest};
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
    let (url, attrs, if_match) = form_target(upload_root, target, attributes);
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
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"attributes\"\r\nContent-Type: application/json\r\n\r\n{}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
        String::from_utf8_lossy(&encode_json(&attrs)),
        quoted_name(&name)
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

/// The URL, the `attributes` JSON and the `If-Match` of a one-shot upload
/// to `target`.
fn form_target(
    upload_root: &str,
    target: &Target,
    attributes: Option<&CommitAttributes>,
) -> (String, serde_json::Value, Option<String>) {
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
    (url, attrs, if_match)
}

/// A file name as a form's `filename="..."` may carry it: quotes,
/// backslashes and control characters become `_`.
fn quoted_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
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
            if let Some(e) = stored_mismatch(kind, &file, sha1, size) {
                return Verdict::Fail(e);
            }
            Verdict::Success(file)
        }
        Some(FailureClass::Fatal) if reply.code() == ErrorCode::ItemNameInUse => {
            Verdict::Fail(name_conflict(reply.failure(kind)))
        }
        Some(class) => Verdict::refused(class, reply, kind),
    }
}
