//! Reading folders and files: lookups by id and name, a folder's page of
//! items, a file's earlier versions, and the checks a write makes inside
//! its own transaction (is the folder or file there and the caller's, is a
//! name free). Changes are in `changes`, commits in `commit`.

use super::{i, u, Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension};

/// A folder row.
#[derive(Debug, Clone)]
pub(crate) struct FolderRow {
    pub id: i64,
    pub parent_id: String,
    pub name: String,
    pub created_at: i64,
    pub modified_at: i64,
    pub etag: i64,
    pub description: String,
    /// The shared link's settings (JSON), if it has one.
    pub shared_link: Option<String>,
}

/// A file row with its current version.
#[derive(Debug, Clone)]
pub(crate) struct FileRow {
    pub id: i64,
    pub owner: String,
    pub folder_id: String,
    pub name: String,
    pub etag: i64,
    pub version_id: i64,
    pub description: String,
    pub content_created_at: Option<String>,
    pub content_modified_at: Option<String>,
    pub created_at: i64,
    pub modified_at: i64,
    pub size: u64,
    pub sha1: String,
    /// Where the bytes are: the session whose parts they are.
    pub session_id: String,
    /// The shared link's settings (JSON), if it has one.
    pub shared_link: Option<String>,
}

/// An earlier version of a file.
#[derive(Debug, Clone)]
pub(crate) struct VersionRow {
    pub id: i64,
    pub size: u64,
    pub sha1: String,
    pub created_at: i64,
}

/// A folder's entry: a folder or a file.
#[derive(Debug, Clone)]
pub(crate) enum ItemRow {
    Folder(FolderRow),
    File(FileRow),
}

/// The columns the live and trashed tables share, in their order.
pub(super) const FOLDER_COLUMNS: &str =
    "id, owner, parent_id, name, name_key, created_at, modified_at, etag,
                              description, shared_link";
pub(super) const FILE_COLUMNS: &str =
    "id, owner, folder_id, name, name_key, etag, version_id, description,
                            content_created_at, content_modified_at, created_at, modified_at,
                            shared_link";

/// A folder row's columns, in [`folder_row`]'s order.
const FOLDER_COLS: &str =
    "id, parent_id, name, created_at, modified_at, etag, description, shared_link";

pub(super) fn folder_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FolderRow> {
    Ok(FolderRow {
        id: r.get(0)?,
        parent_id: r.get(1)?,
        name: r.get(2)?,
        created_at: r.get(3)?,
        modified_at: r.get(4)?,
        etag: r.get(5)?,
        description: r.get(6)?,
        shared_link: r.get(7)?,
    })
}

/// A file row's columns (table `f`, its current version `v`), in
/// [`file_row`]'s order.
const FILE_COLS: &str = "f.id, f.owner, f.folder_id, f.name, f.etag, f.version_id, f.description,
                         f.content_created_at, f.content_modified_at, f.created_at, f.modified_at,
                         v.size, v.sha1, v.session_id, f.shared_link";

pub(super) fn file_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileRow> {
    Ok(FileRow {
        id: r.get(0)?,
        owner: r.get(1)?,
        folder_id: r.get(2)?,
        name: r.get(3)?,
        etag: r.get(4)?,
        version_id: r.get(5)?,
        description: r.get(6)?,
        content_created_at: r.get(7)?,
        content_modified_at: r.get(8)?,
        created_at: r.get(9)?,
        modified_at: r.get(10)?,
        size: u(r.get(11)?),
        sha1: r.get(12)?,
        session_id: r.get(13)?,
        shared_link: r.get(14)?,
    })
}

/// The query for folder rows of `table` (`folders`, or `trashed_folders`
/// with its own columns after a row's).
pub(super) fn folder_sql(table: &str, extra: &str) -> String {
    format!("SELECT {FOLDER_COLS}{extra} FROM {table}")
}

/// The query for file rows of `table` (`files`, or `trashed_files` with its
/// own columns after a row's), each with its current version.
pub(super) fn file_sql(table: &str, extra: &str) -> String {
    format!("SELECT {FILE_COLS}{extra} FROM {table} f JOIN versions v ON v.id = f.version_id")
}

/// The owner's folder `id` (not the root, which has no row).
pub(super) fn folder_of(
    c: &Connection,
    owner: &str,
    id: i64,
) -> Result<Option<FolderRow>, StoreError> {
    Ok(c.query_row(
        &format!("{} WHERE id = ?1 AND owner = ?2", folder_sql("folders", "")),
        params![id, owner],
        folder_row,
    )
    .optional()?)
}

/// Whether `id` is a folder of `owner` (`"0"`, the root, always is).
pub(super) fn folder_live(c: &Connection, owner: &str, id: &str) -> Result<bool, StoreError> {
    if id == "0" {
        return Ok(true);
    }
    let Ok(n) = id.parse::<i64>() else {
        return Ok(false);
    };
    Ok(folder_of(c, owner, n)?.is_some())
}

/// The owner's file `id` with its current version.
pub(super) fn file_live(
    c: &Connection,
    owner: &str,
    id: i64,
) -> Result<Option<FileRow>, StoreError> {
    Ok(c.query_row(
        &format!("{} WHERE f.id = ?1 AND f.owner = ?2", file_sql("files", "")),
        params![id, owner],
        file_row,
    )
    .optional()?)
}

/// An item of the folder named like `name` (Box compares names without
/// case), other than `except` (a kind and an id): its kind and id.
pub(super) fn named_except(
    c: &Connection,
    owner: &str,
    folder_id: &str,
    name: &str,
    except: Option<(&str, i64)>,
) -> Result<Option<(&'static str, i64)>, StoreError> {
    let key = name.to_lowercase();
    for (kind, sql) in [
        (
            "file",
            "SELECT id FROM files WHERE owner = ?1 AND folder_id = ?2 AND name_key = ?3",
        ),
        (
            "folder",
            "SELECT id FROM folders WHERE owner = ?1 AND parent_id = ?2 AND name_key = ?3",
        ),
    ] {
        let found = c
            .query_row(sql, params![owner, folder_id, key], |r| r.get::<_, i64>(0))
            .optional()?;
        if let Some(id) = found.filter(|id| except != Some((kind, *id))) {
            return Ok(Some((kind, id)));
        }
    }
    Ok(None)
}

impl Store {
    pub(crate) fn folder(&self, owner: &str, id: &str) -> Result<Option<FolderRow>, StoreError> {
        let Ok(n) = id.parse::<i64>() else {
            return Ok(None);
        };
        folder_of(&self.conn(), owner, n)
    }

    /// Whether `id` is a folder of `owner` (`"0"`, the root, always is).
    pub(crate) fn folder_exists(&self, owner: &str, id: &str) -> Result<bool, StoreError> {
        folder_live(&self.conn(), owner, id)
    }

    /// An item (file or folder) named like `name` in the folder.
    pub(crate) fn item_named(
        &self,
        owner: &str,
        folder_id: &str,
        name: &str,
    ) -> Result<Option<(&'static str, i64)>, StoreError> {
        named_except(&self.conn(), owner, folder_id, name, None)
    }

    pub(crate) fn file(&self, owner: &str, id: &str) -> Result<Option<FileRow>, StoreError> {
        let Ok(n) = id.parse::<i64>() else {
            return Ok(None);
        };
        file_live(&self.conn(), owner, n)
    }

    /// The item whose shared link has this token (or vanity name):
    /// `("file" | "folder", owner, id, the link's settings)`.
    pub(crate) fn shared_item(
        &self,
        key: &str,
    ) -> Result<Option<(&'static str, String, i64, String)>, StoreError> {
        let conn = self.conn();
        for (kind, table) in [("file", "files"), ("folder", "folders")] {
            let found = conn
                .query_row(
                    &format!(
                        "SELECT owner, id, shared_link FROM {table}
                         WHERE shared_link IS NOT NULL
                           AND (json_extract(shared_link, '$.token') = ?1
                                OR json_extract(shared_link, '$.vanity_name') = ?1)"
                    ),
                    [key],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    },
                )
                .optional()?;
            if let Some((owner, id, link)) = found {
                return Ok(Some((kind, owner, id, link)));
            }
        }
        Ok(None)
    }

    /// A file's earlier versions, newest first (not the current one).
    pub(crate) fn versions(
        &self,
        owner: &str,
        file_id: i64,
    ) -> Result<Option<Vec<VersionRow>>, StoreError> {
        let conn = self.conn();
        let Some(file) = file_live(&conn, owner, file_id)? else {
            return Ok(None);
        };
        let mut stmt = conn.prepare(
            "SELECT id, size, sha1, created_at FROM versions WHERE file_id = ?1 AND id != ?2
             ORDER BY id DESC",
        )?;
        let rows = stmt
            .query_map(params![file_id, file.version_id], |r| {
                Ok(VersionRow {
                    id: r.get(0)?,
                    size: u(r.get(1)?),
                    sha1: r.get(2)?,
                    created_at: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(rows))
    }

    /// One page of a folder's items: folders first, then files, each by
    /// name (case-insensitively), then id; and how many there are. One
    /// read transaction, so the page and the count agree.
    pub(crate) fn list_folder(
        &self,
        owner: &str,
        folder_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<ItemRow>, u64), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let total: i64 = tx.query_row(
            "SELECT (SELECT COUNT(*) FROM folders WHERE owner = ?1 AND parent_id = ?2)
                  + (SELECT COUNT(*) FROM files WHERE owner = ?1 AND folder_id = ?2)",
            params![owner, folder_id],
            |r| r.get(0),
        )?;
        let ids = {
            let mut stmt = tx.prepare(
                "SELECT 1 AS kind, id, name_key FROM folders WHERE owner = ?1 AND parent_id = ?2
                 UNION ALL
                 SELECT 2, id, name_key FROM files WHERE owner = ?1 AND folder_id = ?2
                 ORDER BY kind, name_key, id LIMIT ?3 OFFSET ?4",
            )?;
            let rows = stmt
                .query_map(params![owner, folder_id, i(limit), i(offset)], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        };
        let mut items = Vec::with_capacity(ids.len());
        for (kind, id) in ids {
            let item = if kind == 1 {
                folder_of(&tx, owner, id)?.map(ItemRow::Folder)
            } else {
                file_live(&tx, owner, id)?.map(ItemRow::File)
            };
            items.extend(item);
        }
        Ok((items, u(total)))
    }
}
