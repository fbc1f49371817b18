//! A file's versions: an earlier one made current again (a new version
//! that shares its content, as Box promotes), and an earlier one deleted
//! (its content goes once no version names it). Each in one transaction
//! that checks the file, the version and the quota.

use super::changes::{in_tx, Outcome};
use super::items::{file_live, FileRow};
use super::space::fits;
use super::{Refusal, Store};
use rusqlite::{params, OptionalExtension as _};

impl Store {
    /// Makes version `version` of the owner's file `file` current again: a
    /// new version with its content; the file then.
    pub(crate) fn promote_version(
        &self,
        owner: &str,
        file: i64,
        version: i64,
        now: i64,
    ) -> Outcome<FileRow> {
        let quota = self.limits.quota;
        in_tx(self, |tx| {
            let Some(f) = file_live(tx, owner, file)? else {
                return Ok(Err(Refusal::NotFound));
            };
            let size: Option<i64> = tx
                .query_row(
                    "SELECT size FROM versions WHERE id = ?1 AND file_id = ?2",
                    params![version, file],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(size) = size else {
                return Ok(Err(Refusal::NotFound));
            };
            if let Err(r) = fits(tx, quota, owner, super::u(size), None)? {
                return Ok(Err(r));
            }
            tx.execute(
                "INSERT INTO versions(file_id, session_id, size, sha1, part_size, created_at)
                 SELECT file_id, session_id, size, sha1, part_size, ?2 FROM versions WHERE id = ?1",
                params![version, now],
            )?;
            let new = tx.last_insert_rowid();
            tx.execute(
                "UPDATE files SET version_id = ?2, etag = etag + 1, modified_at = ?3 WHERE id = ?1",
                params![f.id, new, now],
            )?;
            Ok(file_live(tx, owner, file)?.ok_or(Refusal::NotFound))
        })
    }

    /// Deletes the earlier version `version` of the owner's file `file`
    /// (not the current one); the session whose blobs may go, when no
    /// version names it any more.
    pub(crate) fn delete_version(
        &self,
        owner: &str,
        file: i64,
        version: i64,
    ) -> Outcome<Option<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let Some(f) = file_live(&tx, owner, file)? else {
            return Ok(Err(Refusal::NotFound));
        };
        if f.version_id == version {
            return Ok(Err(Refusal::CurrentVersion));
        }
        let sid: Option<String> = tx
            .query_row(
                "SELECT session_id FROM versions WHERE id = ?1 AND file_id = ?2",
                params![version, file],
                |r| r.get(0),
            )
            .optional()?;
        let Some(sid) = sid else {
            return Ok(Err(Refusal::NotFound));
        };
        tx.execute("DELETE FROM versions WHERE id = ?1", [version])?;
        let shared: bool = tx
            .query_row(
                "SELECT 1 FROM versions WHERE session_id = ?1 LIMIT 1",
                [&sid],
                |_| Ok(true),
            )
            .optional()?
            .unwrap_or(false);
        let gone = if shared {
            None
        } else {
            tx.execute("DELETE FROM sessions WHERE id = ?1", [&sid])?;
            tx.execute("DELETE FROM parts WHERE session_id = ?1", [&sid])?;
            tx.execute("DELETE FROM part_digests WHERE session_id = ?1", [&sid])?;
            tx.execute("DELETE FROM part_chains WHERE session_id = ?1", [&sid])?;
            Some(sid)
        };
        tx.commit()?;
        if let Some(s) = &gone {
            self.remove_session_dirs(std::slice::from_ref(s));
        }
        Ok(Ok(gone))
    }
}
