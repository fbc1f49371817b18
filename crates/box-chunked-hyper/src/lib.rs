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
//!   reads and sent in parallel (default 4), part and whole-file SHA-1 in one
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
//! ```no_run
//! # async fn demo() -> Result<(), box_chunked_hyper::Error> {
//! use box_chunked_hyper::BoxClient;
//!
//! let client = BoxClient::builder().token(std::env::var("BOX_ACCESS_TOKEN").unwrap()).build()?;
//!
//! // The uploader: one call.
//! let file = client
//!     .uploader()
//!     .parallelism(8)
//!     .checkpoint("big.bin.checkpoint")
//!     .on_event(|e| eprintln!("{e:?}"))
//!     .upload_file("0", "big.bin", "big.bin")
//!     .await?;
//! println!("uploaded {} ({} bytes, SHA-1 {:?})", file.id, file.size.unwrap_or(0), file.sha1);
//!
//! // Or step by step, as with Box's SDKs.
//! let data = bytes::Bytes::from(vec![7u8; 25_000_000]);
//! let session = client.folder("0").create_upload_session(data.len() as u64, "step.bin").await?;
//! let s = client.session(&session);
//! let mut parts = Vec::new();
//! let part = session.part_size as usize;
//! for (i, chunk) in data.chunks(part).enumerate() {
//!     let bytes = data.slice(i * part..i * part + chunk.len());
//!     parts.push(s.upload_part(bytes, (i * part) as u64, data.len() as u64, None).await?);
//! }
//! use sha1::Digest as _;
//! let sha = box_chunked_proto::Sha1Digest(sha1::Sha1::digest(&data).into());
//! let file = s.commit(parts, sha).await?;
//! # let _ = file; Ok(()) }
//! ```
//!
//! Tokens never appear in logs, errors or `Debug` output ([`Secret`]).

mod auth;
mod client;
mod error;
mod transport;
mod uploader;

pub use auth::{BoxFuture, ClientCredentials, Secret, StaticToken, Subject, TokenProvider};
pub use box_chunked_core as core;
pub use box_chunked_core::Target;
pub use box_chunked_proto as proto;
pub use client::{
    BoxClient, ClientBuilder, CommitOptions, FileRef, FolderRef, SessionRef, DEFAULT_API_URL,
    DEFAULT_OAUTH_URL, DEFAULT_UPLOAD_URL,
};
pub use error::{Error, ErrorKind};
pub use uploader::{
    fingerprint, CheckpointFile, UploadControl, UploadEvent, UploadSource, UploadTask, Uploader,
};
