//! What a user holds, for the quota and `space_used`: every version of
//! their files, in the trash too (old versions keep their bytes, and so
//! does the trash until it is purged, as on Box) plus the size of each of
//! their open sessions, reserved from create until commit, abort or
//! collection. Plan hits share blobs on disk but count in full, so the
//! figure bounds the disk from above.

use super::{u, Refusal, Store, StoreError};
use rusqlite::{params, Connection};

/// Bytes `owner` holds, leaving out the open session `except` (the one a
/// commit is turning into a version).
pub(super) fn used(c: &Connection, owner: &str, except: Option<&str>) -> Result<u64, StoreError> {
    let n: i64 = c.query_row(
        "SELECT (SELECT COALESCE(SUM(v.size), 0) FROM versions v
                 WHERE v.file_id IN (SELECT id FROM files WHERE owner = ?1
                                     UNION ALL SELECT id FROM trashed_files WHERE owner = ?1))
              + (SELECT COALESCE(SUM(file_size), 0) FROM sessions
                 WHERE owner = ?1 AND state = 'open' AND id != ?2)",
        params![owner, except.unwrap_or("")],
        |r| r.get(0),
    )?;
    Ok(u(n))
}

/// `size` more bytes for `owner` fit the quota (`except` as in [`used`]).
pub(super) fn fits(
    c: &Connection,
    quota: Option<u64>,
    owner: &str,
    size: u64,
    except: Option<&str>,
) -> Result<Result<(), Refusal>, StoreError> {
    let Some(quota) = quota else {
        return Ok(Ok(()));
    };
    let held = used(c, owner, except)?;
    if held.saturating_add(size) > quota {
        return Ok(Err(Refusal::OverQuota {
            size,
            used: held,
            quota,
        }));
    }
    Ok(Ok(()))
}

/// An open session as the server's own routes show it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct OpenSession {
    pub id: String,
    pub owner: String,
    pub file_size: u64,
    pub expires_at: i64,
}

impl Store {
    /// Bytes `owner` holds: files (every version) and open sessions.
    pub(crate) fn space_used(&self, owner: &str) -> Result<u64, StoreError> {
        used(&self.conn(), owner, None)
    }

    /// Room left under the quota for `owner` (`None`: no quota).
    pub(crate) fn room(&self, owner: &str) -> Result<Option<u64>, StoreError> {
        let Some(quota) = self.limits.quota else {
            return Ok(None);
        };
        Ok(Some(quota.saturating_sub(self.space_used(owner)?)))
    }

    /// Every open session, oldest first (all users, or `owner`'s).
    pub(crate) fn open_sessions(
        &self,
        owner: Option<&str>,
    ) -> Result<Vec<OpenSession>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, owner, file_size, expires_at FROM sessions
             WHERE state = 'open' AND (?1 IS NULL OR owner = ?1) ORDER BY expires_at, id",
        )?;
        let rows = stmt
            .query_map([owner], |r| {
                Ok(OpenSession {
                    id: r.get(0)?,
                    owner: r.get(1)?,
                    file_size: u(r.get(2)?),
                    expires_at: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
