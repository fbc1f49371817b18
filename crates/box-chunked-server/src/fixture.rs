//! JSON fixtures: users' folders and files with the ids, versions and
//! timestamps a test wants, planted when the server starts (`serve --seed
//! FILE.json`, or [`crate::Server::plant`]). Paths are from the user's root
//! ("All Files"); a file's missing folders are made. Items whose name is
//! there already are skipped, so a restart on the same data plants nothing
//! twice; a given id that is taken, or was handed out before, is refused
//! (ids are never reused).
//!
//! ```json
//! {"users": {"alice": {
//!   "folders": [{"path": "/Reports", "id": "5000", "created_at": "2026-01-02T03:04:05Z"}],
//!   "files": [{"path": "/Reports/q1.csv", "id": "7000", "description": "Q1",
//!              "content_modified_at": "2026-03-31T18:00:00Z",
//!              "versions": [{"content": "a,b\n", "created_at": "2026-04-01T00:00:00Z"},
//!                           {"size": 30000000, "seed": 7, "id": "9000"}]}]}}}
//! ```
//!
//! A version's bytes are `content` (text), `content_base64`, or `size`
//! bytes of a repeatable pseudo-random stream chosen by `seed`.

use crate::store::{
    persist, PartRow, Planted, SeedFile, SeedFolder, SeedVersion, Store, StoreError,
};
use base64::Engine as _;
use box_chunked_proto::{Sha1Digest, Timestamp};
use serde::Deserialize;
use sha1::{Digest as _, Sha1};
use std::collections::BTreeMap;
use std::io::Write as _;

/// A fixture: each user's folders and files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// By user id (the user a `--token TOKEN=USER` signs in as).
    pub users: BTreeMap<String, UserFixture>,
}

/// One user's items.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserFixture {
    /// Folders (parents before children is not needed: paths decide).
    #[serde(default)]
    pub folders: Vec<FolderFixture>,
    /// Files.
    #[serde(default)]
    pub files: Vec<FileFixture>,
}

/// A folder.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderFixture {
    /// `/a/b`: its path from the root.
    pub path: String,
    /// Its id (a new one when absent).
    #[serde(default)]
    pub id: Option<String>,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// When it was made (RFC 3339; now when absent).
    #[serde(default)]
    pub created_at: Option<String>,
}

/// A file and its versions, oldest first.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileFixture {
    /// `/a/b.txt`: its path from the root.
    pub path: String,
    /// Its id (a new one when absent).
    #[serde(default)]
    pub id: Option<String>,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// When it was made (RFC 3339; the first version's time when absent).
    #[serde(default)]
    pub created_at: Option<String>,
    /// Box's `content_created_at`.
    #[serde(default)]
    pub content_created_at: Option<String>,
    /// Box's `content_modified_at` (what rclone reads as the modification time).
    #[serde(default)]
    pub content_modified_at: Option<String>,
    /// Its versions, oldest first; the last is current. At least one.
    pub versions: Vec<VersionFixture>,
}

/// One version's content and time.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionFixture {
    /// Its file version id (a new one when absent).
    #[serde(default)]
    pub id: Option<String>,
    /// Its bytes, as text.
    #[serde(default)]
    pub content: Option<String>,
    /// Its bytes, in standard base64.
    #[serde(default)]
    pub content_base64: Option<String>,
    /// Its size, for pseudo-random bytes chosen by `seed`.
    #[serde(default)]
    pub size: Option<u64>,
    /// The pseudo-random stream (with `size`; 0 when absent).
    #[serde(default)]
    pub seed: Option<u64>,
    /// When it was uploaded (RFC 3339; now when absent).
    #[serde(default)]
    pub created_at: Option<String>,
}

/// Why a fixture was not planted whole.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The text is not a fixture.
    #[error("the fixture is not valid: {0}")]
    Invalid(String),
    /// An item could not be planted; what was planted before it stays.
    #[error("{user}'s {path}: {why}")]
    Item {
        /// The user.
        user: String,
        /// The item's path.
        path: String,
        /// Why, in a sentence.
        why: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What planting did: items made, and items there already.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Planting {
    /// Folders and files made.
    pub made: u64,
    /// Folders and files whose name was there already.
    pub there: u64,
}

impl Fixture {
    /// Parses a fixture's JSON.
    pub fn from_json(text: &str) -> Result<Self, FixtureError> {
        serde_json::from_str(text).map_err(|e| FixtureError::Invalid(e.to_string()))
    }
}

/// Unix seconds of an RFC 3339 time, or `now`.
fn time_of(t: &Option<String>, now: i64) -> Result<i64, String> {
    let Some(text) = t else {
        return Ok(now);
    };
    let at = Timestamp::from_text(text.clone())
        .to_system_time()
        .map_err(|_| format!("{text:?} is not an RFC 3339 time"))?;
    Ok(at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64))
}

fn id_of(id: &Option<String>) -> Result<Option<i64>, String> {
    id.as_ref()
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| format!("id {s:?} is not a number (Box's ids are)"))
        })
        .transpose()
}

/// Splits `/a/b/c` into its names; an empty name or `.`/`..` is refused.
fn names(path: &str) -> Result<Vec<&str>, String> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err("the path must be /NAME/NAME... with no empty, . or .. name".into());
    }
    Ok(parts)
}

/// Plants `fixture` into `store` (blocking), each item in its own
/// transaction.
pub(crate) fn plant(store: &Store, fixture: &Fixture, now: i64) -> Result<Planting, FixtureError> {
    let mut done = Planting::default();
    for (user, items) in &fixture.users {
        let err = |path: &str, why: String| FixtureError::Item {
            user: user.clone(),
            path: path.to_owned(),
            why,
        };
        for f in &items.folders {
            let parts = names(&f.path).map_err(|w| err(&f.path, w))?;
            let (last, parents) = parts
                .split_last()
                .ok_or_else(|| err(&f.path, "no name".into()))?;
            let parent =
                folders_of(store, user, parents, now, &mut done).map_err(|w| err(&f.path, w))?;
            let seed = SeedFolder {
                owner: user.clone(),
                id: id_of(&f.id).map_err(|w| err(&f.path, w))?,
                parent_id: parent,
                name: (*last).to_owned(),
                description: f.description.clone().unwrap_or_default(),
                created_at: time_of(&f.created_at, now).map_err(|w| err(&f.path, w))?,
            };
            count(store.plant_folder(&seed)?, &mut done).map_err(|w| err(&f.path, w))?;
        }
        for f in &items.files {
            plant_file(store, user, f, now, &mut done).map_err(|w| err(&f.path, w))?;
        }
    }
    Ok(done)
}

fn count(p: Planted, done: &mut Planting) -> Result<i64, String> {
    match p {
        Planted::Made(id) => {
            done.made += 1;
            Ok(id)
        }
        Planted::There(_, id) => {
            done.there += 1;
            Ok(id)
        }
        Planted::Refused(why) => Err(why),
    }
}

/// The id of the folder at `names` (from the root), made where missing.
fn folders_of(
    store: &Store,
    user: &str,
    names: &[&str],
    now: i64,
    done: &mut Planting,
) -> Result<String, String> {
    let mut at = "0".to_owned();
    for name in names {
        let found = store.named(user, &at, name).map_err(|e| e.to_string())?;
        at = match found {
            Some(("folder", id)) => id.to_string(),
            Some((_, _)) => return Err(format!("{name} is a file, not a folder")),
            None => {
                let seed = SeedFolder {
                    owner: user.to_owned(),
                    id: None,
                    parent_id: at.clone(),
                    name: (*name).to_owned(),
                    description: String::new(),
                    created_at: now,
                };
                count(store.plant_folder(&seed).map_err(|e| e.to_string())?, done)?.to_string()
            }
        };
    }
    Ok(at)
}

fn plant_file(
    store: &Store,
    user: &str,
    f: &FileFixture,
    now: i64,
    done: &mut Planting,
) -> Result<(), String> {
    let parts = names(&f.path)?;
    let (last, parents) = parts.split_last().ok_or("no name")?;
    if f.versions.is_empty() {
        return Err("a file needs at least one version".into());
    }
    let folder = folders_of(store, user, parents, now, done)?;
    if store
        .named(user, &folder, last)
        .map_err(|e| e.to_string())?
        .is_some()
    {
        done.there += 1;
        return Ok(());
    }
    let mut versions = Vec::with_capacity(f.versions.len());
    for v in &f.versions {
        let made = write_version(store, v, now);
        if made.is_err() {
            remove(store, &versions);
        }
        versions.push(made?);
    }
    let seed = SeedFile {
        owner: user.to_owned(),
        id: id_of(&f.id)?,
        folder_id: folder,
        name: (*last).to_owned(),
        description: f.description.clone().unwrap_or_default(),
        content_created_at: f.content_created_at.clone(),
        content_modified_at: f.content_modified_at.clone(),
        created_at: time_of(&f.created_at, versions[0].created_at)?,
        versions,
    };
    let planted = store.plant_file(&seed).map_err(|e| e.to_string());
    if !matches!(planted, Ok(Planted::Made(_))) {
        remove(store, &seed.versions);
    }
    count(planted?, done).map(|_| ())
}

fn remove(store: &Store, versions: &[SeedVersion]) {
    let sessions: Vec<String> = versions.iter().map(|v| v.session_id.clone()).collect();
    store.remove_session_dirs(&sessions);
}

/// The bytes of a version, written durable as its one part's blob.
fn write_version(store: &Store, v: &VersionFixture, now: i64) -> Result<SeedVersion, String> {
    let created_at = time_of(&v.created_at, now)?;
    let io = |e: std::io::Error| e.to_string();
    let session_id = store.new_session_id().map_err(|e| e.to_string())?;
    let tmp = store.tmp_dir().join(format!("fixture-{session_id}"));
    let mut out = std::fs::File::create(&tmp).map_err(io)?;
    let mut h = Sha1::new();
    let mut size = 0u64;
    let mut put = |bytes: &[u8]| -> Result<(), String> {
        h.update(bytes);
        size += bytes.len() as u64;
        out.write_all(bytes).map_err(io)
    };
    match (&v.content, &v.content_base64, v.size) {
        (Some(text), None, None) => put(text.as_bytes())?,
        (None, Some(b64), None) => put(&base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("content_base64 is not base64: {e}"))?)?,
        (None, None, Some(n)) => pseudo_random(n, v.seed.unwrap_or(0), &mut put)?,
        _ => return Err("a version gives one of content, content_base64 or size".into()),
    }
    out.sync_all().map_err(io)?;
    drop(out);
    let sha1 = Sha1Digest(h.finalize().into());
    let part = if size == 0 {
        let _ = std::fs::remove_file(&tmp);
        None
    } else {
        let part_id = store.new_part_id().map_err(|e| e.to_string())?;
        persist(&tmp, &store.blob_path(&session_id, &part_id)).map_err(|e| e.to_string())?;
        Some(PartRow {
            index: 0,
            offset: 0,
            size,
            part_id,
            sha1,
        })
    };
    Ok(SeedVersion {
        id: id_of(&v.id)?,
        session_id,
        part,
        size,
        sha1,
        created_at,
    })
}

/// `n` bytes of the xorshift64* stream of `seed`, in 1 MiB pieces.
fn pseudo_random(
    n: u64,
    seed: u64,
    put: &mut impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let take = left.min(buf.len() as u64) as usize;
        for chunk in buf[..take].chunks_mut(8) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        put(&buf[..take])?;
        left -= take as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(n: u64, seed: u64) -> Vec<u8> {
        let mut out = Vec::new();
        pseudo_random(n, seed, &mut |b: &[u8]| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn paths_ids_times_and_streams() {
        assert_eq!(names("/a/b.txt").unwrap(), ["a", "b.txt"]);
        for bad in ["/", "/a//b", "/a/../b", "/./a", ""] {
            assert!(names(bad).is_err(), "{bad}");
        }
        assert_eq!(id_of(&Some("42".into())), Ok(Some(42)));
        assert!(id_of(&Some("4x".into())).is_err());
        assert_eq!(
            time_of(&Some("2026-01-02T03:04:05Z".into()), 0),
            Ok(1_767_323_045)
        );
        assert!(time_of(&Some("yesterday".into()), 0).is_err());
        assert_eq!(time_of(&None, 7), Ok(7));
        let a = stream((1 << 20) + 3, 7);
        assert_eq!(a.len(), (1 << 20) + 3);
        assert_eq!(a, stream((1 << 20) + 3, 7));
        assert_ne!(a[..64], stream(64, 8)[..]);
        assert!(Fixture::from_json(r#"{"users": {"a": {"files": [{"path": "/x"}]}}}"#).is_err());
        assert!(Fixture::from_json(r#"{"users": {}, "extra": 1}"#).is_err());
    }
}
