//! Durable state: metadata in SQLite (WAL, `synchronous=FULL`), part bytes in
//! files named by session id and part id, never by a user-supplied name.
//!
//! Layout under the data directory:
//!
//! ```text
//! meta.sqlite            users' folders, files, versions, sessions, parts
//! blobs/<session>/<part> the bytes of each stored part (fsynced before the row is written)
//! tmp/                   parts being received; emptied at start
//! ```
//!
//! A part is acknowledged only after its bytes are fsynced, renamed into
//! place (directory fsynced) and its row committed. A file version points at
//! its session's blobs, so a commit is a single transaction: readers see the
//! whole file or none of it. At start, rows win: blobs without a row are
//! deleted, and a commit that was being verified starts over when the client
//! repeats it.

use box_chunked_proto::{Sha1Digest, UploadPart};
use rusqlite::{params, Connection, OptionalExtension};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The metadata database failed.
    #[error("metadata store: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

impl StoreError {
    /// Whether the disk (or the user's disk quota) is full.
    pub fn is_out_of_space(&self) -> bool {
        match self {
            Self::Io { source, .. } => is_out_of_space(source),
            Self::Sql(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            Self::Sql(_) => false,
        }
    }
}

/// `ENOSPC` or `EDQUOT`: no space left.
pub(crate) fn is_out_of_space(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(28 | 122))
}

pub(crate) fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionState {
    Open,
    Committed,
}

impl SessionState {
    fn as_str(self) -> &'static str {
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

/// A folder row.
#[derive(Debug, Clone)]
pub(crate) struct FolderRow {
    pub id: i64,
    pub parent_id: String,
    pub name: String,
    pub created_at: i64,
}

/// A file row with its current version.
#[derive(Debug, Clone)]
pub(crate) struct FileRow {
    pub id: i64,
    pub owner: String,
    pub folder_id: String,
    pub name: String,
    pub etag: i64,
    pub version_id: i64,
    pub description: String,
    pub content_created_at: Option<String>,
    pub content_modified_at: Option<String>,
    pub created_at: i64,
    pub modified_at: i64,
    pub size: u64,
    pub sha1: String,
    /// Where the bytes are: the session whose parts they are.
    pub session_id: String,
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

/// The store. Every method blocks; callers run them off the async executor.
pub(crate) struct Store {
    dir: PathBuf,
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS folders(
    id INTEGER PRIMARY KEY, owner TEXT NOT NULL, parent_id TEXT NOT NULL,
    name TEXT NOT NULL, name_key TEXT NOT NULL, created_at INTEGER NOT NULL,
    UNIQUE(owner, parent_id, name_key));
CREATE TABLE IF NOT EXISTS files(
    id INTEGER PRIMARY KEY, owner TEXT NOT NULL, folder_id TEXT NOT NULL,
    name TEXT NOT NULL, name_key TEXT NOT NULL, etag INTEGER NOT NULL,
    version_id INTEGER NOT NULL, description TEXT NOT NULL DEFAULT '',
    content_created_at TEXT, content_modified_at TEXT,
    created_at INTEGER NOT NULL, modified_at INTEGER NOT NULL,
    UNIQUE(owner, folder_id, name_key));
CREATE TABLE IF NOT EXISTS versions(
    id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, session_id TEXT NOT NULL,
    size INTEGER NOT NULL, sha1 TEXT NOT NULL, part_size INTEGER NOT NULL,
    created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions(
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, folder_id TEXT, file_id INTEGER,
    name TEXT, file_size INTEGER NOT NULL, part_size INTEGER NOT NULL,
    total_parts INTEGER NOT NULL, expires_at INTEGER NOT NULL, state TEXT NOT NULL,
    committed_file_id INTEGER, committed_sha1 TEXT);
CREATE TABLE IF NOT EXISTS parts(
    session_id TEXT NOT NULL, idx INTEGER NOT NULL, offset INTEGER NOT NULL,
    size INTEGER NOT NULL, part_id TEXT NOT NULL, sha1 TEXT NOT NULL,
    PRIMARY KEY(session_id, idx));
";

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Opens (or creates) the store in `dir` and recovers from a crash.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        for sub in ["blobs", "tmp"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(io_err("creating", &p))?;
        }
        let db = dir.join("meta.sqlite");
        let conn = Connection::open(&db)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.execute_batch(SCHEMA)?;
        let store = Self {
            dir: dir.to_path_buf(),
            conn: Mutex::new(conn),
        };
        store.recover()?;
        Ok(store)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent
        // (transactions roll back), so a poisoned lock is still usable.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The directory parts are received into.
    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// The directory of a session's part blobs.
    pub(crate) fn session_dir(&self, session_id: &str) -> PathBuf {
        self.dir.join("blobs").join(session_id)
    }

    /// The blob of one part.
    pub(crate) fn blob_path(&self, session_id: &str, part_id: &str) -> PathBuf {
        self.session_dir(session_id).join(part_id)
    }

    /// After a crash: empty `tmp/`, delete blobs that have no row and blob
    /// directories of sessions that no longer exist.
    fn recover(&self) -> Result<(), StoreError> {
        let tmp = self.tmp_dir();
        for e in fs::read_dir(&tmp)
            .map_err(io_err("listing", &tmp))?
            .flatten()
        {
            let _ = fs::remove_file(e.path());
        }
        let blobs = self.dir.join("blobs");
        let conn = self.conn();
        for e in fs::read_dir(&blobs)
            .map_err(io_err("listing", &blobs))?
            .flatten()
        {
            let sid = e.file_name().to_string_lossy().into_owned();
            let exists: bool = conn
                .query_row("SELECT 1 FROM sessions WHERE id = ?1", [&sid], |_| Ok(true))
                .optional()?
                .unwrap_or(false);
            if !exists {
                let _ = fs::remove_dir_all(e.path());
                continue;
            }
            let mut stmt = conn.prepare("SELECT part_id FROM parts WHERE session_id = ?1")?;
            let known: std::collections::HashSet<String> = stmt
                .query_map([&sid], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?;
            if let Ok(files) = fs::read_dir(e.path()) {
                for f in files.flatten() {
                    if !known.contains(&*f.file_name().to_string_lossy()) {
                        let _ = fs::remove_file(f.path());
                    }
                }
            }
        }
        Ok(())
    }

    // --------------------------------------------------------------- folders

    pub(crate) fn folder(&self, owner: &str, id: &str) -> Result<Option<FolderRow>, StoreError> {
        let Ok(n) = id.parse::<i64>() else {
            return Ok(None);
        };
        Ok(self
            .conn()
            .query_row(
                "SELECT id, parent_id, name, created_at FROM folders WHERE id = ?1 AND owner = ?2",
                params![n, owner],
                |r| {
                    Ok(FolderRow {
                        id: r.get(0)?,
                        parent_id: r.get(1)?,
                        name: r.get(2)?,
                        created_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Whether `id` is a folder of `owner` (`"0"`, the root, always is).
    pub(crate) fn folder_exists(&self, owner: &str, id: &str) -> Result<bool, StoreError> {
        Ok(id == "0" || self.folder(owner, id)?.is_some())
    }

    /// An item (file or folder) named like `name` in the folder.
    pub(crate) fn item_named(
        &self,
        owner: &str,
        folder_id: &str,
        name: &str,
    ) -> Result<Option<(&'static str, i64)>, StoreError> {
        let key = name.to_lowercase();
        let conn = self.conn();
        if let Some(id) = conn
            .query_row(
                "SELECT id FROM files WHERE owner = ?1 AND folder_id = ?2 AND name_key = ?3",
                params![owner, folder_id, key],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
        {
            return Ok(Some(("file", id)));
        }
        Ok(conn
            .query_row(
                "SELECT id FROM folders WHERE owner = ?1 AND parent_id = ?2 AND name_key = ?3",
                params![owner, folder_id, key],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|id| ("folder", id)))
    }

    pub(crate) fn create_folder(
        &self,
        owner: &str,
        parent_id: &str,
        name: &str,
        now: i64,
    ) -> Result<FolderRow, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO folders(owner, parent_id, name, name_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![owner, parent_id, name, name.to_lowercase(), now],
        )?;
        Ok(FolderRow {
            id: conn.last_insert_rowid(),
            parent_id: parent_id.to_owned(),
            name: name.to_owned(),
            created_at: now,
        })
    }

    // ----------------------------------------------------------------- files

    pub(crate) fn file(&self, owner: &str, id: &str) -> Result<Option<FileRow>, StoreError> {
        let Ok(n) = id.parse::<i64>() else {
            return Ok(None);
        };
        Ok(self
            .conn()
            .query_row(
                "SELECT f.id, f.owner, f.folder_id, f.name, f.etag, f.version_id, f.description,
                        f.content_created_at, f.content_modified_at, f.created_at, f.modified_at,
                        v.size, v.sha1, v.session_id
                 FROM files f JOIN versions v ON v.id = f.version_id
                 WHERE f.id = ?1 AND f.owner = ?2",
                params![n, owner],
                |r| {
                    Ok(FileRow {
                        id: r.get(0)?,
                        owner: r.get(1)?,
                        folder_id: r.get(2)?,
                        name: r.get(3)?,
                        etag: r.get(4)?,
                        version_id: r.get(5)?,
                        description: r.get(6)?,
                        content_created_at: r.get(7)?,
                        content_modified_at: r.get(8)?,
                        created_at: r.get(9)?,
                        modified_at: r.get(10)?,
                        size: u(r.get(11)?),
                        sha1: r.get(12)?,
                        session_id: r.get(13)?,
                    })
                },
            )
            .optional()?)
    }

    // -------------------------------------------------------------- sessions

    pub(crate) fn create_session(&self, s: &SessionRow) -> Result<(), StoreError> {
        self.conn().execute(
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
        let n = tx.execute(
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
        if n == 1 {
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
        let claimed = tx.execute(
            "UPDATE sessions SET state = 'committed' WHERE id = ?1 AND state = 'open'",
            [&s.id],
        )?;
        if claimed != 1 {
            return Ok(CommitOutcome::NotOpen);
        }
        let written = write_file(&tx, s, v);
        let file_id = match written {
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
        tx.commit()?;
        Ok(CommitOutcome::Committed(file_id))
    }
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

/// Writes durably: fsync the file, rename it into place, fsync the directory.
pub(crate) fn persist(tmp: &Path, dest: &Path) -> Result<(), StoreError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    fs::rename(tmp, dest).map_err(io_err("renaming into", dest))?;
    fsync_dir(dir)
}

pub(crate) fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing directory", dir))
}
