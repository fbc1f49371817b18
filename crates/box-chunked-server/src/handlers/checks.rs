//! Names and space: the checks a request may make early (the check before
//! upload, a new version's name), and the one place a store's [`Refusal`]
//! becomes Box's answer. The checks that decide are the ones each write
//! makes again in its own transaction; an early check only answers sooner.

use super::common::{blocking, fail, not_found, Fail};
use crate::store::{FileRow, Refusal};
use crate::State;
use box_chunked_proto::rules;
use box_chunked_proto::ErrorCode;
use serde_json::json;

/// Box's answer for a write the store refused; `name` is the name the
/// request asked for (for a conflict's message).
pub(crate) fn refused(r: Refusal, name: &str) -> Fail {
    match r {
        Refusal::NotFound | Refusal::SessionClosed(false) => not_found(),
        Refusal::NameInUse(kind, id) => conflict_error(kind, id, name),
        Refusal::EtagChanged => fail(
            412,
            ErrorCode::PreconditionFailed,
            "The resource has been modified. Please retrieve the resource again and retry",
        ),
        Refusal::OverQuota { size, used, quota } => fail(
            403,
            ErrorCode::StorageLimitExceeded,
            format!(
                "The upload ({size} bytes) does not fit in the user's storage: {used} of {quota} bytes are held by files and open upload sessions"
            ),
        ),
        Refusal::TooManySessions { limit } => Fail::Api {
            status: 429,
            code: ErrorCode::RateLimitExceeded,
            message: format!(
                "The user has {limit} open upload sessions, the most this server allows at once; commit or abort one, or wait for one to expire"
            ),
            context: None,
            retry_after: Some(60),
        },
        Refusal::SessionExpired => fail(
            410,
            ErrorCode::SessionExpired,
            "The upload session has expired",
        ),
        Refusal::SessionClosed(true) => fail(
            409,
            ErrorCode::Other("upload_session_committed".into()),
            "The upload session has already been committed",
        ),
        Refusal::IntoItself => fail(
            400,
            ErrorCode::BadRequest,
            "A folder cannot be moved into itself or into a folder inside it",
        ),
    }
}

/// The `409 item_name_in_use` naming the item that has the name.
pub(crate) fn conflict_error(kind: &str, id: i64, name: &str) -> Fail {
    let item =
        json!({"type": kind, "id": id.to_string(), "name": name, "etag": "0", "sequence_id": "0"});
    // Box sends a single object for a file and an array for a folder.
    let conflicts = if kind == "file" { item } else { json!([item]) };
    Fail::Api {
        status: 409,
        code: ErrorCode::ItemNameInUse,
        message: "Item with the same name already exists".into(),
        context: Some(json!({ "conflicts": conflicts })),
        retry_after: None,
    }
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
