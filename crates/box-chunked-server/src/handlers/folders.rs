//! Folders: create (`POST /folders`), one folder with its first items
//! (`GET /folders/{id}`), list (`GET /folders/{id}/items`, with
//! offset or marker paging and `fields`), update (`PUT /folders/{id}`:
//! name, parent, description, shared link) and delete (`DELETE
//! /folders/{id}`, with `recursive`); every change checked in the
//! transaction that makes it.

use super::checks::{if_match, refused};
use super::common::valid_name;
use super::common::{
    blocking, decode_body, empty_response, fail, json_response, not_found, small_body, Body, Fail,
};
use super::fields::{check_description, not_modelled, requested, select};
use super::links;
use super::repr::{folder_json, folder_row_json, item_collection, item_json};
use crate::store::FolderChanges;
use crate::State;
use base64::Engine as _;
use box_chunked_proto::{
    CreateFolderFields, ErrorCode, UpdateFolderFields, BOX_FOLDER_UPDATE_FIELDS,
};
use http::HeaderMap;
use http::{Request, Response};
use hyper::body::Incoming;
use serde_json::{json, Value};
use std::sync::Arc;

/// The largest page Box gives, and the default.
const MAX_LIMIT: u64 = 1000;
const DEFAULT_LIMIT: u64 = 100;
/// Box refuses offset paging beyond this offset (marker paging has no limit).
const MAX_OFFSET: u64 = 10_000;

pub(crate) async fn create_folder(
    st: &Arc<State>,
    user: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let body = small_body(st, req, 64 * 1024).await?;
    let v: CreateFolderFields = decode_body(&body, |_| ErrorCode::BadRequest)?;
    let name = v
        .name
        .ok_or_else(|| fail(ErrorCode::BadRequest, "name is required"))?;
    valid_name(&name)?;
    let parent = v
        .parent
        .and_then(|p| p.id)
        .ok_or_else(|| fail(ErrorCode::BadRequest, "parent.id is required"))?;
    let (o, p, n) = (user.to_owned(), parent, name.clone());
    let now = st.now_unix();
    let id = blocking(st, move |s| s.create_folder(&o, &p, &n, now))
        .await?
        .map_err(|r| refused(r, &name))?;
    Ok(json_response(
        201,
        &folder_json(st, user, &id.to_string()).await?,
    ))
}

/// `GET /folders/{id}`: the folder with `item_collection` (its first 100
/// items), whole or with the `fields` asked for.
pub(crate) async fn get_folder(
    st: &Arc<State>,
    user: &str,
    id: &str,
    query: Option<&str>,
) -> Result<Response<Body>, Fail> {
    let mut folder = folder_json(st, user, id).await?;
    if let Some(obj) = folder.as_object_mut() {
        obj.insert(
            "item_collection".into(),
            item_collection(st, user, id).await?,
        );
    }
    Ok(json_response(
        200,
        &select(folder, requested(query).as_deref(), false),
    ))
}

/// `PUT /folders/{id}`: every field it takes is applied, in one
/// transaction that checks the folder, its new parent (never itself or
/// below itself), the name and `If-Match`. The root cannot change.
pub(crate) async fn update_folder(
    st: &Arc<State>,
    user: &str,
    id: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let headers = req.headers().clone();
    let fields = requested(req.uri().query());
    if id == "0" {
        return Err(fail(
            ErrorCode::AccessDeniedInsufficientPermissions,
            "The root folder (All Files) cannot be renamed, moved or shared",
        ));
    }
    let fid = id.parse::<i64>().map_err(|_| not_found())?;
    let body = small_body(st, req, 64 * 1024).await?;
    let v: UpdateFolderFields = decode_body(&body, |_| ErrorCode::BadRequest)?;
    not_modelled(&v.other, BOX_FOLDER_UPDATE_FIELDS, "PUT /folders/{id}")?;
    if let Some(n) = &v.name {
        valid_name(n)?;
    }
    check_description(v.description.as_deref())?;
    let shared_link = links::update(st, user, links::Linked::Folder(id), &v.shared_link).await?;
    let changes = FolderChanges {
        name: v.name.clone(),
        parent_id: v.parent.and_then(|p| p.id),
        description: v.description,
        shared_link,
        if_match: if_match(&headers),
        now: st.now_unix(),
    };
    let o = user.to_owned();
    let folder = blocking(st, move |s| s.update_folder(&o, fid, &changes))
        .await?
        .map_err(|r| refused(r, v.name.as_deref().unwrap_or("")))?;
    let json = folder_row_json(st, user, &folder).await?;
    Ok(json_response(200, &select(json, fields.as_deref(), false)))
}

/// How a listing pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Paging {
    Offset(u64),
    /// Marker paging, from this position.
    Marker(u64),
}

fn bad(message: impl Into<String>) -> Fail {
    fail(ErrorCode::BadRequest, message)
}

/// The position a marker stands for. Markers are opaque to clients.
fn decode_marker(m: &str) -> Option<u64> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(m)
        .ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("at:")?
        .parse()
        .ok()
}

fn encode_marker(at: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("at:{at}"))
}

/// A listing's paging and limit from its query (Box's defaults and bounds).
pub(super) fn paging(query: Option<&str>) -> Result<(Paging, u64), Fail> {
    let (mut offset, mut limit, mut marker, mut usemarker) = (0u64, DEFAULT_LIMIT, None, false);
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let n = || {
            v.parse::<u64>()
                .map_err(|_| bad(format!("{k} must be a non-negative integer")))
        };
        match &*k {
            "offset" => offset = n()?,
            "limit" => limit = n()?,
            "usemarker" => usemarker = v.eq_ignore_ascii_case("true") || v == "1",
            "marker" => marker = Some(v.into_owned()),
            _ => {}
        }
    }
    if limit == 0 || limit > MAX_LIMIT {
        return Err(bad(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    if usemarker || marker.is_some() {
        let at = match marker.filter(|m| !m.is_empty()) {
            Some(m) => decode_marker(&m).ok_or_else(|| bad("Invalid marker"))?,
            None => 0,
        };
        return Ok((Paging::Marker(at), limit));
    }
    if offset > MAX_OFFSET {
        return Err(bad(format!(
            "offset must not exceed {MAX_OFFSET}; use marker paging (usemarker=true) beyond it"
        )));
    }
    Ok((Paging::Offset(offset), limit))
}

/// `GET /folders/{id}/items`: folders first, then files, each by name.
pub(crate) async fn list_items(
    st: &Arc<State>,
    user: &str,
    id: &str,
    query: Option<&str>,
) -> Result<Response<Body>, Fail> {
    let fields = requested(query);
    let (paging, limit) = paging(query)?;
    let (o, f) = (user.to_owned(), id.to_owned());
    if !blocking(st, move |s| s.folder_exists(&o, &f)).await? {
        return Err(not_found());
    }
    let from = match paging {
        Paging::Offset(n) | Paging::Marker(n) => n,
    };
    let (o, f) = (user.to_owned(), id.to_owned());
    let (rows, total) = blocking(st, move |s| s.list_folder(&o, &f, from, limit)).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        entries.push(select(
            item_json(st, user, row).await?,
            fields.as_deref(),
            true,
        ));
    }
    let page = page_json(paging, limit, entries, total);
    Ok(json_response(200, &page))
}

/// A listing's page as Box gives it: with `total_count` and `offset` for
/// offset paging, with `next_marker` (while there are more) for markers.
pub(super) fn page_json(paging: Paging, limit: u64, entries: Vec<Value>, total: u64) -> Value {
    let order = json!([{"by": "type", "direction": "ASC"}, {"by": "name", "direction": "ASC"}]);
    match paging {
        Paging::Offset(offset) => json!({
            "total_count": total, "entries": entries, "offset": offset, "limit": limit,
            "order": order,
        }),
        Paging::Marker(at) => {
            let next = at + entries.len() as u64;
            let next_marker = (next < total).then(|| encode_marker(next));
            json!({"entries": entries, "limit": limit, "next_marker": next_marker, "order": order})
        }
    }
}

/// `DELETE /folders/{id}`: only an empty folder unless `recursive=true`
/// (`If-Match` checked in the same transaction); to the trash, with
/// everything in it, as on Box (for good when the server keeps no trash).
pub(crate) async fn delete_folder(
    st: &Arc<State>,
    user: &str,
    id: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response<Body>, Fail> {
    let recursive = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .any(|(k, v)| k == "recursive" && (v.eq_ignore_ascii_case("true") || v == "1"));
    if id == "0" {
        return Err(fail(
            ErrorCode::Forbidden,
            "The root folder (All Files) cannot be deleted",
        ));
    }
    let n = id.parse::<i64>().map_err(|_| not_found())?;
    let (owner, etag) = (user.to_owned(), if_match(headers));
    match blocking(st, move |s| s.delete_folder(&owner, n, recursive, etag)).await? {
        Ok(sessions) => {
            blocking(st, move |s| {
                s.remove_session_dirs(&sessions);
                Ok(())
            })
            .await?;
            Ok(empty_response(204))
        }
        Err(Some(r)) => Err(refused(r, "")),
        Err(None) => Err(fail(
            ErrorCode::FolderNotEmpty,
            "The folder is not empty; delete it with recursive=true",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_bad_ones_are_refused() {
        assert_eq!(decode_marker(&encode_marker(1234)), Some(1234));
        assert_eq!(decode_marker("not a marker"), None);
        assert!(matches!(
            paging(Some("usemarker=true&limit=1000")),
            Ok((Paging::Marker(0), 1000))
        ));
        assert!(paging(Some("limit=1001")).is_err());
        assert!(paging(Some("offset=10001")).is_err());
        assert!(matches!(paging(None), Ok((Paging::Offset(0), 100))));
    }
}
