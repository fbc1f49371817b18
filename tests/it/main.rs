//! Cross-crate integration tests (one binary, modules by subject).

mod auth;
mod client;
mod hygiene;
mod items;
mod limits;
mod openapi;
mod origins;
mod outcomes;
mod plan;
mod proxy;
mod put;
mod server;
mod storage;
mod streamed;
mod tls;
