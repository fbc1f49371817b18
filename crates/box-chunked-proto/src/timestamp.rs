//! RFC 3339 timestamps as Box writes them (`2021-01-26T00:53:00Z`,
//! `2017-11-02T15:04:38-07:00`).

use std::fmt;
use std::time::{Duration, SystemTime};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An RFC 3339 timestamp, kept as the text Box sent so that re-encoding is
/// lossless; [`Timestamp::to_system_time`] parses it on demand.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Timestamp(String);

/// A timestamp that is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an RFC 3339 timestamp")]
pub struct TimestampError(pub String);

impl Timestamp {
    /// Wraps text without checking it (decoding does the same; parse when used).
    pub fn from_text(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// Formats a point in time in UTC with a `Z` suffix and whole seconds, as Box does.
    pub fn from_system_time(t: SystemTime) -> Self {
        let secs = match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        };
        let dt = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        // Rfc3339 formatting only fails for years outside 0..=9999, which
        // from_unix_timestamp's range cannot produce for real clocks.
        Self(
            dt.format(&Rfc3339)
                .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned()),
        )
    }

    /// The text as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses the text.
    pub fn to_system_time(&self) -> Result<SystemTime, TimestampError> {
        let dt = OffsetDateTime::parse(self.0.trim(), &Rfc3339)
            .map_err(|_| TimestampError(self.0.clone()))?;
        let secs = dt.unix_timestamp();
        let nanos = dt.nanosecond();
        let base = if secs >= 0 {
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
        } else {
            SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
        };
        Ok(base + Duration::from_nanos(u64::from(nanos)))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_zulu() {
        let z = Timestamp::from_text("2021-01-26T00:53:00Z")
            .to_system_time()
            .unwrap();
        let o = Timestamp::from_text("2021-01-25T16:53:00-08:00")
            .to_system_time()
            .unwrap();
        assert_eq!(z, o);
        assert_eq!(
            Timestamp::from_system_time(z).as_str(),
            "2021-01-26T00:53:00Z"
        );
        assert!(Timestamp::from_text("yesterday").to_system_time().is_err());
        let pre = Timestamp::from_text("1969-12-31T23:59:59Z")
            .to_system_time()
            .unwrap();
        assert_eq!(
            Timestamp::from_system_time(pre).as_str(),
            "1969-12-31T23:59:59Z"
        );
    }
}
