//! Box chunked uploads over hyper and rustls.
//!
//! Two ways in:
//!
//! - **The Box SDK's calls, by the SDK's names**:
//!   `client.folder(id).create_upload_session(size, name)`,
//!   `client.file(id).create_upload_session(size, name)`,
//!   `client.upload_session(id).get()`, `.upload_part(..)`, `.get_parts()`,
//!   `.commit(parts, sha1)`, `.abort()`.
//! - **The uploader**, which does everything: parts read with positional
//!   reads and sent in parallel (as many as the link needs: tuned while the
//!   upload runs, within a memory budget), part and whole-file SHA-1 in one
//!   pass, bounded memory whatever the file size, retries with backoff and
//!   `Retry-After`, `202` commits, reconciliation of repeated parts, an
//!   atomic checkpoint file for resuming in another process, progress
//!   events, and cancellation that deletes the session.
//!
//! The protocol logic is `box-chunked-core`, a sans-IO state machine; this
//! crate drives it with tokio, hyper-util's pooled client over rustls
//! (HTTP/1.1 and HTTP/2 by ALPN), and a tower stack (auth with one refresh
//! after `401`, connect-error retries under a budget, per-attempt deadlines,
//! tracing). Who retries what is in the repository's `docs/retries.md`.
//!
//! The example below runs as written against a box-chunked-server started in
//! the same process (the hidden lines); for Box itself, drop `base_url` and
//! pass a real token.
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("box-chunked-doc-{}", std::process::id()));
//! # let mut cfg = box_chunked_server::ServerConfig::new(&dir);
//! # cfg.addr = ([127, 0, 0, 1], 0).into();
//! # cfg.tokens = vec![("ACCESS_TOKEN".into(), "me".into())];
//! # cfg.min_file_size = 1;
//! # cfg.part_size = Some(1 << 20);
//! # let server = box_chunked_server::Server::bind(cfg).await?;
//! # let base = server.url().to_owned();
//! # let running = server.spawn();
//! use box_chunked_hyper::{BoxClient, Target, UploadSource};
//! use sha1::Digest as _;
//!
//! let client = BoxClient::builder().token("ACCESS_TOKEN").base_url(&base).build()?;
//! let data = bytes::Bytes::from(vec![42u8; 5 << 20]);
//!
//! // The uploader: one call.
//! let target = Target::NewFile { folder_id: "0".into(), name: "hello.bin".into() };
//! let file = client
//!     .uploader()
//!     .max_memory(256 << 20) // parts in flight tune themselves within 256 MiB
//!     .on_event(|e| println!("{e:?}"))
//!     .upload(target, UploadSource::Bytes(data.clone()))
//!     .await?;
//! assert_eq!(file.size, Some(5 << 20));
//!
//! // Or step by step, with the Box SDK's calls.
//! let session = client.folder("0").create_upload_session(data.len() as u64, "step.bin").await?;
//! let s = client.session(&session);
//! let part = session.part_size as usize;
//! for offset in (0..data.len()).step_by(part) {
//!     let bytes = data.slice(offset..(offset + part).min(data.len()));
//!     s.upload_part(bytes, offset as u64, data.len() as u64, None).await?;
//! }
//! let parts = s.get_parts().await?;
//! let sha = box_chunked_proto::Sha1Digest(sha1::Sha1::digest(&data).into());
//! let committed = s.commit(parts, sha).await?;
//! assert_eq!(committed.sha1, Some(sha));
//! # running.shutdown().await?;
//! # let _ = std::fs::remove_dir_all(&dir);
//! # Ok(()) }
//! ```
//!
//! Signing in: a fixed token ([`ClientBuilder::token`]), or a grant given to
//! [`ClientBuilder::auth`]: JWT server auth from a Box app config file
//! ([`JwtAuth`]), OAuth 2.0 with a rotating refresh token in a token file
//! ([`RefreshTokenAuth`]), or client credentials ([`ClientCredentials`]);
//! [`ClientBuilder::as_user`] acts as a managed user. Grants renew their
//! token before it expires and once after a `401`, one renewal at a time.
//!
//! Tokens never appear in logs, errors or `Debug` output ([`Secret`]).

mod auth;
mod body;
mod browse;
mod builder;
mod client;
mod download;
mod error;
mod files;
pub mod job;
mod proxy;
mod refs;
mod tokens;
mod transport;
mod uploader;

pub use auth::{ClientCredentials, JwtAuth, RefreshTokenAuth, Subject};
pub use body::Throttle;
pub use box_chunked_core as core;
pub use box_chunked_core::conflicts::OnConflict;
pub use box_chunked_core::Target;
pub use box_chunked_proto as proto;
pub use browse::Resolution;
pub use builder::{Auth, ClientBuilder, DEFAULT_API_URL, DEFAULT_OAUTH_URL, DEFAULT_UPLOAD_URL};
pub use client::BoxClient;
pub use download::{partial_paths, DownloadOptions, Downloaded};
pub use error::{Error, ErrorKind, Remedy};
pub use refs::{CommitOptions, FileRef, FolderRef, SessionRef};
pub use tokens::{BoxFuture, OriginPolicy, Secret, StaticToken, TokenProvider};
pub use uploader::{
    fingerprint, CheckpointFile, CheckpointUrls, PartBudget, Put, PutOutcome, Tuning,
    UploadControl, UploadEvent, UploadSource, UploadTask, Uploader,
};
