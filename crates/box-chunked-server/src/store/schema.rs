//! The metadata schema and its migrations, by `PRAGMA user_version`.
//!
//! Version 1 gives files, folders and versions `AUTOINCREMENT` ids (SQLite
//! then never hands out an id again, even the largest one after it was
//! deleted), folders an etag, a description and a modification time, both
//! a shared link, and adds the `counters` table that part and session ids
//! are drawn from. A version 0 store (before ids were guarded) is rebuilt
//! in one transaction, keeping every id; ids deleted before the migration
//! above the largest kept one cannot be known and may come again once.
//!
//! Version 2 adds the trash: `trashed_folders` and `trashed_files` hold the
//! rows of deleted items with the columns they had (so every lookup of a
//! live item leaves them out without a filter), when they were trashed and
//! which deleted item took them there (`trashed_by`, `folder:ID` or
//! `file:ID`): a folder's restore brings back exactly what its deletion
//! took, not a file trashed on its own before.
//!
//! Version 3 adds `part_chains`: for a committed session, the whole-file
//! SHA-1 chain's state after each of its parts (28 bytes each, in part
//! order), so that a new version planned on the same leading parts resumes
//! its hash there instead of from the first byte.

use super::StoreError;
use rusqlite::{Connection, OptionalExtension};

/// The schema this build writes.
const VERSION: i64 = 3;

const TABLES: &str = "
CREATE TABLE folders(
    id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL, parent_id TEXT NOT NULL,
    name TEXT NOT NULL, name_key TEXT NOT NULL, created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL DEFAULT 0, etag INTEGER NOT NULL DEFAULT 0,
    description TEXT NOT NULL DEFAULT '', shared_link TEXT,
    UNIQUE(owner, parent_id, name_key));
CREATE TABLE files(
    id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL, folder_id TEXT NOT NULL,
    name TEXT NOT NULL, name_key TEXT NOT NULL, etag INTEGER NOT NULL,
    version_id INTEGER NOT NULL, description TEXT NOT NULL DEFAULT '',
    content_created_at TEXT, content_modified_at TEXT,
    created_at INTEGER NOT NULL, modified_at INTEGER NOT NULL, shared_link TEXT,
    UNIQUE(owner, folder_id, name_key));
CREATE TABLE versions(
    id INTEGER PRIMARY KEY AUTOINCREMENT, file_id INTEGER NOT NULL, session_id TEXT NOT NULL,
    size INTEGER NOT NULL, sha1 TEXT NOT NULL, part_size INTEGER NOT NULL,
    created_at INTEGER NOT NULL);
";

const REST: &str = "
CREATE TABLE IF NOT EXISTS sessions(
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, folder_id TEXT, file_id INTEGER,
    name TEXT, file_size INTEGER NOT NULL, part_size INTEGER NOT NULL,
    total_parts INTEGER NOT NULL, expires_at INTEGER NOT NULL, state TEXT NOT NULL,
    committed_file_id INTEGER, committed_sha1 TEXT);
CREATE TABLE IF NOT EXISTS parts(
    session_id TEXT NOT NULL, idx INTEGER NOT NULL, offset INTEGER NOT NULL,
    size INTEGER NOT NULL, part_id TEXT NOT NULL, sha1 TEXT NOT NULL,
    PRIMARY KEY(session_id, idx));
CREATE TABLE IF NOT EXISTS part_digests(
    session_id TEXT NOT NULL, part_id TEXT NOT NULL, sha512 TEXT NOT NULL,
    PRIMARY KEY(session_id, part_id));
CREATE TABLE IF NOT EXISTS part_chains(
    session_id TEXT PRIMARY KEY, states BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS versions_by_file ON versions(file_id);
CREATE INDEX IF NOT EXISTS sessions_by_owner ON sessions(owner, state);
CREATE TABLE IF NOT EXISTS trashed_folders(
    id INTEGER PRIMARY KEY, owner TEXT NOT NULL, parent_id TEXT NOT NULL,
    name TEXT NOT NULL, name_key TEXT NOT NULL, created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL DEFAULT 0, etag INTEGER NOT NULL DEFAULT 0,
    description TEXT NOT NULL DEFAULT '', shared_link TEXT,
    trashed_at INTEGER NOT NULL, trashed_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trashed_files(
    id INTEGER PRIMARY KEY, owner TEXT NOT NULL, folder_id TEXT NOT NULL,
    name TEXT NOT NULL, name_key TEXT NOT NULL, etag INTEGER NOT NULL,
    version_id INTEGER NOT NULL, description TEXT NOT NULL DEFAULT '',
    content_created_at TEXT, content_modified_at TEXT,
    created_at INTEGER NOT NULL, modified_at INTEGER NOT NULL, shared_link TEXT,
    trashed_at INTEGER NOT NULL, trashed_by TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS trashed_folders_by ON trashed_folders(trashed_by);
CREATE INDEX IF NOT EXISTS trashed_files_by ON trashed_files(trashed_by);
";

/// Brings the store to [`VERSION`], in one transaction.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version >= VERSION {
        return Ok(());
    }
    let tx = conn.transaction()?;
    let old = tx
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'files'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    // A version 1 store keeps its tables; only version 0 is rebuilt.
    let rebuild = old && version < 1;
    if rebuild {
        tx.execute_batch(
            "ALTER TABLE folders RENAME TO folders_v0;
             ALTER TABLE files RENAME TO files_v0;
             ALTER TABLE versions RENAME TO versions_v0;",
        )?;
    }
    if version < 1 {
        tx.execute_batch(TABLES)?;
    }
    if rebuild {
        tx.execute_batch(
            "INSERT INTO folders(id, owner, parent_id, name, name_key, created_at, modified_at)
                 SELECT id, owner, parent_id, name, name_key, created_at, created_at FROM folders_v0;
             INSERT INTO files(id, owner, folder_id, name, name_key, etag, version_id, description,
                               content_created_at, content_modified_at, created_at, modified_at)
                 SELECT id, owner, folder_id, name, name_key, etag, version_id, description,
                        content_created_at, content_modified_at, created_at, modified_at FROM files_v0;
             INSERT INTO versions SELECT * FROM versions_v0;
             DROP TABLE folders_v0; DROP TABLE files_v0; DROP TABLE versions_v0;",
        )?;
    }
    tx.execute_batch(REST)?;
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 1 store gains the trash and the kept chains and keeps what it holds (the
    /// version 0 rebuild, which keeps fewer columns, is not run again).
    #[test]
    fn a_version_1_store_gains_the_trash_and_keeps_its_rows() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        c.execute_batch(
            "DROP TABLE trashed_folders; DROP TABLE trashed_files;
             INSERT INTO folders(owner, parent_id, name, name_key, created_at, modified_at, etag,
                                 description, shared_link)
                 VALUES ('alice', '0', 'A', 'a', 1, 2, 3, 'kept', '{}');
             PRAGMA user_version = 1;",
        )
        .unwrap();
        migrate(&mut c).unwrap();
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, VERSION);
        let (etag, description): (i64, String) = c
            .query_row("SELECT etag, description FROM folders", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((etag, description.as_str()), (3, "kept"));
        let trashed: i64 = c
            .query_row("SELECT COUNT(*) FROM trashed_files", [], |r| r.get(0))
            .unwrap();
        assert_eq!(trashed, 0);
        let chains: i64 = c
            .query_row("SELECT COUNT(*) FROM part_chains", [], |r| r.get(0))
            .unwrap();
        assert_eq!(chains, 0);
    }
}
