//! The SHA-1 value type: 20 bytes, lower-case hex in JSON (as Box returns it),
//! base64 in the `Digest` header.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::fmt;
use std::str::FromStr;

/// A SHA-1 digest value.
///
/// JSON fields (`sha1` of parts and files) carry it as 40 lower-case hex
/// digits; the `Digest` header carries it as base64. Decoding accepts upper-case
/// hex as well.
///
/// ```
/// use box_chunked_proto::Sha1Digest;
/// let d: Sha1Digest = "5fde1ccb603e6566d20da811c9c8bcccb044d4ae".parse().unwrap();
/// assert_eq!(d.to_base64(), "X94cy2A+ZWbSDagRyci8zLBE1K4=");
/// assert_eq!(Sha1Digest::from_base64("X94cy2A+ZWbSDagRyci8zLBE1K4=").unwrap(), d);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha1Digest(pub [u8; 20]);

/// A string that is not a SHA-1 value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Sha1ParseError {
    /// Hex text of the wrong length (a SHA-1 is 40 hex digits).
    #[error("a SHA-1 in hex has 40 digits, found {0} characters")]
    HexLength(usize),
    /// A character that is not a hex digit.
    #[error("invalid hex digit in SHA-1")]
    HexDigit,
    /// Text that is not valid base64.
    #[error("invalid base64 in SHA-1 digest")]
    Base64,
    /// Base64 that decodes to something other than 20 bytes.
    #[error("a SHA-1 is 20 bytes, the base64 value decodes to {0}")]
    Length(usize),
}

impl Sha1Digest {
    /// The 20 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Lower-case hex, as Box writes `sha1` fields.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(40);
        for b in self.0 {
            s.push(char::from(DIGITS[usize::from(b >> 4)]));
            s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
        }
        s
    }

    /// Parses 40 hex digits, either case.
    pub fn from_hex(s: &str) -> Result<Self, Sha1ParseError> {
        let bytes = s.as_bytes();
        if bytes.len() != 40 {
            return Err(Sha1ParseError::HexLength(s.len()));
        }
        let mut out = [0u8; 20];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = hex_val(pair[0]).ok_or(Sha1ParseError::HexDigit)?;
            let lo = hex_val(pair[1]).ok_or(Sha1ParseError::HexDigit)?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Self(out))
    }

    /// Standard base64 with padding, as the `Digest` header carries it.
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// Parses standard base64 of exactly 20 bytes.
    pub fn from_base64(s: &str) -> Result<Self, Sha1ParseError> {
        let bytes = B64.decode(s).map_err(|_| Sha1ParseError::Base64)?;
        let arr: [u8; 20] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| Sha1ParseError::Length(bytes.len()))?;
        Ok(Self(arr))
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

impl fmt::Debug for Sha1Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha1Digest({})", self.to_hex())
    }
}

impl fmt::Display for Sha1Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Sha1Digest {
    type Err = Sha1ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl From<[u8; 20]> for Sha1Digest {
    fn from(b: [u8; 20]) -> Self {
        Self(b)
    }
}

impl serde::Serialize for Sha1Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Sha1Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn hex_and_base64_round_trip(bytes in any::<[u8; 20]>()) {
            let d = Sha1Digest(bytes);
            prop_assert_eq!(Sha1Digest::from_hex(&d.to_hex()).unwrap(), d);
            prop_assert_eq!(Sha1Digest::from_hex(&d.to_hex().to_uppercase()).unwrap(), d);
            prop_assert_eq!(Sha1Digest::from_base64(&d.to_base64()).unwrap(), d);
        }

        #[test]
        fn parsers_never_panic(s in ".{0,64}") {
            let _ = Sha1Digest::from_hex(&s);
            let _ = Sha1Digest::from_base64(&s);
        }
    }

    #[test]
    fn rejects_bad_values() {
        assert_eq!(
            Sha1Digest::from_hex("abc"),
            Err(Sha1ParseError::HexLength(3))
        );
        assert_eq!(
            Sha1Digest::from_hex(&"g".repeat(40)),
            Err(Sha1ParseError::HexDigit)
        );
        assert_eq!(Sha1Digest::from_base64("!!!!"), Err(Sha1ParseError::Base64));
        assert_eq!(
            Sha1Digest::from_base64("AAAA"),
            Err(Sha1ParseError::Length(3))
        );
        // Multi-byte characters must not be split in the middle.
        assert_eq!(
            Sha1Digest::from_hex(&"é".repeat(20)),
            Err(Sha1ParseError::HexDigit)
        );
    }
}
