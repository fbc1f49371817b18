//! Copies of files: a new file, of the caller's, whose one version shares
//! the source's current content (the same stored session: no byte is
//! copied, and the content stays while any version names it). In one
//! transaction that checks the source, the folder, the name and the quota.

use super::changes::{in_tx, Outcome};
use super::items::{file_live, folder_live, named_except, FileRow};
use super::space::fits;
use super::{Refusal, Store};
use rusqlite::params;

impl Store {
    /// Copies the owner's file `id` into folder `to` as `name` (the
    /// source's name when `None`); the new file.
    pub(crate) fn copy_file(
        &self,
        owner: &str,
        id: i64,
        to: &str,
        name: Option<&str>,
        now: i64,
    ) -> Outcome<FileRow> {
        let quota = self.limits.quota;
        in_tx(self, |tx| {
            let Some(src) = file_live(tx, owner, id)? else {
                return Ok(Err(Refusal::NotFound));
            };
            if !folder_live(tx, owner, to)? {
                return Ok(Err(Refusal::NotFound));
            }
            let name = name.unwrap_or(&src.name);
            if let Some((kind, other)) = named_except(tx, owner, to, name, None)? {
                return Ok(Err(Refusal::NameInUse(kind, other)));
            }
            if let Err(r) = fits(tx, quota, owner, src.size, None)? {
                return Ok(Err(r));
            }
            tx.execute(
                "INSERT INTO files(owner, folder_id, name, name_key, etag, version_id, description,
                                   content_created_at, content_modified_at, created_at, modified_at)
                 VALUES (?1, ?2, ?3, ?4, 0, 0, ?5, ?6, ?7, ?8, ?8)",
                params![
                    owner,
                    to,
                    name,
                    name.to_lowercase(),
                    src.description,
                    src.content_created_at,
                    src.content_modified_at,
                    now
                ],
            )?;
            let file_id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO versions(file_id, session_id, size, sha1, part_size, created_at)
                 SELECT ?1, session_id, size, sha1, part_size, ?3 FROM versions WHERE id = ?2",
                params![file_id, src.version_id, now],
            )?;
            let version = tx.last_insert_rowid();
            tx.execute(
                "UPDATE files SET version_id = ?2 WHERE id = ?1",
                params![file_id, version],
            )?;
            Ok(file_live(tx, owner, file_id)?.ok_or(Refusal::NotFound))
        })
    }
}
