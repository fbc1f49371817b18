//! Sign-in rules: what the token endpoint's answer means, when to repeat a
//! token request, when a token is refreshed, and the clock skew that Box's
//! `Date` header shows. Drivers send the token requests and keep the tokens;
//! every decision about an answer is made here.
//!
//! ```
//! use box_chunked_core::auth::{refresh_after, token_reply, TokenReply};
//! use std::time::Duration;
//! let ok = token_reply(200, br#"{"access_token":"A","expires_in":3600}"#, None, None, 0);
//! assert!(matches!(ok, TokenReply::Granted(a) if a.expires_in == 3600));
//! let bad = token_reply(400, br#"{"error":"invalid_grant","error_description":"Please check the 'exp' claim."}"#, None, None, 0);
//! assert!(matches!(bad, TokenReply::Refused { ref error, .. } if error.is_about_exp()));
//! assert!(matches!(token_reply(503, b"", None, None, 0), TokenReply::Repeat { .. }));
//! // A token of one hour is renewed two minutes early; a short one at half its life.
//! assert_eq!(refresh_after(3600), Duration::from_secs(3480));
//! assert_eq!(refresh_after(4), Duration::from_secs(2));
//! ```

use box_chunked_proto::oauth::{OAuthError, TokenAnswer};
use box_chunked_proto::{parse_http_date, RetryAfter};
use std::time::{Duration, SystemTime};

/// How many times a token request is sent at most when the endpoint is
/// throttled or failing (`429`, `5xx`).
pub const TOKEN_ATTEMPTS: u32 = 4;

/// How early a token is renewed before it expires (rclone's margin).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(120);

/// What a token endpoint's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenReply {
    /// A token.
    Granted(TokenAnswer),
    /// The endpoint is throttled or failing: send the same request again
    /// after `after` (new assertion for JWT: a `jti` is used once).
    Repeat {
        /// How long to wait.
        after: Duration,
        /// The status, for messages.
        status: u16,
    },
    /// The grant was refused; repeating it would not help.
    Refused {
        /// The status.
        status: u16,
        /// Box's error, or one made from the status when the body is not one.
        error: OAuthError,
    },
}

/// Reads the token endpoint's answer to the `attempt`-th request (from 0).
/// `retry_after` and `date` are the answer's headers.
pub fn token_reply(
    status: u16,
    body: &[u8],
    retry_after: Option<&str>,
    date: Option<&str>,
    attempt: u32,
) -> TokenReply {
    if status == 200 {
        return match serde_json::from_slice::<TokenAnswer>(body) {
            Ok(a) if !a.access_token.is_empty() => TokenReply::Granted(a),
            _ => TokenReply::Refused {
                status,
                error: OAuthError::new(
                    "invalid_response",
                    "the token endpoint answered 200 without an access_token",
                ),
            },
        };
    }
    if (status == 429 || (500..600).contains(&status)) && attempt + 1 < TOKEN_ATTEMPTS {
        let backoff = Duration::from_secs(1 << attempt.min(5));
        let after = retry_after
            .and_then(|v| RetryAfter::parse(v).ok())
            .and_then(|r| r.delay(date.and_then(parse_http_date)))
            .unwrap_or(backoff)
            .min(Duration::from_secs(60));
        return TokenReply::Repeat { after, status };
    }
    let error = serde_json::from_slice::<OAuthError>(body).unwrap_or_else(|_| {
        OAuthError::new(
            "http_error",
            format!("the token endpoint answered {status}"),
        )
    });
    TokenReply::Refused { status, error }
}

/// How long after it was issued a token of `expires_in` seconds is renewed:
/// [`REFRESH_MARGIN`] before it expires, or at half its life when it is short.
pub fn refresh_after(expires_in: u64) -> Duration {
    let life = Duration::from_secs(expires_in);
    life.saturating_sub(REFRESH_MARGIN.min(life / 2))
}

/// How long a token with `left` to live may still be used before it is
/// renewed, when its whole life is unknown (a token file's): `None` when it
/// should be renewed now.
///
/// ```
/// use box_chunked_core::auth::renew_in;
/// use std::time::Duration;
/// assert_eq!(renew_in(Duration::from_secs(3600)), Some(Duration::from_secs(3480)));
/// assert_eq!(renew_in(Duration::from_secs(10)), Some(Duration::from_secs(5)));
/// assert_eq!(renew_in(Duration::from_secs(1)), None);
/// ```
pub fn renew_in(left: Duration) -> Option<Duration> {
    let usable = left.saturating_sub(REFRESH_MARGIN.min(left / 2));
    (usable >= Duration::from_secs(1)).then_some(usable)
}

/// The server's clock minus ours, in seconds, from an answer's `Date`
/// header read at `local_now`: what to add to the local time so that an
/// assertion's `exp` is right on the server. Differences under 2 s are
/// treated as none (`Date` has one-second resolution).
///
/// ```
/// use box_chunked_core::auth::clock_skew;
/// use std::time::{Duration, UNIX_EPOCH};
/// let local = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// assert_eq!(clock_skew(local, "Tue, 14 Nov 2023 22:03:20 GMT"), Some(-600));
/// assert_eq!(clock_skew(local, "Tue, 14 Nov 2023 22:18:20 GMT"), Some(300));
/// assert_eq!(clock_skew(local, "Tue, 14 Nov 2023 22:13:21 GMT"), Some(0));
/// assert_eq!(clock_skew(local, "not a date"), None);
/// ```
pub fn clock_skew(local_now: SystemTime, date: &str) -> Option<i64> {
    let server = parse_http_date(date)?;
    let skew = match server.duration_since(local_now) {
        Ok(ahead) => ahead.as_secs() as i64,
        Err(behind) => -(behind.duration().as_secs() as i64),
    };
    Some(if skew.abs() < 2 { 0 } else { skew })
}

/// The `exp` of a new assertion made at `local_now` (seconds since the
/// epoch) with the skew learnt so far.
pub fn assertion_exp(local_now: u64, skew: i64) -> u64 {
    (local_now as i64 + skew).max(0) as u64 + box_chunked_proto::jwt::ASSERTION_LIFETIME_SECS
}

/// Whether a refused assertion is worth signing again once with the
/// server's time: Box refused its `exp` and the answer's `Date` differs
/// from our clock.
pub fn retry_with_server_time(error: &OAuthError, skew: Option<i64>) -> bool {
    error.is_about_exp() && skew.is_some_and(|s| s != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A token is renewed within its life, never before half of it, and
        /// a token file's token is used while it has at least 1 s to go.
        #[test]
        fn renewal_falls_in_the_token_life(expires_in in 0u64..10_000_000, left_ms in 0u64..10_000_000_000) {
            let at = refresh_after(expires_in);
            prop_assert!(at <= Duration::from_secs(expires_in));
            prop_assert!(at >= Duration::from_secs(expires_in) / 2);
            let left = Duration::from_millis(left_ms);
            match renew_in(left) {
                Some(usable) => prop_assert!(usable <= left && usable >= Duration::from_secs(1)),
                None => prop_assert!(left < Duration::from_secs(2)),
            }
        }

        /// Any answer of the token endpoint is read without a panic, and only
        /// 429 and 5xx are asked again, a bounded number of times.
        #[test]
        fn every_answer_has_one_meaning(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..200), attempt in 0u32..10) {
            match token_reply(status, &body, None, None, attempt) {
                TokenReply::Repeat { after, .. } => {
                    prop_assert!(status == 429 || status >= 500);
                    prop_assert!(attempt + 1 < TOKEN_ATTEMPTS);
                    prop_assert!(after <= Duration::from_secs(60));
                }
                TokenReply::Granted(_) => prop_assert_eq!(status, 200),
                TokenReply::Refused { .. } => {}
            }
        }
    }

    #[test]
    fn throttled_token_requests_wait_and_stop() {
        assert_eq!(
            token_reply(429, b"", Some("3"), None, 0),
            TokenReply::Repeat {
                after: Duration::from_secs(3),
                status: 429
            }
        );
        assert_eq!(
            token_reply(500, b"", None, None, 2),
            TokenReply::Repeat {
                after: Duration::from_secs(4),
                status: 500
            }
        );
        assert!(matches!(
            token_reply(500, b"", None, None, TOKEN_ATTEMPTS - 1),
            TokenReply::Refused { status: 500, .. }
        ));
        assert!(matches!(
            token_reply(200, b"{}", None, None, 0),
            TokenReply::Refused { status: 200, .. }
        ));
    }

    #[test]
    fn a_skewed_clock_is_retried_once_only_when_it_is_skewed() {
        let exp = OAuthError::new("invalid_grant", "Please check the 'exp' claim.");
        assert!(retry_with_server_time(&exp, Some(-300)));
        assert!(!retry_with_server_time(&exp, Some(0)));
        assert!(!retry_with_server_time(&exp, None));
        let other = OAuthError::new("invalid_grant", "Please check the 'sub' claim.");
        assert!(!retry_with_server_time(&other, Some(-300)));
        assert_eq!(assertion_exp(1000, -300), 730);
    }
}
