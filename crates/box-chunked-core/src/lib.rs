//! A deterministic sans-IO state machine for Box chunked uploads.
//!
//! This crate **is** the protocol logic of an upload: creating the session,
//! reading the source in offset order, hashing each part and the whole file in
//! one pass, uploading a window of parts in parallel, verifying what the server
//! echoes, retrying with jittered backoff, reconciling repeated parts, waiting
//! through `202` commits, resuming from a checkpoint, and aborting.
//!
//! It **is not** a client: it opens no socket, reads no file, starts no thread
//! and never reads a clock or OS randomness. Every input carries the `Instant`
//! at which it happened; every output is something for the driver to do. So
//! any runtime can drive it, and tests run a 7-day session expiry in
//! microseconds. `box-chunked-hyper` is the tokio driver; `docs/sans-io.md` in
//! the repository shows the loop a custom driver writes.
//!
//! # The calling contract
//!
//! After creating an [`Upload`] and after **every** input or command, drain
//! [`Upload::poll_output`] until it returns [`Output::Wait`] (nothing to do
//! until an input or that deadline) or [`Output::Done`] (sticky).
//!
//! ```
//! use box_chunked_core::{Input, Output, Source, Target, Upload, UploadConfig};
//! use std::time::Instant;
//!
//! let start = Instant::now();
//! let target = Target::NewFile { folder_id: "0".into(), name: "big.bin".into() };
//! let source = Source { size: 50_000_000, fingerprint: None };
//! let mut upload = Upload::new(target, source, UploadConfig::default(), start).unwrap();
//!
//! // The first output is the request that creates the session.
//! let Output::Request(req) = upload.poll_output() else { panic!() };
//! assert_eq!(req.request.method(), "POST");
//! assert_eq!(req.request.uri(), "https://upload.box.com/api/2.0/files/upload_sessions");
//! // Then nothing until its answer, or its deadline.
//! assert!(matches!(upload.poll_output(), Output::Wait(Some(_))));
//!
//! // A driver would send it; here the connection is refused, and the machine
//! // schedules a retry.
//! use box_chunked_core::{TransportError, TransportErrorKind};
//! let err = TransportError::new(TransportErrorKind::NotSent, "connection refused");
//! upload.handle_input(start, Input::Failed { id: req.id, error: err }).unwrap();
//! assert!(matches!(upload.poll_output(), Output::Event(_)));
//! ```
//!
//! # Panics, errors and bugs
//!
//! No input can make the machine panic. Misuse by the driver (an id it never
//! issued, a read of the wrong length) is an [`InputError`] and changes
//! nothing; failures of the upload end in [`Outcome::Failed`] with an
//! [`UploadError`].

pub mod call;
mod checkpoint;
mod config;
mod error;
mod event;
mod io;
pub mod ops;
pub mod retry;
mod upload;

pub use box_chunked_proto as proto;
/// The two-chain hasher of [`PartHashes`] (the `box-chunked-sha1` crate).
pub use box_chunked_sha1 as sha1x2;
pub use call::{Call, CallConfig, CallOutput};
pub use checkpoint::{Checkpoint, SessionInfo, CHECKPOINT_FORMAT};
pub use config::{OnExpiry, OnFailure, Source, Target, Timeouts, UploadConfig};
pub use error::{ApiFailure, InputError, ResumeError, SourceChange, StartError, UploadError};
pub use event::{Confirmation, Event};
pub use io::{
    Input, OutgoingRequest, Output, PartHashes, ReadId, ReadPurpose, ReadRequest, RequestId,
    RequestKind, TransportError, TransportErrorKind,
};
pub use upload::{Outcome, Phase, Progress, Upload};

#[doc = include_str!("../../../docs/sans-io.md")]
pub mod sans_io_guide {}

#[cfg(test)]
mod tests;
