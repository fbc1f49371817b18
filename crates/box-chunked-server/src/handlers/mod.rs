//! HTTP: the accept loop, routing, and every handler, a module per subject.
//! Handlers speak to the store (`crate::store`) and to proto's wire types;
//! the store's transactions decide every write (a handler's early check
//! only answers sooner), and `checks` turns their refusals into Box's
//! answers.

mod admin;
mod authorize;
mod checks;
mod commit;
mod common;
mod conns;
mod download;
mod fields;
mod files;
mod folders;
mod items;
mod links;
mod oauth;
mod one_shot;
mod parts;
mod plan;
mod prefix;
mod route;
mod serve;
mod sessions;

pub(crate) use common::short_hash;
pub(crate) use conns::cap_for;
pub(crate) use prefix::PrefixHandle;
pub(crate) use serve::serve;
