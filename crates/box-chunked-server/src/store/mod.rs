//! Durable state: metadata in SQLite (WAL, `synchronous=FULL`), part bytes in
//! files named by session id and part id, never by a user-supplied name.
//!
//! Layout under the data directory:
//!
//! ```text
//! meta.sqlite            users' folders, files, versions, sessions, parts,
//!                        and parts' SHA-512 once a plan has asked for them
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

use rusqlite::{Connection, OptionalExtension};
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

mod digests;
mod items;
mod sessions;

pub(crate) use items::{DeleteFolder, FileRow, ItemRow, Update};
pub(crate) use sessions::{
    CommitOutcome, InsertPart, NewVersion, PartRow, SessionRow, SessionState,
};

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
CREATE TABLE IF NOT EXISTS part_digests(
    session_id TEXT NOT NULL, part_id TEXT NOT NULL, sha512 TEXT NOT NULL,
    PRIMARY KEY(session_id, part_id));
";

pub(crate) fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn i(v: u64) -> i64 {
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
}

/// Writes durably: fsync the file, rename it into place, fsync the directory.
pub(crate) fn persist(tmp: &Path, dest: &Path) -> Result<(), StoreError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    fs::rename(tmp, dest).map_err(io_err("renaming into", dest))?;
    fsync_dir(dir)
}

/// A new part id: eight upper-case hex digits, as Box's. Unique within a
/// session because its blob is linked with [`persist_new`], which never
/// replaces a blob; on a clash the caller draws again.
pub(crate) fn new_part_id() -> String {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        b = t.to_be_bytes();
    }
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// Like [`persist`], but never replaces a file already at `dest`: `Ok(false)`
/// then, and `tmp` stays.
pub(crate) fn persist_new(tmp: &Path, dest: &Path) -> Result<bool, StoreError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    match fs::hard_link(tmp, dest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(io_err("linking into", dest)(e)),
    }
    let _ = fs::remove_file(tmp);
    fsync_dir(dir)?;
    Ok(true)
}

pub(crate) fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing directory", dir))
}
