//! Upload sessions and their parts: create, look up, list, record a part
//! (only while the session is open), delete an open session, and the commit
//! that turns a session into a file or a new version in one transaction.

use super::{i, u, Store, StoreError};
use box_chunked_proto::{Sha1Digest, UploadPart};
use rusqlite::{params, OptionalExtension};

/// Session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionState {
    Open,
    Committed,
}

impl SessionState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Committed => "committed",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "committed" {
            Self::Committed
        } else {
            Self::Open
        }
    }
}

/// An upload session row.
#[derive(Debug, Clone)]
pub(crate) struct SessionRow {
    pub id: String,
    pub owner: String,
    /// For new files: the folder. For versions: `None`.
    pub folder_id: Option<String>,
    /// For versions: the file.
    pub file_id: Option<i64>,
    /// The name to give the file (new files; renames for versions).
    pub name: Option<String>,
    pub file_size: u64,
    pub part_size: u64,
    pub total_parts: u64,
    /// Unix seconds.
    pub expires_at: i64,
    pub state: SessionState,
    pub committed_file_id: Option<i64>,
    pub committed_sha1: Option<String>,
}

/// A stored part row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartRow {
    pub index: u64,
    pub offset: u64,
    pub size: u64,
    pub part_id: String,
    pub sha1: Sha1Digest,
}

impl PartRow {
    pub(crate) fn to_wire(&self) -> UploadPart {
        UploadPart {
            part_id: self.part_id.clone(),
            offset: self.offset,
            size: self.size,
            sha1: Some(self.sha1),
        }
    }
}

/// What a commit writes.
#[derive(Debug, Clone)]
pub(crate) struct NewVersion {
    pub sha1: Sha1Digest,
    pub description: Option<String>,
    pub content_created_at: Option<String>,
    pub content_modified_at: Option<String>,
    pub now: i64,
}

/// Why a part row could not be inserted.
#[derive(Debug)]
pub(crate) enum InsertPart {
    Inserted,
    /// Another upload stored this index first.
    Conflict(PartRow),
    /// The session is no longer open: aborted or expired (`committed: false`),
    /// or committed. Nothing was recorded.
    Closed {
        committed: bool,
    },
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitOutcome {
    /// The file (or its new version) exists: its id.
    Committed(i64),
    /// The session was not open any more (another commit, an abort or the
    /// expiry got there first); nothing was written.
    NotOpen,
    /// Another file took the name first; nothing was written.
    NameInUse,
}

impl Store {
    // -------------------------------------------------------------- sessions

    pub(crate) fn create_session(&self, s: &SessionRow) -> Result<(), StoreError> {
        insert_session(&self.conn(), s)
    }

    pub(crate) fn session(&self, id: &str) -> Result<Option<SessionRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, owner, folder_id, file_id, name, file_size, part_size, total_parts,
                        expires_at, state, committed_file_id, committed_sha1
                 FROM sessions WHERE id = ?1",
                [id],
                |r| {
                    Ok(SessionRow {
                        id: r.get(0)?,
                        owner: r.get(1)?,
                        folder_id: r.get(2)?,
                        file_id: r.get(3)?,
                        name: r.get(4)?,
                        file_size: u(r.get(5)?),
                        part_size: u(r.get(6)?),
                        total_parts: u(r.get(7)?),
                        expires_at: r.get(8)?,
                        state: SessionState::parse(&r.get::<_, String>(9)?),
                        committed_file_id: r.get(10)?,
                        committed_sha1: r.get(11)?,
                    })
                },
            )
            .optional()?)
    }

    pub(crate) fn part_count(&self, session_id: &str) -> Result<u64, StoreError> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM parts WHERE session_id = ?1",
            [session_id],
            |r| r.get(0),
        )?;
        Ok(u(n))
    }

    pub(crate) fn part(&self, session_id: &str, index: u64) -> Result<Option<PartRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT idx, offset, size, part_id, sha1 FROM parts WHERE session_id = ?1 AND idx = ?2",
                params![session_id, i(index)],
                part_row,
            )
            .optional()?)
    }

    /// One page of parts by offset: `offset` is an entry index.
    pub(crate) fn parts(
        &self,
        session_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<PartRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT idx, offset, size, part_id, sha1 FROM parts WHERE session_id = ?1
             ORDER BY idx LIMIT ?2 OFFSET ?3",
        )?;
        let rows = stmt
            .query_map(params![session_id, i(limit), i(offset)], part_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Records a part whose blob is already durable, if its session is
    /// still open (checked in the same transaction, so an abort, an expiry
    /// or a commit either happens before, and the part is refused, or after).
    pub(crate) fn insert_part(
        &self,
        session_id: &str,
        p: &PartRow,
    ) -> Result<InsertPart, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let state: Option<String> = tx
            .query_row(
                "SELECT state FROM sessions WHERE id = ?1",
                [session_id],
                |r| r.get(0),
            )
            .optional()?;
        match state.as_deref() {
            Some("open") => {}
            other => {
                return Ok(InsertPart::Closed {
                    committed: other == Some("committed"),
                })
            }
        }
        let inserted = insert_part_row(&tx, session_id, p)?;
        if inserted {
            tx.commit()?;
            return Ok(InsertPart::Inserted);
        }
        let existing = tx.query_row(
            "SELECT idx, offset, size, part_id, sha1 FROM parts WHERE session_id = ?1 AND idx = ?2",
            params![session_id, i(p.index)],
            part_row,
        )?;
        Ok(InsertPart::Conflict(existing))
    }

    /// Deletes an open session and its part rows; returns whether it existed.
    /// The caller removes the blobs afterwards (a crash in between leaves
    /// orphans that the next start deletes).
    /// A committed session is never touched: its parts are the file's content.
    pub(crate) fn delete_session(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "DELETE FROM sessions WHERE id = ?1 AND state = 'open'",
            [id],
        )?;
        if n == 1 {
            tx.execute("DELETE FROM parts WHERE session_id = ?1", [id])?;
            tx.execute("DELETE FROM part_digests WHERE session_id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    /// Sets a session's expiry (unix seconds).
    pub(crate) fn set_expiry(&self, id: &str, at: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE sessions SET expires_at = ?2 WHERE id = ?1",
            params![id, at],
        )?;
        Ok(())
    }

    /// Bytes a user's files take (their current versions), for the quota.
    pub(crate) fn space_used(&self, owner: &str) -> Result<u64, StoreError> {
        let used: i64 = self.conn().query_row(
            "SELECT COALESCE(SUM(v.size), 0) FROM files f JOIN versions v ON v.id = f.version_id
             WHERE f.owner = ?1",
            [owner],
            |r| r.get(0),
        )?;
        Ok(u(used))
    }

    /// Open sessions that expired before `now`.
    pub(crate) fn expired_sessions(&self, now: i64) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT id FROM sessions WHERE state = 'open' AND expires_at <= ?1")?;
        let ids = stmt
            .query_map([now], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ids)
    }

    /// Commits a session: claims it (`open` -> `committed`), creates the
    /// file (or its new version) and records it, in one transaction, so that
    /// of a commit, an abort and the expiry exactly one wins, and a second
    /// commit writes nothing. A name taken meanwhile writes nothing either.
    pub(crate) fn commit(
        &self,
        s: &SessionRow,
        v: &NewVersion,
    ) -> Result<CommitOutcome, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let outcome = claim_and_write(&tx, s, v)?;
        if matches!(outcome, CommitOutcome::Committed(_)) {
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
    ) -> Result<CommitOutcome, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        insert_session(&tx, s)?;
        if let Some(p) = part {
            insert_part_row(&tx, &s.id, p)?;
        }
        let outcome = claim_and_write(&tx, s, v)?;
        if matches!(outcome, CommitOutcome::Committed(_)) {
            tx.commit()?;
        }
        Ok(outcome)
    }
}

/// Claims an open session (`open` -> `committed`) and writes its file or
/// version; the caller commits the transaction when it says `Committed`.
fn claim_and_write(
    tx: &rusqlite::Transaction<'_>,
    s: &SessionRow,
    v: &NewVersion,
) -> Result<CommitOutcome, StoreError> {
    let claimed = tx.execute(
        "UPDATE sessions SET state = 'committed' WHERE id = ?1 AND state = 'open'",
        [&s.id],
    )?;
    if claimed != 1 {
        return Ok(CommitOutcome::NotOpen);
    }
    let file_id = match write_file(tx, s, v) {
        Ok(id) => id,
        Err(StoreError::Sql(rusqlite::Error::SqliteFailure(e, _)))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            return Ok(CommitOutcome::NameInUse);
        }
        Err(e) => return Err(e),
    };
    tx.execute(
        "UPDATE sessions SET committed_file_id = ?2, committed_sha1 = ?3 WHERE id = ?1",
        params![s.id, file_id, v.sha1.to_hex()],
    )?;
    Ok(CommitOutcome::Committed(file_id))
}

fn insert_session(conn: &rusqlite::Connection, s: &SessionRow) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sessions(id, owner, folder_id, file_id, name, file_size, part_size,
                              total_parts, expires_at, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            s.id,
            s.owner,
            s.folder_id,
            s.file_id,
            s.name,
            i(s.file_size),
            i(s.part_size),
            i(s.total_parts),
            s.expires_at,
            s.state.as_str()
        ],
    )?;
    Ok(())
}

/// Inserts a part row unless its index is taken; whether it was inserted.
fn insert_part_row(
    conn: &rusqlite::Connection,
    session_id: &str,
    p: &PartRow,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO parts(session_id, idx, offset, size, part_id, sha1)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            session_id,
            i(p.index),
            i(p.offset),
            i(p.size),
            p.part_id,
            p.sha1.to_hex()
        ],
    )?;
    Ok(n == 1)
}

/// The file row (new, or its new version) of a commit; the file's id.
fn write_file(
    tx: &rusqlite::Transaction<'_>,
    s: &SessionRow,
    v: &NewVersion,
) -> Result<i64, StoreError> {
    {
        let file_id = match (s.file_id, &s.folder_id) {
            (Some(file_id), _) => {
                let version = insert_version(tx, file_id, s, v)?;
                tx.execute(
                    "UPDATE files SET version_id = ?2, etag = etag + 1, modified_at = ?3,
                         name = COALESCE(?4, name), name_key = COALESCE(?5, name_key),
                         description = COALESCE(?6, description),
                         content_created_at = COALESCE(?7, content_created_at),
                         content_modified_at = COALESCE(?8, content_modified_at)
                     WHERE id = ?1",
                    params![
                        file_id,
                        version,
                        v.now,
                        s.name,
                        s.name.as_ref().map(|n| n.to_lowercase()),
                        v.description,
                        v.content_created_at,
                        v.content_modified_at
                    ],
                )?;
                file_id
            }
            (None, folder) => {
                let name = s.name.clone().unwrap_or_default();
                tx.execute(
                    "INSERT INTO files(owner, folder_id, name, name_key, etag, version_id, description,
                                       content_created_at, content_modified_at, created_at, modified_at)
                     VALUES (?1, ?2, ?3, ?4, 0, 0, ?5, ?6, ?7, ?8, ?8)",
                    params![
                        s.owner,
                        folder.clone().unwrap_or_else(|| "0".to_owned()),
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
                file_id
            }
        };
        Ok(file_id)
    }
}

/// The version row of a commit: the session's parts are its content.
fn insert_version(
    tx: &rusqlite::Transaction<'_>,
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

fn part_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PartRow> {
    let sha: String = r.get(4)?;
    Ok(PartRow {
        index: u(r.get(0)?),
        offset: u(r.get(1)?),
        size: u(r.get(2)?),
        part_id: r.get(3)?,
        sha1: Sha1Digest::from_hex(&sha).unwrap_or(Sha1Digest([0; 20])),
    })
}
