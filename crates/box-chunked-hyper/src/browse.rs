//! Items by path, and their removal: a folder's items (every page, by
//! marker), a path walked from the root one folder at a time (each name
//! found as Box compares names, [`box_chunked_core::browse::find_named`]),
//! the folders of a path made where missing, and the deletion of a file or
//! a folder. Every call is one of the core's operations, so the core's
//! rules decide retries and what each answer means.

use crate::{BoxClient, Error, ErrorKind};
use box_chunked_core::browse::{find_named, DeleteItem, GetFolder, ListItems};
use box_chunked_proto::listing::Item;
use box_chunked_proto::paths::BoxPath;

/// Where a path leads.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// To this item (the root is the folder `0`, "All Files").
    Found(Item),
    /// Not all the way: `missing` is the first path that is not there, in
    /// the folder `parent_id`.
    Missing {
        /// The shortest path that is missing (its last name is not there).
        missing: BoxPath,
        /// The folder it would be in.
        parent_id: String,
    },
}

/// The root folder, as an item.
fn root() -> Item {
    Item {
        kind: "folder".into(),
        id: "0".into(),
        name: Some("All Files".into()),
        size: None,
        sha1: None,
        modified_at: None,
        content_modified_at: None,
    }
}

impl BoxClient {
    /// Every item of a folder, in Box's order, every page (marker paging,
    /// 1,000 items a page).
    pub async fn list_folder(&self, folder_id: &str) -> Result<Vec<Item>, Error> {
        let mut items = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self.list_page(folder_id, marker.take()).await?;
            items.extend(page.entries.iter().cloned());
            match page.next() {
                Some(m) => marker = Some(m.to_owned()),
                None => return Ok(items),
            }
        }
    }

    async fn list_page(
        &self,
        folder_id: &str,
        marker: Option<String>,
    ) -> Result<box_chunked_proto::listing::ItemsPage, Error> {
        self.run(ListItems {
            api_root: self.api_url().to_owned(),
            folder_id: folder_id.to_owned(),
            marker,
        })
        .await
    }

    /// The item of `folder_id` named `name` (as Box compares names), read
    /// page by page until it is found.
    pub async fn find_in(&self, folder_id: &str, name: &str) -> Result<Option<Item>, Error> {
        let mut marker: Option<String> = None;
        loop {
            let page = self.list_page(folder_id, marker.take()).await?;
            if let Some(item) = find_named(&page.entries, name) {
                return Ok(Some(item.clone()));
            }
            match page.next() {
                Some(m) => marker = Some(m.to_owned()),
                None => return Ok(None),
            }
        }
    }

    /// A folder, as an item (`0` is the root).
    pub async fn get_folder(&self, folder_id: &str) -> Result<Item, Error> {
        if folder_id == "0" {
            return Ok(root());
        }
        self.run(GetFolder {
            api_root: self.api_url().to_owned(),
            folder_id: folder_id.to_owned(),
        })
        .await
    }

    /// Where `path` leads, walked from the root. A name that is a file
    /// where the path goes on is an error that names it.
    pub async fn resolve(&self, path: &BoxPath) -> Result<Resolution, Error> {
        let mut at = root();
        for (i, name) in path.names().iter().enumerate() {
            if !at.is_folder() {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!("{} is a file, so {path} cannot be below it", path.prefix(i)),
                ));
            }
            match self.find_in(&at.id, name).await? {
                Some(item) => at = item,
                None => {
                    return Ok(Resolution::Missing {
                        missing: path.prefix(i + 1),
                        parent_id: at.id,
                    })
                }
            }
        }
        Ok(Resolution::Found(at))
    }

    /// The folder at `path`, with the folders that are missing made
    /// (`mkdir -p`; a folder made meanwhile by another client is reused):
    /// its id. A file on the way is an error that names it.
    pub async fn make_folders(&self, path: &BoxPath) -> Result<String, Error> {
        let (mut at, from) = match self.resolve(path).await? {
            Resolution::Found(item) if item.is_folder() => return Ok(item.id),
            Resolution::Found(_) => {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!("{path} is a file, not a folder"),
                ))
            }
            Resolution::Missing { missing, parent_id } => (parent_id, missing.names().len() - 1),
        };
        for name in &path.names()[from..] {
            at = self.ensure_folder(&at, name).await?;
        }
        Ok(at)
    }

    /// Deletes a file (to the trash, where Box keeps one).
    pub async fn delete_file(&self, file_id: &str) -> Result<(), Error> {
        self.delete("file", file_id, false).await
    }

    /// Deletes a folder (to the trash, where Box keeps one); one with items
    /// only when `recursive` (else Box's `400 folder_not_empty`).
    pub async fn delete_folder(&self, folder_id: &str, recursive: bool) -> Result<(), Error> {
        self.delete("folder", folder_id, recursive).await
    }

    async fn delete(&self, kind: &'static str, id: &str, recursive: bool) -> Result<(), Error> {
        self.run(DeleteItem {
            api_root: self.api_url().to_owned(),
            kind,
            id: id.to_owned(),
            recursive,
        })
        .await
    }
}
