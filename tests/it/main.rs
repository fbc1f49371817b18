//! Cross-crate integration tests (one binary, modules by subject).

mod client;
mod openapi;
mod server;
