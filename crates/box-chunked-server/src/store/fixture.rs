//! Planting a fixture's folders and files with the ids, versions and
//! timestamps it gives. Each item is one transaction, which checks that a
//! given id is free and was never handed out (ids are never reused, so an
//! id at or below the table's sequence that no row holds is refused), and
//! skips an item whose name is there already (a restart on the same
//! data). A version's content is a committed session with one part, whose
//! blob the caller made durable first, exactly as a one-shot upload's.

use super::items::named_except;
use super::sessions::{insert_part_row, insert_session};
use super::{i, PartRow, SessionRow, SessionState, Store, StoreError};
use box_chunked_proto::Sha1Digest;
use rusqlite::{params, OptionalExtension as _, Transaction};

/// A folder to plant, its parent already known.
#[derive(Debug, Clone)]
pub(crate) struct SeedFolder {
    pub owner: String,
    pub id: Option<i64>,
    pub parent_id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

/// One version of a file to plant, whose blob (if any bytes) is durable.
#[derive(Debug, Clone)]
pub(crate) struct SeedVersion {
    pub id: Option<i64>,
    pub session_id: String,
    /// The part holding the bytes (none for an empty version).
    pub part: Option<PartRow>,
    pub size: u64,
    pub sha1: Sha1Digest,
    pub created_at: i64,
}

/// A file to plant, oldest version first.
#[derive(Debug, Clone)]
pub(crate) struct SeedFile {
    pub owner: String,
    pub id: Option<i64>,
    pub folder_id: String,
    pub name: String,
    pub description: String,
    pub content_created_at: Option<String>,
    pub content_modified_at: Option<String>,
    pub created_at: i64,
    pub versions: Vec<SeedVersion>,
}

/// What planting an item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Planted {
    /// Made, with this id.
    Made(i64),
    /// An item of that name was there already (its kind and id).
    There(&'static str, i64),
    /// Not made: why, in a sentence.
    Refused(String),
}

/// `Some(why)` when `id` cannot be given to a new row of `table`: a row of
/// it (or of its trash) holds it, or the table's sequence passed it.
fn id_taken(tx: &Transaction<'_>, table: &str, id: i64) -> Result<Option<String>, StoreError> {
    if id <= 0 {
        return Ok(Some(format!("id {id} is not a positive number")));
    }
    let mut tables = vec![table.to_owned()];
    if table != "versions" {
        tables.push(format!("trashed_{table}"));
    }
    for t in &tables {
        let held = tx
            .query_row(
                &format!("SELECT 1 FROM {t} WHERE id = ?1"),
                [id],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if held {
            return Ok(Some(format!("{table} id {id} is taken")));
        }
    }
    let seq: i64 = tx
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = ?1",
            [table],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    Ok((id <= seq).then(|| {
        format!(
            "{table} id {id} was handed out before (ids are never reused; the next is above {seq})"
        )
    }))
}

/// Runs `f` in a transaction, committing only when it made the item.
fn planting(
    store: &Store,
    f: impl FnOnce(&Transaction<'_>) -> Result<Planted, StoreError>,
) -> Result<Planted, StoreError> {
    let mut conn = store.conn();
    let tx = conn.transaction()?;
    let planted = f(&tx)?;
    if matches!(planted, Planted::Made(_)) {
        tx.commit()?;
    }
    Ok(planted)
}

impl Store {
    /// An item of `owner` named `name` in `folder_id`, if there is one.
    pub(crate) fn named(
        &self,
        owner: &str,
        folder_id: &str,
        name: &str,
    ) -> Result<Option<(&'static str, i64)>, StoreError> {
        named_except(&self.conn(), owner, folder_id, name, None)
    }

    /// Plants a folder (see the module's rules).
    pub(crate) fn plant_folder(&self, f: &SeedFolder) -> Result<Planted, StoreError> {
        planting(self, |tx| {
            if let Some((kind, id)) = named_except(tx, &f.owner, &f.parent_id, &f.name, None)? {
                return Ok(Planted::There(kind, id));
            }
            if let Some(why) =
                f.id.map(|id| id_taken(tx, "folders", id))
                    .transpose()?
                    .flatten()
            {
                return Ok(Planted::Refused(why));
            }
            tx.execute(
                "INSERT INTO folders(id, owner, parent_id, name, name_key, created_at, modified_at,
                                     description)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
                params![
                    f.id,
                    f.owner,
                    f.parent_id,
                    f.name,
                    f.name.to_lowercase(),
                    f.created_at,
                    f.description
                ],
            )?;
            Ok(Planted::Made(tx.last_insert_rowid()))
        })
    }

    /// Plants a file with its versions (see the module's rules); the caller
    /// removes the versions' blobs unless it was made.
    pub(crate) fn plant_file(&self, f: &SeedFile) -> Result<Planted, StoreError> {
        planting(self, |tx| {
            if let Some((kind, id)) = named_except(tx, &f.owner, &f.folder_id, &f.name, None)? {
                return Ok(Planted::There(kind, id));
            }
            if let Some(why) =
                f.id.map(|id| id_taken(tx, "files", id))
                    .transpose()?
                    .flatten()
            {
                return Ok(Planted::Refused(why));
            }
            let modified = f.versions.last().map_or(f.created_at, |v| v.created_at);
            tx.execute(
                "INSERT INTO files(id, owner, folder_id, name, name_key, etag, version_id,
                                   description, content_created_at, content_modified_at,
                                   created_at, modified_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9, ?10, ?11)",
                params![
                    f.id,
                    f.owner,
                    f.folder_id,
                    f.name,
                    f.name.to_lowercase(),
                    i(f.versions.len().saturating_sub(1) as u64),
                    f.description,
                    f.content_created_at,
                    f.content_modified_at,
                    f.created_at,
                    modified
                ],
            )?;
            let file_id = tx.last_insert_rowid();
            let mut current = 0;
            for v in &f.versions {
                match plant_version(tx, f, file_id, v)? {
                    Ok(id) => current = id,
                    Err(why) => return Ok(Planted::Refused(why)),
                }
            }
            tx.execute(
                "UPDATE files SET version_id = ?2 WHERE id = ?1",
                params![file_id, current],
            )?;
            Ok(Planted::Made(file_id))
        })
    }
}

/// One version: its session (committed to the file), part and row.
fn plant_version(
    tx: &Transaction<'_>,
    f: &SeedFile,
    file_id: i64,
    v: &SeedVersion,
) -> Result<Result<i64, String>, StoreError> {
    if let Some(why) =
        v.id.map(|id| id_taken(tx, "versions", id))
            .transpose()?
            .flatten()
    {
        return Ok(Err(why));
    }
    let session = SessionRow {
        id: v.session_id.clone(),
        owner: f.owner.clone(),
        folder_id: Some(f.folder_id.clone()),
        file_id: None,
        name: Some(f.name.clone()),
        file_size: v.size,
        part_size: v.size.max(1),
        total_parts: u64::from(v.part.is_some()),
        expires_at: v.created_at,
        state: SessionState::Committed,
        committed_file_id: None,
        committed_sha1: None,
    };
    insert_session(tx, &session)?;
    if let Some(p) = &v.part {
        insert_part_row(tx, &v.session_id, p)?;
    }
    tx.execute(
        "UPDATE sessions SET committed_file_id = ?2, committed_sha1 = ?3 WHERE id = ?1",
        params![v.session_id, file_id, v.sha1.to_hex()],
    )?;
    tx.execute(
        "INSERT INTO versions(id, file_id, session_id, size, sha1, part_size, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            v.id,
            file_id,
            v.session_id,
            i(v.size),
            v.sha1.to_hex(),
            i(v.size.max(1)),
            v.created_at
        ],
    )?;
    Ok(Ok(tx.last_insert_rowid()))
}
