//! The server's clock: the machine's, moved by an offset that is set at
//! start ([`crate::ServerConfig::clock_offset_secs`]) and can be moved at
//! run time (`POST /__box-chunked/clock`), so that a test sees sessions and
//! tokens expire without waiting. Everything that expires reads this clock:
//! sessions, tokens, codes, refresh tokens, `Date` headers, JWT `exp`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A clock shared by the server's parts (cheap to clone).
#[derive(Debug, Clone, Default)]
pub(crate) struct Clock(Arc<AtomicI64>);

impl Clock {
    /// The machine's clock moved by `offset_secs`.
    pub(crate) fn new(offset_secs: i64) -> Self {
        Self(Arc::new(AtomicI64::new(offset_secs)))
    }

    /// Now, on this clock.
    pub(crate) fn now(&self) -> SystemTime {
        let offset = self.offset();
        let by = Duration::from_secs(offset.unsigned_abs());
        let now = SystemTime::now();
        if offset >= 0 {
            now.checked_add(by).unwrap_or(now)
        } else {
            now.checked_sub(by).unwrap_or(UNIX_EPOCH)
        }
    }

    /// Now, in Unix seconds.
    pub(crate) fn unix(&self) -> i64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }

    /// The offset from the machine's clock, in seconds.
    pub(crate) fn offset(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Moves the clock `secs` ahead (behind when negative); the new offset.
    pub(crate) fn advance(&self, secs: i64) -> i64 {
        self.0
            .fetch_add(secs, Ordering::Relaxed)
            .saturating_add(secs)
    }
}
