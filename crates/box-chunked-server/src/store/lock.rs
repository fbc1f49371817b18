//! One server per data directory: an exclusive lock (`flock`) on the file
//! `lock` in it, held as long as the store is open, with the holder's
//! process id written inside so that a second server can say who holds it.
//! The operating system drops the lock when its process ends, `kill -9`
//! included, so a crash never leaves a directory locked.

use super::{io_err, StoreError};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::Path;

/// The lock on a data directory; dropping it releases the directory.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock on `dir` (which exists), or says who holds it. Nothing
    /// in the directory is changed when the lock is held by another.
    pub(crate) fn take(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err("opening", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    pid: text.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err("locking", &path)(e)),
        }
        let write = |f: &mut File| -> std::io::Result<()> {
            f.set_len(0)?;
            f.rewind()?;
            writeln!(f, "{}", std::process::id())?;
            f.sync_all()
        };
        write(&mut file).map_err(io_err("writing", &path))?;
        Ok(Self { _file: file })
    }
}
