//! A folder's items as Box lists them (`GET /folders/{id}/items`), with
//! marker paging: the fields a listing asks for and the page it gets.

use crate::json::{lenient_opt_string, lenient_opt_u64};
use crate::{Sha1Digest, Timestamp};
use serde::{Deserialize, Serialize};

/// The fields a listing asks for (`fields=`), enough to show, find and
/// download an item.
pub const LISTING_FIELDS: &str = "type,id,name,size,sha1,modified_at,content_modified_at";

/// The largest page Box gives.
pub const LISTING_LIMIT: u64 = 1000;

/// The query of one page of a folder's items, from `marker` (the first
/// page without one).
///
/// ```
/// assert_eq!(
///     box_chunked_proto::listing::items_query(Some("a b")),
///     "fields=type,id,name,size,sha1,modified_at,content_modified_at&usemarker=true&limit=1000&marker=a%20b"
/// );
/// ```
pub fn items_query(marker: Option<&str>) -> String {
    let mut q = format!("fields={LISTING_FIELDS}&usemarker=true&limit={LISTING_LIMIT}");
    if let Some(m) = marker {
        q.push_str("&marker=");
        for b in m.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                q.push(char::from(b));
            } else {
                q.push_str(&format!("%{b:02X}"));
            }
        }
    }
    q
}

/// One item of a folder: a file, a folder or a web link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// `file`, `folder` or `web_link`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id (in its kind's numbering).
    #[serde(deserialize_with = "crate::json::lenient_string")]
    pub id: String,
    /// Its name.
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub name: Option<String>,
    /// Its size in bytes (a folder's: what it holds).
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub size: Option<u64>,
    /// A file's SHA-1.
    #[serde(default)]
    pub sha1: Option<Sha1Digest>,
    /// When Box last changed it.
    #[serde(default)]
    pub modified_at: Option<Timestamp>,
    /// When its content was last changed, as its uploader said.
    #[serde(default)]
    pub content_modified_at: Option<Timestamp>,
}

impl Item {
    /// Its name, or `""`.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// Whether it is a folder.
    pub fn is_folder(&self) -> bool {
        self.kind == "folder"
    }
}

impl From<crate::File> for Item {
    /// A file object as a listing's entry.
    fn from(f: crate::File) -> Self {
        Self {
            kind: "file".into(),
            id: f.id,
            name: f.name,
            size: f.size,
            sha1: f.sha1,
            modified_at: f.modified_at,
            content_modified_at: f.content_modified_at,
        }
    }
}

/// One page of a folder's items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemsPage {
    /// The items.
    #[serde(default)]
    pub entries: Vec<Item>,
    /// The marker of the next page; none (or empty) on the last.
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub next_marker: Option<String>,
}

impl ItemsPage {
    /// The next page's marker, if there is a next page.
    pub fn next(&self) -> Option<&str> {
        self.next_marker.as_deref().filter(|m| !m.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_as_box_sends_it() {
        let page: ItemsPage = crate::decode_json(
            br#"{"entries": [
                {"type": "folder", "id": "12", "name": "a", "size": 0, "sha1": null},
                {"type": "file", "id": 34, "name": "b.bin", "size": 1.5e3,
                 "sha1": "85136c79cbf9fe36bb9d05d0639c70c265c18d37",
                 "modified_at": "2026-01-01T00:00:00-08:00"}],
              "next_marker": "", "limit": 1000}"#,
        )
        .unwrap();
        assert_eq!(page.entries.len(), 2);
        assert!(page.entries[0].is_folder());
        assert_eq!(page.entries[1].id, "34");
        assert_eq!(page.entries[1].size, Some(1500));
        assert_eq!(page.next(), None);
    }
}
