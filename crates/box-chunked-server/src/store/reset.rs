//! Reset between tests: one user's data (files, versions, folders, the
//! trash, upload sessions and their parts), or everyone's, gone in one transaction, so a
//! request running meanwhile either finished before it or finds its items
//! gone (`404`); nothing is half deleted. Ids keep counting: none is handed
//! out again. The blobs of the sessions removed go after the transaction.

use super::{Store, StoreError};
use rusqlite::params;

impl Store {
    /// Removes `owner`'s data, or everyone's with `None`; the sessions whose
    /// blobs may go.
    pub(crate) fn reset(&self, owner: Option<&str>) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // `?1 IS NULL` selects every owner.
        let sessions: Vec<String> = {
            let mut stmt = tx.prepare("SELECT id FROM sessions WHERE ?1 IS NULL OR owner = ?1")?;
            let rows = stmt.query_map(params![owner], |r| r.get::<_, String>(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for sid in &sessions {
            tx.execute("DELETE FROM parts WHERE session_id = ?1", [sid])?;
            tx.execute("DELETE FROM part_digests WHERE session_id = ?1", [sid])?;
            tx.execute("DELETE FROM part_chains WHERE session_id = ?1", [sid])?;
        }
        tx.execute(
            "DELETE FROM versions WHERE file_id IN
                 (SELECT id FROM files WHERE ?1 IS NULL OR owner = ?1
                  UNION ALL SELECT id FROM trashed_files WHERE ?1 IS NULL OR owner = ?1)",
            params![owner],
        )?;
        for table in [
            "sessions",
            "files",
            "folders",
            "trashed_files",
            "trashed_folders",
        ] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE ?1 IS NULL OR owner = ?1"),
                params![owner],
            )?;
        }
        tx.commit()?;
        self.remove_session_dirs(&sessions);
        Ok(sessions)
    }
}
