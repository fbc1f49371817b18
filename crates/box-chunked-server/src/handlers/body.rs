//! Receiving a body: exactly its length, streamed in pieces of about 1 MiB
//! ([`FLUSH_AT`]) so that it is never held whole, each piece hashed (the
//! part's SHA-1 alone, or with the file's, see `box_chunked_sha1`) and
//! written to its file on the blocking pool while the next arrives. Parts
//! and one-shot uploads receive through it.

use super::common::{fail, internal, io_fail, Fail, FLUSH_AT};
use crate::{Counters, State};
use box_chunked_proto::{ErrorCode, Sha1Digest};
use box_chunked_sha1::DualSha1;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use sha1::{Digest as _, Sha1};
use std::io::{self, Write as _};

/// A fault injected into a part's body (`docs/server.md`, fault injection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFault {
    /// None.
    None,
    /// The connection drops halfway through the body.
    Reset,
    /// The disk is full at the first write (`507`).
    NoSpace,
}

/// Receives exactly `len` bytes, hashing them and, when `file` is given,
/// writing them to it, in pieces of about [`FLUSH_AT`] so that a part is
/// never held whole in memory.
pub(crate) async fn receive_body(
    st: &State,
    mut body: Incoming,
    file: Option<std::fs::File>,
    len: u64,
    fault: BodyFault,
    hasher: PartHasher,
) -> Result<(Option<std::fs::File>, PartHasher), Fail> {
    let mut pending: Vec<Bytes> = Vec::new();
    let mut pending_len = 0usize;
    let mut received = 0u64;
    // One batch is hashed and written on the blocking pool while the next
    // one arrives.
    let mut writer = Writer::Idle(file, hasher, 0);
    loop {
        // A client that stops sending (a half-open connection) must not hold
        // the part, or the session's hashed prefix, forever.
        let Ok(next) = tokio::time::timeout(st.cfg.body_idle, body.frame()).await else {
            return Err(Fail::Drop("client stopped sending the body"));
        };
        let Some(frame) = next else { break };
        let frame = frame.map_err(|_| Fail::Drop("client hung up"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        received += data.len() as u64;
        Counters::add(&st.counters.bytes_received, data.len() as u64);
        if received > len {
            return Err(fail(
                ErrorCode::RequestEntityTooLarge,
                "The body is longer than the part",
            ));
        }
        match fault {
            BodyFault::Reset if received >= len / 2 => {
                return Err(Fail::Drop("injected reset in the middle of a part body"));
            }
            // As a full disk answers the first write.
            BodyFault::NoSpace => {
                return Err(io_fail(
                    &io::Error::from_raw_os_error(28),
                    "writing a part (injected)",
                ));
            }
            _ => {}
        }
        pending_len += data.len();
        pending.push(data);
        if pending_len >= FLUSH_AT {
            let chunks = std::mem::take(&mut pending);
            pending_len = 0;
            writer = writer.write(chunks).await?;
        }
    }
    if received < len {
        // A body that ended properly but short (a streamed one; with
        // `Content-Length` hyper reports a cut body as an error above).
        return Err(fail(
            ErrorCode::BadRequest,
            format!("The body ended after {received} of the part's {len} bytes"),
        ));
    }
    let (file, hasher, _) = writer.write(pending).await?.finish().await?;
    Ok((file, hasher))
}

pub(crate) type WriteResult = io::Result<(Option<std::fs::File>, PartHasher, u64)>;

/// The part's file and hasher, idle or busy with one batch on the blocking pool.
pub(crate) enum Writer {
    Idle(Option<std::fs::File>, PartHasher, u64),
    Busy(tokio::task::JoinHandle<WriteResult>),
}

impl Writer {
    /// Waits for the batch in progress, if any.
    pub(crate) async fn finish(self) -> Result<(Option<std::fs::File>, PartHasher, u64), Fail> {
        match self {
            Self::Idle(f, h, at) => Ok((f, h, at)),
            Self::Busy(task) => task
                .await
                .map_err(|_| internal())?
                .map_err(|e| io_fail(&e, "writing a part")),
        }
    }

    /// Starts hashing and writing `chunks` once the previous batch is done.
    pub(crate) async fn write(self, chunks: Vec<Bytes>) -> Result<Self, Fail> {
        let (mut file, mut hasher, mut at) = self.finish().await?;
        Ok(Self::Busy(tokio::task::spawn_blocking(move || {
            let start = at;
            for c in &chunks {
                hasher.update(c);
                if let Some(f) = file.as_mut() {
                    f.write_all(c)?;
                }
                at += c.len() as u64;
            }
            if let Some(f) = file.as_ref() {
                crate::writeback::start(f, start, at - start);
            }
            Ok((file, hasher, at))
        })))
    }
}

/// A part's SHA-1 alone, or together with the file's SHA-1 when the part
/// continues the hashed prefix (one pass for both, see
/// `box_chunked_sha1`).
pub(crate) enum PartHasher {
    Single(Sha1),
    Dual(DualSha1),
}

impl PartHasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Single(h) => h.update(data),
            Self::Dual(h) => h.update(data),
        }
    }

    /// The part's digest and, for `Dual`, the file chain after the part.
    pub(crate) fn finish(self) -> (Sha1Digest, Option<DualSha1>) {
        match self {
            Self::Single(h) => (Sha1Digest(h.finalize().into()), None),
            Self::Dual(mut h) => (h.finish_part(), Some(h)),
        }
    }
}
