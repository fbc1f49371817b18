//! Walking the paths of a job into its list of files: directories in name
//! order (their own name becomes a folder), symbolic links followed only
//! when asked (and a directory met twice walked once), anything that is not
//! a regular file listed as skipped with the reason.

use super::file::{EntryState, JobEntry, Skip, SkipReason};
use crate::error::{Error, ErrorKind};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub(super) fn walk(
    path: &Path,
    rel: &str,
    follow: bool,
    seen: &mut HashSet<PathBuf>,
    out: &mut Vec<JobEntry>,
) -> Result<(), Error> {
    let io = |e: std::io::Error| {
        Error::new(
            ErrorKind::Io,
            format!("cannot read {}: {e}", path.display()),
        )
    };
    let link = std::fs::symlink_metadata(path).map_err(io)?;
    if link.file_type().is_symlink() && !follow {
        out.push(JobEntry {
            path: path.to_path_buf(),
            rel: rel.to_owned(),
            size: 0,
            state: EntryState::Skipped {
                reason: SkipReason::Known(Skip::Symlink),
            },
        });
        return Ok(());
    }
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        let real = std::fs::canonicalize(path).map_err(io)?;
        if !seen.insert(real) {
            return Ok(()); // a loop through links, or the same directory twice
        }
        let mut children: Vec<_> = std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(Result::ok)
            .collect();
        children.sort_by_key(std::fs::DirEntry::file_name);
        for c in children {
            let Some(name) = c.file_name().to_str().map(str::to_owned) else {
                out.push(JobEntry {
                    path: c.path(),
                    rel: format!("{rel}/{}", c.file_name().to_string_lossy()),
                    size: 0,
                    state: EntryState::Skipped {
                        reason: SkipReason::Known(Skip::NotUtf8Name),
                    },
                });
                continue;
            };
            walk(&c.path(), &format!("{rel}/{name}"), follow, seen, out)?;
        }
    } else if meta.is_file() {
        out.push(JobEntry {
            path: path.to_path_buf(),
            rel: rel.to_owned(),
            size: meta.len(),
            state: EntryState::Pending,
        });
    } else {
        out.push(JobEntry {
            path: path.to_path_buf(),
            rel: rel.to_owned(),
            size: 0,
            state: EntryState::Skipped {
                reason: SkipReason::Known(Skip::NotRegularFile),
            },
        });
    }
    Ok(())
}
