//! The machine's time type: [`Instant`], the moment every input carries.
//!
//! On every target with a monotonic clock it **is** `std::time::Instant`
//! (the same type, so native drivers pass `Instant::now()` as they always
//! have). On `wasm32-unknown-unknown`, where std has no clock and
//! `std::time::Instant::now()` panics, it is [`DriverInstant`]: a duration
//! since an origin the driver chooses (a browser driver passes
//! `performance.now()`), with the same arithmetic. The machine never reads a
//! clock either way; it only adds, subtracts and compares the instants it is
//! given.

use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

/// The instant of the machine's inputs: `std::time::Instant`.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub type Instant = std::time::Instant;

/// The instant of the machine's inputs on `wasm32-unknown-unknown`: a
/// [`DriverInstant`], since std has no clock there.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub type Instant = DriverInstant;

/// A monotonic instant measured by the driver: the time since an origin of
/// its choosing (for a browser, the page's time origin, from
/// `performance.now()`). Only instants from the same origin compare.
///
/// ```
/// use box_chunked_core::instant::DriverInstant;
/// use std::time::Duration;
///
/// let t0 = DriverInstant::from_millis_f64(1_000.5);
/// let t1 = t0 + Duration::from_millis(250);
/// assert_eq!(t1.duration_since(t0), Duration::from_millis(250));
/// assert_eq!(t0.saturating_duration_since(t1), Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DriverInstant(Duration);

impl DriverInstant {
    /// The instant `since_origin` after the driver's origin.
    pub const fn from_origin(since_origin: Duration) -> Self {
        Self(since_origin)
    }

    /// The instant `millis` milliseconds after the origin (the unit of
    /// `performance.now()`); a negative, infinite or NaN value is the origin.
    pub fn from_millis_f64(millis: f64) -> Self {
        let secs = millis / 1000.0;
        Self(Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO))
    }

    /// The time since the origin.
    pub const fn since_origin(&self) -> Duration {
        self.0
    }

    /// `self + d`, or `None` when it cannot be represented.
    pub fn checked_add(&self, d: Duration) -> Option<Self> {
        self.0.checked_add(d).map(Self)
    }

    /// `self - d`, or `None` before the origin.
    pub fn checked_sub(&self, d: Duration) -> Option<Self> {
        self.0.checked_sub(d).map(Self)
    }

    /// The time from `earlier` to `self`, or `None` when `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Self) -> Option<Duration> {
        self.0.checked_sub(earlier.0)
    }

    /// The time from `earlier` to `self`, zero when `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Self) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// The time from `earlier` to `self`, zero when `earlier` is later
    /// (as `std::time::Instant::duration_since` does since Rust 1.60).
    pub fn duration_since(&self, earlier: Self) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl Add<Duration> for DriverInstant {
    type Output = Self;
    /// # Panics
    /// When the sum overflows, as `std::time::Instant` does; the machine
    /// itself only uses [`DriverInstant::checked_add`].
    fn add(self, d: Duration) -> Self {
        self.checked_add(d)
            .expect("overflow when adding a duration to an instant")
    }
}

impl AddAssign<Duration> for DriverInstant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for DriverInstant {
    type Output = Self;
    /// # Panics
    /// Before the origin, as `std::time::Instant` does before its own.
    fn sub(self, d: Duration) -> Self {
        self.checked_sub(d)
            .expect("overflow when subtracting a duration from an instant")
    }
}

impl SubAssign<Duration> for DriverInstant {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

impl Sub for DriverInstant {
    type Output = Duration;
    fn sub(self, earlier: Self) -> Duration {
        self.duration_since(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_matches_std() {
        let t = DriverInstant::from_millis_f64(12.5);
        assert_eq!(t.since_origin(), Duration::from_micros(12_500));
        assert_eq!(t.checked_sub(Duration::from_secs(1)), None);
        assert_eq!(t.checked_add(Duration::MAX), None);
        let later = t + Duration::from_secs(2);
        assert!(later > t);
        assert_eq!(later - t, Duration::from_secs(2));
        assert_eq!(t - later, Duration::ZERO);
        assert_eq!(t.checked_duration_since(later), None);
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                DriverInstant::from_millis_f64(bad),
                DriverInstant::default()
            );
        }
    }
}
