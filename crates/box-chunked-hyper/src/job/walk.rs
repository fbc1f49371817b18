//! Walking the paths of a job into its list of files: directories in name
//! order (their own name becomes a folder), symbolic links followed only
//! when asked (and a directory met twice walked once), anything that is not
//! a regular file listed as skipped with the reason.

use super::file::{EntryState, JobEntry, JobFile, Skip, SkipReason, JOB_FORMAT};
use crate::error::{Error, ErrorKind};
use box_chunked_core::conflicts::OnConflict;
use std::collections::BTreeMap;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

impl JobFile {
    /// A job for `paths` (files and directories) into `folder_id`.
    /// Directories are walked (their own name becomes a folder); symlinks
    /// are followed only with `follow_symlinks` (otherwise listed as
    /// skipped), and a directory met twice through links is walked once.
    pub fn plan(
        paths: &[PathBuf],
        folder_id: &str,
        on_conflict: OnConflict,
        follow_symlinks: bool,
    ) -> Result<Self, Error> {
        let mut entries = Vec::new();
        let mut seen = HashSet::new();
        for p in paths {
            // Absolute, so that the job resumes from any directory.
            let p = &std::path::absolute(p).unwrap_or_else(|_| p.clone());
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
                .or_else(|| {
                    std::fs::canonicalize(p)
                        .ok()
                        .and_then(|c| c.file_name().and_then(|n| n.to_str()).map(str::to_owned))
                })
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Config,
                        format!("{} has no usable name", p.display()),
                    )
                })?;
            walk(p, &name, follow_symlinks, &mut seen, &mut entries)?;
        }
        refuse_same_destination(&entries)?;
        Ok(Self {
            format: JOB_FORMAT,
            folder_id: folder_id.to_owned(),
            on_conflict,
            folders: BTreeMap::new(),
            entries,
            urls: None,
        })
    }
}

/// Two files of one job bound for one name (Box compares names without
/// regard to case) would meet only at the second one's `409`: the job is
/// refused before any byte, naming both.
fn refuse_same_destination(entries: &[JobEntry]) -> Result<(), Error> {
    let mut by_name: std::collections::HashMap<String, &JobEntry> =
        std::collections::HashMap::new();
    for e in entries {
        if let Some(first) = by_name.insert(e.rel.to_lowercase(), e) {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{} and {} would both be uploaded as {} (Box's names ignore case); give them different names or upload them to different folders",
                    first.path.display(),
                    e.path.display(),
                    e.rel
                ),
            ));
        }
    }
    Ok(())
}

fn walk(
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
