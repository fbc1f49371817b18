//! Folder requests: the body of `POST /folders`, as a server receives it.

use serde::Deserialize;

/// The body of `POST /folders`, every field optional so that a server can
/// say which is missing.
///
/// ```
/// use box_chunked_proto::{decode_json, CreateFolderFields};
/// let f: CreateFolderFields = decode_json(br#"{"name":"docs","parent":{"id":0}}"#).unwrap();
/// assert_eq!(f.name.as_deref(), Some("docs"));
/// assert_eq!(f.parent.and_then(|p| p.id).as_deref(), Some("0"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CreateFolderFields {
    /// The new folder's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The folder it goes into.
    #[serde(default)]
    pub parent: Option<ParentFields>,
}

/// A parent folder reference (`{"id": "0"}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ParentFields {
    /// The folder id (a string, or a number as some clients send).
    #[serde(default, deserialize_with = "crate::json::lenient_opt_string")]
    pub id: Option<String>,
}
