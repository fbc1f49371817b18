//! The API root's items: files and folders as Box describes them, and
//! folder creation. Downloads are in `download`.

use super::common::{
    blocking, decode_body, fail, json_response, not_found, now_unix, small_body, timestamp, Body,
    Fail,
};
use super::download::download;
use super::sessions::check_free_name;
use crate::State;
use box_chunked_proto::rules::{self as rules};
use box_chunked_proto::{CreateFolderFields, ErrorCode};
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
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["files", id]) => {
            let (o, f) = (user.to_owned(), (*id).to_owned());
            let file = blocking(st, move |s| s.file(&o, &f))
                .await?
                .ok_or_else(not_found)?;
            Ok(json_response(200, &file_json(st, &file).await?))
        }
        ("GET", ["files", id, "content"]) => download(st, user, id, req.headers()).await,
        ("POST", ["folders"]) => create_folder(st, user, req).await,
        ("GET", ["users", "me"]) => users_me(st, user).await,
        ("GET", ["folders", id]) => {
            let folder = folder_json(st, user, id).await?;
            Ok(json_response(200, &folder))
        }
        (_, ["files", ..] | ["folders", ..] | ["users", "me"]) => {
            Err(fail(405, ErrorCode::MethodNotAllowed, "Method Not Allowed"))
        }
        _ => Err(fail(404, ErrorCode::NotFound, "Not Found")),
    }
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
        chain.push(json!({"type": "folder", "id": f.id.to_string(), "sequence_id": "0", "etag": "0", "name": f.name}));
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
        "shared_link": null,
        "item_status": "active",
    }))
}

pub(crate) async fn folder_json(st: &State, user: &str, id: &str) -> Result<Value, Fail> {
    if id == "0" {
        return Ok(
            json!({"type": "folder", "id": "0", "sequence_id": null, "etag": null, "name": "All Files",
                         "path_collection": {"total_count": 0, "entries": []}, "owned_by": user_json(user)}),
        );
    }
    let (o, i) = (user.to_owned(), id.to_owned());
    let f = blocking(st, move |s| s.folder(&o, &i))
        .await?
        .ok_or_else(not_found)?;
    let path = path_collection(st, user, &f.parent_id).await?;
    let parent = path.last().cloned().unwrap_or_else(root_folder_mini);
    Ok(
        json!({"type": "folder", "id": f.id.to_string(), "sequence_id": "0", "etag": "0", "name": f.name,
              "created_at": timestamp(f.created_at), "modified_at": timestamp(f.created_at),
              "path_collection": {"total_count": path.len(), "entries": path}, "parent": parent,
              "owned_by": user_json(user), "item_status": "active"}),
    )
}

pub(crate) async fn create_folder(
    st: &Arc<State>,
    user: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let body = small_body(st, req, 64 * 1024).await?;
    let v: CreateFolderFields = decode_body(&body, |_| ErrorCode::BadRequest)?;
    let name = v
        .name
        .ok_or_else(|| fail(400, ErrorCode::BadRequest, "name is required"))?;
    rules::validate_file_name(&name).map_err(|e| {
        fail(
            400,
            ErrorCode::ItemNameInvalid,
            format!("Item name invalid: {e}"),
        )
    })?;
    let parent = v
        .parent
        .and_then(|p| p.id)
        .ok_or_else(|| fail(400, ErrorCode::BadRequest, "parent.id is required"))?;
    check_free_name(st, user, &parent, &name).await?;
    let (o, p, n) = (user.to_owned(), parent, name);
    let row = blocking(st, move |s| s.create_folder(&o, &p, &n, now_unix())).await?;
    Ok(json_response(
        201,
        &folder_json(st, user, &row.id.to_string()).await?,
    ))
}

/// `GET /users/me`: the user, with the space Box reports (`space_amount`:
/// the quota, or Box's "unlimited" value without one; `space_used`: the
/// current versions of the user's files; `max_upload_size`).
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
