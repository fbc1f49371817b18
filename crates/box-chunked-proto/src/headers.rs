//! Codecs for the headers of the chunked upload API: `Content-Range`,
//! `Digest` (RFC 3230) and `Retry-After` (RFC 9110).
//!
//! Each type has `parse` (tolerant where Box's clients are loose) and a
//! `Display` that writes the canonical form we send.

use crate::Sha1Digest;
use std::fmt;
use std::time::{Duration, SystemTime};

/// Header names, lower-case as HTTP/2 writes them.
pub mod names {
    /// `Content-Range` on part uploads.
    pub const CONTENT_RANGE: &str = "content-range";
    /// `Digest` on part uploads and commits.
    pub const DIGEST: &str = "digest";
    /// `Retry-After` on `202`, `429` and `503` responses.
    pub const RETRY_AFTER: &str = "retry-after";
    /// `If-Match` on commits of new versions.
    pub const IF_MATCH: &str = "if-match";
    /// `If-None-Match` on commits.
    pub const IF_NONE_MATCH: &str = "if-none-match";
    /// Box's request id on responses.
    pub const BOX_REQUEST_ID: &str = "box-request-id";
}

/// `Content-Range: bytes <first>-<last>/<total>`, `last` inclusive.
///
/// ```
/// use box_chunked_proto::ContentRange;
/// let r = ContentRange::parse("bytes 8388608-16777215/32127641").unwrap();
/// assert_eq!((r.offset(), r.len()), (8_388_608, 8_388_608));
/// assert_eq!(r.to_string(), "bytes 8388608-16777215/32127641");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentRange {
    first: u64,
    last: u64,
    total: u64,
}

/// A `Content-Range` value that is malformed or impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentRangeError {
    /// Not of the form `bytes <first>-<last>/<total>`.
    #[error("Content-Range must be `bytes <first>-<last>/<total>`")]
    Syntax,
    /// `last` is before `first`.
    #[error("Content-Range ends ({last}) before it starts ({first})")]
    Reversed {
        /// First byte.
        first: u64,
        /// Last byte (inclusive).
        last: u64,
    },
    /// The range reaches past the end of the file.
    #[error("Content-Range ends at byte {last}, past the file's size {total}")]
    PastEnd {
        /// Last byte (inclusive).
        last: u64,
        /// Whole file size.
        total: u64,
    },
    /// A byte count does not fit in 64 bits.
    #[error("Content-Range length does not fit in 64 bits")]
    Overflow,
}

impl ContentRange {
    /// The range of `len` bytes at `offset` in a file of `total` bytes.
    pub fn new(offset: u64, len: u64, total: u64) -> Result<Self, ContentRangeError> {
        if len == 0 {
            return Err(ContentRangeError::Syntax);
        }
        let last = offset
            .checked_add(len - 1)
            .ok_or(ContentRangeError::Overflow)?;
        Self::from_inclusive(offset, last, total)
    }

    /// The range from `first` to `last` inclusive in a file of `total` bytes.
    pub fn from_inclusive(first: u64, last: u64, total: u64) -> Result<Self, ContentRangeError> {
        if last < first {
            return Err(ContentRangeError::Reversed { first, last });
        }
        if last >= total {
            return Err(ContentRangeError::PastEnd { last, total });
        }
        if last - first == u64::MAX {
            return Err(ContentRangeError::Overflow);
        }
        Ok(Self { first, last, total })
    }

    /// Parses the header value. Whitespace around the parts is tolerated; the
    /// unit is case-insensitive.
    pub fn parse(value: &str) -> Result<Self, ContentRangeError> {
        let v = value.trim();
        let (unit, rest) = v.split_once(' ').ok_or(ContentRangeError::Syntax)?;
        if !unit.eq_ignore_ascii_case("bytes") {
            return Err(ContentRangeError::Syntax);
        }
        let (range, total) = rest
            .trim()
            .split_once('/')
            .ok_or(ContentRangeError::Syntax)?;
        let (first, last) = range.split_once('-').ok_or(ContentRangeError::Syntax)?;
        let num = |s: &str| -> Result<u64, ContentRangeError> {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ContentRangeError::Syntax);
            }
            s.parse().map_err(|_| ContentRangeError::Overflow)
        };
        Self::from_inclusive(num(first)?, num(last)?, num(total)?)
    }

    /// First byte, which is the part's offset.
    pub const fn offset(&self) -> u64 {
        self.first
    }

    /// Last byte, inclusive.
    pub const fn last(&self) -> u64 {
        self.last
    }

    /// Number of bytes in the range (at least 1).
    pub const fn len(&self) -> u64 {
        // Construction guarantees last - first < u64::MAX.
        self.last - self.first + 1
    }

    /// Always false: a `Content-Range` covers at least one byte.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// The whole file's size.
    pub const fn total(&self) -> u64 {
        self.total
    }
}

impl fmt::Display for ContentRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes {}-{}/{}", self.first, self.last, self.total)
    }
}

/// One `algorithm=value` entry of a `Digest` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestEntry {
    /// `sha=<base64>` (any case of `sha`): SHA-1, the one Box verifies.
    Sha1(Sha1Digest),
    /// Any other algorithm, kept verbatim (`sha-256=...`, `md5=...`).
    Other {
        /// The algorithm token, lower-cased.
        algorithm: String,
        /// The value as sent.
        value: String,
    },
}

/// An RFC 3230 `Digest` header: a comma-separated list of `algorithm=value`.
///
/// ```
/// use box_chunked_proto::{DigestHeader, Sha1Digest};
/// let d = DigestHeader::parse("SHA=X94cy2A+ZWbSDagRyci8zLBE1K4=").unwrap();
/// let sha = d.sha1().unwrap();
/// assert_eq!(DigestHeader::sha1_value(&sha), "sha=X94cy2A+ZWbSDagRyci8zLBE1K4=");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestHeader {
    entries: Vec<DigestEntry>,
}

/// A `Digest` header that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// An entry is not `algorithm=value`, or the header is empty.
    #[error("Digest must be a list of `algorithm=value` entries")]
    Syntax,
    /// The `sha` entry's value is not a SHA-1 in base64.
    #[error("Digest `sha` value is not a base64 SHA-1: {0}")]
    BadSha1(crate::Sha1ParseError),
    /// The header has no `sha` entry.
    #[error("Digest has no `sha` (SHA-1) entry")]
    MissingSha1,
}

impl DigestHeader {
    /// Parses the header: entries separated by commas, the algorithm token
    /// compared case-insensitively, `sha` values checked as base64 SHA-1.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let mut entries = Vec::new();
        for item in value.split(',') {
            let item = item.trim();
            let (alg, val) = item.split_once('=').ok_or(DigestError::Syntax)?;
            let alg = alg.trim();
            let val = val.trim();
            if alg.is_empty() || val.is_empty() {
                return Err(DigestError::Syntax);
            }
            if alg.eq_ignore_ascii_case("sha") {
                let sha = Sha1Digest::from_base64(val).map_err(DigestError::BadSha1)?;
                entries.push(DigestEntry::Sha1(sha));
            } else {
                entries.push(DigestEntry::Other {
                    algorithm: alg.to_ascii_lowercase(),
                    value: val.to_owned(),
                });
            }
        }
        Ok(Self { entries })
    }

    /// Parses the header and returns its SHA-1, the only digest Box checks.
    pub fn parse_sha1(value: &str) -> Result<Sha1Digest, DigestError> {
        Self::parse(value)?.sha1().ok_or(DigestError::MissingSha1)
    }

    /// The entries in the order sent.
    pub fn entries(&self) -> &[DigestEntry] {
        &self.entries
    }

    /// The first SHA-1 entry, if any.
    pub fn sha1(&self) -> Option<Sha1Digest> {
        self.entries.iter().find_map(|e| match e {
            DigestEntry::Sha1(d) => Some(*d),
            DigestEntry::Other { .. } => None,
        })
    }

    /// The header value we send for a SHA-1: `sha=<base64>`.
    pub fn sha1_value(digest: &Sha1Digest) -> String {
        format!("sha={}", digest.to_base64())
    }
}

impl fmt::Display for DigestHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match e {
                DigestEntry::Sha1(d) => write!(f, "sha={}", d.to_base64())?,
                DigestEntry::Other { algorithm, value } => write!(f, "{algorithm}={value}")?,
            }
        }
        Ok(())
    }
}

/// A `Retry-After` value: delta-seconds or an HTTP date.
///
/// ```
/// use box_chunked_proto::RetryAfter;
/// use std::time::Duration;
/// assert_eq!(RetryAfter::parse("100").unwrap(), RetryAfter::Delay(Duration::from_secs(100)));
/// let date = RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
/// let response_date = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:07 GMT").unwrap();
/// assert_eq!(date.delay(Some(response_date)), Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// Wait this long.
    Delay(Duration),
    /// Wait until this wall-clock time.
    Date(SystemTime),
}

/// A `Retry-After` value that is neither delta-seconds nor an HTTP date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Retry-After must be delta-seconds or an HTTP date")]
pub struct RetryAfterError;

impl RetryAfter {
    /// Parses delta-seconds (digits only; Box sends integers, fractional
    /// seconds are accepted and rounded up) or an IMF-fixdate / RFC 850 /
    /// asctime date.
    pub fn parse(value: &str) -> Result<Self, RetryAfterError> {
        let v = value.trim();
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            // Saturate absurd values: a cap is applied by whoever waits.
            let secs = v.parse::<u64>().unwrap_or(u64::MAX);
            return Ok(Self::Delay(Duration::from_secs(secs)));
        }
        if let Ok(f) = v.parse::<f64>() {
            if f.is_finite() && f >= 0.0 {
                return Ok(Self::Delay(
                    Duration::try_from_secs_f64(f.ceil()).unwrap_or(Duration::MAX),
                ));
            }
            return Err(RetryAfterError);
        }
        httpdate::parse_http_date(v)
            .map(Self::Date)
            .map_err(|_| RetryAfterError)
    }

    /// The delay this value asks for. A date is measured from the response's
    /// own `Date` header (so the local clock never matters); without one a
    /// date cannot be turned into a delay and `None` is returned. A date in the
    /// past is a zero delay.
    pub fn delay(&self, response_date: Option<SystemTime>) -> Option<Duration> {
        match *self {
            Self::Delay(d) => Some(d),
            Self::Date(at) => {
                let base = response_date?;
                Some(at.duration_since(base).unwrap_or(Duration::ZERO))
            }
        }
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Delay(d) => write!(f, "{}", d.as_secs()),
            Self::Date(t) => f.write_str(&httpdate::fmt_http_date(t)),
        }
    }
}

/// Parses an HTTP `Date` header value (IMF-fixdate and the obsolete forms).
pub fn parse_http_date(value: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(value.trim()).ok()
}

/// Formats a time as an IMF-fixdate, for `Date` and `Retry-After` headers.
pub fn format_http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn content_range_examples_from_the_guide() {
        let a = ContentRange::parse("bytes 0-8388607/32127641").unwrap();
        assert_eq!((a.offset(), a.len(), a.total()), (0, 8_388_608, 32_127_641));
        let one = ContentRange::parse("bytes 9-9/10").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(
            ContentRange::parse("bytes 5-4/10"),
            Err(ContentRangeError::Reversed { first: 5, last: 4 })
        );
        assert_eq!(
            ContentRange::parse("bytes 0-10/10"),
            Err(ContentRangeError::PastEnd {
                last: 10,
                total: 10
            })
        );
        for bad in [
            "",
            "bytes",
            "bytes 1-2",
            "items 0-1/2",
            "bytes -1-2/3",
            "bytes 0-+1/3",
            "bytes */10",
        ] {
            assert_eq!(
                ContentRange::parse(bad),
                Err(ContentRangeError::Syntax),
                "{bad}"
            );
        }
        assert_eq!(
            ContentRange::parse("bytes 0-99999999999999999999/1"),
            Err(ContentRangeError::Overflow)
        );
        assert_eq!(ContentRange::new(0, 0, 10), Err(ContentRangeError::Syntax));
        assert_eq!(
            ContentRange::new(u64::MAX, 2, u64::MAX),
            Err(ContentRangeError::Overflow)
        );
    }

    #[test]
    fn digest_forms_clients_send() {
        let b64 = "X94cy2A+ZWbSDagRyci8zLBE1K4=";
        let want = Sha1Digest::from_base64(b64).unwrap();
        for v in [
            format!("sha={b64}"),
            format!("SHA={b64}"),
            format!(" sha = {b64} "),
            format!("sha-256=abc, sha={b64}"),
            format!("md5=xyz,SHA={b64},sha-256=q"),
        ] {
            assert_eq!(DigestHeader::parse_sha1(&v), Ok(want), "{v}");
        }
        assert_eq!(
            DigestHeader::parse_sha1("sha-256=abc"),
            Err(DigestError::MissingSha1)
        );
        assert!(matches!(
            DigestHeader::parse_sha1("sha=AAAA"),
            Err(DigestError::BadSha1(_))
        ));
        assert!(matches!(
            DigestHeader::parse_sha1("sha=@@@"),
            Err(DigestError::BadSha1(_))
        ));
        for bad in ["", "sha", "=abc", "sha=", "sha=x,,"] {
            assert!(DigestHeader::parse(bad).is_err(), "{bad}");
        }
        let multi = DigestHeader::parse(&format!("sha-256=abc,sha={b64}")).unwrap();
        assert_eq!(multi.entries().len(), 2);
        assert_eq!(multi.to_string(), format!("sha-256=abc,sha={b64}"));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(
            RetryAfter::parse(" 30 "),
            Ok(RetryAfter::Delay(Duration::from_secs(30)))
        );
        assert_eq!(
            RetryAfter::parse("1.2"),
            Ok(RetryAfter::Delay(Duration::from_secs(2)))
        );
        assert_eq!(
            RetryAfter::parse("99999999999999999999999"),
            Ok(RetryAfter::Delay(Duration::from_secs(u64::MAX)))
        );
        for bad in ["", "-1", "soon", "NaN", "inf", "-0.5"] {
            assert_eq!(RetryAfter::parse(bad), Err(RetryAfterError), "{bad}");
        }
        let d = RetryAfter::parse("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(d.to_string(), "Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(d.delay(None), None);
        let later = parse_http_date("Wed, 21 Oct 2015 08:00:00 GMT").unwrap();
        assert_eq!(d.delay(Some(later)), Some(Duration::ZERO));
    }

    proptest! {
        #[test]
        fn content_range_round_trips(
            (first, len) in (0u64..u64::MAX).prop_flat_map(|first| (Just(first), 1..=u64::MAX - first)),
            extra in any::<u64>(),
        ) {
            // Drawn so that `first + len` fits (a filter would reject half
            // of all draws and abort a deep run).
            let last = first + (len - 1);
            let total = last.saturating_add(1).saturating_add(extra % 1000).max(last.saturating_add(1));
            prop_assume!(total > last);
            let r = ContentRange::from_inclusive(first, last, total).unwrap();
            let text = r.to_string();
            let back = ContentRange::parse(&text).unwrap();
            prop_assert_eq!(back, r);
            prop_assert_eq!(back.to_string(), text);
            prop_assert_eq!(back.len(), len);
        }

        #[test]
        fn digest_round_trips(bytes in any::<[u8; 20]>()) {
            let d = Sha1Digest(bytes);
            let text = DigestHeader::sha1_value(&d);
            let parsed = DigestHeader::parse(&text).unwrap();
            prop_assert_eq!(parsed.sha1(), Some(d));
            prop_assert_eq!(parsed.to_string(), text);
        }

        #[test]
        fn retry_after_round_trips(secs in any::<u64>(), date_secs in 0u64..253_402_300_799) {
            let v = RetryAfter::Delay(Duration::from_secs(secs));
            prop_assert_eq!(RetryAfter::parse(&v.to_string()).unwrap(), v);
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(date_secs);
            let v = RetryAfter::Date(t);
            prop_assert_eq!(RetryAfter::parse(&v.to_string()).unwrap(), v);
        }

        #[test]
        fn header_parsers_never_panic(s in "\\PC{0,80}") {
            let _ = ContentRange::parse(&s);
            let _ = DigestHeader::parse(&s);
            let _ = RetryAfter::parse(&s);
            let _ = parse_http_date(&s);
        }

        #[test]
        fn content_range_parser_never_panics_on_near_misses(
            a in "[0-9]{0,22}", b in "[0-9]{0,22}", c in "[0-9]{0,22}", unit in "(bytes|BYTES|byte|)"
        ) {
            let _ = ContentRange::parse(&format!("{unit} {a}-{b}/{c}"));
        }
    }
}
