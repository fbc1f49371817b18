//! One-shot uploads: `POST /files/content` (a new file) and `POST
//! /files/{id}/content` (a new version), a multipart form whose
//! `attributes` part (JSON) comes before the `file` part. The file is
//! streamed to disk while it is hashed, checked against `Content-MD5` (Box
//! puts the SHA-1 there, in hex) and stored as a committed session of at
//! most one part, in one transaction with the file, so downloads, versions
//! and plans treat it like a chunked upload.

use super::body::{PartHasher, Writer};
use super::checks::{check_free_name, check_rename, file_for_change, if_match, refused};
use super::common::valid_name;
use super::common::{
    blocking, decode_body, fail, header, internal, json_response, random_hex, Body, Fail, FLUSH_AT,
};
use super::repr::file_json;
use crate::store::{
    io_err, persist, FileRow, NewVersion, PartRow, Refusal, SessionRow, SessionState,
};
use crate::{Counters, State};
use box_chunked_proto::{ErrorCode, Sha1Digest, UploadAttributes};
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::BodyDataStream;
use hyper::body::Incoming;
use serde_json::json;
use sha1::{Digest as _, Sha1};
use std::path::PathBuf;
use std::sync::Arc;

/// Where a one-shot upload goes.
struct Target {
    folder_id: Option<String>,
    file_id: Option<i64>,
    name: Option<String>,
}

/// The file part, received into a temporary file.
struct Received {
    tmp: PathBuf,
    file: std::fs::File,
    size: u64,
    sha1: Sha1Digest,
}

pub(crate) async fn upload_file(
    st: &Arc<State>,
    user: &str,
    file_id: Option<String>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let headers = req.headers().clone();
    let (boundary, expected) = form_headers(&headers)?;
    let existing = match &file_id {
        Some(id) => Some(file_for_change(st, user, id, &headers).await?),
        None => None,
    };
    // No more than the room left under the quota is ever written; the
    // commit's transaction checks the quota again with what it adds.
    let owner = user.to_owned();
    let room = blocking(st, move |s| s.room(&owner)).await?;
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().for_field("attributes", 64 * 1024));
    let mut form = multer::Multipart::with_constraints(
        BodyDataStream::new(req.into_body()),
        boundary,
        constraints,
    );
    let (target, attrs, received) = read_form(st, user, &mut form, existing.as_ref(), room).await?;
    if let Some(expected) = expected {
        if expected != received.sha1 {
            let _ = std::fs::remove_file(&received.tmp);
            return Err(fail(
                ErrorCode::BadDigest,
                format!(
                    "The specified Content-MD5 ({}) did not match what we received ({})",
                    expected.to_hex(),
                    received.sha1.to_hex()
                ),
            ));
        }
    }
    store_one_shot(st, user, target, attrs, received, if_match(&headers)).await
}

/// The form's boundary and the SHA-1 the client announced in `Content-MD5`.
fn form_headers(headers: &HeaderMap) -> Result<(String, Option<Sha1Digest>), Fail> {
    let boundary = header(headers, "content-type")
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| {
            fail(
                ErrorCode::BadRequest,
                "The body must be multipart/form-data with an attributes part and a file part",
            )
        })?;
    let expected = header(headers, "content-md5")
        .map(|v| {
            Sha1Digest::from_hex(v.trim()).map_err(|_| {
                fail(
                    ErrorCode::BadDigest,
                    "Content-MD5 must be the file's SHA-1 in hex",
                )
            })
        })
        .transpose()?;
    Ok((boundary, expected))
}

/// Reads the form up to its file part: the attributes (which must come
/// first), the target they name (checked before any byte is stored), and
/// the file received into a temporary file.
async fn read_form(
    st: &Arc<State>,
    user: &str,
    form: &mut multer::Multipart<'static>,
    existing: Option<&FileRow>,
    room: Option<u64>,
) -> Result<(Target, UploadAttributes, Received), Fail> {
    let mut attributes: Option<UploadAttributes> = None;
    loop {
        let Some(mut field) = next_field(st, form).await? else {
            return Err(fail(ErrorCode::BadRequest, "The form has no file part"));
        };
        if field.name() == Some("attributes") {
            let bytes = field_bytes(st, &mut field, 64 * 1024).await?;
            attributes = Some(decode_body(&bytes, |_| ErrorCode::BadRequest)?);
            continue;
        }
        if field.name() != Some("file") && field.file_name().is_none() {
            continue; // another form field: ignored, as Box does
        }
        // A new version may come without attributes (Box's Node SDK 3
        // sends only the file): it keeps the file's name.
        let attrs = match (attributes.take(), existing) {
            (Some(a), _) => a,
            (None, Some(_)) => UploadAttributes::default(),
            (None, None) => {
                return Err(fail(
                    ErrorCode::MetadataAfterFileContents,
                    "The attributes part must come before the file part",
                ))
            }
        };
        let target = resolve_target(st, user, &attrs, existing).await?;
        let received = receive_field(st, &mut field, room).await?;
        return Ok((target, attrs, received));
    }
}

/// Checks the name and the folder before any byte of the file is stored.
async fn resolve_target(
    st: &State,
    user: &str,
    attrs: &UploadAttributes,
    existing: Option<&FileRow>,
) -> Result<Target, Fail> {
    if let Some(n) = &attrs.name {
        valid_name(n)?;
    }
    if let Some(file) = existing {
        if let Some(n) = &attrs.name {
            check_rename(st, user, file, n).await?;
        }
        return Ok(Target {
            folder_id: None,
            file_id: Some(file.id),
            name: attrs.name.clone(),
        });
    }
    let name = attrs
        .name
        .clone()
        .ok_or_else(|| fail(ErrorCode::BadRequest, "attributes.name is required"))?;
    let folder = attrs
        .parent
        .as_ref()
        .and_then(|p| p.id.clone())
        .ok_or_else(|| fail(ErrorCode::BadRequest, "attributes.parent.id is required"))?;
    check_free_name(st, user, &folder, &name).await?;
    Ok(Target {
        folder_id: Some(folder),
        file_id: None,
        name: Some(name),
    })
}

async fn next_field<'a>(
    st: &State,
    form: &mut multer::Multipart<'a>,
) -> Result<Option<multer::Field<'a>>, Fail> {
    match tokio::time::timeout(st.cfg.body_idle, form.next_field()).await {
        Err(_) => Err(Fail::Drop("client stopped sending the form")),
        Ok(r) => r.map_err(form_error),
    }
}

fn form_error(e: multer::Error) -> Fail {
    match e {
        multer::Error::StreamReadFailed(_) => Fail::Drop("client hung up"),
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            fail(ErrorCode::RequestEntityTooLarge, "A form part is too large")
        }
        other => fail(
            ErrorCode::BadRequest,
            format!("The multipart form is malformed: {other}"),
        ),
    }
}

async fn next_chunk(st: &State, field: &mut multer::Field<'_>) -> Result<Option<Bytes>, Fail> {
    match tokio::time::timeout(st.cfg.body_idle, field.chunk()).await {
        Err(_) => Err(Fail::Drop("client stopped sending the file")),
        Ok(r) => r.map_err(form_error),
    }
}

async fn field_bytes(
    st: &State,
    field: &mut multer::Field<'_>,
    limit: usize,
) -> Result<Vec<u8>, Fail> {
    let mut out = Vec::new();
    while let Some(c) = next_chunk(st, field).await? {
        out.extend_from_slice(&c);
        if out.len() > limit {
            return Err(fail(
                ErrorCode::RequestEntityTooLarge,
                "The attributes part is too large",
            ));
        }
    }
    Ok(out)
}

/// Streams the file part to a temporary file, hashing it, one batch on
/// the blocking pool while the next arrives; more than `room` bytes (the
/// quota's room left) is `403 storage_limit_exceeded` at once.
async fn receive_field(
    st: &State,
    field: &mut multer::Field<'_>,
    room: Option<u64>,
) -> Result<Received, Fail> {
    let tmp = st
        .store
        .tmp_dir()
        .join(format!("upload-{}", random_hex(8, false)));
    let t = tmp.clone();
    let file = tokio::task::spawn_blocking(move || std::fs::File::create(&t))
        .await
        .map_err(|_| internal())?
        .map_err(|e| Fail::from(io_err("creating", &tmp)(e)))?;
    let result = async {
        let mut writer = Writer::Idle(Some(file), PartHasher::Single(Sha1::new()), 0);
        let (mut pending, mut pending_len, mut total) = (Vec::new(), 0usize, 0u64);
        while let Some(c) = next_chunk(st, field).await? {
            Counters::add(&st.counters.bytes_received, c.len() as u64);
            total += c.len() as u64;
            if let Some(room) = room.filter(|r| total > *r) {
                let quota = st.cfg.quota.unwrap_or(0);
                let over = Refusal::OverQuota {
                    size: total,
                    used: quota.saturating_sub(room),
                    quota,
                };
                return Err(refused(over, ""));
            }
            pending_len += c.len();
            pending.push(c);
            if pending_len >= FLUSH_AT {
                pending_len = 0;
                writer = writer.write(std::mem::take(&mut pending)).await?;
            }
        }
        writer.write(pending).await?.finish().await
    }
    .await;
    match result {
        Ok((Some(file), hasher, size)) => Ok(Received {
            tmp,
            file,
            size,
            sha1: hasher.finish().0,
        }),
        Ok((None, ..)) => Err(internal()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Makes the file durable and commits it with its session in one
/// transaction, which checks again that the folder or file is there and
/// the user's, the name free and the quota kept; Box's answer with the file.
async fn store_one_shot(
    st: &Arc<State>,
    user: &str,
    target: Target,
    attrs: UploadAttributes,
    r: Received,
    if_match: Option<i64>,
) -> Result<Response<Body>, Fail> {
    let mut session = SessionRow {
        id: String::new(),
        owner: user.to_owned(),
        folder_id: target.folder_id.clone(),
        file_id: target.file_id,
        name: target.name.clone(),
        file_size: r.size,
        part_size: r.size.max(1),
        total_parts: u64::from(r.size > 0),
        // Claimed in the transaction that opens it.
        expires_at: st.now_unix().saturating_add(60),
        state: SessionState::Open,
        committed_file_id: None,
        committed_sha1: None,
    };
    let version = NewVersion {
        sha1: r.sha1,
        description: attrs.description,
        content_created_at: attrs.content_created_at.map(|t| t.as_str().to_owned()),
        content_modified_at: attrs.content_modified_at.map(|t| t.as_str().to_owned()),
        now: st.now_unix(),
        if_match,
        chain: Vec::new(),
    };
    let outcome = blocking(st, move |store| {
        let stored = (|| {
            session.id = store.new_session_id()?;
            let part = match r.size {
                0 => None,
                size => Some(PartRow {
                    index: 0,
                    offset: 0,
                    size,
                    part_id: store.new_part_id()?,
                    sha1: r.sha1,
                }),
            };
            r.file.sync_all().map_err(io_err("syncing", &r.tmp))?;
            match &part {
                Some(p) => persist(&r.tmp, &store.blob_path(&session.id, &p.part_id))?,
                None => {
                    let _ = std::fs::remove_file(&r.tmp);
                }
            }
            store.commit_one_shot(&session, part.as_ref(), &version)
        })();
        // Nothing of a refused or failed upload stays behind.
        if !matches!(stored, Ok(Ok(_))) {
            let _ = std::fs::remove_file(&r.tmp);
            if !session.id.is_empty() {
                let _ = std::fs::remove_dir_all(store.session_dir(&session.id));
            }
        }
        stored
    })
    .await?;
    let file = outcome.map_err(|e| refused(e, target.name.as_deref().unwrap_or("")))?;
    Counters::add(&st.counters.files_uploaded_one_shot, 1);
    Ok(json_response(
        201,
        &json!({"total_count": 1, "entries": [file_json(st, &file).await?]}),
    ))
}
