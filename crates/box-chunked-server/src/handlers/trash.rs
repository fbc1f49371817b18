//! The trash's routes: `GET /folders/trash/items` (what the user deleted,
//! with offset or marker paging), `GET /files/{id}/trash` and
//! `/folders/{id}/trash` (one deleted item), `POST /files/{id}` and
//! `/folders/{id}` (restore, optionally under a new name, or into another
//! folder when the old one is gone), and `DELETE /files/{id}/trash` and
//! `/folders/{id}/trash` (removed for good). Deleting moves items here
//! (`store::trash`); the collector purges them after the retention.

use super::checks::refused;
use super::common::{
    blocking, decode_body, empty_response, json_response, not_found, small_body, timestamp,
    valid_name, Body, Fail,
};
use super::fields::{not_modelled, requested, select};
use super::folders::{page_json, paging, Paging};
use super::repr::{file_json, folder_row_json};
use crate::store::{ItemRow, Restore, StoreError, TrashedRow};
use crate::{Counters, State};
use box_chunked_proto::{ErrorCode, ParentFields};
use http::{Request, Response};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Which kind of item a trash route names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `/files/...`
    File,
    /// `/folders/...`
    Folder,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Folder => "folder",
        }
    }
}

/// A restore's body: both fields optional, as on Box.
#[derive(Debug, Default, Deserialize)]
struct RestoreFields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    parent: Option<ParentFields>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// A deleted item as Box shows it: its last state, `item_status`
/// `trashed`, when it was deleted and when it will be purged, and a path
/// through the Trash.
async fn trashed_json(st: &State, user: &str, t: &TrashedRow) -> Result<Value, Fail> {
    let mut item = match &t.item {
        ItemRow::File(f) => file_json(st, f).await?,
        ItemRow::Folder(f) => folder_row_json(st, user, f).await?,
    };
    let purged = st
        .cfg
        .trash_retention
        .map(|d| timestamp(t.trashed_at.saturating_add(d.as_secs() as i64)));
    if let Value::Object(o) = &mut item {
        o.insert("item_status".into(), json!("trashed"));
        o.insert("trashed_at".into(), json!(timestamp(t.trashed_at)));
        o.insert("purged_at".into(), json!(purged));
        let trash = json!({"type": "folder", "id": "1", "sequence_id": null, "etag": null,
                           "name": "Trash"});
        o.insert(
            "path_collection".into(),
            json!({"total_count": 1, "entries": [trash]}),
        );
    }
    Ok(item)
}

fn item_id(id: &str) -> Result<i64, Fail> {
    id.parse::<i64>().map_err(|_| not_found())
}

/// `GET /folders/trash/items`: the items the user deleted (not what went
/// with a deleted folder), folders first, then files, by name.
pub(crate) async fn list_trash(
    st: &Arc<State>,
    user: &str,
    query: Option<&str>,
) -> Result<Response<Body>, Fail> {
    let fields = requested(query);
    let (paging, limit) = paging(query)?;
    let from = match paging {
        Paging::Offset(n) | Paging::Marker(n) => n,
    };
    let o = user.to_owned();
    let (rows, total) = blocking(st, move |s| s.list_trash(&o, from, limit)).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for t in &rows {
        let item = trashed_json(st, user, t).await?;
        entries.push(match &fields {
            Some(f) => select(item, Some(f), true),
            None => item,
        });
    }
    Ok(json_response(
        200,
        &page_json(paging, limit, entries, total),
    ))
}

/// `GET /files/{id}/trash`, `GET /folders/{id}/trash`: an item the user
/// deleted; `404` for one that is not in the trash, or went there with a
/// deleted folder (as on Box: only that folder can be read).
pub(crate) async fn get_trashed(
    st: &Arc<State>,
    user: &str,
    kind: Kind,
    id: &str,
    query: Option<&str>,
) -> Result<Response<Body>, Fail> {
    let fields = requested(query);
    let n = item_id(id)?;
    let o = user.to_owned();
    let t = blocking(st, move |s| s.trashed(&o, kind.name(), n))
        .await?
        .ok_or_else(not_found)?;
    let item = trashed_json(st, user, &t).await?;
    Ok(json_response(200, &select(item, fields.as_deref(), false)))
}

/// `POST /files/{id}`, `POST /folders/{id}`: the item back where it was
/// (with everything a folder held), under `name` if given; into
/// `parent.id` only when its old folder is gone (as on Box). `201`; `409
/// item_name_in_use` when the name is taken there; `404` when the item is
/// not in the trash, or its old folder is gone and no folder was given.
pub(crate) async fn restore(
    st: &Arc<State>,
    user: &str,
    kind: Kind,
    id: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, Fail> {
    let fields = requested(req.uri().query());
    let n = item_id(id)?;
    let body = small_body(st, req, 64 * 1024).await?;
    let v: RestoreFields = if body.iter().all(u8::is_ascii_whitespace) {
        RestoreFields::default()
    } else {
        decode_body(&body, |_| ErrorCode::BadRequest)?
    };
    not_modelled(&v.other, &["name", "parent"], "POST (restore)")?;
    if let Some(name) = &v.name {
        valid_name(name)?;
    }
    let to = Restore {
        name: v.name.clone(),
        parent_id: v.parent.and_then(|p| p.id),
        now: st.now_unix(),
    };
    let o = user.to_owned();
    let item = blocking(st, move |s| s.restore(&o, kind.name(), n, &to))
        .await?
        .map_err(|r| refused(r, v.name.as_deref().unwrap_or("")))?;
    let json = match &item {
        ItemRow::File(f) => file_json(st, f).await?,
        ItemRow::Folder(f) => folder_row_json(st, user, f).await?,
    };
    Ok(json_response(201, &select(json, fields.as_deref(), false)))
}

/// `DELETE /files/{id}/trash`, `DELETE /folders/{id}/trash`: the item
/// (and what went with it) removed for good; `204`.
pub(crate) async fn purge(
    st: &Arc<State>,
    user: &str,
    kind: Kind,
    id: &str,
) -> Result<Response<Body>, Fail> {
    let n = item_id(id)?;
    let o = user.to_owned();
    let sessions = blocking(st, move |s| s.purge(&o, kind.name(), n))
        .await?
        .map_err(|r| refused(r, ""))?;
    blocking(st, move |s| {
        s.remove_session_dirs(&sessions);
        Ok(())
    })
    .await?;
    Ok(empty_response(204))
}

/// The collector's part: purges the items trashed longer than the
/// retention, with their blobs.
pub(crate) async fn purge_expired(st: &Arc<State>) -> Result<u64, StoreError> {
    let Some(keep) = st.cfg.trash_retention else {
        return Ok(0);
    };
    let before = st.now_unix().saturating_sub(keep.as_secs() as i64);
    let store = st.store.clone();
    let done = tokio::task::spawn_blocking(move || {
        let (n, sessions) = store.purge_expired(before)?;
        store.remove_session_dirs(&sessions);
        Ok::<_, StoreError>(n)
    })
    .await
    .unwrap_or(Ok(0))?;
    if done > 0 {
        Counters::add(&st.counters.trash_purged, done);
    }
    Ok(done)
}
