//! The upload session plan (`POST /files/upload_sessions/{id}/plan`): a
//! client lists parts by offset, size and SHA-512; the server answers which
//! it already has (`hits`, recorded in the session without their bytes) and
//! which it needs (`misses`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A part's SHA-512, as the plan carries it: 128 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha512Digest(pub [u8; 64]);

impl Sha512Digest {
    /// Parses 128 hex digits (either case).
    pub fn from_hex(s: &str) -> Result<Self, PlanError> {
        let b = s.as_bytes();
        if b.len() != 128 {
            return Err(PlanError::Sha512(s.len()));
        }
        let mut out = [0u8; 64];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            let hi = hex_val(pair[0]).ok_or(PlanError::Sha512(s.len()))?;
            let lo = hex_val(pair[1]).ok_or(PlanError::Sha512(s.len()))?;
            out[i] = hi << 4 | lo;
        }
        Ok(Self(out))
    }

    /// The 128 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Debug for Sha512Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha512Digest({})", self.to_hex())
    }
}

impl Serialize for Sha512Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha512Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// A plan value that is not what Box accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A SHA-512 that is not 128 hex digits.
    #[error("sha512 must be 128 hex digits (got {0} characters)")]
    Sha512(usize),
}

/// One part of a plan request, or a miss in its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedPart {
    /// The part's first byte in the file.
    #[serde(deserialize_with = "crate::json::lenient_u64")]
    pub offset: u64,
    /// Its length.
    #[serde(deserialize_with = "crate::json::lenient_u64")]
    pub size: u64,
    /// Its SHA-512.
    pub sha512: Sha512Digest,
}

/// The body of `POST .../plan` (at least one part).
///
/// ```
/// use box_chunked_proto::{decode_json, PlanRequest};
/// let hex = "ab".repeat(64);
/// let body = format!(r#"{{"parts":[{{"offset":0,"size":8388608,"sha512":"{hex}"}}]}}"#);
/// let plan: PlanRequest = decode_json(body.as_bytes()).unwrap();
/// assert_eq!(plan.parts[0].sha512.to_hex(), hex);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRequest {
    /// The parts to look up.
    pub parts: Vec<PlannedPart>,
}

/// A part the server already has: recorded in the session under `part_id`,
/// so that the commit lists it like an uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanHit {
    /// The part's first byte in the file.
    #[serde(deserialize_with = "crate::json::lenient_u64")]
    pub offset: u64,
    /// Its length.
    #[serde(deserialize_with = "crate::json::lenient_u64")]
    pub size: u64,
    /// Its SHA-512.
    pub sha512: Sha512Digest,
    /// The part's id in this session.
    #[serde(deserialize_with = "crate::json::lenient_string")]
    pub part_id: String,
}

/// The answer of `POST .../plan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanResponse {
    /// The session planned.
    pub upload_session_id: String,
    /// Parts the server has: do not send them.
    #[serde(default)]
    pub hits: Vec<PlanHit>,
    /// Parts to send.
    #[serde(default)]
    pub misses: Vec<PlannedPart>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bad_digests_are_refused() {
        assert_eq!(Sha512Digest::from_hex("ab"), Err(PlanError::Sha512(2)));
        assert!(Sha512Digest::from_hex(&"zz".repeat(64)).is_err());
        assert!(Sha512Digest::from_hex(&"AB".repeat(64)).is_ok());
    }

    proptest! {
        #[test]
        fn hex_round_trips(bytes in proptest::collection::vec(any::<u8>(), 64)) {
            let mut a = [0u8; 64];
            a.copy_from_slice(&bytes);
            let d = Sha512Digest(a);
            prop_assert_eq!(Sha512Digest::from_hex(&d.to_hex()), Ok(d));
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,140}") {
            let _ = Sha512Digest::from_hex(&s);
        }
    }
}
