//! Upload sessions and their parts: create (the target, the name, the open
//! session limit and the quota checked in the same transaction), look up,
//! list, record a part (only while the session is open), delete an open
//! session. The commit is in `commit`.

use super::items::{file_live, folder_live, named_except};
use super::space::fits;
use super::{i, u, Refusal, Store, StoreError};
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

/// Why a part row could not be inserted.
#[derive(Debug)]
pub(crate) enum InsertPart {
    Inserted,
    /// Another upload stored this index first.
    Conflict(PartRow),
    /// The session is no longer open (aborted, collected or committed) or
    /// has expired. Nothing was recorded.
    Refused(Refusal),
}

impl Store {
    // -------------------------------------------------------------- sessions

    /// Opens a session for `s` (its `id` is given here) when, in one
    /// transaction: the folder (new files) or the file (versions) is there
    /// and the owner's, the name is free, the owner has fewer open sessions
    /// than allowed, and the file's size fits the quota (it stays reserved
    /// until the session is committed, aborted or collected).
    pub(crate) fn create_session(
        &self,
        mut s: SessionRow,
    ) -> Result<Result<SessionRow, Refusal>, StoreError> {
        s.id = self.new_session_id()?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if let Err(r) = target_holds(&tx, &s, None)? {
            return Ok(Err(r));
        }
        if let Some(limit) = self.limits.max_open_sessions {
            let open: i64 = tx.query_row(
                "SELECT COUNT(*) FROM sessions WHERE owner = ?1 AND state = 'open'",
                [&s.owner],
                |r| r.get(0),
            )?;
            if u(open) >= limit {
                return Ok(Err(Refusal::TooManySessions { limit }));
            }
        }
        if let Err(r) = fits(&tx, self.limits.quota, &s.owner, s.file_size, None)? {
            return Ok(Err(r));
        }
        insert_session(&tx, &s)?;
        tx.commit()?;
        Ok(Ok(s))
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
    /// still open and not expired (checked in the same transaction, so an
    /// abort, an expiry or a commit either happens before, and the part is
    /// refused, or after).
    pub(crate) fn insert_part(
        &self,
        session_id: &str,
        p: &PartRow,
    ) -> Result<InsertPart, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if let Err(r) = still_open(&tx, session_id, self.limits.clock.unix())? {
            return Ok(InsertPart::Refused(r));
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
            tx.execute("DELETE FROM part_chains WHERE session_id = ?1", [id])?;
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
}

/// Where a session's file goes still holds: a new file's folder is there
/// and the owner's, with the name free; a new version's file is there, the
/// owner's and (with `if_match`) at that etag, with its new name (if any)
/// free in its folder.
pub(super) fn target_holds(
    c: &rusqlite::Connection,
    s: &SessionRow,
    if_match: Option<i64>,
) -> Result<Result<(), Refusal>, StoreError> {
    let (folder, except) = match (s.file_id, &s.folder_id) {
        (Some(id), _) => match file_live(c, &s.owner, id)? {
            Some(f) if if_match.is_some_and(|e| e != f.etag) => {
                return Ok(Err(Refusal::EtagChanged))
            }
            Some(f) => (f.folder_id, Some(("file", id))),
            None => return Ok(Err(Refusal::NotFound)),
        },
        (None, Some(folder)) if folder_live(c, &s.owner, folder)? => (folder.clone(), None),
        (None, _) => return Ok(Err(Refusal::NotFound)),
    };
    if let Some(name) = &s.name {
        if let Some((kind, id)) = named_except(c, &s.owner, &folder, name, except)? {
            return Ok(Err(Refusal::NameInUse(kind, id)));
        }
    }
    Ok(Ok(()))
}

/// The session is open and not expired at `now`: `SessionClosed` (with
/// whether it was committed) or `SessionExpired` otherwise.
pub(super) fn still_open(
    c: &rusqlite::Connection,
    id: &str,
    now: i64,
) -> Result<Result<(), Refusal>, StoreError> {
    let row: Option<(String, i64)> = c
        .query_row(
            "SELECT state, expires_at FROM sessions WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match row {
        Some((state, _)) if state != "open" => Err(Refusal::SessionClosed(state == "committed")),
        None => Err(Refusal::SessionClosed(false)),
        Some((_, expires)) if expires <= now => Err(Refusal::SessionExpired),
        Some(_) => Ok(()),
    })
}

pub(super) fn insert_session(
    conn: &rusqlite::Connection,
    s: &SessionRow,
) -> Result<(), StoreError> {
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
pub(super) fn insert_part_row(
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
