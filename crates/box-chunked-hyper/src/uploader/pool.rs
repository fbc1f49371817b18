//! Part buffers of one upload: at most `parallelism + 2`, reused, each
//! mapped when a read first finds none free, so memory use is the same for
//! any file size and follows the parts actually in flight, not the
//! parallelism allowed.

use super::in_multi_thread_runtime;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// Part buffers of one upload, reused and bounded.
///
/// A fresh buffer of a part's size is mapped and zeroed by the kernel page
/// by page; reusing buffers removes that cost (about a sixth of the client's
/// CPU in profiles), and mapping them only when a read needs one more keeps
/// it to the parts in flight: on a link that answers quickly, a parallelism
/// of 16 touches no more buffers than one of 4 (mapping every buffer
/// allowed up front cost 0.13 to 0.25 CPU-s more per GiB of standard input
/// at 16, 32 MiB parts; docs/performance.md). At most `cap` buffers
/// (parallelism + 2) exist at once: a
/// read that finds none free waits for one to come back (a buffer returns
/// when the last `Bytes` sharing it is dropped: the core let go of the part
/// and the transport finished sending it). So peak memory is the same for a
/// 1 GiB file and a 1 TiB one. The wait is bounded ([`POOL_WAIT`]), after
/// which a read allocates anyway: a late buffer costs memory, never a stall.
#[derive(Clone)]
pub(super) struct BufferPool(Arc<(std::sync::Mutex<PoolState>, std::sync::Condvar)>);

pub(super) struct PoolState {
    pub(super) free: Vec<Vec<u8>>,
    /// Buffers handed out and not yet back.
    pub(super) out: usize,
    pub(super) cap: usize,
}

impl PoolState {
    pub(super) fn total(&self) -> usize {
        self.free.len() + self.out
    }
}

/// How long a read waits for a free buffer before allocating one.
pub(super) const POOL_WAIT: Duration = Duration::from_secs(2);

pub(super) struct Pooled {
    pub(super) buf: Vec<u8>,
    pub(super) pool: BufferPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let (lock, ready) = &*self.pool.0;
        if let Ok(mut st) = lock.lock() {
            st.out = st.out.saturating_sub(1);
            if st.total() < st.cap {
                st.free.push(buf);
            }
            ready.notify_one();
        }
    }
}

impl BufferPool {
    pub(super) fn new(cap: usize) -> Self {
        Self(Arc::new((
            std::sync::Mutex::new(PoolState {
                free: Vec::new(),
                out: 0,
                cap: cap.max(1),
            }),
            std::sync::Condvar::new(),
        )))
    }

    pub(super) fn set_cap(&self, cap: usize) {
        let (lock, ready) = &*self.0;
        if let Ok(mut st) = lock.lock() {
            st.cap = cap.max(1);
            let keep = st.cap.saturating_sub(st.out);
            st.free.truncate(keep);
            ready.notify_all();
        }
    }

    /// A buffer of `len` bytes, waiting (blocking this thread) while `cap`
    /// buffers are out, up to [`POOL_WAIT`]. It comes back to the pool when
    /// dropped, or when the last `Bytes` made of it by [`Pooled::freeze`] is.
    pub(super) fn take(&self, len: usize) -> Pooled {
        self.take_within(len, POOL_WAIT)
    }

    /// [`BufferPool::take`] from async code: the wait moves off the
    /// executor's threads. With one thread for everything, waiting would
    /// stop the very sends that free buffers, so it takes without waiting.
    pub(super) async fn take_async(&self, len: usize) -> Pooled {
        if in_multi_thread_runtime() {
            tokio::task::block_in_place(|| self.take(len))
        } else {
            self.take_within(len, Duration::ZERO)
        }
    }

    pub(super) fn take_within(&self, len: usize, wait: Duration) -> Pooled {
        let (lock, ready) = &*self.0;
        let mut v = match lock.lock() {
            Ok(mut st) => {
                let deadline = std::time::Instant::now() + wait;
                while st.free.is_empty() && st.out >= st.cap {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        if !wait.is_zero() {
                            tracing::debug!(
                                out = st.out,
                                cap = st.cap,
                                "no part buffer came back in time; taking one more"
                            );
                        }
                        break;
                    }
                    st = match ready.wait_timeout(st, left) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    };
                }
                st.out += 1;
                st.free.pop().unwrap_or_default()
            }
            Err(_) => Vec::new(),
        };
        // Only growth is zeroed; the rest is overwritten by the read.
        v.resize(len, 0);
        v.truncate(len);
        Pooled {
            buf: v,
            pool: self.clone(),
        }
    }
}

impl Pooled {
    /// Shared, immutable bytes that keep the buffer out of the pool until
    /// the last of them is dropped.
    pub(super) fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// At most `cap` buffers are out: a take past it waits until one comes
    /// back, then gets the returned buffer (no new allocation).
    #[test]
    fn pool_bounds_buffers_and_reuses_them() {
        let pool = BufferPool::new(2);
        let a = pool.take(1000).freeze();
        let b = pool.take(1000).freeze();
        let a_ptr = a.as_ptr() as usize;
        let released = Arc::new(AtomicBool::new(false));
        let r = released.clone();
        let dropper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            r.store(true, Ordering::SeqCst);
            drop(a);
        });
        let c = pool.take(800);
        assert!(
            released.load(Ordering::SeqCst),
            "the third buffer was handed out before one came back"
        );
        assert_eq!(c.buf.len(), 800);
        assert_eq!(
            c.buf.as_ptr() as usize,
            a_ptr,
            "the returned buffer is reused"
        );
        dropper.join().unwrap();
        drop(b);
        // Raising the cap lets more out at once without waiting.
        pool.set_cap(4);
        let held: Vec<Bytes> = (0..3).map(|_| pool.take(10).freeze()).collect();
        let (lock, _) = &*pool.0;
        assert_eq!(lock.lock().unwrap().out, 4);
        drop(held);
        drop(c);
        assert_eq!(lock.lock().unwrap().out, 0);
        // A buffer dropped without being frozen (a failed read) comes back too.
        drop(pool.take(10));
        assert_eq!(lock.lock().unwrap().out, 0);
    }
}
