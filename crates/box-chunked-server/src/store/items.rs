//! Folders and files: lookups by id and name, listing a folder, renames,
//! moves and deletion. A file's bytes belong to the sessions of its versions
//! (see `sessions`); deleting a file deletes them too.

use super::{i, u, Store, StoreError};
use rusqlite::{params, OptionalExtension};

/// A folder row.
#[derive(Debug, Clone)]
pub(crate) struct FolderRow {
    pub id: i64,
    pub parent_id: String,
    pub name: String,
    pub created_at: i64,
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
}

impl Store {
    // --------------------------------------------------------------- folders

    pub(crate) fn folder(&self, owner: &str, id: &str) -> Result<Option<FolderRow>, StoreError> {
        let Ok(n) = id.parse::<i64>() else {
            return Ok(None);
        };
        Ok(self
            .conn()
            .query_row(
                "SELECT id, parent_id, name, created_at FROM folders WHERE id = ?1 AND owner = ?2",
                params![n, owner],
                |r| {
                    Ok(FolderRow {
                        id: r.get(0)?,
                        parent_id: r.get(1)?,
                        name: r.get(2)?,
                        created_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Whether `id` is a folder of `owner` (`"0"`, the root, always is).
    pub(crate) fn folder_exists(&self, owner: &str, id: &str) -> Result<bool, StoreError> {
        Ok(id == "0" || self.folder(owner, id)?.is_some())
    }

    /// An item (file or folder) named like `name` in the folder.
    pub(crate) fn item_named(
        &self,
        owner: &str,
        folder_id: &str,
        name: &str,
    ) -> Result<Option<(&'static str, i64)>, StoreError> {
        let key = name.to_lowercase();
        let conn = self.conn();
        if let Some(id) = conn
            .query_row(
                "SELECT id FROM files WHERE owner = ?1 AND folder_id = ?2 AND name_key = ?3",
                params![owner, folder_id, key],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
        {
            return Ok(Some(("file", id)));
        }
        Ok(conn
            .query_row(
                "SELECT id FROM folders WHERE owner = ?1 AND parent_id = ?2 AND name_key = ?3",
                params![owner, folder_id, key],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|id| ("folder", id)))
    }

    pub(crate) fn create_folder(
        &self,
        owner: &str,
        parent_id: &str,
        name: &str,
        now: i64,
    ) -> Result<FolderRow, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO folders(owner, parent_id, name, name_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![owner, parent_id, name, name.to_lowercase(), now],
        )?;
        Ok(FolderRow {
            id: conn.last_insert_rowid(),
            parent_id: parent_id.to_owned(),
            name: name.to_owned(),
            created_at: now,
        })
    }

    // ----------------------------------------------------------------- files

    pub(crate) fn file(&self, owner: &str, id: &str) -> Result<Option<FileRow>, StoreError> {
        let Ok(n) = id.parse::<i64>() else {
            return Ok(None);
        };
        Ok(self
            .conn()
            .query_row(
                "SELECT f.id, f.owner, f.folder_id, f.name, f.etag, f.version_id, f.description,
                        f.content_created_at, f.content_modified_at, f.created_at, f.modified_at,
                        v.size, v.sha1, v.session_id
                 FROM files f JOIN versions v ON v.id = f.version_id
                 WHERE f.id = ?1 AND f.owner = ?2",
                params![n, owner],
                |r| {
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
                    })
                },
            )
            .optional()?)
    }
}

/// A folder's entry: a folder or a file.
#[derive(Debug, Clone)]
pub(crate) enum ItemRow {
    Folder(FolderRow),
    File(FileRow),
}

/// What an update of a file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Update {
    Updated,
    NotFound,
    NameInUse,
}

/// What deleting a folder did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeleteFolder {
    /// Deleted, with the sessions whose blobs the caller removes.
    Deleted(Vec<String>),
    NotFound,
    /// It has items and `recursive` was not given.
    NotEmpty,
}

impl Store {
    /// One page of a folder's items: folders first, then files, each by
    /// name (case-insensitively), then id; and how many there are.
    pub(crate) fn list_folder(
        &self,
        owner: &str,
        folder_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<ItemRow>, u64), StoreError> {
        let (ids, total) = {
            let conn = self.conn();
            let total: i64 = conn.query_row(
                "SELECT (SELECT COUNT(*) FROM folders WHERE owner = ?1 AND parent_id = ?2)
                      + (SELECT COUNT(*) FROM files WHERE owner = ?1 AND folder_id = ?2)",
                params![owner, folder_id],
                |r| r.get(0),
            )?;
            let mut stmt = conn.prepare(
                "SELECT 1 AS kind, id, name_key FROM folders WHERE owner = ?1 AND parent_id = ?2
                 UNION ALL
                 SELECT 2, id, name_key FROM files WHERE owner = ?1 AND folder_id = ?2
                 ORDER BY kind, name_key, id LIMIT ?3 OFFSET ?4",
            )?;
            let ids = stmt
                .query_map(params![owner, folder_id, i(limit), i(offset)], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            (ids, u(total))
        };
        let mut items = Vec::with_capacity(ids.len());
        for (kind, id) in ids {
            let item = if kind == 1 {
                self.folder(owner, &id.to_string())?.map(ItemRow::Folder)
            } else {
                self.file(owner, &id.to_string())?.map(ItemRow::File)
            };
            items.extend(item);
        }
        Ok((items, total))
    }

    /// Renames, moves or describes a file (the caller checked the folder).
    pub(crate) fn update_file(
        &self,
        owner: &str,
        id: i64,
        name: Option<&str>,
        folder_id: Option<&str>,
        description: Option<&str>,
        now: i64,
    ) -> Result<Update, StoreError> {
        let r = self.conn().execute(
            "UPDATE files SET name = COALESCE(?3, name), name_key = COALESCE(?4, name_key),
                 folder_id = COALESCE(?5, folder_id), description = COALESCE(?6, description),
                 etag = etag + 1, modified_at = ?7
             WHERE id = ?1 AND owner = ?2",
            params![
                id,
                owner,
                name,
                name.map(str::to_lowercase),
                folder_id,
                description,
                now
            ],
        );
        match r {
            Ok(0) => Ok(Update::NotFound),
            Ok(_) => Ok(Update::Updated),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Ok(Update::NameInUse)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a file with every version; the sessions whose blobs the
    /// caller removes (`None`: no such file).
    pub(crate) fn delete_file(
        &self,
        owner: &str,
        id: i64,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let sessions = delete_files(&tx, owner, &[id])?;
        if sessions.is_none() {
            return Ok(None);
        }
        tx.commit()?;
        Ok(sessions)
    }

    /// Deletes a folder (with everything in it when `recursive`).
    pub(crate) fn delete_folder(
        &self,
        owner: &str,
        id: i64,
        recursive: bool,
    ) -> Result<DeleteFolder, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists = tx
            .query_row(
                "SELECT 1 FROM folders WHERE id = ?1 AND owner = ?2",
                params![id, owner],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !exists {
            return Ok(DeleteFolder::NotFound);
        }
        // The folder and every folder below it, breadth first.
        let mut folders = vec![id];
        let mut at = 0;
        while at < folders.len() {
            let parent = folders[at].to_string();
            let mut stmt =
                tx.prepare("SELECT id FROM folders WHERE owner = ?1 AND parent_id = ?2")?;
            let children = stmt
                .query_map(params![owner, parent], |r| r.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            folders.extend(children);
            at += 1;
        }
        let mut files = Vec::new();
        for f in &folders {
            let mut stmt =
                tx.prepare("SELECT id FROM files WHERE owner = ?1 AND folder_id = ?2")?;
            files.extend(
                stmt.query_map(params![owner, f.to_string()], |r| r.get::<_, i64>(0))?
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        if !recursive && (folders.len() > 1 || !files.is_empty()) {
            return Ok(DeleteFolder::NotEmpty);
        }
        let sessions = delete_files(&tx, owner, &files)?.unwrap_or_default();
        for f in &folders {
            tx.execute("DELETE FROM folders WHERE id = ?1", [f])?;
        }
        tx.commit()?;
        Ok(DeleteFolder::Deleted(sessions))
    }
}

/// Deletes files, their versions and their sessions' rows; the sessions
/// (`None` when the first file does not exist).
fn delete_files(
    tx: &rusqlite::Transaction<'_>,
    owner: &str,
    ids: &[i64],
) -> Result<Option<Vec<String>>, StoreError> {
    let mut sessions = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let deleted = tx.execute(
            "DELETE FROM files WHERE id = ?1 AND owner = ?2",
            params![id, owner],
        )?;
        if deleted == 0 {
            if n == 0 {
                return Ok(None);
            }
            continue;
        }
        let mut stmt = tx.prepare("SELECT session_id FROM versions WHERE file_id = ?1")?;
        let of_file = stmt
            .query_map([id], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        tx.execute("DELETE FROM versions WHERE file_id = ?1", [id])?;
        for sid in &of_file {
            tx.execute("DELETE FROM sessions WHERE id = ?1", [sid])?;
            tx.execute("DELETE FROM parts WHERE session_id = ?1", [sid])?;
            tx.execute("DELETE FROM part_digests WHERE session_id = ?1", [sid])?;
        }
        sessions.extend(of_file);
    }
    Ok(Some(sessions))
}
