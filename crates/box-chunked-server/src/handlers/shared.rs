//! Reaching an item through its shared link: `GET /2.0/shared_items` with
//! Box's `BoxApi: shared_link=URL[&shared_link_password=PW]` header (the
//! item as its owner sees it), and the link's `download_url`,
//! `/shared/static/TOKEN`, which needs no token for an `open` link. The
//! link's settings decide: its access level, its password, its
//! `unshared_at` and whether it allows downloads. The link's `url`,
//! `/s/TOKEN` (a preview page on Box), sends a file's link to its download
//! URL, so that a link a user copies (`rclone link`) fetches the file.

use super::common::{blocking, fail, not_found, Body, Fail};
use super::download::content;
use super::repr::{file_json, folder_json};
use crate::State;
use box_chunked_proto::ErrorCode;
use http::{HeaderMap, Response};
use std::sync::Arc;

/// Who asks, with what: the signed-in user (none for a static download),
/// the password given, and whether it is a download.
struct Asker<'a> {
    user: Option<&'a str>,
    password: Option<&'a str>,
    download: bool,
}

/// Whether the link `stored` (the owner's) lets `who` in now.
fn admit(st: &State, stored: &str, owner: &str, who: &Asker<'_>) -> Result<(), Fail> {
    let s: serde_json::Value = serde_json::from_str(stored).map_err(|_| not_found())?;
    if let Some(until) = s["unshared_at"].as_str() {
        let over = box_chunked_proto::Timestamp::from_text(until)
            .to_system_time()
            .is_ok_and(|t| t <= st.now());
        if over {
            return Err(not_found());
        }
    }
    let allowed = match s["access"].as_str() {
        Some("open") => true,
        Some("company") => who.user.is_some(),
        _ => who.user == Some(owner),
    };
    if !allowed {
        return Err(fail(
            ErrorCode::AccessDeniedInsufficientPermissions,
            "This shared link's access level does not include you",
        ));
    }
    if let Some(want) = s["password_sha256"].as_str() {
        if who.password.map(super::links::password_digest).as_deref() != Some(want) {
            return Err(fail(
                ErrorCode::AccessDeniedInsufficientPermissions,
                "This shared link needs its password (BoxApi: shared_link_password=...)",
            ));
        }
    }
    if who.download && s["can_download"] == false {
        return Err(fail(
            ErrorCode::AccessDeniedInsufficientPermissions,
            "This shared link does not allow downloads",
        ));
    }
    Ok(())
}

/// The token (or vanity name) at the end of a shared link's URL.
fn key_of(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next()?;
    let (_, key) = path.rsplit_once('/')?;
    (!key.is_empty()).then_some(key)
}

/// `GET /2.0/shared_items`: the item a shared link names, for `user`.
pub(crate) async fn shared_item(
    st: &Arc<State>,
    user: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, Fail> {
    let boxapi = headers
        .get("boxapi")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            fail(
                ErrorCode::BadRequest,
                "the BoxApi header (shared_link=URL) is required",
            )
        })?;
    let (mut link, mut password) = (None, None);
    for (k, v) in form_urlencoded::parse(boxapi.as_bytes()) {
        match &*k {
            "shared_link" => link = Some(v.into_owned()),
            "shared_link_password" => password = Some(v.into_owned()),
            _ => {}
        }
    }
    let link = link.ok_or_else(|| fail(ErrorCode::BadRequest, "BoxApi needs shared_link=URL"))?;
    let key = key_of(&link).ok_or_else(not_found)?.to_owned();
    let (kind, owner, id, stored) = blocking(st, move |s| s.shared_item(&key))
        .await?
        .ok_or_else(not_found)?;
    let who = Asker {
        user: Some(user),
        password: password.as_deref(),
        download: false,
    };
    admit(st, &stored, &owner, &who)?;
    let json = if kind == "file" {
        let (o, i) = (owner.clone(), id.to_string());
        let file = blocking(st, move |s| s.file(&o, &i))
            .await?
            .ok_or_else(not_found)?;
        file_json(st, &file).await?
    } else {
        folder_json(st, &owner, &id.to_string()).await?
    };
    Ok(super::common::json_response(200, &json))
}

/// `GET /s/TOKEN`: a file's link page; Box shows a preview there, this
/// server answers `302` to the link's download URL (which then applies
/// the link's settings). A folder's link has no page here (`404`; its
/// items are reached through `/2.0/shared_items`).
pub(crate) async fn shared_page(st: &Arc<State>, token: &str) -> Result<Response<Body>, Fail> {
    let key = token.to_owned();
    let (kind, ..) = blocking(st, move |s| s.shared_item(&key))
        .await?
        .ok_or_else(not_found)?;
    if kind != "file" {
        return Err(not_found());
    }
    let location = format!("{}/shared/static/{token}", st.url.trim_end_matches('/'));
    let mut answer = super::common::empty_response(302);
    let value = http::HeaderValue::from_str(&location).map_err(|_| super::common::internal())?;
    answer.headers_mut().insert(http::header::LOCATION, value);
    Ok(answer)
}

/// `GET /shared/static/TOKEN`: a shared file's content, with no token.
pub(crate) async fn shared_download(
    st: &Arc<State>,
    token: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, Fail> {
    let key = token.to_owned();
    let (kind, owner, id, stored) = blocking(st, move |s| s.shared_item(&key))
        .await?
        .ok_or_else(not_found)?;
    if kind != "file" {
        return Err(not_found());
    }
    let who = Asker {
        user: None,
        password: None,
        download: true,
    };
    admit(st, &stored, &owner, &who)?;
    content(st, &owner, &id.to_string(), headers).await
}
