//! Names, space and etags: the checks a request may make early (the check
//! before upload, a new version's name, `If-Match`), and the one place a
//! store's [`Refusal`] becomes Box's answer. The checks that decide are the
//! ones each write makes again in its own transaction; an early check only
//! answers sooner.

use super::common::{blocking, fail, header, not_found, Fail};
use crate::store::{FileRow, Refusal};
use crate::State;
use box_chunked_proto::rules;
use box_chunked_proto::ErrorCode;
use http::HeaderMap;
use serde_json::json;

/// The etag `If-Match` names, when it is sent (one that is not an etag of
/// this server is `-1`, which no item has).
pub(crate) fn if_match(headers: &HeaderMap) -> Option<i64> {
    header(headers, "if-match").map(|v| v.trim().trim_matches('"').parse().unwrap_or(-1))
}

/// `If-Match`, when sent, names the item's etag: `412` otherwise.
pub(crate) fn check_if_match(headers: &HeaderMap, etag: i64) -> Result<(), Fail> {
    if if_match(headers).is_some_and(|e| e != etag) {
        return Err(refused(Refusal::EtagChanged, ""));
    }
    Ok(())
}

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

/// Box's answer for a write the store refused; `name` is the name the
/// request asked for (for a conflict's message).
pub(crate) fn refused(r: Refusal, name: &str) -> Fail {
    match r {
        Refusal::NotFound | Refusal::SessionClosed(false) => not_found(),
        Refusal::NameInUse(kind, id) => conflict_error(kind, id, name),
        Refusal::EtagChanged => fail(ErrorCode::PreconditionFailed,
            "The resource has been modified. Please retrieve the resource again and retry",
        ),
        Refusal::OverQuota { size, used, quota } => fail(ErrorCode::StorageLimitExceeded,
            format!(
                "The upload ({size} bytes) does not fit in the user's storage: {used} of {quota} bytes are held by files and open upload sessions"
            ),
        ),
        Refusal::TooManySessions { limit } => fail(
            ErrorCode::RateLimitExceeded,
            format!(
                "The user has {limit} open upload sessions, the most this server allows at once; commit or abort one, or wait for one to expire"
            ),
        )
        .with_retry_after(60),
        Refusal::SessionExpired => fail(ErrorCode::SessionExpired,
            "The upload session has expired",
        ),
        Refusal::SessionClosed(true) => fail(ErrorCode::UploadSessionCommitted,
            "The upload session has already been committed",
        ),
        Refusal::IntoItself => fail(ErrorCode::BadRequest,
            "A folder cannot be moved into itself or into a folder inside it",
        ),
        Refusal::CurrentVersion => fail(ErrorCode::BadRequest,
            "The current version cannot be deleted: promote another version first, or delete the file",
        ),
    }
}

/// The `409 item_name_in_use` naming the item that has the name.
pub(crate) fn conflict_error(kind: &str, id: i64, name: &str) -> Fail {
    let item =
        json!({"type": kind, "id": id.to_string(), "name": name, "etag": "0", "sequence_id": "0"});
    // Box sends a single object for a file and an array for a folder.
    let conflicts = if kind == "file" { item } else { json!([item]) };
    fail(
        ErrorCode::ItemNameInUse,
        "Item with the same name already exists",
    )
    .with_context(json!({ "conflicts": conflicts }))
}

/// The folder exists for this user and has no item named like `name`
/// (compared case-insensitively): `404` or `409 item_name_in_use` otherwise.
pub(crate) async fn check_free_name(
    st: &State,
    owner: &str,
    folder: &str,
    name: &str,
) -> Result<(), Fail> {
    let (o, f, n) = (owner.to_owned(), folder.to_owned(), name.to_owned());
    let (exists, conflict) = blocking(st, move |s| {
        Ok((s.folder_exists(&o, &f)?, s.item_named(&o, &f, &n)?))
    })
    .await?;
    if !exists {
        return Err(not_found());
    }
    match conflict {
        Some((kind, id)) => Err(conflict_error(kind, id, name)),
        None => Ok(()),
    }
}

/// A new version may rename its file to `name` when no other item in the
/// folder has that name: `409 item_name_in_use` otherwise.
pub(crate) async fn check_rename(
    st: &State,
    owner: &str,
    file: &FileRow,
    name: &str,
) -> Result<(), Fail> {
    if rules::names_conflict(name, &file.name) {
        return Ok(());
    }
    let (o, folder, n) = (owner.to_owned(), file.folder_id.clone(), name.to_owned());
    match blocking(st, move |s| s.item_named(&o, &folder, &n)).await? {
        Some((kind, id)) if id != file.id || kind != "file" => Err(conflict_error(kind, id, name)),
        _ => Ok(()),
    }
}

/// The user's quota has room for `size` more bytes now:
/// `403 storage_limit_exceeded` otherwise.
pub(crate) async fn check_quota(st: &State, user: &str, size: u64) -> Result<(), Fail> {
    let owner = user.to_owned();
    match blocking(st, move |s| s.room(&owner)).await? {
        Some(room) if size > room => {
            let quota = st.cfg.quota.unwrap_or(0);
            Err(refused(
                Refusal::OverQuota {
                    size,
                    used: quota.saturating_sub(room),
                    quota,
                },
                "",
            ))
        }
        _ => Ok(()),
    }
}
