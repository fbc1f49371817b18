//! The link model: Box-like network and service conditions on loopback, so
//! that tests and benchmarks see what users of the real Box feel. A
//! [`LinkModel`] names the bandwidth of each connection and of the whole
//! server, an added round trip per request (and per new connection), a
//! processing time per part, jitter, and Box's per-user request limits
//! (answered with Box's `429 rate_limit_exceeded` and `Retry-After`).
//! This file is the model and its text form (`--link`, `BOX_CHUNKED_LINK`);
//! `shape.rs` paces the bytes of a connection, `limits.rs` holds the
//! per-user counts and the delays.
//!
//! ```text
//! LINK  := PROFILE (',' SETTING)* | SETTING (',' SETTING)* | 'off'
//! PROFILE := datacenter | office | transatlantic
//! SETTING := conn=RATE | total=RATE      (bandwidth per connection, for the server; 'off' = unlimited)
//!          | rtt=TIME | part=TIME         (added round trip; processing time of each part upload)
//!          | jitter=F                     (0 to 1: each delay varies by up to this fraction)
//!          | api=N | uploads=N            (requests per minute per user; 'off' = no limit)
//!          | parts=api|upload|free        (what a part upload counts toward)
//!          | seed=N                       (the jitter's seed)
//! RATE  := NUMBER ('B'|'KB'|'MB'|'GB'|'kbit'|'Mbit'|'Gbit')   (per second, decimal)
//! TIME  := NUMBER ('ms'|'s')
//! ```
//!
//! Example: `transatlantic,parts=upload` or `conn=3MB,total=50MB,rtt=90ms`.

mod limits;
mod shape;

pub(crate) use limits::{Class, Link};
pub(crate) use shape::Shaped;

use box_chunked_proto::rules;
use std::fmt;
use std::time::Duration;

/// What a part upload counts toward under the per-user request limits
/// (Box does not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartsCount {
    /// The general API limit only.
    #[default]
    Api,
    /// The general limit and the upload limit, as an upload request.
    Upload,
    /// Neither.
    Free,
}

/// Network and service conditions; [`LinkModel::default`] changes nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinkModel {
    /// Bytes per second each connection carries in each direction.
    pub conn_rate: Option<u64>,
    /// Bytes per second the whole server carries in each direction.
    pub total_rate: Option<u64>,
    /// Added to every request's answer, and once to each new connection
    /// (twice with TLS: its handshake).
    pub rtt: Duration,
    /// Added to every part upload's answer: the service's processing.
    pub part_time: Duration,
    /// Each delay varies uniformly by up to this fraction (0 to 1).
    pub jitter: f64,
    /// Requests per minute per user (Box: 1,000).
    pub api_per_minute: Option<u32>,
    /// Upload requests per minute per user (Box: 240).
    pub uploads_per_minute: Option<u32>,
    /// What part uploads count toward.
    pub parts: PartsCount,
    /// The jitter's seed.
    pub seed: u64,
}

/// The named profiles and their settings (docs/server.md has the table).
pub const PROFILES: [(&str, &str); 3] = [
    // A VM in the same region as Box's edge: 1 Gbit/s, a few ms away.
    (
        "datacenter",
        "conn=12MB,total=125MB,rtt=5ms,part=150ms,jitter=0.1",
    ),
    // An office line: 100 Mbit/s both ways, 25 ms.
    (
        "office",
        "conn=6MB,total=12.5MB,rtt=25ms,part=150ms,jitter=0.2",
    ),
    // Across an ocean: about 3 MB/s per connection and 50 MB/s in parallel
    // (rclone #2054, a 10 Gbit/s site), 90 ms.
    (
        "transatlantic",
        "conn=3MB,total=50MB,rtt=90ms,part=150ms,jitter=0.2",
    ),
];

impl LinkModel {
    /// Whether it changes anything.
    pub fn is_active(&self) -> bool {
        *self != Self::default()
    }

    /// Parses a `--link` value.
    ///
    /// ```
    /// use box_chunked_server::link::LinkModel;
    /// let m = LinkModel::parse("transatlantic,rtt=120ms").unwrap();
    /// assert_eq!(m.conn_rate, Some(3_000_000));
    /// assert_eq!(m.rtt.as_millis(), 120);
    /// assert_eq!(m.uploads_per_minute, Some(240));
    /// assert!(LinkModel::parse("conn=fast").is_err());
    /// ```
    ///
    /// # Errors
    /// A sentence naming the setting that is wrong.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        if spec.is_empty() || spec == "off" {
            return Ok(Self::default());
        }
        let mut m = Self::default();
        let mut first = true;
        for item in spec.split(',').map(str::trim) {
            if let Some((_, settings)) = PROFILES.iter().find(|(n, _)| *n == item) {
                if !first {
                    return Err(format!("the profile {item} must come first"));
                }
                m = Self::parse(settings)?;
                m.box_limits();
            } else {
                m.set(item)?;
            }
            first = false;
        }
        Ok(m)
    }

    /// Box's per-user request limits (1,000 requests and 240 uploads a minute).
    fn box_limits(&mut self) {
        self.api_per_minute = Some(rules::API_REQUESTS_PER_MINUTE);
        self.uploads_per_minute = Some(rules::UPLOAD_REQUESTS_PER_MINUTE);
    }

    fn set(&mut self, item: &str) -> Result<(), String> {
        let profiles = PROFILES.map(|(n, _)| n).join(", ");
        let (key, value) = item.split_once('=').ok_or_else(|| {
            format!("{item:?} is neither a profile ({profiles}) nor a setting like rtt=50ms")
        })?;
        let value = value.trim();
        let bad = |what: &str| format!("{key}={value}: {what}");
        match key.trim() {
            "conn" => self.conn_rate = parse_rate(value).map_err(|e| bad(&e))?,
            "total" => self.total_rate = parse_rate(value).map_err(|e| bad(&e))?,
            "rtt" => self.rtt = parse_time(value).map_err(|e| bad(&e))?,
            "part" => self.part_time = parse_time(value).map_err(|e| bad(&e))?,
            "jitter" => {
                self.jitter = value
                    .parse::<f64>()
                    .ok()
                    .filter(|j| (0.0..=1.0).contains(j))
                    .ok_or_else(|| bad("jitter is a fraction from 0 to 1"))?
            }
            "api" => self.api_per_minute = parse_count(value).map_err(|e| bad(&e))?,
            "uploads" => self.uploads_per_minute = parse_count(value).map_err(|e| bad(&e))?,
            "parts" => {
                self.parts = match value {
                    "api" => PartsCount::Api,
                    "upload" => PartsCount::Upload,
                    "free" => PartsCount::Free,
                    _ => return Err(bad("parts is api, upload or free")),
                }
            }
            "seed" => {
                self.seed = value
                    .parse()
                    .map_err(|_| bad("the seed is a whole number"))?
            }
            other => {
                return Err(format!(
                    "{other} is not a link setting (conn, total, rtt, part, jitter, api, uploads, parts, seed)"
                ))
            }
        }
        Ok(())
    }
}

/// `3MB`, `400Mbit`, `off`: bytes per second, or `None` for unlimited.
fn parse_rate(v: &str) -> Result<Option<u64>, String> {
    if v == "off" {
        return Ok(None);
    }
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or("a rate needs a unit: B, KB, MB, GB, kbit, Mbit or Gbit (per second)")?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().map_err(|_| format!("{n:?} is not a number"))?;
    let scale = match unit {
        "B" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "kbit" => 1e3 / 8.0,
        "Mbit" => 1e6 / 8.0,
        "Gbit" => 1e9 / 8.0,
        _ => {
            return Err(format!(
                "{unit:?} is not a unit: B, KB, MB, GB, kbit, Mbit or Gbit"
            ))
        }
    };
    let rate = (n * scale).round();
    if !(1.0..1e15).contains(&rate) {
        return Err("a rate is at least 1 B per second (or off)".into());
    }
    Ok(Some(rate as u64))
}

/// `90ms`, `1.5s`.
fn parse_time(v: &str) -> Result<Duration, String> {
    let (n, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else {
        return Err("a time needs a unit: ms or s".into());
    };
    n.parse::<f64>()
        .ok()
        .and_then(|n| Duration::try_from_secs_f64(n * scale).ok())
        .filter(|d| *d <= Duration::from_secs(600))
        .ok_or_else(|| format!("{n:?} is not a time from 0 to 600 s"))
}

/// `1000`, `off`.
fn parse_count(v: &str) -> Result<Option<u32>, String> {
    if v == "off" {
        return Ok(None);
    }
    v.parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .map(Some)
        .ok_or_else(|| "a limit is a whole number of requests per minute, or off".into())
}

/// The canonical text form, which [`LinkModel::parse`] reads back.
impl fmt::Display for LinkModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_active() {
            return f.write_str("off");
        }
        let rate = |r: Option<u64>| r.map_or("off".to_owned(), |r| format!("{r}B"));
        let count = |c: Option<u32>| c.map_or("off".to_owned(), |c| c.to_string());
        let parts = match self.parts {
            PartsCount::Api => "api",
            PartsCount::Upload => "upload",
            PartsCount::Free => "free",
        };
        write!(
            f,
            "conn={},total={},rtt={}ms,part={}ms,jitter={},api={},uploads={},parts={parts},seed={}",
            rate(self.conn_rate),
            rate(self.total_rate),
            self.rtt.as_secs_f64() * 1e3,
            self.part_time.as_secs_f64() * 1e3,
            self.jitter,
            count(self.api_per_minute),
            count(self.uploads_per_minute),
            self.seed
        )
    }
}

#[cfg(test)]
mod tests;
