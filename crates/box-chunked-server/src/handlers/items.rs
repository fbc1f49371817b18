//! The API root (`/2.0`): its routes (`405` for a known path with another
//! method, `404` for an unknown one), files, versions and folders as Box
//! describes them, and `/users/me`. Changes to files are in `files`,
//! folders in `folders`, downloads in `download`.

use super::common::{blocking, fail, json_response, not_found, timestamp, Body, Fail};
use super::download::download;
use super::fields::{requested, select};
use super::files::{delete_file, preflight, update_file};
use super::folders::{create_folder, delete_folder, list_items, update_folder};
use super::links;
use crate::store::{FolderRow, ItemRow};
use crate::State;
use box_chunked_proto::ErrorCode;
use http::{Request, Response};
use hyper::body::Incoming;
use serde_json::{json, Value};
use std::sync::Arc;

pub(crate) async fn api(
    st: &Arc<State>,
    user: &str,
    rest: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    let query = req.uri().query().map(str::to_owned);
    let query = query.as_deref();
    match (method.as_str(), segs.as_slice()) {
        ("OPTIONS", ["files", "content"]) => preflight(st, user, None, req).await,
        ("OPTIONS", ["files", id, "content"]) => preflight(st, user, Some(id), req).await,
        ("GET", ["files", id]) => {
            let (o, f) = ((user).to_owned(), (*id).to_owned());
            let file = blocking(st, move |s| s.file(&o, &f))
                .await?
                .ok_or_else(not_found)?;
            let json = file_json(st, &file).await?;
            Ok(json_response(
                200,
                &select(json, requested(query).as_deref(), false),
            ))
        }
        ("PUT", ["files", id]) => update_file(st, user, id, req).await,
        ("DELETE", ["files", id]) => delete_file(st, user, id, req.headers()).await,
        ("GET", ["files", id, "content"]) => download(st, user, id, req.headers()).await,
        ("GET", ["files", id, "versions"]) => versions(st, user, id).await,
        ("POST", ["folders"]) => create_folder(st, user, req).await,
        ("GET", ["folders", id]) => {
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
        ("GET", ["folders", id, "items"]) => list_items(st, user, id, query).await,
        ("PUT", ["folders", id]) => update_folder(st, user, id, req).await,
        ("DELETE", ["folders", id]) => delete_folder(st, user, id, query, req.headers()).await,
        ("GET", ["users", "me"]) => users_me(st, user).await,
        (
            _,
            ["files", "content"]
            | ["files", _]
            | ["files", _, "content"]
            | ["files", _, "versions"]
            | ["folders"]
            | ["folders", _]
            | ["folders", _, "items"]
            | ["users", "me"],
        ) => Err(fail(405, ErrorCode::MethodNotAllowed, "Method Not Allowed")),
        _ => Err(fail(404, ErrorCode::NotFound, "Not Found")),
    }
}

/// A listing's entry as Box describes it.
pub(crate) async fn item_json(st: &State, user: &str, row: &ItemRow) -> Result<Value, Fail> {
    match row {
        ItemRow::File(f) => file_json(st, f).await,
        ItemRow::Folder(f) => folder_json(st, user, &f.id.to_string()).await,
    }
}

/// The first 100 items of a folder, in their mini form, as Box embeds
/// them in the folder.
async fn item_collection(st: &State, user: &str, id: &str) -> Result<Value, Fail> {
    let (o, f) = (user.to_owned(), id.to_owned());
    let (rows, total) = blocking(st, move |s| s.list_folder(&o, &f, 0, 100)).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        entries.push(select(item_json(st, user, row).await?, None, true));
    }
    Ok(
        json!({"total_count": total, "entries": entries, "offset": 0, "limit": 100,
              "order": [{"by": "type", "direction": "ASC"}, {"by": "name", "direction": "ASC"}]}),
    )
}

/// Removes the blobs of deleted sessions (their rows are gone already; a
/// crash in between leaves directories the next start deletes).
pub(crate) async fn remove_sessions(st: &State, sessions: Vec<String>) {
    let store = st.store.clone();
    let _ = tokio::task::spawn_blocking(move || {
        for sid in sessions {
            let _ = std::fs::remove_dir_all(store.session_dir(&sid));
        }
    })
    .await;
}

pub(crate) async fn path_collection(
    st: &State,
    owner: &str,
    folder_id: &str,
) -> Result<Vec<Value>, Fail> {
    let mut chain = Vec::new();
    let mut cur = folder_id.to_owned();
    for _ in 0..100 {
        if cur == "0" {
            break;
        }
        let (o, c) = (owner.to_owned(), cur.clone());
        let Some(f) = blocking(st, move |s| s.folder(&o, &c)).await? else {
            break;
        };
        let etag = f.etag.to_string();
        chain.push(json!({"type": "folder", "id": f.id.to_string(), "sequence_id": etag, "etag": etag, "name": f.name}));
        cur = f.parent_id;
    }
    chain.push(root_folder_mini());
    chain.reverse();
    Ok(chain)
}

pub(crate) fn root_folder_mini() -> Value {
    json!({"type": "folder", "id": "0", "sequence_id": null, "etag": null, "name": "All Files"})
}

pub(crate) fn user_json(user: &str) -> Value {
    json!({"type": "user", "id": user, "name": user, "login": format!("{user}@box-chunked.local")})
}

pub(crate) async fn file_json(st: &State, f: &crate::store::FileRow) -> Result<Value, Fail> {
    let path = path_collection(st, &f.owner, &f.folder_id).await?;
    let parent = path.last().cloned().unwrap_or_else(root_folder_mini);
    Ok(json!({
        "type": "file",
        "id": f.id.to_string(),
        "etag": f.etag.to_string(),
        "sequence_id": f.etag.to_string(),
        "sha1": f.sha1,
        "name": f.name,
        "description": f.description,
        "size": f.size,
        "file_version": {"type": "file_version", "id": f.version_id.to_string(), "sha1": f.sha1},
        "path_collection": {"total_count": path.len(), "entries": path},
        "parent": parent,
        "created_at": timestamp(f.created_at),
        "modified_at": timestamp(f.modified_at),
        "content_created_at": f.content_created_at.clone().unwrap_or_else(|| timestamp(f.created_at)),
        "content_modified_at": f.content_modified_at.clone().unwrap_or_else(|| timestamp(f.modified_at)),
        "trashed_at": null,
        "purged_at": null,
        "created_by": user_json(&f.owner),
        "modified_by": user_json(&f.owner),
        "owned_by": user_json(&f.owner),
        "shared_link": links::render(f.shared_link.as_deref(), &st.url, true),
        "item_status": "active",
    }))
}

/// `GET /files/{id}/versions`: the file's earlier versions, newest first
/// (the current one is the file itself, as on Box).
async fn versions(st: &Arc<State>, user: &str, id: &str) -> Result<Response<Body>, Fail> {
    let fid = id.parse::<i64>().map_err(|_| not_found())?;
    let (o, f) = (user.to_owned(), id.to_owned());
    let (file, rows) = blocking(st, move |s| Ok((s.file(&o, &f)?, s.versions(&o, fid)?))).await?;
    let (Some(file), Some(rows)) = (file, rows) else {
        return Err(not_found());
    };
    let entries: Vec<Value> = rows
        .iter()
        .map(|v| {
            json!({
                "type": "file_version", "id": v.id.to_string(), "sha1": v.sha1,
                "name": file.name, "size": v.size,
                "created_at": timestamp(v.created_at), "modified_at": timestamp(v.created_at),
                "modified_by": user_json(&file.owner), "uploader_display_name": file.owner,
                "trashed_at": null, "trashed_by": null, "restored_at": null,
                "restored_by": null, "purged_at": null,
            })
        })
        .collect();
    Ok(json_response(
        200,
        &json!({"total_count": entries.len(), "entries": entries, "offset": 0, "limit": 1000}),
    ))
}

pub(crate) async fn folder_json(st: &State, user: &str, id: &str) -> Result<Value, Fail> {
    if id == "0" {
        return Ok(
            json!({"type": "folder", "id": "0", "sequence_id": null, "etag": null, "name": "All Files",
                         "path_collection": {"total_count": 0, "entries": []}, "owned_by": user_json(user),
                         "shared_link": null, "description": ""}),
        );
    }
    let (o, i) = (user.to_owned(), id.to_owned());
    let f = blocking(st, move |s| s.folder(&o, &i))
        .await?
        .ok_or_else(not_found)?;
    folder_row_json(st, user, &f).await
}

/// A folder's row as Box describes the folder.
pub(crate) async fn folder_row_json(st: &State, user: &str, f: &FolderRow) -> Result<Value, Fail> {
    let path = path_collection(st, user, &f.parent_id).await?;
    let parent = path.last().cloned().unwrap_or_else(root_folder_mini);
    let etag = f.etag.to_string();
    Ok(json!({
        "type": "folder", "id": f.id.to_string(), "sequence_id": etag, "etag": etag,
        "name": f.name, "description": f.description,
        "created_at": timestamp(f.created_at), "modified_at": timestamp(f.modified_at.max(f.created_at)),
        "path_collection": {"total_count": path.len(), "entries": path}, "parent": parent,
        "owned_by": user_json(user), "item_status": "active",
        "shared_link": links::render(f.shared_link.as_deref(), &st.url, false),
    }))
}

/// `GET /users/me`: the user, with the space Box reports (`space_amount`:
/// the quota, or Box's "unlimited" value without one; `space_used`: every
/// version of the user's files and the sizes reserved by open upload
/// sessions; `max_upload_size`).
async fn users_me(st: &Arc<State>, user: &str) -> Result<Response<Body>, Fail> {
    let owner = user.to_owned();
    let used = blocking(st, move |s| s.space_used(&owner)).await?;
    // Box answers 999999999999999 for unlimited space.
    let amount = st.cfg.quota.unwrap_or(999_999_999_999_999);
    let mut me = user_json(user);
    if let Some(obj) = me.as_object_mut() {
        obj.insert("space_amount".into(), json!(amount));
        obj.insert("space_used".into(), json!(used));
        // No limit here: the largest integer every JSON client reads exactly.
        obj.insert("max_upload_size".into(), json!(9_007_199_254_740_991_u64));
        obj.insert("status".into(), json!("active"));
    }
    Ok(json_response(200, &me))
}
