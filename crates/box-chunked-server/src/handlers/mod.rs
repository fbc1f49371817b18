//! HTTP: the accept loop, routing, and every handler, a module per subject.
//! Handlers speak to the store (`crate::store`) and to proto's wire types;
//! none of them knows another handler's internals beyond the shared helpers
//! in `common`.

mod admin;
mod authorize;
mod commit;
mod common;
mod conns;
mod download;
mod fields;
mod files;
mod folders;
mod items;
mod oauth;
mod one_shot;
mod parts;
mod plan;
mod prefix;
mod route;
mod serve;
mod sessions;

pub(crate) use common::short_hash;
pub(crate) use conns::default_cap;
pub(crate) use prefix::PrefixHandle;
pub(crate) use serve::serve;
