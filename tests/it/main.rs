//! Cross-crate integration tests (one binary, modules by subject).

mod auth;
mod client;
mod cors;
mod digests;
mod faults;
mod folders;
mod hygiene;
mod integrity;
mod items;
mod lifecycle;
mod limits;
mod openapi;
mod origins;
mod outcomes;
mod plan;
mod proxy;
mod put;
mod quota;
mod refusals;
mod resume;
mod routes;
mod sessions;
mod storage;
mod streamed;
mod tls;
mod updates;
