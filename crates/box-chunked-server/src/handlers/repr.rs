//! Box's JSON representations of what the server holds: files (with
//! their path and shared link), folders (with their first items), earlier
//! versions, users and upload sessions. No route lives here.

use super::common::{blocking, not_found, timestamp, Fail};
use super::fields::select;
use super::links;
use crate::store::{FileRow, FolderRow, ItemRow, SessionRow, VersionRow};
use crate::State;
use box_chunked_proto::{SessionEndpoints, Timestamp, UploadSession};
use serde_json::{json, Value};

/// A listing's entry as Box describes it.
pub(crate) async fn item_json(st: &State, user: &str, row: &ItemRow) -> Result<Value, Fail> {
    match row {
        ItemRow::File(f) => file_json(st, f).await,
        ItemRow::Folder(f) => folder_json(st, user, &f.id.to_string()).await,
    }
}

/// The first 100 items of a folder, in their mini form, as Box embeds
/// them in the folder.
pub(crate) async fn item_collection(st: &State, user: &str, id: &str) -> Result<Value, Fail> {
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

pub(crate) async fn file_json(st: &State, f: &FileRow) -> Result<Value, Fail> {
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

/// A file's earlier versions as Box lists them (`GET /files/{id}/versions`).
pub(crate) fn versions_json(file: &FileRow, rows: &[VersionRow]) -> Value {
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
    json!({"total_count": entries.len(), "entries": entries, "offset": 0, "limit": 1000})
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

/// The user as `GET /users/me` shows them, with the space Box reports
/// (`space_amount`: the quota, or Box's "unlimited" value without one;
/// `space_used`: every version of the user's files and the sizes reserved
/// by open upload sessions; `max_upload_size`: no limit).
pub(crate) fn me_json(user: &str, used: u64, quota: Option<u64>) -> Value {
    let mut me = user_json(user);
    if let Some(obj) = me.as_object_mut() {
        // Box answers 999999999999999 for unlimited space.
        obj.insert(
            "space_amount".into(),
            json!(quota.unwrap_or(999_999_999_999_999)),
        );
        obj.insert("space_used".into(), json!(used));
        // The largest integer every JSON client reads exactly.
        obj.insert("max_upload_size".into(), json!(9_007_199_254_740_991_u64));
        obj.insert("status".into(), json!("active"));
    }
    me
}

/// An upload session as Box describes it, with `session_endpoints` on this
/// server's public URL.
pub(crate) fn session_json(st: &State, s: &SessionRow, processed: u64) -> UploadSession {
    use box_chunked_proto::endpoints::Endpoint;
    let root = box_chunked_proto::urls::BaseUrls::from_base(&st.url).upload;
    let id = || s.id.clone();
    let at = |e: Endpoint| Some(e.url(&root));
    UploadSession {
        id: s.id.clone(),
        kind: "upload_session".into(),
        session_expires_at: Some(Timestamp::from_text(timestamp(s.expires_at))),
        part_size: s.part_size,
        total_parts: s.total_parts,
        num_parts_processed: Some(processed),
        session_endpoints: SessionEndpoints {
            upload_part: at(Endpoint::UploadPart { session_id: id() }),
            commit: at(Endpoint::Commit { session_id: id() }),
            abort: at(Endpoint::Abort { session_id: id() }),
            list_parts: at(Endpoint::ListParts { session_id: id() }),
            status: at(Endpoint::GetSession { session_id: id() }),
            log_event: Some(format!(
                "{}/log",
                Endpoint::GetSession { session_id: id() }.url(&root)
            )),
            plan: at(Endpoint::Plan { session_id: id() }),
        },
    }
}
