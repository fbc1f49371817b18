//! The grants that fetch tokens from Box's token endpoint: `grant.rs` the
//! endpoint and the one-refresh-at-a-time cache every grant shares;
//! `ccg.rs`, `jwt.rs` and `refresh.rs` the three grants. What a token is
//! and where it may go is `tokens.rs`.

mod ccg;
mod grant;
mod jwt;
mod refresh;

pub use ccg::{ClientCredentials, Subject};
pub(crate) use grant::Bind;
pub use jwt::JwtAuth;
pub use refresh::RefreshTokenAuth;
