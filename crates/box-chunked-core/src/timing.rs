//! When to act next, for every machine of this crate ([`crate::Upload`]
//! and [`crate::call::Call`] alike): retry a failed request or give up, how
//! long to wait after a `202`, when a session expires in this machine's
//! time, and instants that saturate instead of overflowing.

use crate::retry::{FailureClass, Jitter, Owner, RetryPolicy};
use crate::Instant;
use box_chunked_proto::Timestamp;
use std::time::{Duration, SystemTime};

/// `t + d`, or a century later at most, never an overflow (a configured
/// `Duration::MAX` timeout waits "forever", it does not panic).
pub fn add(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(t)
}

/// The one "retry or give up" after a failure of `class` on attempt
/// `attempts` (from 1) of a request first sent `elapsed` ago: the delay
/// before the next attempt, or `None` when the class is not retryable, is
/// the driver's to retry ([`RetryPolicy::delegated`]), or the attempts
/// (`max_attempts`) or the time budget are spent.
pub fn retry_delay(
    policy: &RetryPolicy,
    jitter: &mut Jitter,
    class: FailureClass,
    retry_after: Option<Duration>,
    attempts: u32,
    max_attempts: u32,
    elapsed: Duration,
) -> Option<Duration> {
    if !class.is_retryable() || policy.delegated.owner(class) == Owner::Driver {
        return None;
    }
    let delay = policy.backoff(attempts, retry_after, jitter);
    (attempts < max_attempts && policy.may_retry(attempts, elapsed, delay)).then_some(delay)
}

/// The wait before repeating a commit that answered `202`: `Retry-After`
/// (or `default`), at most the policy's cap; `Err` with the time waited so
/// far when that wait would end more than `limit` after the first commit.
pub fn pending_wait(
    policy: &RetryPolicy,
    retry_after: Option<Duration>,
    default: Duration,
    waited: Duration,
    limit: Duration,
) -> Result<Duration, Duration> {
    let wait = retry_after.unwrap_or(default).min(policy.retry_after_cap);
    if waited.saturating_add(wait) > limit {
        return Err(waited);
    }
    Ok(wait)
}

/// When a session expires in this machine's time: its `session_expires_at`
/// measured against the answer's own `Date` (never this machine's clock);
/// without both, Box's lifetime of 7 days from `now`.
pub fn session_deadline(
    expires_at: Option<&Timestamp>,
    date: Option<SystemTime>,
    now: Instant,
) -> Instant {
    let expires = expires_at.and_then(|t| t.to_system_time().ok());
    match (expires, date) {
        (Some(exp), Some(date)) => exp.duration_since(date).map_or(now, |left| add(now, left)),
        _ => add(
            now,
            Duration::from_secs(box_chunked_proto::rules::SESSION_LIFETIME_SECS),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_gives_up_in_time() {
        let now = Instant::now();
        assert!(add(now, Duration::MAX) > now);
        let p = RetryPolicy::default();
        let mut j = Jitter::new(1);
        let class = FailureClass::ServerError;
        assert!(retry_delay(&p, &mut j, class, None, 1, 5, Duration::ZERO).is_some());
        assert!(retry_delay(&p, &mut j, class, None, 5, 5, Duration::ZERO).is_none());
        assert!(retry_delay(&p, &mut j, FailureClass::Fatal, None, 1, 5, Duration::ZERO).is_none());
        let limit = Duration::from_secs(10);
        let five = Duration::from_secs(5);
        assert_eq!(
            pending_wait(&p, Some(five), limit, Duration::from_secs(4), limit),
            Ok(five)
        );
        assert_eq!(
            pending_wait(&p, Some(five), limit, Duration::from_secs(6), limit),
            Err(Duration::from_secs(6))
        );
        let exp = Timestamp::from_text("2026-01-08T00:00:00Z");
        let date = Timestamp::from_text("2026-01-01T00:00:00Z")
            .to_system_time()
            .ok();
        let d = session_deadline(Some(&exp), date, now);
        assert_eq!(d - now, Duration::from_secs(7 * 24 * 3600));
    }
}
