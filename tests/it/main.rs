//! Cross-crate integration tests (one binary, modules by subject).

mod client;
mod hygiene;
mod limits;
mod openapi;
mod origins;
mod outcomes;
mod server;
mod storage;
mod streamed;
