//! The trash: deleting a file or a folder moves its rows (a folder's with
//! everything below it) from `files`/`folders` into `trashed_files`/
//! `trashed_folders`, so that no lookup of a live item sees them, while
//! their versions and blobs stay (and keep counting toward the quota, as on
//! Box). From there an item is listed, read, restored (to its old folder,
//! or to another when that one is gone, under its name or a new one) or
//! purged: removed for good with its versions and the sessions no other
//! version names. Items past the retention are purged by the collector.

use super::changes::in_tx;
use super::items::{
    file_live, file_row, file_sql, folder_live, folder_of, folder_row, folder_sql, named_except,
    ItemRow, FILE_COLUMNS, FOLDER_COLUMNS,
};
use super::{i, u, Refusal, Store, StoreError};
use rusqlite::{params, OptionalExtension as _, Transaction};

/// An item in the trash: the row it had, and when it was deleted.
#[derive(Debug, Clone)]
pub(crate) struct TrashedRow {
    /// The item as it was.
    pub item: ItemRow,
    /// When it went to the trash (Unix seconds).
    pub trashed_at: i64,
}

/// A restore's choices: a new name, and the folder to use when the old one
/// is gone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Restore {
    /// The name to restore under (the old one when `None`).
    pub name: Option<String>,
    /// The folder to restore into when the old one is not there.
    pub parent_id: Option<String>,
    /// Now (Unix seconds).
    pub now: i64,
}

/// The key an item deleted by the user is known by in `trashed_by`.
fn key(kind: &str, id: i64) -> String {
    format!("{kind}:{id}")
}

/// The owner's item `kind`/`id` as deleted by the user (not an item that
/// went with a deleted folder): Box reads and restores only those.
fn top(
    tx: &Transaction<'_>,
    owner: &str,
    kind: &str,
    id: i64,
) -> Result<Option<TrashedRow>, StoreError> {
    let by = key(kind, id);
    let row = if kind == "folder" {
        tx.query_row(
            &format!(
                "{} WHERE id = ?1 AND owner = ?2 AND trashed_by = ?3",
                folder_sql("trashed_folders", ", trashed_at")
            ),
            params![id, owner, by],
            |r| Ok((ItemRow::Folder(folder_row(r)?), r.get(8)?)),
        )
        .optional()?
    } else {
        tx.query_row(
            &format!(
                "{} WHERE f.id = ?1 AND f.owner = ?2 AND f.trashed_by = ?3",
                file_sql("trashed_files", ", f.trashed_at")
            ),
            params![id, owner, by],
            |r| Ok((ItemRow::File(file_row(r)?), r.get(15)?)),
        )
        .optional()?
    };
    Ok(row.map(|(item, trashed_at)| TrashedRow { item, trashed_at }))
}

/// Removes for good the rows trashed under `by`; the sessions whose blobs
/// the caller removes.
fn purge_rows(tx: &Transaction<'_>, by: &str) -> Result<Vec<String>, StoreError> {
    let files = {
        let mut stmt = tx.prepare("SELECT id FROM trashed_files WHERE trashed_by = ?1")?;
        let ids = stmt
            .query_map([by], |r| r.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        ids
    };
    tx.execute("DELETE FROM trashed_files WHERE trashed_by = ?1", [by])?;
    tx.execute("DELETE FROM trashed_folders WHERE trashed_by = ?1", [by])?;
    super::changes::drop_contents(tx, &files)
}

impl Store {
    /// One page of the owner's trash (the items the user deleted, folders
    /// first, then files, by name), and how many there are.
    pub(crate) fn list_trash(
        &self,
        owner: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<TrashedRow>, u64), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let total: i64 = tx.query_row(
            "SELECT (SELECT COUNT(*) FROM trashed_folders
                     WHERE owner = ?1 AND trashed_by = 'folder:' || id)
                  + (SELECT COUNT(*) FROM trashed_files
                     WHERE owner = ?1 AND trashed_by = 'file:' || id)",
            [owner],
            |r| r.get(0),
        )?;
        let keys = {
            let mut stmt = tx.prepare(
                "SELECT 'folder' AS kind, id, name_key FROM trashed_folders
                     WHERE owner = ?1 AND trashed_by = 'folder:' || id
                 UNION ALL
                 SELECT 'file', id, name_key FROM trashed_files
                     WHERE owner = ?1 AND trashed_by = 'file:' || id
                 ORDER BY kind DESC, name_key, id LIMIT ?2 OFFSET ?3",
            )?;
            let rows = stmt
                .query_map(params![owner, i(limit), i(offset)], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        };
        let mut items = Vec::with_capacity(keys.len());
        for (kind, id) in keys {
            items.extend(top(&tx, owner, &kind, id)?);
        }
        Ok((items, u(total)))
    }

    /// The owner's item in the trash, as the user deleted it.
    pub(crate) fn trashed(
        &self,
        owner: &str,
        kind: &'static str,
        id: i64,
    ) -> Result<Option<TrashedRow>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        top(&tx, owner, kind, id)
    }

    /// Brings an item the user deleted back, with what went with it: into
    /// its old folder when that is there, else into `to.parent_id` (which
    /// must be); `NameInUse` when the name is taken there.
    pub(crate) fn restore(
        &self,
        owner: &str,
        kind: &'static str,
        id: i64,
        to: &Restore,
    ) -> Result<Result<ItemRow, Refusal>, StoreError> {
        in_tx(self, |tx| {
            let Some(t) = top(tx, owner, kind, id)? else {
                return Ok(Err(Refusal::NotFound));
            };
            let (old_parent, old_name) = match &t.item {
                ItemRow::Folder(f) => (f.parent_id.clone(), f.name.clone()),
                ItemRow::File(f) => (f.folder_id.clone(), f.name.clone()),
            };
            let parent = if folder_live(tx, owner, &old_parent)? {
                old_parent
            } else {
                match &to.parent_id {
                    Some(p) if folder_live(tx, owner, p)? => p.clone(),
                    _ => return Ok(Err(Refusal::NotFound)),
                }
            };
            let name = to.name.clone().unwrap_or(old_name);
            if let Some((k, other)) = named_except(tx, owner, &parent, &name, None)? {
                return Ok(Err(Refusal::NameInUse(k, other)));
            }
            let by = key(kind, id);
            // What went with the item keeps its place (its folders come
            // back with it); the item itself takes its new place and name.
            tx.execute(
                &format!(
                    "INSERT INTO folders({FOLDER_COLUMNS}) SELECT {FOLDER_COLUMNS}
                     FROM trashed_folders WHERE trashed_by = ?1 AND id != ?2"
                ),
                params![by, if kind == "folder" { id } else { -1 }],
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO files({FILE_COLUMNS}) SELECT {FILE_COLUMNS}
                     FROM trashed_files WHERE trashed_by = ?1 AND id != ?2"
                ),
                params![by, if kind == "file" { id } else { -1 }],
            )?;
            let place = params![id, parent, name, name.to_lowercase(), to.now];
            if kind == "folder" {
                tx.execute(
                    &format!(
                        "INSERT INTO folders({FOLDER_COLUMNS})
                         SELECT id, owner, ?2, ?3, ?4, created_at, ?5, etag + 1, description,
                                shared_link FROM trashed_folders WHERE id = ?1"
                    ),
                    place,
                )?;
            } else {
                tx.execute(
                    &format!(
                        "INSERT INTO files({FILE_COLUMNS})
                         SELECT id, owner, ?2, ?3, ?4, etag + 1, version_id, description,
                                content_created_at, content_modified_at, created_at, ?5,
                                shared_link FROM trashed_files WHERE id = ?1"
                    ),
                    place,
                )?;
            }
            tx.execute("DELETE FROM trashed_folders WHERE trashed_by = ?1", [&by])?;
            tx.execute("DELETE FROM trashed_files WHERE trashed_by = ?1", [&by])?;
            let item = match kind {
                "folder" => folder_of(tx, owner, id)?.map(ItemRow::Folder),
                _ => file_live(tx, owner, id)?.map(ItemRow::File),
            };
            Ok(item.ok_or(Refusal::NotFound))
        })
    }

    /// Removes an item the user deleted for good, with what went with it;
    /// the sessions whose blobs the caller removes.
    pub(crate) fn purge(
        &self,
        owner: &str,
        kind: &'static str,
        id: i64,
    ) -> Result<Result<Vec<String>, Refusal>, StoreError> {
        in_tx(self, |tx| {
            if top(tx, owner, kind, id)?.is_none() {
                return Ok(Err(Refusal::NotFound));
            }
            Ok(Ok(purge_rows(tx, &key(kind, id))?))
        })
    }

    /// Purges every item trashed at or before `before` (Unix seconds), for
    /// every user: how many, and the sessions whose blobs the caller removes.
    pub(crate) fn purge_expired(&self, before: i64) -> Result<(u64, Vec<String>), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let keys = {
            let mut stmt = tx.prepare(
                "SELECT trashed_by FROM trashed_folders
                     WHERE trashed_by = 'folder:' || id AND trashed_at <= ?1
                 UNION ALL
                 SELECT trashed_by FROM trashed_files
                     WHERE trashed_by = 'file:' || id AND trashed_at <= ?1",
            )?;
            let keys = stmt
                .query_map([before], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            keys
        };
        let mut sessions = Vec::new();
        for by in &keys {
            sessions.extend(purge_rows(&tx, by)?);
        }
        tx.commit()?;
        Ok((keys.len() as u64, sessions))
    }
}
