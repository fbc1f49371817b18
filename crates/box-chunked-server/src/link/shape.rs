//! Pacing the bytes of a connection: a [`Shaped`] stream lets bytes pass in
//! each direction no faster than its connection's rate and the server's
//! total rate (shared by every connection). Each rate is a [`Pace`]: the
//! instant by which everything charged so far has gone. A read or write
//! waits until both paces are due, then charges what moved. Without a link
//! model a `Shaped` stream is its inner stream.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How far ahead of its pace a direction may run before it waits.
const SLACK: Duration = Duration::from_millis(2);

/// One rate's progress: bytes charged at `rate` end at `free_at`.
#[derive(Debug)]
pub(crate) struct Pace {
    /// Seconds per byte.
    per_byte: f64,
    free_at: Instant,
}

impl Pace {
    /// A pace of `rate` bytes per second.
    pub(crate) fn new(rate: u64) -> Self {
        Self {
            per_byte: 1.0 / rate.max(1) as f64,
            free_at: Instant::now(),
        }
    }

    /// `n` bytes moved at `now`: an idle pace starts again from now (no
    /// credit saved up), a busy one queues them after what it owes.
    fn charge(&mut self, now: Instant, n: usize) {
        let start = self.free_at.max(now);
        self.free_at = start + Duration::from_secs_f64(n as f64 * self.per_byte);
    }

    /// The bytes that go in `d` at this rate.
    fn bytes_in(&self, d: Duration) -> usize {
        (d.as_secs_f64() / self.per_byte) as usize
    }
}

/// One direction of a connection: its own pace and the server's.
#[derive(Debug)]
pub(crate) struct Direction {
    conn: Option<Pace>,
    total: Option<Arc<Mutex<Pace>>>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Direction {
    /// A direction paced by `conn` (bytes per second) and the shared `total`.
    pub(crate) fn new(conn: Option<u64>, total: Option<Arc<Mutex<Pace>>>) -> Self {
        Self {
            conn: conn.map(Pace::new),
            total,
            sleep: None,
        }
    }

    fn due(&self) -> Instant {
        let conn = self.conn.as_ref().map(|p| p.free_at);
        let total = self.total.as_ref().map(|t| {
            t.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .free_at
        });
        conn.into_iter()
            .chain(total)
            .max()
            .unwrap_or_else(Instant::now)
    }

    /// Ready once both paces are due.
    fn poll_due(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let due = self.due();
            if due <= Instant::now() + SLACK {
                self.sleep = None;
                return Poll::Ready(());
            }
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
            if sleep.deadline() != due {
                sleep.as_mut().reset(due);
            }
            ready!(sleep.as_mut().poll(cx));
        }
    }

    fn charge(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let now = Instant::now();
        if let Some(p) = &mut self.conn {
            p.charge(now, n);
        }
        if let Some(t) = &self.total {
            t.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .charge(now, n);
        }
    }

    /// The most one write hands on: 20 ms of the connection's rate, at
    /// least 4 KiB, so that a large answer is paced, not sent in a burst.
    fn write_cap(&self) -> usize {
        self.conn
            .as_ref()
            .map_or(256 << 10, |p| p.bytes_in(Duration::from_millis(20)))
            .clamp(4 << 10, 256 << 10)
    }
}

/// A stream paced by the link model (or not, without one).
#[derive(Debug)]
pub(crate) struct Shaped<S> {
    inner: S,
    /// Client to server, then server to client.
    paced: Option<Box<(Direction, Direction)>>,
}

impl<S> Shaped<S> {
    /// `inner`, paced by `link` when there is one.
    pub(crate) fn new(inner: S, link: Option<&super::Link>) -> Self {
        Self {
            inner,
            paced: link.and_then(super::Link::directions).map(Box::new),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Shaped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let Some(paced) = this.paced.as_mut() else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        ready!(paced.0.poll_due(cx));
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        paced.0.charge(buf.filled().len() - before);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Shaped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let Some(paced) = this.paced.as_mut() else {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        };
        ready!(paced.1.poll_due(cx));
        let cap = paced.1.write_cap().min(data.len());
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &data[..cap]))?;
        paced.1.charge(n);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.paced.is_none() {
            return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        }
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        self.poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        self.paced.is_none() && self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
