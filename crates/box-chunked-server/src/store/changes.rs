//! Changing folders and files: create a folder, update a file or a folder
//! (name, parent, description, modification time, shared link), delete
//! (to the trash, `trash`, when the store keeps one).
//! Each is one transaction that checks what it depends on first (the item
//! and the target folder there and the caller's, the etag, the name free,
//! no folder moved into itself) and writes nothing when a check fails.

use super::items::{
    file_live, folder_live, folder_of, named_except, FileRow, FolderRow, FILE_COLUMNS,
    FOLDER_COLUMNS,
};
use super::{Refusal, Store, StoreError};
use rusqlite::{params, OptionalExtension as _, Transaction};

/// A file update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub(crate) struct FileChanges {
    pub name: Option<String>,
    pub folder_id: Option<String>,
    pub description: Option<String>,
    pub content_modified_at: Option<String>,
    /// `Some(None)` removes the shared link, `Some(Some(json))` sets it.
    pub shared_link: Option<Option<String>>,
    /// `If-Match`: the etag the file must still have.
    pub if_match: Option<i64>,
    pub now: i64,
}

/// A folder update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub(crate) struct FolderChanges {
    pub name: Option<String>,
    pub parent_id: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` removes the shared link, `Some(Some(json))` sets it.
    pub shared_link: Option<Option<String>>,
    /// `If-Match`: the etag the folder must still have.
    pub if_match: Option<i64>,
    pub now: i64,
}

pub(super) type Outcome<T> = Result<Result<T, Refusal>, StoreError>;

/// Runs `f` in a transaction, committing only when it says `Ok`.
pub(super) fn in_tx<T>(
    store: &Store,
    f: impl FnOnce(&Transaction<'_>) -> Outcome<T>,
) -> Outcome<T> {
    let mut conn = store.conn();
    let tx = conn.transaction()?;
    let out = f(&tx)?;
    if out.is_ok() {
        tx.commit()?;
    }
    Ok(out)
}

impl Store {
    /// A new folder in `parent`, when it is there and the name is free.
    pub(crate) fn create_folder(
        &self,
        owner: &str,
        parent: &str,
        name: &str,
        now: i64,
    ) -> Outcome<i64> {
        in_tx(self, |tx| {
            if !folder_live(tx, owner, parent)? {
                return Ok(Err(Refusal::NotFound));
            }
            if let Some((kind, id)) = named_except(tx, owner, parent, name, None)? {
                return Ok(Err(Refusal::NameInUse(kind, id)));
            }
            tx.execute(
                "INSERT INTO folders(owner, parent_id, name, name_key, created_at, modified_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![owner, parent, name, name.to_lowercase(), now],
            )?;
            Ok(Ok(tx.last_insert_rowid()))
        })
    }

    /// Applies `c` to the owner's file `id`; the file as it then is.
    pub(crate) fn update_file(&self, owner: &str, id: i64, c: &FileChanges) -> Outcome<FileRow> {
        in_tx(self, |tx| {
            let Some(f) = file_live(tx, owner, id)? else {
                return Ok(Err(Refusal::NotFound));
            };
            if c.if_match.is_some_and(|e| e != f.etag) {
                return Ok(Err(Refusal::EtagChanged));
            }
            let folder = c.folder_id.as_deref().unwrap_or(&f.folder_id);
            if !folder_live(tx, owner, folder)? {
                return Ok(Err(Refusal::NotFound));
            }
            let name = c.name.as_deref().unwrap_or(&f.name);
            if let Some((kind, other)) = named_except(tx, owner, folder, name, Some(("file", id)))?
            {
                return Ok(Err(Refusal::NameInUse(kind, other)));
            }
            tx.execute(
                "UPDATE files SET name = ?3, name_key = ?4, folder_id = ?5,
                     description = COALESCE(?6, description),
                     content_modified_at = COALESCE(?7, content_modified_at),
                     shared_link = CASE WHEN ?8 THEN ?9 ELSE shared_link END,
                     etag = etag + 1, modified_at = ?10
                 WHERE id = ?1 AND owner = ?2",
                params![
                    id,
                    owner,
                    name,
                    name.to_lowercase(),
                    folder,
                    c.description,
                    c.content_modified_at,
                    c.shared_link.is_some(),
                    c.shared_link.clone().flatten(),
                    c.now
                ],
            )?;
            Ok(file_live(tx, owner, id)?.ok_or(Refusal::NotFound))
        })
    }

    /// Applies `c` to the owner's folder `id` (not the root); the folder as
    /// it then is.
    pub(crate) fn update_folder(
        &self,
        owner: &str,
        id: i64,
        c: &FolderChanges,
    ) -> Outcome<FolderRow> {
        in_tx(self, |tx| {
            let Some(f) = folder_of(tx, owner, id)? else {
                return Ok(Err(Refusal::NotFound));
            };
            if c.if_match.is_some_and(|e| e != f.etag) {
                return Ok(Err(Refusal::EtagChanged));
            }
            let parent = c.parent_id.as_deref().unwrap_or(&f.parent_id);
            if !folder_live(tx, owner, parent)? {
                return Ok(Err(Refusal::NotFound));
            }
            if parent != f.parent_id && is_within(tx, owner, parent, id)? {
                return Ok(Err(Refusal::IntoItself));
            }
            let name = c.name.as_deref().unwrap_or(&f.name);
            if let Some((kind, other)) =
                named_except(tx, owner, parent, name, Some(("folder", id)))?
            {
                return Ok(Err(Refusal::NameInUse(kind, other)));
            }
            tx.execute(
                "UPDATE folders SET name = ?3, name_key = ?4, parent_id = ?5,
                     description = COALESCE(?6, description),
                     shared_link = CASE WHEN ?7 THEN ?8 ELSE shared_link END,
                     etag = etag + 1, modified_at = ?9
                 WHERE id = ?1 AND owner = ?2",
                params![
                    id,
                    owner,
                    name,
                    name.to_lowercase(),
                    parent,
                    c.description,
                    c.shared_link.is_some(),
                    c.shared_link.clone().flatten(),
                    c.now
                ],
            )?;
            Ok(folder_of(tx, owner, id)?.ok_or(Refusal::NotFound))
        })
    }

    /// Deletes the owner's file: to the trash when the store keeps one,
    /// else for good with every version; the sessions whose blobs the
    /// caller removes.
    pub(crate) fn delete_file(
        &self,
        owner: &str,
        id: i64,
        if_match: Option<i64>,
    ) -> Outcome<Vec<String>> {
        in_tx(self, |tx| {
            let Some(f) = file_live(tx, owner, id)? else {
                return Ok(Err(Refusal::NotFound));
            };
            if if_match.is_some_and(|e| e != f.etag) {
                return Ok(Err(Refusal::EtagChanged));
            }
            if self.limits.trash_retention.is_some() {
                move_to_trash(tx, &format!("file:{id}"), &[], &[id], self.now_unix())?;
                return Ok(Ok(Vec::new()));
            }
            Ok(Ok(delete_files(tx, owner, &[id])?))
        })
    }

    /// Deletes the owner's folder, with everything in it when `recursive`
    /// (`Ok(Err(None))`: it has items and `recursive` was not given): to
    /// the trash when the store keeps one; the sessions whose blobs the
    /// caller removes.
    pub(crate) fn delete_folder(
        &self,
        owner: &str,
        id: i64,
        recursive: bool,
        if_match: Option<i64>,
    ) -> Result<Result<Vec<String>, Option<Refusal>>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let Some(f) = folder_of(&tx, owner, id)? else {
            return Ok(Err(Some(Refusal::NotFound)));
        };
        if if_match.is_some_and(|e| e != f.etag) {
            return Ok(Err(Some(Refusal::EtagChanged)));
        }
        let (folders, files) = subtree(&tx, owner, &f)?;
        if !recursive && (folders.len() > 1 || !files.is_empty()) {
            return Ok(Err(None));
        }
        let sessions = if self.limits.trash_retention.is_some() {
            move_to_trash(
                &tx,
                &format!("folder:{id}"),
                &folders,
                &files,
                self.now_unix(),
            )?;
            Vec::new()
        } else {
            let sessions = delete_files(&tx, owner, &files)?;
            for f in &folders {
                tx.execute("DELETE FROM folders WHERE id = ?1", [f])?;
            }
            sessions
        };
        tx.commit()?;
        Ok(Ok(sessions))
    }
}

/// Whether folder `at` is `id` or lies below it.
fn is_within(tx: &Transaction<'_>, owner: &str, at: &str, id: i64) -> Result<bool, StoreError> {
    let mut cur = at.to_owned();
    // Folders form a tree, so the walk ends at the root; the bound is a
    // guard against a damaged store, not a limit on depth.
    for _ in 0..100_000 {
        if cur == "0" {
            return Ok(false);
        }
        let Ok(n) = cur.parse::<i64>() else {
            return Ok(false);
        };
        if n == id {
            return Ok(true);
        }
        match folder_of(tx, owner, n)? {
            Some(f) => cur = f.parent_id,
            None => return Ok(false),
        }
    }
    Ok(true)
}

/// A folder and every folder below it (breadth first), and their files.
fn subtree(
    tx: &Transaction<'_>,
    owner: &str,
    top: &FolderRow,
) -> Result<(Vec<i64>, Vec<i64>), StoreError> {
    let mut folders = vec![top.id];
    let mut at = 0;
    while at < folders.len() {
        let parent = folders[at].to_string();
        let mut stmt = tx.prepare("SELECT id FROM folders WHERE owner = ?1 AND parent_id = ?2")?;
        let children = stmt
            .query_map(params![owner, parent], |r| r.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        folders.extend(children);
        at += 1;
    }
    let mut files = Vec::new();
    for f in &folders {
        let mut stmt = tx.prepare("SELECT id FROM files WHERE owner = ?1 AND folder_id = ?2")?;
        files.extend(
            stmt.query_map(params![owner, f.to_string()], |r| r.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    Ok((folders, files))
}

/// Deletes the owner's files with their contents ([`drop_contents`]).
fn delete_files(tx: &Transaction<'_>, owner: &str, ids: &[i64]) -> Result<Vec<String>, StoreError> {
    let mut gone = Vec::with_capacity(ids.len());
    for id in ids {
        let deleted = tx.execute(
            "DELETE FROM files WHERE id = ?1 AND owner = ?2",
            params![id, owner],
        )?;
        if deleted > 0 {
            gone.push(*id);
        }
    }
    drop_contents(tx, &gone)
}

/// Deletes the versions of files whose rows are gone, and the rows of their
/// sessions that no other version names (a copy shares its source's
/// content); those sessions, whose blobs may go.
pub(super) fn drop_contents(tx: &Transaction<'_>, ids: &[i64]) -> Result<Vec<String>, StoreError> {
    let mut sessions = Vec::new();
    for id in ids {
        let mut stmt = tx.prepare("SELECT session_id FROM versions WHERE file_id = ?1")?;
        let of_file = stmt
            .query_map([id], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        tx.execute("DELETE FROM versions WHERE file_id = ?1", [id])?;
        for sid in of_file {
            let shared: bool = tx
                .query_row(
                    "SELECT 1 FROM versions WHERE session_id = ?1 LIMIT 1",
                    [&sid],
                    |_| Ok(true),
                )
                .optional()?
                .unwrap_or(false);
            if shared {
                continue;
            }
            tx.execute("DELETE FROM sessions WHERE id = ?1", [&sid])?;
            tx.execute("DELETE FROM parts WHERE session_id = ?1", [&sid])?;
            tx.execute("DELETE FROM part_digests WHERE session_id = ?1", [&sid])?;
            tx.execute("DELETE FROM part_chains WHERE session_id = ?1", [&sid])?;
            sessions.push(sid);
        }
    }
    Ok(sessions)
}

/// Moves live rows to the trash, all under `by` (the deleted item's key).
fn move_to_trash(
    tx: &Transaction<'_>,
    by: &str,
    folders: &[i64],
    files: &[i64],
    now: i64,
) -> Result<(), StoreError> {
    for id in folders {
        tx.execute(
            &format!(
                "INSERT INTO trashed_folders({FOLDER_COLUMNS}, trashed_at, trashed_by)
                 SELECT {FOLDER_COLUMNS}, ?2, ?3 FROM folders WHERE id = ?1"
            ),
            params![id, now, by],
        )?;
        tx.execute("DELETE FROM folders WHERE id = ?1", [id])?;
    }
    for id in files {
        tx.execute(
            &format!(
                "INSERT INTO trashed_files({FILE_COLUMNS}, trashed_at, trashed_by)
                 SELECT {FILE_COLUMNS}, ?2, ?3 FROM files WHERE id = ?1"
            ),
            params![id, now, by],
        )?;
        tx.execute("DELETE FROM files WHERE id = ?1", [id])?;
    }
    Ok(())
}
