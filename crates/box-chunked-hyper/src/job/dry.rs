//! A job's dry run: what [`super::Job::run`] would do for each file and
//! folder, decided as the run decides it (the core's conflict policy,
//! [`box_chunked_core::conflicts::resolve`], against each target folder's
//! listing) but with nothing sent that changes anything: folders are only
//! looked up, files only listed (and, for `skip`, hashed locally).

use super::file::{EntryState, JobFile};
use crate::{BoxClient, Error, ErrorKind};
use box_chunked_core::browse::find_named;
use box_chunked_core::conflicts::{is_same_content, resolve, Conflict, Resolution};
use box_chunked_proto::listing::Item;
use box_chunked_proto::Sha1Digest;
use std::collections::HashMap;
use std::path::PathBuf;

/// One action a run would take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryAction {
    /// The file or folder, relative to the job's folder (`photos/2026`).
    pub rel: String,
    /// The local file (none for a folder).
    pub path: Option<PathBuf>,
    /// As a run reports it: `uploaded`, `version`, `skipped`, `renamed` or
    /// `failed` for a file; `folder_created` for a folder the run would make.
    pub outcome: &'static str,
    /// The name a renamed file would take.
    pub name: Option<String>,
    /// Why a file would be skipped or would fail.
    pub reason: Option<String>,
}

/// What is known of the job's remote folders: a relative directory's
/// folder id (`None`: the run would make it), and folders' listings.
#[derive(Default)]
struct Remote {
    dirs: HashMap<String, Option<String>>,
    listings: HashMap<String, Vec<Item>>,
}

impl JobFile {
    /// What a run of this job would do, in the order it would do it.
    /// `root_exists` is false when the job's folder itself would be made
    /// first (`upload --folder PATH --mkdir`): everything is new then.
    pub async fn dry_run(
        &self,
        client: &BoxClient,
        root_exists: bool,
    ) -> Result<Vec<DryAction>, Error> {
        let mut remote = Remote::default();
        remote
            .dirs
            .insert(String::new(), root_exists.then(|| self.folder_id.clone()));
        let mut out = Vec::new();
        for e in &self.entries {
            let (dir, name) = e.rel.rsplit_once('/').unwrap_or(("", &e.rel));
            let file = |outcome, name: Option<String>, reason: Option<String>| DryAction {
                rel: e.rel.clone(),
                path: Some(e.path.clone()),
                outcome,
                name,
                reason,
            };
            if let EntryState::Skipped { reason } = &e.state {
                out.push(file("skipped", None, Some(reason.to_string())));
                continue;
            }
            let Some(folder) = folder_of(client, &mut remote, dir, &mut out).await? else {
                out.push(file("uploaded", None, None));
                continue;
            };
            if !remote.listings.contains_key(&folder) {
                let items = client.list_folder(&folder).await?;
                remote.listings.insert(folder.clone(), items);
            }
            let listing = &remote.listings[&folder];
            let Some(there) = find_named(listing, name) else {
                out.push(file("uploaded", None, None));
                continue;
            };
            let conflict = Conflict {
                kind: there.kind.clone(),
                id: there.id.clone(),
                sha1: there.sha1,
            };
            let taken = format!("the name is taken by {} {}", there.kind, there.id);
            out.push(match resolve(self.on_conflict, &conflict, name, 1) {
                Resolution::Fail => file("failed", None, Some(taken)),
                Resolution::NewVersion { .. } => file("version", None, None),
                Resolution::CompareWith { .. } => {
                    let (sha1, size) = hash(&e.path).await?;
                    if is_same_content(there.sha1.as_ref(), there.size, &sha1, size) {
                        file(
                            "skipped",
                            None,
                            Some("the file there has the same SHA-1 and size".into()),
                        )
                    } else {
                        file(
                            "failed",
                            None,
                            Some(format!("{taken}, which holds other bytes")),
                        )
                    }
                }
                Resolution::Rename(_) => match free_name(self, &conflict, listing, name) {
                    Some(n) => file("renamed", Some(n), None),
                    None => file("failed", None, Some(taken)),
                },
            });
        }
        Ok(out)
    }
}

/// The first numbered name a rename would find free in `listing`.
fn free_name(job: &JobFile, conflict: &Conflict, listing: &[Item], name: &str) -> Option<String> {
    let mut attempt = 1;
    loop {
        match resolve(job.on_conflict, conflict, name, attempt) {
            Resolution::Rename(n) if find_named(listing, &n).is_none() => return Some(n),
            Resolution::Rename(_) => attempt += 1,
            _ => return None,
        }
    }
}

/// The folder id of relative directory `dir` (`None`: the run would make
/// it, and then everything below it too); a folder to make is reported once.
async fn folder_of(
    client: &BoxClient,
    remote: &mut Remote,
    dir: &str,
    out: &mut Vec<DryAction>,
) -> Result<Option<String>, Error> {
    if let Some(known) = remote.dirs.get(dir) {
        return Ok(known.clone());
    }
    let (parent_dir, name) = dir.rsplit_once('/').unwrap_or(("", dir));
    let parent = Box::pin(folder_of(client, remote, parent_dir, out)).await?;
    let found = match &parent {
        Some(p) => client.find_in(p, name).await?,
        None => None,
    };
    let id = match found {
        Some(item) if item.is_folder() => Some(item.id),
        Some(item) => {
            return Err(Error::new(
                ErrorKind::Refused,
                format!(
                    "{dir} would be a folder, but the name is taken by file {}",
                    item.id
                ),
            ))
        }
        None => {
            out.push(DryAction {
                rel: dir.to_owned(),
                path: None,
                outcome: "folder_created",
                name: None,
                reason: None,
            });
            None
        }
    };
    remote.dirs.insert(dir.to_owned(), id.clone());
    Ok(id)
}

/// A local file's SHA-1 (read in pieces) and size.
async fn hash(path: &std::path::Path) -> Result<(Sha1Digest, u64), Error> {
    let size = std::fs::metadata(path)
        .map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot read {}: {e}", path.display()),
            )
        })?
        .len();
    Ok((crate::download::sha1_of(path).await?, size))
}
