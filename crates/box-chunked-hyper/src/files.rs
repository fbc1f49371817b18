//! The crate's own files on disk (checkpoints, job files, token files):
//! read with their format checked, written atomically, secrets with owner-only
//! permissions.

use crate::error::{Error, ErrorKind};
use std::path::Path;

/// Reads a JSON file of this crate (a checkpoint, a job file) whose
/// `format` must be `format`: an error names the file and says what it is
/// not.
pub(crate) fn read_versioned<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
    format: u32,
    format_of: fn(&T) -> u32,
) -> Result<T, Error> {
    let text = std::fs::read(path).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot read the {what} {}: {e}", path.display()),
        )
    })?;
    let value: T = serde_json::from_slice(&text).map_err(|e| {
        Error::new(
            ErrorKind::Config,
            format!("{} is not a box-chunked {what}: {e}", path.display()),
        )
    })?;
    let found = format_of(&value);
    if found != format {
        return Err(Error::new(
            ErrorKind::Config,
            format!("{what} format {found} is not supported (this version reads {format})"),
        ));
    }
    Ok(value)
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync,
/// rename, fsync the directory. A crash leaves the old file or the new one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_mode(path, bytes, 0o644)
}

/// [`write_atomically`] with the new file's permission bits on Unix (`0o600`
/// for a file of secrets: it is never readable by others, not even briefly).
pub(crate) fn write_atomically_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state")
    ));
    {
        use std::io::Write as _;
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            open.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = open.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
