//! Finding and removing items: a folder's items page by page (marker
//! paging), a folder by id, the deletion of a file or a folder, and Box's
//! rule for finding a name among a folder's items (without case, as Box
//! compares names). Resolving a path walks these one folder at a time; the
//! driver does the walking, the rules are here.

use crate::call::Operation;
use crate::io::RequestKind;
use crate::ops::{self, built, Reply, Verdict};
use box_chunked_proto::endpoints::Endpoint;
use box_chunked_proto::listing::{items_query, Item, ItemsPage};
use box_chunked_proto::rules::names_conflict;
use bytes::Bytes;

type Built = Result<http::Request<Bytes>, String>;

/// The item of `entries` named `name` as Box compares names (an exact
/// match wins over one that differs only in case).
///
/// ```
/// use box_chunked_core::browse::find_named;
/// use box_chunked_proto::listing::Item;
/// let item = |kind: &str, id: &str, name: &str| Item {
///     kind: kind.into(), id: id.into(), name: Some(name.into()),
///     size: None, sha1: None, modified_at: None, content_modified_at: None,
/// };
/// let items = [item("folder", "1", "Backups"), item("file", "2", "backups.zip")];
/// assert_eq!(find_named(&items, "BACKUPS").map(|i| i.id.as_str()), Some("1"));
/// assert!(find_named(&items, "backup").is_none());
/// ```
pub fn find_named<'a>(entries: &'a [Item], name: &str) -> Option<&'a Item> {
    entries
        .iter()
        .find(|i| i.name() == name)
        .or_else(|| entries.iter().find(|i| names_conflict(i.name(), name)))
}

/// One page of a folder's items (`GET /folders/{id}/items` with markers;
/// repeated safely).
#[derive(Debug, Clone)]
pub struct ListItems {
    /// The API root.
    pub api_root: String,
    /// The folder (`0`: the root).
    pub folder_id: String,
    /// Where the page starts (none: the first page).
    pub marker: Option<String>,
}

impl Operation for ListItems {
    type Answer = ItemsPage;
    fn kind(&self) -> RequestKind {
        RequestKind::ListItems
    }
    fn request(&self) -> Built {
        let url = Endpoint::ListItems {
            folder_id: self.folder_id.clone(),
        }
        .url(&self.api_root);
        ops::get(format!("{url}?{}", items_query(self.marker.as_deref())))
    }
    fn interpret(&self, reply: &Reply) -> Verdict<ItemsPage> {
        ops::get_reply(reply, self.kind())
    }
}

/// A folder, as an item (`GET /folders/{id}` with the listing's fields).
#[derive(Debug, Clone)]
pub struct GetFolder {
    /// The API root.
    pub api_root: String,
    /// The folder.
    pub folder_id: String,
}

impl Operation for GetFolder {
    type Answer = Item;
    fn kind(&self) -> RequestKind {
        RequestKind::GetFolder
    }
    fn request(&self) -> Built {
        let url = Endpoint::GetFolder {
            folder_id: self.folder_id.clone(),
        }
        .url(&self.api_root);
        ops::get(format!(
            "{url}?fields={}",
            box_chunked_proto::listing::LISTING_FIELDS
        ))
    }
    fn interpret(&self, reply: &Reply) -> Verdict<Item> {
        ops::get_reply(reply, self.kind())
    }
}

/// A file or folder deleted (to the trash where Box keeps one; a folder
/// with what it holds when `recursive`). Repeated after a lost answer, a
/// `404` means the first attempt did it.
#[derive(Debug, Clone)]
pub struct DeleteItem {
    /// The API root.
    pub api_root: String,
    /// `file` or `folder`.
    pub kind: &'static str,
    /// Its id.
    pub id: String,
    /// A folder's items go with it (else a folder with items is refused,
    /// Box's `400 folder_not_empty`).
    pub recursive: bool,
}

impl Operation for DeleteItem {
    type Answer = ();
    fn kind(&self) -> RequestKind {
        RequestKind::DeleteItem
    }
    fn request(&self) -> Built {
        let url = if self.kind == "folder" {
            let url = Endpoint::DeleteFolder {
                folder_id: self.id.clone(),
            }
            .url(&self.api_root);
            format!("{url}?recursive={}", self.recursive)
        } else {
            Endpoint::DeleteFile {
                file_id: self.id.clone(),
            }
            .url(&self.api_root)
        };
        built(http::Request::delete(url), Bytes::new())
    }
    fn interpret(&self, reply: &Reply) -> Verdict<()> {
        match reply.class(self.kind()) {
            None => Verdict::Success(()),
            Some(class) => Verdict::refused(class, reply, self.kind()),
        }
    }
    fn interpret_after_doubt(&self, reply: &Reply) -> Verdict<()> {
        if reply.status == 404 {
            return Verdict::Success(());
        }
        self.interpret(reply)
    }
}
