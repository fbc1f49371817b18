//! Files: one file (`GET /files/{id}`), its earlier versions (`GET
//! /files/{id}/versions`), the check before upload (`OPTIONS
//! /files/content`, `OPTIONS /files/{id}/content`), the update (`PUT
//! /files/{id}`: name, folder, description, content modification time,
//! shared link) and delete (`DELETE /files/{id}`), each with `If-Match`
//! where Box has it, checked in the transaction that writes.

use super::checks::refused;
use super::checks::{check_free_name, check_quota, check_rename, file_for_change, if_match};
use super::common::{
    blocking, decode_body, empty_response, fail, json_response, not_found, random_hex, small_body,
    valid_name, Body, Fail,
};
use super::fields::{check_description, not_modelled, requested, select};
use super::links;
use super::repr::{file_json, versions_json};
use crate::store::FileChanges;
use crate::State;
use box_chunked_proto::endpoints::Endpoint;
use box_chunked_proto::urls::BaseUrls;
use box_chunked_proto::{
    ErrorCode, PreflightFields, Timestamp, UpdateFileFields, UploadUrl, BOX_FILE_UPDATE_FIELDS,
};
use http::{HeaderMap, Request, Response};
use hyper::body::Incoming;
use std::sync::Arc;

/// `GET /files/{id}`: the file, whole or with the `fields` asked for.
pub(crate) async fn get_file(
    st: &Arc<State>,
    user: &str,
    id: &str,
    query: Option<&str>,
) -> Result<Response<Body>, Fail> {
    let (o, f) = (user.to_owned(), id.to_owned());
    let file = blocking(st, move |s| s.file(&o, &f))
        .await?
        .ok_or_else(not_found)?;
    let json = file_json(st, &file).await?;
    Ok(json_response(
        200,
        &select(json, requested(query).as_deref(), false),
    ))
}

/// `GET /files/{id}/versions`: the file's earlier versions, newest first
/// (the current one is the file itself, as on Box).
pub(crate) async fn versions(
    st: &Arc<State>,
    user: &str,
    id: &str,
) -> Result<Response<Body>, Fail> {
    let fid = id.parse::<i64>().map_err(|_| not_found())?;
    let (o, f) = (user.to_owned(), id.to_owned());
    let (file, rows) = blocking(st, move |s| Ok((s.file(&o, &f)?, s.versions(&o, fid)?))).await?;
    let (Some(file), Some(rows)) = (file, rows) else {
        return Err(not_found());
    };
    Ok(json_response(200, &versions_json(&file, &rows)))
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
            let file_id = file.id.to_string();
            Endpoint::UploadFileVersion { file_id }.url(&BaseUrls::from_base(&st.url).upload)
        }
        None => {
            let name = v
                .name
                .as_deref()
                .ok_or_else(|| fail(ErrorCode::BadRequest, "name is required"))?;
            let parent = v
                .parent
                .as_ref()
                .and_then(|p| p.id.clone())
                .ok_or_else(|| fail(ErrorCode::BadRequest, "parent.id is required"))?;
            check_free_name(st, user, &parent, name).await?;
            Endpoint::UploadFile.url(&BaseUrls::from_base(&st.url).upload)
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

/// `PUT /files/{id}`: every field it takes is applied, in one transaction
/// that checks the file, the folder, the name and `If-Match`.
pub(crate) async fn update_file(
    st: &Arc<State>,
    user: &str,
    id: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let headers = req.headers().clone();
    let fields = requested(req.uri().query());
    let fid = id.parse::<i64>().map_err(|_| not_found())?;
    let body = small_body(st, req, 64 * 1024).await?;
    let v: UpdateFileFields = decode_body(&body, |_| ErrorCode::BadRequest)?;
    not_modelled(&v.other, BOX_FILE_UPDATE_FIELDS, "PUT /files/{id}")?;
    if let Some(n) = &v.name {
        valid_name(n)?;
    }
    check_description(v.description.as_deref())?;
    let shared_link = links::update(st, user, links::Linked::File(id), &v.shared_link).await?;
    let changes = FileChanges {
        name: v.name.clone(),
        folder_id: v.parent.and_then(|p| p.id),
        description: v.description,
        content_modified_at: v.content_modified_at.map(checked_time).transpose()?,
        shared_link,
        if_match: if_match(&headers),
        now: st.now_unix(),
    };
    let o = user.to_owned();
    let file = blocking(st, move |s| s.update_file(&o, fid, &changes))
        .await?
        .map_err(|r| refused(r, v.name.as_deref().unwrap_or("")))?;
    let json = file_json(st, &file).await?;
    Ok(json_response(200, &select(json, fields.as_deref(), false)))
}

/// A timestamp Box takes, kept as it was sent.
fn checked_time(t: Timestamp) -> Result<String, Fail> {
    t.to_system_time().map_err(|e| {
        fail(
            ErrorCode::BadRequest,
            format!("content_modified_at is not a date and time: {e}"),
        )
    })?;
    Ok(t.as_str().to_owned())
}

/// `DELETE /files/{id}`: the file with every version, to the trash as on
/// Box (for good when the server keeps no trash); `If-Match` checked in
/// the same transaction.
pub(crate) async fn delete_file(
    st: &Arc<State>,
    user: &str,
    id: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, Fail> {
    let fid = id.parse::<i64>().map_err(|_| not_found())?;
    let (o, etag) = (user.to_owned(), if_match(headers));
    let sessions = blocking(st, move |s| s.delete_file(&o, fid, etag))
        .await?
        .map_err(|r| refused(r, ""))?;
    blocking(st, move |s| {
        s.remove_session_dirs(&sessions);
        Ok(())
    })
    .await?;
    Ok(empty_response(204))
}

/// `POST /files/{id}/copy`: a new file in `parent.id` (named `name`, or as
/// the source) whose content is the source's current version; `201`, or
/// Box's `409 item_name_in_use` when the name is taken there.
pub(crate) async fn copy_file(
    st: &Arc<State>,
    user: &str,
    id: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let fields = requested(req.uri().query());
    let fid = id.parse::<i64>().map_err(|_| not_found())?;
    let body = small_body(st, req, 64 * 1024).await?;
    let v: serde_json::Value = decode_body(&body, |_| ErrorCode::BadRequest)?;
    if v.get("version").is_some() {
        return Err(fail(
            ErrorCode::BadRequest,
            "copying a version other than the current one is not modelled by this server",
        ));
    }
    let to = v["parent"]["id"]
        .as_str()
        .ok_or_else(|| fail(ErrorCode::BadRequest, "parent.id is required"))?
        .to_owned();
    let name = v["name"].as_str().map(str::to_owned);
    if let Some(n) = &name {
        valid_name(n)?;
    }
    // The name a conflict names: the one asked for, or the source's.
    let (o, i) = (user.to_owned(), id.to_owned());
    let shown = match &name {
        Some(n) => n.clone(),
        None => blocking(st, move |s| s.file(&o, &i))
            .await?
            .map(|f| f.name)
            .unwrap_or_default(),
    };
    let (o, now, n) = (user.to_owned(), st.now_unix(), name);
    let file = blocking(st, move |s| s.copy_file(&o, fid, &to, n.as_deref(), now))
        .await?
        .map_err(|r| refused(r, &shown))?;
    let json = file_json(st, &file).await?;
    Ok(json_response(201, &select(json, fields.as_deref(), false)))
}

/// `POST /files/{id}/versions/current` with `{"id": VERSION, "type":
/// "file_version"}`: that earlier version made current again (a new
/// version sharing its content); `201` the new current version.
pub(crate) async fn promote_version(
    st: &Arc<State>,
    user: &str,
    id: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let fid = id.parse::<i64>().map_err(|_| not_found())?;
    let body = small_body(st, req, 4096).await?;
    let v: serde_json::Value = decode_body(&body, |_| ErrorCode::BadRequest)?;
    let vid = v["id"]
        .as_str()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| {
            fail(
                ErrorCode::BadRequest,
                "id (the version to make current) is required",
            )
        })?;
    let (o, now) = (user.to_owned(), st.now_unix());
    let file = blocking(st, move |s| s.promote_version(&o, fid, vid, now))
        .await?
        .map_err(|r| refused(r, ""))?;
    let current = crate::store::VersionRow {
        id: file.version_id,
        size: file.size,
        sha1: file.sha1.clone(),
        created_at: now,
    };
    let listed = versions_json(&file, std::slice::from_ref(&current));
    Ok(json_response(201, &listed["entries"][0]))
}

/// `DELETE /files/{id}/versions/{version}`: an earlier version gone (its
/// content with it once no version names it); the current one is a `400`.
pub(crate) async fn delete_version(
    st: &Arc<State>,
    user: &str,
    id: &str,
    version: &str,
) -> Result<Response<Body>, Fail> {
    let fid = id.parse::<i64>().map_err(|_| not_found())?;
    let vid = version.parse::<i64>().map_err(|_| not_found())?;
    let o = user.to_owned();
    blocking(st, move |s| s.delete_version(&o, fid, vid))
        .await?
        .map_err(|r| refused(r, ""))?;
    Ok(empty_response(204))
}
