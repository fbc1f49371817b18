//! Request bodies: `Bytes` sent in slices without copies, or a one-shot
//! upload's multipart form streamed from its file (head, the file's bytes
//! read as they go, tail), never held whole. Both count the bytes handed to
//! hyper for progress and may be paced by a [`Throttle`] (`--bwlimit`).

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use std::future::Future as _;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, ReadBuf};

/// Bytes handed to hyper per body frame.
pub(crate) const FRAME: usize = 256 * 1024;

/// A token bucket over the bytes of every body that shares it: at most
/// `rate` bytes per second on average, with bursts of one frame. Rate 0 is
/// no limit. The rate can change while bodies are being sent.
#[derive(Debug)]
pub struct Throttle {
    rate: AtomicU64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Bytes that may go now (negative: owed).
    tokens: f64,
    at: Instant,
}

impl Throttle {
    /// A bucket for `bytes_per_sec` (0: unlimited).
    pub fn new(bytes_per_sec: u64) -> Arc<Self> {
        Arc::new(Self {
            rate: AtomicU64::new(bytes_per_sec),
            bucket: Mutex::new(Bucket {
                tokens: FRAME as f64,
                at: Instant::now(),
            }),
        })
    }

    /// Changes the rate (0: unlimited).
    pub fn set_rate(&self, bytes_per_sec: u64) {
        self.rate.store(bytes_per_sec, Ordering::Relaxed);
    }

    /// The rate now (0: unlimited).
    pub fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    /// Takes `n` bytes; how long to wait before sending them.
    fn take(&self, n: usize) -> Duration {
        let rate = self.rate() as f64;
        if rate == 0.0 {
            return Duration::ZERO;
        }
        let mut b = self
            .bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let burst = FRAME as f64;
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        b.tokens -= n as f64;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / rate)
        }
    }
}

/// A request body.
pub(crate) struct ReqBody {
    kind: Kind,
    progress: Option<Arc<AtomicU64>>,
    throttle: Option<Arc<Throttle>>,
    /// A frame held back by the throttle, and when it may go.
    held: Option<(Bytes, Pin<Box<tokio::time::Sleep>>)>,
}

enum Kind {
    Bytes {
        data: Bytes,
        sent: usize,
    },
    /// A one-shot upload's form: head, then the file's bytes, then tail.
    File(FileBody),
}

struct FileBody {
    head: Bytes,
    path: Arc<PathBuf>,
    len: u64,
    tail: Bytes,
    /// Where the body is: 0 head, 1 file, 2 tail, 3 done.
    step: u8,
    file: Option<tokio::fs::File>,
    read: u64,
    buf: Vec<u8>,
}

impl ReqBody {
    pub(crate) fn new(data: Bytes, progress: Option<Arc<AtomicU64>>) -> Self {
        Self {
            kind: Kind::Bytes { data, sent: 0 },
            progress,
            throttle: None,
            held: None,
        }
    }

    /// A multipart form streamed from `path`: `head`, `len` bytes of the
    /// file, `tail`. A file shorter than `len` fails the body.
    pub(crate) fn file(
        head: Bytes,
        path: Arc<PathBuf>,
        len: u64,
        tail: Bytes,
        progress: Option<Arc<AtomicU64>>,
    ) -> Self {
        Self {
            kind: Kind::File(FileBody {
                head,
                path,
                len,
                tail,
                step: 0,
                file: None,
                read: 0,
                buf: Vec::new(),
            }),
            progress,
            throttle: None,
            held: None,
        }
    }

    /// Paces this body by `throttle`.
    pub(crate) fn throttled(mut self, throttle: Option<Arc<Throttle>>) -> Self {
        self.throttle = throttle;
        self
    }

    fn left(&self) -> u64 {
        match &self.kind {
            Kind::Bytes { data, sent } => (data.len() - sent) as u64,
            Kind::File(f) => match f.step {
                0 => f.head.len() as u64 + f.len + f.tail.len() as u64,
                1 => f.len - f.read + f.tail.len() as u64,
                2 => f.tail.len() as u64,
                _ => 0,
            },
        }
    }

    /// The next piece of the body, before pacing.
    fn next_piece(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        match &mut self.kind {
            Kind::Bytes { data, sent } => {
                let len = data.len();
                if *sent >= len {
                    return Poll::Ready(None);
                }
                let n = FRAME.min(len - *sent);
                let chunk = data.slice(*sent..*sent + n);
                *sent += n;
                Poll::Ready(Some(Ok(chunk)))
            }
            Kind::File(f) => f.poll_piece(cx),
        }
    }
}

impl FileBody {
    fn poll_piece(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            match self.step {
                0 => {
                    self.step = 1;
                    if !self.head.is_empty() {
                        return Poll::Ready(Some(Ok(self.head.clone())));
                    }
                }
                1 if self.read >= self.len => self.step = 2,
                1 => {
                    if self.file.is_none() {
                        // Opening a local file takes microseconds; reads go
                        // through tokio's blocking pool.
                        match std::fs::File::open(self.path.as_path()) {
                            Ok(f) => self.file = Some(tokio::fs::File::from_std(f)),
                            Err(e) => return Poll::Ready(Some(Err(e))),
                        }
                    }
                    let want =
                        usize::try_from((self.len - self.read).min(FRAME as u64)).unwrap_or(FRAME);
                    self.buf.resize(want, 0);
                    let Some(file) = self.file.as_mut() else {
                        return Poll::Ready(None);
                    };
                    let mut rb = ReadBuf::new(&mut self.buf);
                    match Pin::new(file).poll_read(cx, &mut rb) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                        Poll::Ready(Ok(())) => {
                            let n = rb.filled().len();
                            if n == 0 {
                                return Poll::Ready(Some(Err(io::Error::new(
                                    io::ErrorKind::UnexpectedEof,
                                    format!(
                                        "{} ended after {} of its {} bytes",
                                        self.path.display(),
                                        self.read,
                                        self.len
                                    ),
                                ))));
                            }
                            self.read += n as u64;
                            return Poll::Ready(Some(Ok(Bytes::copy_from_slice(&self.buf[..n]))));
                        }
                    }
                }
                2 => {
                    self.step = 3;
                    return Poll::Ready(Some(Ok(self.tail.clone())));
                }
                _ => return Poll::Ready(None),
            }
        }
    }
}

impl Clone for ReqBody {
    /// A fresh body from the start (for a repeated attempt).
    fn clone(&self) -> Self {
        let kind = match &self.kind {
            Kind::Bytes { data, .. } => Kind::Bytes {
                data: data.clone(),
                sent: 0,
            },
            Kind::File(f) => Kind::File(FileBody {
                head: f.head.clone(),
                path: f.path.clone(),
                len: f.len,
                tail: f.tail.clone(),
                step: 0,
                file: None,
                read: 0,
                buf: Vec::new(),
            }),
        };
        Self {
            kind,
            progress: self.progress.clone(),
            throttle: self.throttle.clone(),
            held: None,
        }
    }
}

impl hyper::body::Body for ReqBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let chunk = match self.held.take() {
            Some((chunk, mut sleep)) => {
                if sleep.as_mut().poll(cx).is_pending() {
                    self.held = Some((chunk, sleep));
                    return Poll::Pending;
                }
                chunk
            }
            None => match self.next_piece(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(chunk))) => {
                    let wait = self
                        .throttle
                        .as_ref()
                        .map_or(Duration::ZERO, |t| t.take(chunk.len()));
                    if !wait.is_zero() {
                        let mut sleep = Box::pin(tokio::time::sleep(wait));
                        if sleep.as_mut().poll(cx).is_pending() {
                            self.held = Some((chunk, sleep));
                            return Poll::Pending;
                        }
                    }
                    chunk
                }
            },
        };
        if let Some(p) = &self.progress {
            p.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && self.left() == 0
    }

    fn size_hint(&self) -> SizeHint {
        let held = self.held.as_ref().map_or(0, |(c, _)| c.len() as u64);
        SizeHint::with_exact(self.left() + held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn a_file_body_is_head_file_tail_and_restarts_when_cloned() {
        let dir = std::env::temp_dir().join(format!("body-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let data: Vec<u8> = (0..700_000u32).map(|i| i as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let body = ReqBody::file(
            Bytes::from_static(b"HEAD"),
            Arc::new(path.clone()),
            data.len() as u64,
            Bytes::from_static(b"TAIL"),
            None,
        );
        let again = body.clone();
        let mut want = b"HEAD".to_vec();
        want.extend_from_slice(&data);
        want.extend_from_slice(b"TAIL");
        assert_eq!(body.collect().await.unwrap().to_bytes(), want);
        assert_eq!(again.collect().await.unwrap().to_bytes(), want);
        // A file shorter than announced fails the body.
        let short = ReqBody::file(
            Bytes::new(),
            Arc::new(path),
            data.len() as u64 + 1,
            Bytes::new(),
            None,
        );
        assert!(short.collect().await.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_bucket_owes_what_it_lent() {
        let t = Throttle::new(1_000_000);
        assert_eq!(t.take(FRAME), Duration::ZERO, "one frame of burst");
        let wait = t.take(500_000);
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(510),
            "{wait:?}"
        );
        t.set_rate(0);
        assert_eq!(t.take(10 << 20), Duration::ZERO);
    }
}
