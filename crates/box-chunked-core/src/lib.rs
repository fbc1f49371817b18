//! A deterministic sans-IO state machine for Box chunked uploads.
//!
//! This crate **is** the protocol logic of an upload: creating the session,
//! reading the source in offset order, hashing each part and the whole file in
//! one pass, uploading a window of parts in parallel, verifying what the server
//! echoes, retrying with jittered backoff, reconciling repeated parts, waiting
//! through `202` commits, resuming from a checkpoint, and aborting.
//!
//! It **is not** a client: it opens no socket, reads no file, starts no thread
//! and never reads a clock or OS randomness. Every input carries the [`Instant`]
//! at which it happened (std's, or on `wasm32-unknown-unknown` a
//! [`instant::DriverInstant`] the driver measures); every output is something for the driver to do. So
//! any runtime can drive it, and tests run a 7-day session expiry in
//! microseconds. `box-chunked-hyper` is the tokio driver; `docs/sans-io.md` in
//! the repository shows the loop a custom driver writes.
//!
//! # Reading guide
//!
//! About 5,200 lines without tests: steps 1 to 6 (the upload) take about an
//! hour and a half with care, the whole crate about three hours. In this
//! order:
//!
//! 1. **This page and [`sans_io_guide`]** (10 min): the calling contract
//!    (drain [`Upload::poll_output`] after every input) and a complete driver.
//! 2. **`io.rs`** (15 min: [`Input`], [`Output`], [`OutgoingRequest`],
//!    [`ReadRequest`], [`TransportError`]): everything that crosses between
//!    the machine and its driver.
//! 3. **`ops.rs`** (30 min, [`ops`]): every Box rule of a single request,
//!    one builder and one interpreter per operation; an answer becomes an
//!    [`ops::Verdict`]. If you want to know what Box's `202`, `416` or `429`
//!    does to an upload, it is here.
//! 4. **`retry.rs`** and **`timing.rs`** (20 min, [`retry`], [`timing`]):
//!    failure classes, who owns each, backoff with `Retry-After` as a floor
//!    (`docs/retries.md` has the table); the one "retry or give up", the
//!    wait after a `202`, a session's deadline.
//! 5. **`upload/state.rs`** (20 min): the upload's stages and each part's
//!    states, and the one function that changes each; its table lists every
//!    legal move.
//! 6. **`upload/mod.rs`**, then **`upload/window.rs`**, **`requests.rs`**,
//!    **`replies.rs`**, **`resume.rs`** (45 min): the public [`Upload`]
//!    (getters, commands, inputs, the output poll, deadlines); the window of
//!    parts (read, hash in order, send), the control requests, what answers
//!    mean for the upload (`settle`, the one decision), and resuming.
//! 7. **`call/`** (15 min, [`Call`], [`call::operations`]): the same rules
//!    for one SDK-style call, each operation with its own answer type, as
//!    the hyper crate's `SessionRef` and `BoxClient` use them.
//! 8. **`conflicts.rs`**, **`one_shot.rs`**, **`folders.rs`**, **`plan.rs`**
//!    (20 min): the check before upload and the conflict policies, small
//!    files in one request, folders created or reused by name, the upload
//!    session plan.
//! 9. **`auth.rs`** (10 min, [`auth`]): what a token endpoint's answer
//!    means, when a token is renewed.
//! 10. `config.rs`, `event.rs`, `error.rs`, `checkpoint.rs` (15 min): the
//!     data around it. Then `tests/sim.rs` (a simulated Box in virtual time)
//!     and `tests/scenarios.rs` show the machine at work.
//!
//! Hashing is in the `box-chunked-sha1` crate (re-exported as [`sha1x2`]);
//! wire types and part math in `box-chunked-proto` (re-exported as
//! [`proto`]).
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

mod answers;
pub mod auth;
pub mod browse;
pub mod call;
mod checkpoint;
mod config;
pub mod conflicts;
mod error;
mod event;
pub mod fetch;
pub mod folders;
pub mod instant;
mod io;
pub mod one_shot;
pub mod ops;
pub mod plan;
pub mod retry;
pub mod timing;
pub mod tune;
mod upload;

pub use box_chunked_proto as proto;
/// The two-chain hasher of [`PartHashes`] (the `box-chunked-sha1` crate).
pub use box_chunked_sha1 as sha1x2;
pub use call::{Call, CallConfig, CallInput, CallOutput};
pub use checkpoint::{Checkpoint, SessionInfo, CHECKPOINT_FORMAT};
pub use config::{OnExpiry, OnFailure, Source, Target, Timeouts, UploadConfig};
pub use error::{ApiFailure, InputError, ResumeError, SourceChange, StartError, UploadError};
pub use event::{Confirmation, Event};
pub use instant::Instant;
pub use io::{
    Input, OutgoingRequest, Output, PartHashes, ReadId, ReadPurpose, ReadRequest, RequestId,
    RequestKind, TransportError, TransportErrorKind,
};
pub use upload::{Outcome, Phase, Progress, Upload};

#[doc = include_str!("../../../docs/sans-io.md")]
pub mod sans_io_guide {}

#[cfg(test)]
mod tests;
