//! Changing files: the check before upload (`OPTIONS /files/content`,
//! `OPTIONS /files/{id}/content`), rename and move (`PUT /files/{id}`) and
//! delete (`DELETE /files/{id}`), each with `If-Match` where Box has it.

use super::common::{
    blocking, check_if_match, decode_body, empty_response, fail, json_response, not_found,
    now_unix, random_hex, small_body, valid_name, Body, Fail,
};
use super::fields::{requested, select};
use super::items::{file_json, remove_sessions};
use super::sessions::{check_free_name, check_quota, check_rename, conflict_error};
use crate::store::{FileRow, Update};
use crate::State;
use box_chunked_proto::rules;
use box_chunked_proto::{ErrorCode, PreflightFields, UpdateFileFields, UploadUrl};
use http::{HeaderMap, Request, Response};
use hyper::body::Incoming;
use std::sync::Arc;

/// The file, when it exists and `If-Match` (if sent) names its etag.
pub(crate) async fn file_for_change(
    st: &State,
    user: &str,
    id: &str,
    headers: &HeaderMap,
) -> Result<FileRow, Fail> {
    let (o, f) = (user.to_owned(), id.to_owned());
    let file = blocking(st, move |s| s.file(&o, &f))
        .await?
        .ok_or_else(not_found)?;
    check_if_match(headers, file.etag)?;
    Ok(file)
}

/// The check before upload: would this upload be accepted? `200` with
/// where to send it, or the error the upload would get (`409` for a name
/// in use, with the conflicting item; `403` when it does not fit the
/// user's storage; `404` for a missing folder or file). No byte is stored.
pub(crate) async fn preflight(
    st: &Arc<State>,
    user: &str,
    file_id: Option<&str>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let headers = req.headers().clone();
    let body = small_body(st, req, 64 * 1024).await?;
    let v: PreflightFields = if body.is_empty() {
        PreflightFields::default()
    } else {
        decode_body(&body, |_| ErrorCode::BadRequest)?
    };
    if let Some(n) = &v.name {
        valid_name(n)?;
    }
    let upload_url = match file_id {
        Some(id) => {
            let file = file_for_change(st, user, id, &headers).await?;
            if let Some(n) = &v.name {
                check_rename(st, user, &file, n).await?;
            }
            format!("{}/api/2.0/files/{}/content", st.url, file.id)
        }
        None => {
            let name = v
                .name
                .as_deref()
                .ok_or_else(|| fail(400, ErrorCode::BadRequest, "name is required"))?;
            let parent = v
                .parent
                .as_ref()
                .and_then(|p| p.id.clone())
                .ok_or_else(|| fail(400, ErrorCode::BadRequest, "parent.id is required"))?;
            check_free_name(st, user, &parent, name).await?;
            format!("{}/api/2.0/files/content", st.url)
        }
    };
    if let Some(size) = v.size {
        check_quota(st, user, size).await?;
    }
    Ok(json_response(
        200,
        &UploadUrl {
            upload_url,
            upload_token: random_hex(16, false),
        },
    ))
}

/// `PUT /files/{id}`: a new name, folder or description.
pub(crate) async fn update_file(
    st: &Arc<State>,
    user: &str,
    id: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let headers = req.headers().clone();
    let fields = requested(req.uri().query());
    let file = file_for_change(st, user, id, &headers).await?;
    let body = small_body(st, req, 64 * 1024).await?;
    let v: UpdateFileFields = decode_body(&body, |_| ErrorCode::BadRequest)?;
    if let Some(n) = &v.name {
        valid_name(n)?;
    }
    let folder = v.parent.and_then(|p| p.id);
    let name = v.name.clone().unwrap_or_else(|| file.name.clone());
    let moving = folder.as_deref().is_some_and(|f| f != file.folder_id);
    if moving || !rules::names_conflict(&name, &file.name) {
        let target = folder.clone().unwrap_or_else(|| file.folder_id.clone());
        let (o, t, n) = (user.to_owned(), target.clone(), name.clone());
        let (exists, taken) = blocking(st, move |s| {
            Ok((s.folder_exists(&o, &t)?, s.item_named(&o, &t, &n)?))
        })
        .await?;
        if !exists {
            return Err(not_found());
        }
        if let Some((kind, other)) = taken {
            if kind != "file" || other != file.id {
                return Err(conflict_error(kind, other, &name));
            }
        }
    }
    let (o, fid) = (user.to_owned(), file.id);
    let (n, f, d) = (v.name, folder, v.description);
    let updated = blocking(st, move |s| {
        s.update_file(
            &o,
            fid,
            n.as_deref(),
            f.as_deref(),
            d.as_deref(),
            now_unix(),
        )
    })
    .await?;
    match updated {
        Update::NotFound => return Err(not_found()),
        Update::NameInUse => {
            return Err(fail(
                409,
                ErrorCode::ItemNameInUse,
                "Item with the same name already exists",
            ))
        }
        Update::Updated => {}
    }
    let (o, f) = (user.to_owned(), file.id.to_string());
    let file = blocking(st, move |s| s.file(&o, &f))
        .await?
        .ok_or_else(not_found)?;
    let json = file_json(st, &file).await?;
    Ok(json_response(200, &select(json, fields.as_deref(), false)))
}

/// `DELETE /files/{id}`: the file and every version. Box moves it to the
/// trash; this server deletes it.
pub(crate) async fn delete_file(
    st: &Arc<State>,
    user: &str,
    id: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, Fail> {
    let file = file_for_change(st, user, id, headers).await?;
    let (o, fid) = (user.to_owned(), file.id);
    let sessions = blocking(st, move |s| s.delete_file(&o, fid))
        .await?
        .ok_or_else(not_found)?;
    remove_sessions(st, sessions).await;
    Ok(empty_response(204))
}
