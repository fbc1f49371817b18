//! Tolerant JSON decoding helpers and the typed decode error.
//!
//! Box is known to send 64-bit integers as JSON floats in exponent form
//! (`"size": 1.0034576983313e+14`) and, in some fixtures, as numeric strings
//! (`"part_size": "8388608"`). Everything we decode accepts those forms;
//! everything we encode is a plain JSON integer.

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use std::fmt;

/// A JSON body that could not be decoded into the expected type.
///
/// `path` names the field that failed (`entries[2].offset`), so that an error
/// from a misbehaving server points at the culprit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at `{path}`: {message}")]
pub struct DecodeError {
    /// Path of the field that failed, `.` when the document itself is malformed.
    pub path: String,
    /// What was wrong with it.
    pub message: String,
}

/// Decodes a JSON body, naming the failing field on error.
///
/// Unknown fields are ignored; missing optional fields take their defaults.
///
/// ```
/// use box_chunked_proto::{decode_json, UploadedPart};
/// let body = br#"{"part":{"part_id":"CFEB5BA9","offset":0,"size":8388608,
///                 "sha1":"5fde1ccb603e6566d20da811c9c8bcccb044d4ae"}}"#;
/// let part: UploadedPart = decode_json(body).unwrap();
/// assert_eq!(part.part.size, 8_388_608);
///
/// let err = decode_json::<UploadedPart>(br#"{"part":{"part_id":"A","offset":"x","size":1}}"#)
///     .unwrap_err();
/// assert_eq!(err.path, "part.offset");
/// ```
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        DecodeError {
            // serde_path_to_error writes `?` when the failure is not inside a field.
            path: if path == "?" { ".".to_owned() } else { path },
            message: e.inner().to_string(),
        }
    })?;
    de.end().map_err(|e| DecodeError {
        path: ".".to_owned(),
        message: e.to_string(),
    })?;
    Ok(value)
}

/// Encodes one of this crate's types as compact JSON.
///
/// # Panics
///
/// Only on a type whose `Serialize` impl fails, which none in this crate does.
pub fn encode_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // serde_json fails only on non-string map keys or on a Serialize impl that
    // returns an error; this crate's types have neither, so a failure is a bug.
    #[allow(clippy::expect_used)]
    serde_json::to_vec(value).expect("proto types always serialise")
}

struct LenientU64;

impl Visitor<'_> for LenientU64 {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative integer (as an integer, a float or a numeric string)")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("negative integer {v}")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        float_to_u64(v).ok_or_else(|| E::custom(format!("{v} is not a non-negative integer")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        let t = v.trim();
        if let Ok(n) = t.parse::<u64>() {
            return Ok(n);
        }
        t.parse::<f64>()
            .ok()
            .and_then(float_to_u64)
            .ok_or_else(|| E::custom(format!("{v:?} is not a non-negative integer")))
    }
}

fn float_to_u64(v: f64) -> Option<u64> {
    // 2^64 as f64; every finite integral float below it converts exactly.
    const LIMIT: f64 = 18_446_744_073_709_551_616.0;
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < LIMIT {
        // The checks above make the cast exact and in range.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(v as u64)
    } else {
        None
    }
}

/// `deserialize_with` for a `u64` that Box may send as a float or a string.
pub(crate) fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(LenientU64)
}

/// `deserialize_with` for an optional `u64` that Box may send as a float, a string or null.
pub(crate) fn lenient_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Opt;
    impl<'de> Visitor<'de> for Opt {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            lenient_u64(d).map(Some)
        }
    }
    d.deserialize_option(Opt)
}

/// `deserialize_with` for an optional string id that Box may send as a number.
pub(crate) fn lenient_opt_string<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(de::Error::custom(format!(
                "expected a string or a number, found {other}"
            )))
        }
    })
}

/// `deserialize_with` for a string id that Box may send as a number.
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    lenient_opt_string(d)?.ok_or_else(|| de::Error::custom("expected a string, found null"))
}

use serde::Deserialize;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct N {
        #[serde(deserialize_with = "lenient_u64")]
        n: u64,
    }

    fn n(json: &str) -> Result<u64, DecodeError> {
        decode_json::<N>(json.as_bytes()).map(|v| v.n)
    }

    #[test]
    fn integers_in_every_form_box_sends() {
        assert_eq!(n(r#"{"n":100345769833130}"#).unwrap(), 100_345_769_833_130);
        assert_eq!(
            n(r#"{"n":1.0034576983313e+14}"#).unwrap(),
            100_345_769_833_130
        );
        assert_eq!(n(r#"{"n":"8388608"}"#).unwrap(), 8_388_608);
        assert_eq!(n(r#"{"n":"1e3"}"#).unwrap(), 1000);
        assert_eq!(n(r#"{"n":18446744073709551615}"#).unwrap(), u64::MAX);
    }

    #[test]
    fn rejects_what_is_not_a_count() {
        for bad in [
            r#"{"n":-1}"#,
            r#"{"n":1.5}"#,
            r#"{"n":"abc"}"#,
            r#"{"n":1e30}"#,
            r#"{"n":null}"#,
            r#"{"n":true}"#,
        ] {
            let err = n(bad).unwrap_err();
            assert_eq!(err.path, "n", "{bad}");
        }
        let err = n(r#"{"n":1} trailing"#).unwrap_err();
        assert_eq!(err.path, ".");
    }
}
