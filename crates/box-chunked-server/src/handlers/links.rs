//! Shared links on files and folders: what an update's `shared_link` asks
//! for, checked as Box checks it (the access levels, a password only on an
//! `open` link and strong enough, `unshared_at` in the future, `can_edit`
//! on files only), kept as settings beside the item, and shown as Box's
//! `shared_link` object. A link keeps its URL when its settings change.

use super::common::{blocking, fail, internal, not_found, random_hex, Fail};
use crate::State;
use box_chunked_proto::{ErrorCode, SharedLinkFields};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::time::SystemTime;

/// A link's settings as the store keeps them (JSON in the item's row).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Settings {
    token: String,
    access: String,
    /// SHA-256 of the password, hex: the password itself is not kept.
    password_sha256: Option<String>,
    vanity_name: Option<String>,
    unshared_at: Option<String>,
    can_download: bool,
    can_edit: bool,
}

const ACCESS: &[&str] = &["open", "company", "collaborators"];

fn bad(message: impl Into<String>) -> Fail {
    fail(ErrorCode::BadRequest, message)
}

/// The item an update changes the shared link of.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Linked<'a> {
    /// A file, by id.
    File(&'a str),
    /// A folder, by id.
    Folder(&'a str),
}

/// What an update's `shared_link` field asks of `user`'s item, as the store
/// takes it: no change (`None`), no link (`Some(None)`), or the settings
/// after the change (`Some(Some(json))`); Box's `400` for what it refuses.
pub(crate) async fn update(
    st: &State,
    user: &str,
    item: Linked<'_>,
    asked: &Option<Option<SharedLinkFields>>,
) -> Result<Option<Option<String>>, Fail> {
    let fields = match asked {
        None => return Ok(None),
        Some(None) => return Ok(Some(None)),
        Some(Some(fields)) => fields,
    };
    let owner = user.to_owned();
    let (id, file) = match item {
        Linked::File(id) => (id.to_owned(), true),
        Linked::Folder(id) => (id.to_owned(), false),
    };
    let current = blocking(st, move |s| {
        Ok(if file {
            s.file(&owner, &id)?.map(|f| f.shared_link)
        } else {
            s.folder(&owner, &id)?.map(|f| f.shared_link)
        })
    })
    .await?
    .ok_or_else(not_found)?;
    Ok(Some(Some(apply(
        current.as_deref(),
        fields,
        file,
        st.now(),
    )?)))
}

/// The settings (JSON) after an update asked for `fields` on an item whose
/// link is `current` (a file when `file`); Box's `400` for what it refuses.
pub(crate) fn apply(
    current: Option<&str>,
    fields: &SharedLinkFields,
    file: bool,
    now: SystemTime,
) -> Result<String, Fail> {
    let mut s = current
        .and_then(|c| serde_json::from_str::<Settings>(c).ok())
        .unwrap_or_else(|| Settings {
            token: random_hex(16, false),
            access: "open".into(),
            password_sha256: None,
            vanity_name: None,
            unshared_at: None,
            can_download: true,
            can_edit: false,
        });
    if let Some(a) = &fields.access {
        if !ACCESS.contains(&a.as_str()) {
            return Err(bad(format!(
                "shared_link.access must be open, company or collaborators, not {a:?}"
            )));
        }
        s.access.clone_from(a);
    }
    set_password(&mut s, fields.password.as_ref())?;
    if let Some(v) = &fields.vanity_name {
        let ok = v.len() >= 12
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
        if !ok {
            return Err(bad(
                "shared_link.vanity_name must be at least 12 letters, digits, - or _",
            ));
        }
        s.vanity_name = Some(v.clone());
    }
    if let Some(t) = &fields.unshared_at {
        let at = t.to_system_time().map_err(|e| {
            bad(format!(
                "shared_link.unshared_at is not a date and time: {e}"
            ))
        })?;
        if at <= now {
            return Err(bad("shared_link.unshared_at must be in the future"));
        }
        s.unshared_at = Some(t.as_str().to_owned());
    }
    set_permissions(&mut s, fields, file)?;
    serde_json::to_string(&s).map_err(|e| {
        tracing::error!(error = %e, "a shared link's settings");
        internal()
    })
}

/// A new password (kept as its SHA-256), none (`Some(None)`), or no change.
fn set_password(s: &mut Settings, password: Option<&Option<String>>) -> Result<(), Fail> {
    match password {
        Some(Some(p)) => {
            let strong = p.chars().count() >= 8
                && p.chars()
                    .any(|c| c.is_ascii_digit() || c.is_uppercase() || !c.is_alphanumeric());
            if !strong {
                return Err(bad("shared_link.password must be at least eight characters and include a number, an upper-case letter or a character that is neither"));
            }
            s.password_sha256 = Some(password_digest(p));
        }
        Some(None) => s.password_sha256 = None,
        None => {}
    }
    if s.password_sha256.is_some() && s.access != "open" {
        return Err(bad(
            "shared_link.password can only be set when access is open",
        ));
    }
    Ok(())
}

/// `can_download` and `can_edit` (files only, and not with access
/// `collaborators`).
fn set_permissions(s: &mut Settings, fields: &SharedLinkFields, file: bool) -> Result<(), Fail> {
    if let Some(p) = &fields.permissions {
        if let Some(d) = p.can_download {
            s.can_download = d;
        }
        if let Some(e) = p.can_edit {
            if e && !file {
                return Err(bad(
                    "shared_link.permissions.can_edit applies to files only",
                ));
            }
            s.can_edit = e;
        }
    }
    if s.can_edit && s.access == "collaborators" {
        return Err(bad(
            "shared_link.permissions.can_edit needs access open or company",
        ));
    }
    Ok(())
}

/// Box's `shared_link` object for settings kept as `stored` (`null` when
/// there is none), with URLs on the server at `base`.
pub(crate) fn render(stored: Option<&str>, base: &str, file: bool) -> Value {
    let Some(s) = stored.and_then(|t| serde_json::from_str::<Settings>(t).ok()) else {
        return Value::Null;
    };
    let permission = if s.can_edit {
        "can_edit"
    } else if s.can_download {
        "can_download"
    } else {
        "can_preview"
    };
    json!({
        "url": format!("{base}/s/{}", s.token),
        "download_url": file.then(|| format!("{base}/shared/static/{}", s.token)),
        "vanity_url": s.vanity_name.as_ref().map(|v| format!("{base}/v/{v}")),
        "vanity_name": s.vanity_name,
        "access": s.access,
        "effective_access": s.access,
        "effective_permission": permission,
        "unshared_at": s.unshared_at,
        "is_password_enabled": s.password_sha256.is_some(),
        "permissions": {"can_download": s.can_download, "can_preview": true, "can_edit": s.can_edit},
        "download_count": 0,
        "preview_count": 0,
    })
}

/// How a link's password is kept (and compared): its SHA-256, in hex.
pub(crate) fn password_digest(password: &str) -> String {
    hex(&Sha256::digest(password.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
