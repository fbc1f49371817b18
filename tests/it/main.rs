//! Cross-crate integration tests (one binary, modules by subject).

mod server;
