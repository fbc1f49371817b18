//! Who retries what, and how long to wait: pure functions shared by the core
//! and by any driver's retry layer.
//!
//! Every outcome of an attempt falls in one [`FailureClass`]; each class has
//! exactly one [`Owner`]. The machine retries the classes it owns and treats
//! a failure of a class it delegated as final (the driver already retried it).
//! The table, with bounds, is `docs/retries.md`.

use crate::io::{RequestKind, TransportErrorKind};
use box_chunked_proto::ErrorCode;
use std::time::Duration;

/// The class of a failed (or not yet final) attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// The request never left: connect refused, DNS, pool checkout. Always safe to repeat.
    NotSent,
    /// The request may have reached the server: reset or timeout after the
    /// body began. Repeated; a part repeated this way is reconciled by the
    /// `416 range_overlaps_existing_part` rule.
    Ambiguous,
    /// `429`: the account is throttled. Repeated after `Retry-After`, and all
    /// new dispatch pauses until then.
    Throttled,
    /// `500`, `502`, `503`, `504`: the server failed. Repeated with backoff.
    ServerError,
    /// `401`: the token is missing, invalid or expired. The driver's auth layer
    /// refreshes and repeats once; the machine never sees tokens.
    Unauthorized,
    /// `202` on commit: accepted, not yet processed. Not an error; repeated
    /// after `Retry-After` within the commit deadline.
    CommitPending,
    /// `400 parts_mismatch` on commit: sometimes transient right after the
    /// last part. Repeated a few times.
    PartsMismatch,
    /// `416 range_overlaps_existing_part` on a part: reconciled, not repeated.
    Overlap,
    /// `404` or `410` on a session-scoped call: the session is gone or expired.
    SessionGone,
    /// Any other `4xx`, or a response that breaks the protocol: final.
    Fatal,
}

/// The layer that retries a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The state machine (for every driver).
    Core,
    /// The driver's transport stack (for example the hyper adapter's tower
    /// retry and auth layers). The machine does not retry these again.
    Driver,
}

impl FailureClass {
    /// Whether an attempt of this class is repeated at all (by its owner).
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::NotSent
                | Self::Ambiguous
                | Self::Throttled
                | Self::ServerError
                | Self::CommitPending
                | Self::PartsMismatch
        )
    }

    /// A short lower-case name for logs and events.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotSent => "not sent",
            Self::Ambiguous => "ambiguous transport failure",
            Self::Throttled => "throttled (429)",
            Self::ServerError => "server error (5xx)",
            Self::Unauthorized => "unauthorized (401)",
            Self::CommitPending => "commit pending (202)",
            Self::PartsMismatch => "parts mismatch",
            Self::Overlap => "range overlaps a stored part",
            Self::SessionGone => "session gone or expired",
            Self::Fatal => "refused",
        }
    }
}

/// Classifies a transport failure.
pub const fn classify_transport(kind: TransportErrorKind) -> FailureClass {
    match kind {
        TransportErrorKind::NotSent => FailureClass::NotSent,
        TransportErrorKind::Ambiguous | TransportErrorKind::TimedOut => FailureClass::Ambiguous,
    }
}

/// Classifies a non-success HTTP status for a request kind. `None` means the
/// status is a success for that kind (`2xx` except `202` on commit).
///
/// ```
/// use box_chunked_core::retry::{classify_status, FailureClass};
/// use box_chunked_core::{proto::ErrorCode, RequestKind};
/// assert_eq!(classify_status(RequestKind::Commit, 202, &ErrorCode::Other(String::new())),
///            Some(FailureClass::CommitPending));
/// assert_eq!(classify_status(RequestKind::UploadPart { index: 0 }, 416,
///            &ErrorCode::RangeOverlapsExistingPart), Some(FailureClass::Overlap));
/// assert_eq!(classify_status(RequestKind::UploadPart { index: 0 }, 200,
///            &ErrorCode::Other(String::new())), None);
/// ```
pub fn classify_status(kind: RequestKind, status: u16, code: &ErrorCode) -> Option<FailureClass> {
    let session_scoped = !matches!(
        kind,
        RequestKind::CreateSession
            | RequestKind::GetFile
            | RequestKind::ListItems
            | RequestKind::GetFolder
            | RequestKind::DeleteItem
    );
    Some(match status {
        202 if kind == RequestKind::Commit => FailureClass::CommitPending,
        200..=299 => return None,
        429 => FailureClass::Throttled,
        500 | 502 | 503 | 504 => FailureClass::ServerError,
        401 => FailureClass::Unauthorized,
        416 if *code == ErrorCode::RangeOverlapsExistingPart => FailureClass::Overlap,
        400 if kind == RequestKind::Commit && *code == ErrorCode::PartsMismatch => {
            FailureClass::PartsMismatch
        }
        404 | 410 if session_scoped => FailureClass::SessionGone,
        _ => FailureClass::Fatal,
    })
}

/// Whether an answer asks the driver's auth layer to refresh the token and
/// repeat the request once ([`FailureClass::Unauthorized`], which the driver
/// owns: the machine never sees tokens).
///
/// ```
/// assert!(box_chunked_core::retry::refresh_token_and_repeat(401));
/// assert!(!box_chunked_core::retry::refresh_token_and_repeat(403));
/// ```
pub const fn refresh_token_and_repeat(status: u16) -> bool {
    status == 401
}

/// Which retryable classes the driver owns. The default is none: the machine
/// alone completes an upload through every transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delegated {
    /// The driver retries requests that were never sent (for example with a
    /// tower retry layer limited to connect errors).
    pub not_sent: bool,
}

impl Delegated {
    /// The owner of a class under this delegation.
    pub const fn owner(self, class: FailureClass) -> Owner {
        match class {
            FailureClass::NotSent if self.not_sent => Owner::Driver,
            FailureClass::Unauthorized => Owner::Driver,
            _ => Owner::Core,
        }
    }
}

/// Backoff and limits for retries.
///
/// The delay of attempt `n` (1-based, the attempt that failed) is
/// `min(max_backoff, initial_backoff x multiplier^(n-1))`, jittered to a
/// uniform value in `[d/2, d]` ("equal jitter"), then raised to the server's
/// `Retry-After` when there is one, capped at `retry_after_cap`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts per request, the first included (default 8).
    pub max_attempts: u32,
    /// The first delay before jitter (default 500 ms).
    pub initial_backoff: Duration,
    /// The largest delay before jitter (default 30 s).
    pub max_backoff: Duration,
    /// Growth per attempt (default 2).
    pub multiplier: u32,
    /// The longest `Retry-After` honoured (default 5 minutes); longer values wait this long.
    pub retry_after_cap: Duration,
    /// A request is not retried once this long has passed since its first
    /// attempt (default 15 minutes).
    pub give_up_after: Duration,
    /// Attempts for the abort `DELETE` (default 3): abort is best effort.
    pub abort_attempts: u32,
    /// Failure classes the driver retries itself.
    pub delegated: Delegated,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            multiplier: 2,
            retry_after_cap: Duration::from_secs(300),
            give_up_after: Duration::from_secs(900),
            abort_attempts: 3,
            delegated: Delegated::default(),
        }
    }
}

impl RetryPolicy {
    /// The delay before the attempt after failed attempt `attempt` (1-based).
    ///
    /// ```
    /// use box_chunked_core::retry::{Jitter, RetryPolicy};
    /// use std::time::Duration;
    /// let policy = RetryPolicy::default();
    /// let mut jitter = Jitter::new(7);
    /// let d = policy.backoff(3, None, &mut jitter);
    /// assert!(d >= Duration::from_secs(1) && d <= Duration::from_secs(2));
    /// // Retry-After is a floor, under the cap.
    /// let d = policy.backoff(1, Some(Duration::from_secs(100)), &mut jitter);
    /// assert_eq!(d, Duration::from_secs(100));
    /// let d = policy.backoff(1, Some(Duration::from_secs(100_000)), &mut jitter);
    /// assert_eq!(d, Duration::from_secs(300));
    /// ```
    pub fn backoff(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        jitter: &mut Jitter,
    ) -> Duration {
        let exp = attempt.saturating_sub(1).min(63);
        let factor = u64::from(self.multiplier.max(1))
            .checked_pow(exp)
            .unwrap_or(u64::MAX);
        let base = self
            .initial_backoff
            .checked_mul(u32::try_from(factor).unwrap_or(u32::MAX))
            .unwrap_or(Duration::MAX)
            .min(self.max_backoff);
        let half = base / 2;
        let jittered = half + jitter.up_to(base - half);
        match retry_after {
            Some(ra) => jittered.max(ra.min(self.retry_after_cap)),
            None => jittered,
        }
    }

    /// Whether a request whose attempt `attempt` (1-based) just failed may be
    /// tried again, given when it was first tried and when it would go next.
    pub fn may_retry(
        &self,
        attempt: u32,
        elapsed_since_first: Duration,
        next_delay: Duration,
    ) -> bool {
        attempt < self.max_attempts
            && elapsed_since_first.saturating_add(next_delay) <= self.give_up_after
    }
}

/// The jitter source: SplitMix64 seeded from the configuration, so that the
/// same seed gives the same delays and tests can pin them. (Written here
/// rather than taken from a crate so that a dependency upgrade can never
/// change a recorded transcript; the generator is Steele, Lea and Flood's.)
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    /// A generator seeded with `seed`.
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform duration in `[0, max]`, at nanosecond resolution.
    pub fn up_to(&mut self, max: Duration) -> Duration {
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        let r = self.next_u64() % nanos.saturating_add(1).max(1);
        Duration::from_nanos(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_status_has_a_class() {
        let none = ErrorCode::Other(String::new());
        let part = RequestKind::UploadPart { index: 1 };
        let cases = [
            (part, 200, &none, None),
            (RequestKind::Commit, 201, &none, None),
            (
                RequestKind::Commit,
                202,
                &none,
                Some(FailureClass::CommitPending),
            ),
            (part, 202, &none, None),
            (
                part,
                429,
                &ErrorCode::RateLimitExceeded,
                Some(FailureClass::Throttled),
            ),
            (part, 503, &none, Some(FailureClass::ServerError)),
            (part, 501, &none, Some(FailureClass::Fatal)),
            (part, 401, &none, Some(FailureClass::Unauthorized)),
            (
                part,
                416,
                &ErrorCode::RangeOverlapsExistingPart,
                Some(FailureClass::Overlap),
            ),
            (part, 416, &none, Some(FailureClass::Fatal)),
            (
                RequestKind::Commit,
                400,
                &ErrorCode::PartsMismatch,
                Some(FailureClass::PartsMismatch),
            ),
            (
                RequestKind::Commit,
                400,
                &ErrorCode::DigestMismatch,
                Some(FailureClass::Fatal),
            ),
            (
                part,
                410,
                &ErrorCode::SessionExpired,
                Some(FailureClass::SessionGone),
            ),
            (
                RequestKind::ListParts { offset: 0 },
                404,
                &none,
                Some(FailureClass::SessionGone),
            ),
            (
                RequestKind::CreateSession,
                404,
                &ErrorCode::NotFound,
                Some(FailureClass::Fatal),
            ),
            (
                RequestKind::CreateSession,
                409,
                &ErrorCode::ItemNameInUse,
                Some(FailureClass::Fatal),
            ),
        ];
        for (kind, status, code, want) in cases {
            assert_eq!(
                classify_status(kind, status, code),
                want,
                "{kind:?} {status} {code}"
            );
        }
    }

    #[test]
    fn delegation_moves_only_what_it_names() {
        let d = Delegated { not_sent: true };
        assert_eq!(d.owner(FailureClass::NotSent), Owner::Driver);
        assert_eq!(d.owner(FailureClass::ServerError), Owner::Core);
        assert_eq!(
            Delegated::default().owner(FailureClass::NotSent),
            Owner::Core
        );
        assert_eq!(
            Delegated::default().owner(FailureClass::Unauthorized),
            Owner::Driver
        );
    }

    #[test]
    fn same_seed_same_delays() {
        let p = RetryPolicy::default();
        let a: Vec<_> = {
            let mut j = Jitter::new(1);
            (1..8).map(|n| p.backoff(n, None, &mut j)).collect()
        };
        let b: Vec<_> = {
            let mut j = Jitter::new(1);
            (1..8).map(|n| p.backoff(n, None, &mut j)).collect()
        };
        let c: Vec<_> = {
            let mut j = Jitter::new(2);
            (1..8).map(|n| p.backoff(n, None, &mut j)).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    proptest! {
        #[test]
        fn backoff_stays_in_bounds(attempt in 0u32..200, ra in proptest::option::of(0u64..1_000_000), seed in any::<u64>()) {
            let p = RetryPolicy::default();
            let mut j = Jitter::new(seed);
            let d = p.backoff(attempt, ra.map(Duration::from_secs), &mut j);
            let cap = p.max_backoff.max(p.retry_after_cap);
            prop_assert!(d <= cap);
            if let Some(ra) = ra {
                prop_assert!(d >= Duration::from_secs(ra).min(p.retry_after_cap));
            }
        }

        #[test]
        fn status_classification_never_panics(status in any::<u16>(), code in "[a-z_]{0,30}", k in 0u8..5) {
            let kind = match k {
                0 => RequestKind::CreateSession,
                1 => RequestKind::UploadPart { index: 3 },
                2 => RequestKind::ListParts { offset: 0 },
                3 => RequestKind::Commit,
                _ => RequestKind::Abort,
            };
            let _ = classify_status(kind, status, &ErrorCode::from(code.as_str()));
        }
    }
}
