//! The commit: a session becomes a file or a new version in one
//! transaction that claims the session (`open` -> `committed`, so of a
//! commit, an abort and the expiry exactly one wins and a second commit
//! writes nothing) and checks again everything the write depends on: the
//! folder or file still there and the owner's, the etag (`If-Match`), the
//! name free, the quota. A refusal rolls everything back.

use super::items::file_live;
use super::sessions::{insert_part_row, insert_session, still_open, target_holds};
use super::space::fits;
use super::{i, FileRow, PartRow, Refusal, SessionRow, Store, StoreError};
use box_chunked_proto::Sha1Digest;
use box_chunked_sha1::ChainState;
use rusqlite::{params, Transaction};

/// What a commit writes.
#[derive(Debug, Clone)]
pub(crate) struct NewVersion {
    pub sha1: Sha1Digest,
    pub description: Option<String>,
    pub content_created_at: Option<String>,
    pub content_modified_at: Option<String>,
    pub now: i64,
    /// `If-Match`: the etag the file must still have (new versions).
    pub if_match: Option<i64>,
    /// The whole-file chain after each part, in order (see
    /// `Store::chain_states`); empty when not known.
    pub chain: Vec<ChainState>,
}

impl Store {
    /// Commits an open session; the file as the commit left it, or why
    /// nothing was written.
    pub(crate) fn commit(
        &self,
        s: &SessionRow,
        v: &NewVersion,
    ) -> Result<Result<FileRow, Refusal>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let outcome = claim_and_write(&tx, s, v, self.limits.quota)?;
        if outcome.is_ok() {
            tx.commit()?;
        }
        Ok(outcome)
    }

    /// A one-shot upload: its session (at most one part, whose blob is
    /// already durable) and the file or version, in one transaction, so a
    /// crash leaves either the whole file or nothing but an orphan blob.
    pub(crate) fn commit_one_shot(
        &self,
        s: &SessionRow,
        part: Option<&PartRow>,
        v: &NewVersion,
    ) -> Result<Result<FileRow, Refusal>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        insert_session(&tx, s)?;
        if let Some(p) = part {
            insert_part_row(&tx, &s.id, p)?;
        }
        let outcome = claim_and_write(&tx, s, v, self.limits.quota)?;
        if outcome.is_ok() {
            tx.commit()?;
        }
        Ok(outcome)
    }
}

/// Claims an open session and writes its file or version when every
/// precondition holds (the file as written); the caller commits the
/// transaction on `Ok`.
fn claim_and_write(
    tx: &Transaction<'_>,
    s: &SessionRow,
    v: &NewVersion,
    quota: Option<u64>,
) -> Result<Result<FileRow, Refusal>, StoreError> {
    if let Err(r) = still_open(tx, &s.id, v.now)? {
        return Ok(Err(r));
    }
    tx.execute(
        "UPDATE sessions SET state = 'committed' WHERE id = ?1 AND state = 'open'",
        [&s.id],
    )?;
    if let Err(r) = target_holds(tx, s, v.if_match)? {
        return Ok(Err(r));
    }
    if let Err(r) = fits(tx, quota, &s.owner, s.file_size, Some(&s.id))? {
        return Ok(Err(r));
    }
    let file_id = write_file(tx, s, v)?;
    tx.execute(
        "UPDATE sessions SET committed_file_id = ?2, committed_sha1 = ?3 WHERE id = ?1",
        params![s.id, file_id, v.sha1.to_hex()],
    )?;
    if !v.chain.is_empty() {
        let states: Vec<u8> = v.chain.iter().flat_map(|c| c.to_bytes()).collect();
        tx.execute(
            "INSERT OR REPLACE INTO part_chains(session_id, states) VALUES (?1, ?2)",
            params![s.id, states],
        )?;
    }
    let file = file_live(tx, &s.owner, file_id)?
        .ok_or(StoreError::Sql(rusqlite::Error::QueryReturnedNoRows))?;
    Ok(Ok(file))
}

/// The file row (new, or its new version) of a commit whose preconditions
/// hold; the file's id.
fn write_file(tx: &Transaction<'_>, s: &SessionRow, v: &NewVersion) -> Result<i64, StoreError> {
    if let Some(file_id) = s.file_id {
        let version = insert_version(tx, file_id, s, v)?;
        tx.execute(
            "UPDATE files SET version_id = ?3, etag = etag + 1, modified_at = ?4,
                 name = COALESCE(?5, name), name_key = COALESCE(?6, name_key),
                 description = COALESCE(?7, description),
                 content_created_at = COALESCE(?8, content_created_at),
                 content_modified_at = COALESCE(?9, content_modified_at)
             WHERE id = ?1 AND owner = ?2",
            params![
                file_id,
                s.owner,
                version,
                v.now,
                s.name,
                s.name.as_ref().map(|n| n.to_lowercase()),
                v.description,
                v.content_created_at,
                v.content_modified_at
            ],
        )?;
        return Ok(file_id);
    }
    let name = s.name.clone().unwrap_or_default();
    tx.execute(
        "INSERT INTO files(owner, folder_id, name, name_key, etag, version_id, description,
                           content_created_at, content_modified_at, created_at, modified_at)
         VALUES (?1, ?2, ?3, ?4, 0, 0, ?5, ?6, ?7, ?8, ?8)",
        params![
            s.owner,
            s.folder_id.as_deref().unwrap_or("0"),
            name,
            name.to_lowercase(),
            v.description.clone().unwrap_or_default(),
            v.content_created_at,
            v.content_modified_at,
            v.now
        ],
    )?;
    let file_id = tx.last_insert_rowid();
    let version = insert_version(tx, file_id, s, v)?;
    tx.execute(
        "UPDATE files SET version_id = ?2 WHERE id = ?1",
        params![file_id, version],
    )?;
    Ok(file_id)
}

/// The version row of a commit: the session's parts are its content.
fn insert_version(
    tx: &Transaction<'_>,
    file_id: i64,
    s: &SessionRow,
    v: &NewVersion,
) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO versions(file_id, session_id, size, sha1, part_size, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            file_id,
            s.id,
            i(s.file_size),
            v.sha1.to_hex(),
            i(s.part_size),
            v.now
        ],
    )?;
    Ok(tx.last_insert_rowid())
}
