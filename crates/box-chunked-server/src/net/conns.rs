//! Connections and their limits: a cap on how many are open at once (at the
//! cap, the one idle longest is closed to make room), and an idle timeout
//! (no byte either way for that long closes a connection, HTTP/1.1 or
//! HTTP/2), and a lingering close: a connection the server closes is shut
//! for writing first, and what the client still sends (the rest of a part
//! an error answered early) is read and discarded for a while, so that the
//! client reads the answer instead of meeting a reset. It knows sockets and
//! time, not requests.

use std::collections::HashMap;
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// The open connections.
#[derive(Debug)]
pub(crate) struct Conns {
    epoch: Instant,
    cap: usize,
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
}

/// One connection's last activity, and the signal that closes it.
#[derive(Debug)]
pub(crate) struct Activity {
    /// Milliseconds after the registry's epoch of the last byte either way.
    last: AtomicU64,
    /// Notified to close the connection (eviction).
    close: Notify,
}

/// A connection's place in the registry; leaving drops it from there.
pub(crate) struct Slot {
    conns: Arc<Conns>,
    id: u64,
    pub(crate) activity: Arc<Activity>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.conns
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl Conns {
    pub(crate) fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            cap: cap.max(1),
            next: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Registers a new connection; at the cap, the connection idle longest
    /// is told to close first (returns whether one was).
    pub(crate) fn admit(self: &Arc<Self>) -> (Slot, bool) {
        let activity = Arc::new(Activity {
            last: AtomicU64::new(self.now_ms()),
            close: Notify::new(),
        });
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut evicted = false;
        if open.len() >= self.cap {
            let oldest = open
                .iter()
                .min_by_key(|(_, a)| a.last.load(Ordering::Relaxed))
                .map(|(id, a)| (*id, a.clone()));
            if let Some((old, a)) = oldest {
                open.remove(&old);
                a.close.notify_one();
                evicted = true;
            }
        }
        open.insert(id, activity.clone());
        drop(open);
        (
            Slot {
                conns: self.clone(),
                id,
                activity,
            },
            evicted,
        )
    }

    /// Connections open now.
    pub(crate) fn len(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

impl Activity {
    /// Resolves when the registry asks this connection to close.
    pub(crate) async fn evicted(&self) {
        self.close.notified().await;
    }
}

/// The default cap for an open-files limit of `limit`: three quarters of
/// it (the rest is for the store, logs and blobs being read), at most 10,000.
pub(crate) fn cap_for(limit: u64) -> usize {
    usize::try_from(limit / 4 * 3)
        .unwrap_or(usize::MAX)
        .clamp(16, 10_000)
}

/// A socket that records its activity and fails a read or a write once no
/// byte has moved for `idle`, or when bytes it expects do not come in time.
pub(crate) struct Watched<S> {
    inner: S,
    conns: Arc<Conns>,
    activity: Arc<Activity>,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// When bytes must have been read by (see [`Watched::expect_bytes_within`]).
    first_by: Option<tokio::time::Instant>,
    /// The lingering close, once the write side is shut.
    linger: Option<Linger>,
}

/// How long a closing connection is drained: while the client keeps
/// sending (at most [`LINGER_QUIET`] between bytes), at most [`LINGER_MAX`]
/// in all (nginx's `lingering_timeout` and `lingering_time` are 5 s and 30 s).
const LINGER_QUIET: Duration = Duration::from_secs(2);
const LINGER_MAX: Duration = Duration::from_secs(30);

struct Linger {
    until: tokio::time::Instant,
    quiet_by: tokio::time::Instant,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl<S> Watched<S> {
    pub(crate) fn new(inner: S, slot: &Slot, idle: Duration) -> Self {
        Self {
            inner,
            conns: slot.conns.clone(),
            activity: slot.activity.clone(),
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            first_by: None,
            linger: None,
        }
    }

    /// The next read must bring bytes within `within`, or the connection
    /// fails: the header timeout of a new connection (hyper's own header
    /// clock starts only once it has bytes, and its protocol detection
    /// waits for them without one).
    pub(crate) fn expect_bytes_within(&mut self, within: Duration) {
        let by = tokio::time::Instant::now() + within;
        self.first_by = Some(by);
        if self.timer.deadline() > by {
            self.timer.as_mut().reset(by);
        }
    }

    /// Records activity: a store, no timer work (the timer is re-armed
    /// lazily when it fires, so the busy path costs nothing).
    fn touched(&mut self) {
        self.activity
            .last
            .store(self.conns.now_ms(), Ordering::Relaxed);
    }

    /// A write's result: activity when bytes went, the idle check while blocked.
    /// Bytes written also end the header clock: an answer means a request
    /// came, even one that arrived in the same read as the TLS handshake's
    /// end (read by the buffer below rustls, not by a later read here).
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match r {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.touched();
                    self.first_by = None;
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.idle_out(cx).map(Err),
        }
    }

    /// `Pending` unless the idle time ran out, then the error that closes the connection.
    fn idle_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The timer fired: idle for real, expected bytes late, or there
            // was activity since it was armed.
            let now = tokio::time::Instant::now();
            if self.first_by.is_some_and(|by| now >= by) {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no request within the header timeout",
                ));
            }
            let last = self.activity.last.load(Ordering::Relaxed);
            let idle_ms = u64::try_from(self.idle.as_millis()).unwrap_or(u64::MAX);
            let since = self.conns.now_ms().saturating_sub(last);
            if since >= idle_ms {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no byte moved within the idle timeout",
                ));
            }
            let mut at = now + Duration::from_millis(idle_ms - since);
            if let Some(by) = self.first_by {
                at = at.min(by);
            }
            self.timer.as_mut().reset(at);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.touched();
                    self.first_by = None;
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.idle_out(cx).map(Err),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        self.wrote(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Shuts the write side (the answer is complete), then lingers: reads
    /// and discards what the client still sends until it ends, pauses for
    /// [`LINGER_QUIET`] or [`LINGER_MAX`] has passed.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.linger.is_none() {
            if let Poll::Ready(Err(e)) = Pin::new(&mut this.inner).poll_shutdown(cx) {
                return Poll::Ready(Err(e));
            }
            let now = tokio::time::Instant::now();
            this.linger = Some(Linger {
                until: now + LINGER_MAX,
                quiet_by: now + LINGER_QUIET,
                timer: Box::pin(tokio::time::sleep_until(now + LINGER_QUIET)),
            });
        }
        let Some(l) = this.linger.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let mut scratch = [0u8; 16 << 10];
        loop {
            let mut rb = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    l.quiet_by = tokio::time::Instant::now() + LINGER_QUIET;
                }
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => break,
            }
        }
        let at = l.quiet_by.min(l.until);
        if l.timer.deadline() != at {
            l.timer.as_mut().reset(at);
        }
        match l.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }
}
