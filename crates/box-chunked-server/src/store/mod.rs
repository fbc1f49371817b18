//! Durable state: metadata in SQLite (WAL, `synchronous=FULL`), part bytes in
//! files named by session id and part id, never by a user-supplied name.
//!
//! Layout under the data directory:
//!
//! ```text
//! lock                   held (flock) by the one server using the directory; its pid inside
//! meta.sqlite            users' folders, files, versions, sessions, parts,
//!                        id counters, parts' SHA-512 once a plan has asked for them,
//!                        and each committed session's SHA-1 chain after every part
//! blobs/<session>/<part> the bytes of each stored part (fsynced before the row is written)
//! tmp/                   parts being received; emptied at start
//! ```
//!
//! A part is acknowledged only after its bytes are fsynced, renamed into
//! place (directory fsynced) and its row committed. A file version points at
//! its session's blobs, so a commit is a single transaction: readers see the
//! whole file or none of it. At start (holding the lock, so nothing here is
//! another server's), rows win: blobs without a row are deleted, and a
//! commit that was being verified starts over when the client repeats it.
//!
//! Every write checks what it depends on inside its own transaction (the
//! file or folder still there and the caller's, the name still free, the
//! etag, the quota, the session still open) and answers a [`Refusal`]
//! instead of writing when one does not hold.

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
    /// Another server holds the data directory.
    #[error("the data directory {} is in use by another server ({}); stop that server, or give this one another data directory", dir.display(), holder(*pid))]
    Locked {
        /// The directory.
        dir: PathBuf,
        /// The holder's process id, when it wrote one.
        pid: Option<u32>,
    },
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

fn holder(pid: Option<u32>) -> String {
    pid.map_or_else(|| "process unknown".to_owned(), |p| format!("process {p}"))
}

impl StoreError {
    /// Whether the disk (or the user's disk quota) is full.
    pub fn is_out_of_space(&self) -> bool {
        match self {
            Self::Io { source, .. } => is_out_of_space(source),
            Self::Sql(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            Self::Sql(_) | Self::Locked { .. } => false,
        }
    }
}

/// Why a write was not made: a precondition checked in its transaction did
/// not hold. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The file, folder or parent folder is gone, or is not the caller's.
    NotFound,
    /// Another item of the folder has the name: its kind and id.
    NameInUse(&'static str, i64),
    /// `If-Match` names another etag.
    EtagChanged,
    /// The bytes do not fit the owner's quota.
    OverQuota {
        /// The bytes the write adds.
        size: u64,
        /// Bytes held already: files, and sessions' reservations.
        used: u64,
        /// The quota.
        quota: u64,
    },
    /// The owner has as many open sessions as allowed.
    TooManySessions {
        /// The limit.
        limit: u64,
    },
    /// The session is not open: committed (`true`), or aborted or
    /// collected (`false`).
    SessionClosed(bool),
    /// The version named is the file's current one (which cannot be deleted).
    CurrentVersion,
    /// The session is past its expiry (not yet collected).
    SessionExpired,
    /// A folder would move into itself or below itself.
    IntoItself,
}

/// The limits the store applies in its transactions, and the clock its
/// sessions expire by.
#[derive(Debug, Clone, Default)]
pub(crate) struct Limits {
    /// The server's clock.
    pub clock: crate::clock::Clock,
    /// Bytes each user may hold (files and open sessions).
    pub quota: Option<u64>,
    /// Open sessions each user may have.
    pub max_open_sessions: Option<u64>,
    /// How long deleted items stay in the trash (seconds); `None`: deletes
    /// are for good at once.
    pub trash_retention: Option<u64>,
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

mod changes;
mod commit;
mod copies;
mod digests;
mod fixture;
mod ids;
mod items;
mod lock;
mod reset;
mod schema;
mod sessions;
mod space;
mod trash;
mod versions;

pub(crate) use changes::{FileChanges, FolderChanges};
pub(crate) use commit::NewVersion;
pub(crate) use fixture::{Planted, SeedFile, SeedFolder, SeedVersion};
pub(crate) use ids::random_hex;
pub(crate) use items::{FileRow, FolderRow, ItemRow, VersionRow};
pub(crate) use sessions::{InsertPart, PartRow, SessionRow, SessionState};
pub(crate) use trash::{Restore, TrashedRow};

/// The store. Every method blocks; callers run them off the async executor.
pub(crate) struct Store {
    dir: PathBuf,
    conn: Mutex<Connection>,
    limits: Limits,
    part_ids: ids::Sequence,
    session_ids: ids::Sequence,
    /// Held while the store is open; released when it is dropped.
    _lock: lock::DirLock,
}

pub(crate) fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Opens (or creates) the store in `dir`: takes the directory's lock
    /// (refused, changing nothing, when another server holds it), brings
    /// the schema up to date and recovers from a crash.
    pub(crate) fn open(dir: &Path, limits: Limits) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        let lock = lock::DirLock::take(dir)?;
        for sub in ["blobs", "tmp"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(io_err("creating", &p))?;
        }
        let db = dir.join("meta.sqlite");
        let mut conn = Connection::open(&db)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        schema::migrate(&mut conn)?;
        let store = Self {
            dir: dir.to_path_buf(),
            conn: Mutex::new(conn),
            limits,
            part_ids: ids::Sequence::new("part_id", 1024),
            session_ids: ids::Sequence::new("session_id", 64),
            _lock: lock,
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

impl Store {
    /// Removes the blob directories of sessions whose rows are gone (a
    /// crash in between leaves directories the next start deletes).
    pub(crate) fn remove_session_dirs(&self, sessions: &[String]) {
        for sid in sessions {
            let _ = fs::remove_dir_all(self.session_dir(sid));
        }
    }
}

impl Store {
    /// Now, in Unix seconds on the server's clock.
    pub(crate) fn now_unix(&self) -> i64 {
        self.limits.clock.unix()
    }
}
