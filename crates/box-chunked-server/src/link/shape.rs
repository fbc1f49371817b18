//! Pacing the bytes of a connection: a [`Shaped`] stream lets bytes pass in
//! each direction no faster than its connection's rate and its fair share of
//! the server's total rate. Each rate is a [`Pace`]: the instant by which
//! everything charged so far has gone. The total is [`Shared`] by every
//! connection: like TCP flows on one line, the connections moving bytes
//! split it evenly (each is paced at the total over their number, or its
//! own rate if lower), and the total's own pace caps their sum. A read or
//! write waits until its paces are due, then charges what moved. Without a
//! link model a `Shaped` stream is its inner stream.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How far ahead of its pace a direction may run before it waits.
const SLACK: Duration = Duration::from_millis(2);

/// How far behind its pace a direction may fall and still catch up: a
/// wake-up that comes late (timers fire on whole milliseconds, later on a
/// busy machine) keeps its time, up to this much. It is also the largest
/// burst an idle direction may send at once: 10 ms of its rate.
const CREDIT: Duration = Duration::from_millis(10);

/// How long after its bytes are due a direction still counts as moving
/// bytes for the fair share: a connection whose request ended (or whose
/// client went quiet) gives its share back after this.
const GRACE: Duration = Duration::from_millis(10);

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

    /// `n` bytes moved at `now` at `per_byte` seconds a byte: a busy pace
    /// queues them after what it owes; one that fell behind counts them from
    /// where it should have been, at most [`CREDIT`] ago (a token bucket of
    /// that depth), so that late wake-ups do not cost the link its rate.
    fn charge_at(&mut self, now: Instant, n: usize, per_byte: f64) {
        let start = self.free_at.max(now.checked_sub(CREDIT).unwrap_or(now));
        self.free_at = start + Duration::from_secs_f64(n as f64 * per_byte);
    }

    /// `n` bytes moved at `now` at this pace's rate.
    fn charge(&mut self, now: Instant, n: usize) {
        self.charge_at(now, n, self.per_byte);
    }

    /// The bytes that go in `d` at this rate.
    fn bytes_in(&self, d: Duration) -> usize {
        (d.as_secs_f64() / self.per_byte) as usize
    }
}

/// The server's total rate in one direction and who is using it.
#[derive(Debug)]
pub(crate) struct Shared {
    pace: Pace,
    /// Each direction moving bytes, and until when it counts as doing so.
    moving: Vec<(u64, Instant)>,
    next_id: u64,
}

impl Shared {
    /// A total of `rate` bytes per second.
    pub(crate) fn new(rate: u64) -> Arc<Mutex<Self>> {
        Arc::new(Mutex::new(Self {
            pace: Pace::new(rate),
            moving: Vec::new(),
            next_id: 0,
        }))
    }

    /// `id` moves bytes until `until`; how many directions move bytes now.
    fn mark(&mut self, id: u64, now: Instant, until: Instant) -> usize {
        self.moving
            .retain(|&(other, end)| other != id && end >= now);
        self.moving.push((id, until));
        self.moving.len()
    }
}

/// A direction's hold on the shared total: its id there.
#[derive(Debug)]
struct Share {
    shared: Arc<Mutex<Shared>>,
    id: u64,
}

impl Share {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let id = self.id;
        self.lock().moving.retain(|&(other, _)| other != id);
    }
}

/// One direction of a connection: its own pace (at its rate, or at its
/// share of the total when that is lower) and the server's.
#[derive(Debug)]
pub(crate) struct Direction {
    /// The connection's rate, seconds per byte (0 when unlimited).
    conn_per_byte: f64,
    own: Pace,
    total: Option<Share>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Direction {
    /// A direction paced by `conn` (bytes per second) and its share of `total`.
    pub(crate) fn new(conn: Option<u64>, total: Option<Arc<Mutex<Shared>>>) -> Self {
        let total = total.map(|shared| {
            let id = {
                let mut s = shared.lock().unwrap_or_else(PoisonError::into_inner);
                s.next_id += 1;
                s.next_id
            };
            Share { shared, id }
        });
        let own = Pace::new(conn.unwrap_or(u64::MAX));
        Self {
            conn_per_byte: conn.map_or(0.0, |_| own.per_byte),
            own,
            total,
            sleep: None,
        }
    }

    /// When both paces are due; marks the direction as moving bytes.
    fn due(&self) -> Instant {
        let Some(share) = &self.total else {
            return self.own.free_at;
        };
        let now = Instant::now();
        let mut s = share.lock();
        let until = self.own.free_at.max(s.pace.free_at).max(now) + GRACE;
        s.mark(share.id, now, until);
        self.own.free_at.max(s.pace.free_at)
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

    /// `n` bytes moved: the own pace at the connection's rate or its even
    /// share of the total, whichever is slower, and the total.
    fn charge(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let now = Instant::now();
        let Some(share) = &self.total else {
            self.own.charge(now, n);
            return;
        };
        let mut s = share.lock();
        let moving = s.mark(share.id, now, now + GRACE);
        let per_byte = self.conn_per_byte.max(s.pace.per_byte * moving as f64);
        self.own.charge_at(now, n, per_byte);
        s.pace.charge(now, n);
        let until = self.own.free_at + GRACE;
        s.mark(share.id, now, until);
    }

    /// The most one write hands on: 20 ms of the connection's rate, at
    /// least 4 KiB, so that a large answer is paced, not sent in a burst.
    fn write_cap(&self) -> usize {
        if self.conn_per_byte == 0.0 {
            return 256 << 10;
        }
        self.own
            .bytes_in(Duration::from_millis(20))
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

#[cfg(test)]
mod tests {
    //! The pacing in paused time: tokio's timers fire on whole milliseconds,
    //! as on a real machine, so time lost at each wake-up shows here, and so
    //! does a connection that gets less than its share.
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// `conns` connections each carry `bytes` through a shaped reader paced
    /// at `conn` each and `total` in all, reading `read` bytes at a time:
    /// the seconds each connection took, shortest first.
    async fn carry(
        conns: usize,
        bytes: usize,
        read: usize,
        conn: Option<u64>,
        total: Option<u64>,
    ) -> Vec<f64> {
        let total = total.map(Shared::new);
        let started = Instant::now();
        let mut readers = Vec::new();
        for _ in 0..conns {
            let (mut tx, rx) = tokio::io::duplex(1 << 20);
            let mut rx = Shaped {
                inner: rx,
                paced: Some(Box::new((
                    Direction::new(conn, total.clone()),
                    Direction::new(conn, total.clone()),
                ))),
            };
            tokio::spawn(async move {
                let piece = vec![7u8; 64 << 10];
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(piece.len());
                    tx.write_all(&piece[..n]).await.unwrap();
                    left -= n;
                }
            });
            readers.push(tokio::spawn(async move {
                let mut buf = vec![0u8; read];
                let mut got = 0;
                while got < bytes {
                    got += rx.read(&mut buf).await.unwrap();
                }
                started.elapsed().as_secs_f64()
            }));
        }
        let mut secs = Vec::new();
        for r in readers {
            secs.push(r.await.unwrap());
        }
        secs.sort_by(f64::total_cmp);
        secs
    }

    fn within(secs: &[f64], low: f64, high: f64) {
        assert!(
            secs.iter().all(|s| (low..high).contains(s)),
            "connections took {secs:?} s, not {low} to {high}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_connection_keeps_its_rate() {
        within(
            &carry(1, 12_000_000, 64 << 10, Some(12_000_000), None).await,
            0.98,
            1.02,
        );
        within(
            &carry(1, 3_000_000, 8 << 10, Some(3_000_000), Some(50_000_000)).await,
            0.98,
            1.02,
        );
    }

    #[tokio::test(start_paused = true)]
    async fn connections_share_the_total_evenly() {
        // 16 connections of 12 MB/s share 125 MB/s: each carries one
        // sixteenth of 125 MB, and every one ends near one second.
        within(
            &carry(16, 7_812_500, 64 << 10, Some(12_000_000), Some(125_000_000)).await,
            0.95,
            1.02,
        );
        within(
            &carry(16, 7_812_500, 16 << 10, None, Some(125_000_000)).await,
            0.95,
            1.02,
        );
        // Four at 3 MB/s under 50 MB/s: each keeps its own rate.
        within(
            &carry(4, 3_000_000, 64 << 10, Some(3_000_000), Some(50_000_000)).await,
            0.98,
            1.02,
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_share_given_back_goes_to_the_others() {
        // Two connections under 10 MB/s: the one with 1 MB ends at 0.2 s
        // (5 MB/s each), and the other then takes the whole 10 MB/s.
        let total = Shared::new(10_000_000);
        let started = Instant::now();
        let mut ends = Vec::new();
        for bytes in [1_000_000, 9_000_000] {
            let (mut tx, rx) = tokio::io::duplex(1 << 20);
            let mut rx = Shaped {
                inner: rx,
                paced: Some(Box::new((
                    Direction::new(None, Some(total.clone())),
                    Direction::new(None, Some(total.clone())),
                ))),
            };
            tokio::spawn(async move { tx.write_all(&vec![7u8; bytes]).await.unwrap() });
            ends.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                let mut got = 0;
                while got < bytes {
                    got += rx.read(&mut buf).await.unwrap();
                }
                started.elapsed().as_secs_f64()
            }));
        }
        let short = ends.remove(0).await.unwrap();
        let long = ends.remove(0).await.unwrap();
        within(&[short], 0.19, 0.22);
        within(&[long], 0.98, 1.03);
    }
}
