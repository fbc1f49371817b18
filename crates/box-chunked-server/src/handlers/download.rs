//! File content, with single `Range` requests, streamed from the stored
//! parts through a bounded channel. As Box does, `GET /files/{id}/content`
//! answers `302` with a short-lived URL of the server's own (`/dl/TOKEN`,
//! 15 minutes) that needs no `Authorization`; the switch
//! `download_redirect = false` answers the content at once instead.

use super::common::{blocking, error_response, fail, header, not_found, Body, Fail, FLUSH_AT};
use crate::store::{PartRow, Store};
use crate::State;
use box_chunked_proto::{BoxError, ErrorCode};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::{Frame, SizeHint};
use std::io::{self, Read as _, Seek as _};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Parses a single-range `Range` header against a size: `Ok(None)` means
/// serve everything (no header, or a form we do not honour), `Err` means
/// unsatisfiable.
pub(crate) fn parse_range(value: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(v) = value else { return Ok(None) };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        (start, end)
    };
    if size == 0 || range.0 >= size || range.1 < range.0 {
        return Err(());
    }
    Ok(Some(range))
}

/// How long a download URL works.
const GRANT_SECS: i64 = 15 * 60;

/// What a download URL grants: a user's file, until a time.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    user: String,
    file_id: String,
    until_unix: i64,
}

impl Grant {
    /// Whose file it grants.
    pub(crate) fn user(&self) -> &str {
        &self.user
    }
}

pub(crate) async fn download(
    st: &Arc<State>,
    user: &str,
    id: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, Fail> {
    if !st.cfg.download_redirect {
        return content(st, user, id, headers).await;
    }
    let (o, f) = (user.to_owned(), id.to_owned());
    blocking(st, move |s| s.file(&o, &f))
        .await?
        .ok_or_else(not_found)?;
    let token = super::common::random_hex(16, false);
    let now = st.now_unix();
    {
        let mut grants = st
            .downloads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        grants.retain(|_, g| g.until_unix > now);
        grants.insert(
            token.clone(),
            Grant {
                user: user.to_owned(),
                file_id: id.to_owned(),
                until_unix: now + GRANT_SECS,
            },
        );
    }
    let mut r = super::common::empty_response(302);
    if let Ok(v) = HeaderValue::from_str(&format!("{}/dl/{token}", st.url)) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(r)
}

/// `GET /dl/TOKEN`: the content a download URL grants, with no
/// `Authorization`; an unknown or expired URL is `404`.
pub(crate) async fn download_granted(
    st: &Arc<State>,
    token: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, Fail> {
    let grant = st
        .downloads
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(token)
        .filter(|g| g.until_unix > st.now_unix())
        .cloned()
        .ok_or_else(not_found)?;
    content(st, &grant.user, &grant.file_id, headers).await
}

/// The file's content (or the range asked for).
pub(crate) async fn content(
    st: &Arc<State>,
    user: &str,
    id: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, Fail> {
    let (o, f) = (user.to_owned(), id.to_owned());
    let file = blocking(st, move |s| s.file(&o, &f))
        .await?
        .ok_or_else(not_found)?;
    if st.cfg.verify_only {
        return Err(fail(
            ErrorCode::NotFound,
            "This verify-only server keeps no file content",
        ));
    }
    let size = file.size;
    let range = match parse_range(header(headers, "range"), size) {
        Ok(r) => r,
        Err(()) => {
            let code = ErrorCode::RequestedRangeNotSatisfiable;
            let e = BoxError::of(code, "Requested range not satisfiable");
            let mut r = error_response(&e);
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert("content-range", v);
            }
            return Ok(r);
        }
    };
    let (start, end) = range.unwrap_or((0, size.saturating_sub(1)));
    let len = if size == 0 { 0 } else { end - start + 1 };
    let sid = file.session_id.clone();
    let parts = blocking(st, move |s| s.parts(&sid, 0, u64::MAX >> 1)).await?;
    let rx = read_parts(st.store.clone(), file.session_id.clone(), parts, start, len);
    let mut r = Response::new(ChannelBody { rx, remaining: len }.boxed());
    r.headers_mut()
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    r.headers_mut().insert(
        http::header::ACCEPT_RANGES,
        HeaderValue::from_static("bytes"),
    );
    if range.is_some() {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")) {
            r.headers_mut().insert("content-range", v);
        }
    }
    Ok(r)
}

/// Streams bytes `start..start + len` of a file stored as `parts`, read on
/// the blocking pool in pieces of at most [`FLUSH_AT`], through a channel
/// of four pieces (so a slow client holds at most that much in memory).
fn read_parts(
    store: Arc<Store>,
    sid: String,
    parts: Vec<PartRow>,
    start: u64,
    len: u64,
) -> mpsc::Receiver<Result<Bytes, io::Error>> {
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let mut pos = start;
        let stop = start + len;
        for p in parts {
            if pos >= stop {
                break;
            }
            let (p_start, p_end) = (p.offset, p.offset + p.size);
            if p_end <= pos {
                continue;
            }
            let path = store.blob_path(&sid, &p.part_id);
            let mut f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            if f.seek(io::SeekFrom::Start(pos - p_start)).is_err() {
                return;
            }
            while pos < stop.min(p_end) {
                let want = usize::try_from((stop.min(p_end) - pos).min(FLUSH_AT as u64))
                    .unwrap_or(FLUSH_AT);
                let mut buf = vec![0u8; want];
                match f.read_exact(&mut buf) {
                    Ok(()) => {}
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
                pos += want as u64;
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// A response body fed by a blocking reader through a bounded channel.
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, io::Error>>,
    remaining: u64,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => {
                self.remaining = self.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
