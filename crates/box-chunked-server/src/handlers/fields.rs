//! Fields of items: which an answer carries (the `fields` query parameter;
//! Box always includes `type`, `id` and `etag`; without `fields`, an item
//! in a folder listing is its mini form, and a single item is whole), and
//! which an update may set.

use super::common::{fail, Fail};
use box_chunked_proto::ErrorCode;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A description Box takes: at most 256 characters.
pub(crate) fn check_description(d: Option<&str>) -> Result<(), Fail> {
    match d {
        Some(d) if d.chars().count() > 256 => Err(fail(
            ErrorCode::BadRequest,
            "description must be at most 256 characters",
        )),
        _ => Ok(()),
    }
}

/// An update's fields beyond those the server applies: one that Box's
/// `route` takes (`known`) is a `400` naming it, since answering `200`
/// would claim a change that was not made; one Box does not know is
/// ignored, as Box ignores it.
pub(crate) fn not_modelled(
    other: &BTreeMap<String, Value>,
    known: &[&str],
    route: &str,
) -> Result<(), Fail> {
    match other.keys().find(|k| known.contains(&k.as_str())) {
        Some(k) => Err(fail(ErrorCode::BadRequest,
            format!("This server does not model the field {k:?} of {route}; send the request without it"),
        )),
        None => Ok(()),
    }
}

/// The fields asked for (`?fields=a,b`), if any.
pub(crate) fn requested(query: Option<&str>) -> Option<Vec<String>> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "fields")
        .map(|(_, v)| {
            v.split(',')
                .map(|f| f.trim().to_owned())
                .filter(|f| !f.is_empty())
                .collect()
        })
}

/// The mini form of a file or folder in a listing.
const FILE_MINI: &[&str] = &[
    "type",
    "id",
    "sequence_id",
    "etag",
    "sha1",
    "name",
    "file_version",
];
const FOLDER_MINI: &[&str] = &["type", "id", "sequence_id", "etag", "name"];

/// `item` with the `fields` asked for, or (`None`) whole, or its mini form
/// when `mini` is set.
pub(crate) fn select(item: Value, fields: Option<&[String]>, mini: bool) -> Value {
    let Value::Object(obj) = item else {
        return item;
    };
    let keep: Vec<&str> = match fields {
        Some(f) => f
            .iter()
            .map(String::as_str)
            .chain(["type", "id", "etag"])
            .collect(),
        None if mini => {
            if obj.get("type").and_then(Value::as_str) == Some("folder") {
                FOLDER_MINI.to_vec()
            } else {
                FILE_MINI.to_vec()
            }
        }
        None => return Value::Object(obj),
    };
    let mut out = Map::new();
    for (k, v) in obj {
        if keep.contains(&k.as_str()) {
            out.insert(k, v);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_keep_type_id_and_etag() {
        let f =
            json!({"type": "file", "id": "1", "etag": "0", "name": "a", "size": 3, "sha1": "x"});
        let asked = requested(Some("fields=size,name&limit=5")).unwrap();
        assert_eq!(
            select(f.clone(), Some(&asked), true),
            json!({"type": "file", "id": "1", "etag": "0", "name": "a", "size": 3})
        );
        assert_eq!(select(f.clone(), None, false), f);
        assert_eq!(
            select(f, None, true),
            json!({"type": "file", "id": "1", "etag": "0", "name": "a", "sha1": "x"})
        );
        assert_eq!(requested(Some("limit=5")), None);
    }
}
