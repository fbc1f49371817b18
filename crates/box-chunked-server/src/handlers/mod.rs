//! Every handler, a module per subject, and what they share. They form no
//! import circle: `common` (answers, bodies, ids) is at the bottom; `checks`,
//! `fields`, `links`, `body` and `repr` build on it; the handlers of each
//! subject on those (`parts`, `commit` and `plan` also on `sessions`, which
//! loads and checks the session a request names). Routing is
//! `crate::routes`; the store's transactions decide every write.

mod admin;
mod authorize;
mod body;
mod checks;
mod commit;
mod common;
mod download;
mod fields;
mod files;
mod folders;
mod kept;
mod links;
mod oauth;
mod one_shot;
mod parts;
mod plan;
mod prefix;
mod repr;
mod sessions;
mod shared;
mod trash;
mod users;

pub(crate) use admin::admin;
pub(crate) use authorize::authorize;
pub(crate) use body::BodyFault;
pub(crate) use commit::commit;
pub(crate) use common::{
    blocking, empty_response, error_response, fail, internal, json_response, method_not_allowed,
    not_found, request_id, server_error, short_hash, Body, Dropped, Fail,
};
pub(crate) use download::{download, download_granted, Grant};
pub(crate) use files::{
    copy_file, delete_file, delete_version, get_file, preflight, promote_version, update_file,
    versions,
};
pub(crate) use folders::{create_folder, delete_folder, get_folder, list_items, update_folder};
pub(crate) use oauth::oauth_token;
pub(crate) use one_shot::upload_file;
pub(crate) use parts::upload_part;
pub(crate) use plan::plan;
pub(crate) use prefix::PrefixHandle;
pub(crate) use sessions::{abort, collect_expired, create_session, get_session, list_parts};
pub(crate) use shared::{shared_download, shared_item, shared_page};
pub(crate) use trash::{get_trashed, list_trash, purge, restore, Kind};
pub(crate) use users::users_me;
