//! A file downloaded into a local path: its bytes fetched as ranges, several
//! in flight, written in place into `DEST.box-chunked-part`; the ranges done
//! recorded beside it (`.box-chunked-part.json`), so that a download stopped
//! at any point goes on from there; the whole file's SHA-1 compared with
//! Box's before the file takes its name. Box's `302` to its download host
//! is followed once, and the ranges go there without credentials.

use crate::transport::{BodySink, StreamTo};
use crate::{BoxClient, Error, ErrorKind};
use box_chunked_core::call::operations::DownloadRange;
use box_chunked_core::fetch::Fetched;
use box_chunked_proto::endpoints::Endpoint;
use box_chunked_proto::Sha1Digest;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha1::{Digest as _, Sha1};
use std::collections::BTreeSet;
use std::io::Read as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// How a download runs.
#[derive(Clone)]
pub struct DownloadOptions {
    /// Ranges in flight at once, shared by every download given the same
    /// semaphore (a folder's files share one budget).
    pub ranges: Arc<Semaphore>,
    /// The size of each range (default 8 MiB).
    pub range_size: u64,
    /// Bytes written so far, added to as ranges arrive (for progress).
    pub progress: Arc<AtomicU64>,
}

impl DownloadOptions {
    /// `parallel` ranges of 8 MiB in flight.
    pub fn new(parallel: usize) -> Self {
        Self {
            ranges: Arc::new(Semaphore::new(parallel.max(1))),
            range_size: 8 << 20,
            progress: Arc::default(),
        }
    }
}

/// What a download wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downloaded {
    /// Its size.
    pub size: u64,
    /// Its SHA-1, which is Box's.
    pub sha1: Sha1Digest,
    /// Bytes a stopped download had already written.
    pub resumed: u64,
}

/// The ranges done, kept beside the partial file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Record {
    file_id: String,
    sha1: Option<Sha1Digest>,
    size: u64,
    range_size: u64,
    done: BTreeSet<u64>,
}

/// The partial file and its record for `dest`.
pub fn partial_paths(dest: &Path) -> (PathBuf, PathBuf) {
    let mut part = dest.as_os_str().to_owned();
    part.push(".box-chunked-part");
    let part = PathBuf::from(part);
    let mut rec = part.as_os_str().to_owned();
    rec.push(".json");
    (part, PathBuf::from(rec))
}

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let (what, path) = (what.to_owned(), path.to_owned());
    move |e| Error::new(ErrorKind::Io, format!("{what} {}: {e}", path.display()))
}

/// Writes a range's pieces at their offsets (a new attempt starts over).
struct AtOffset {
    file: Arc<std::fs::File>,
    start: u64,
    written: AtomicU64,
    failed: Mutex<Option<std::io::Error>>,
    progress: Arc<AtomicU64>,
}

impl BodySink for AtOffset {
    fn start(&self) {
        let before = self.written.swap(0, Ordering::SeqCst);
        self.progress.fetch_sub(before, Ordering::Relaxed);
    }

    fn data(&self, piece: &Bytes) {
        let at = self.written.fetch_add(piece.len() as u64, Ordering::SeqCst);
        if let Err(e) = self.file.write_all_at(piece, self.start + at) {
            *self
                .failed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
        }
        self.progress
            .fetch_add(piece.len() as u64, Ordering::Relaxed);
    }
}

impl BoxClient {
    /// Downloads file `id` into `dest` (see the module): resumes a partial
    /// download of the same content, checks the SHA-1, then renames.
    pub async fn download_file(
        &self,
        id: &str,
        dest: &Path,
        opts: &DownloadOptions,
    ) -> Result<Downloaded, Error> {
        let file = self.get_file(id).await?;
        let size = file.size.unwrap_or(0);
        let (part, rec_path) = partial_paths(dest);
        let fresh = Record {
            file_id: id.to_owned(),
            sha1: file.sha1,
            size,
            range_size: opts.range_size.max(1),
            done: BTreeSet::new(),
        };
        let rec = read_record(&rec_path, &part)
            .filter(|r| {
                Record {
                    done: BTreeSet::new(),
                    ..r.clone()
                } == fresh
            })
            .unwrap_or(fresh);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .read(true)
            .truncate(rec.done.is_empty())
            .open(&part)
            .map_err(io("cannot write", &part))?;
        f.set_len(size).map_err(io("cannot size", &part))?;
        let resumed: u64 = rec.done.iter().map(|&i| range_len(&rec, i)).sum();
        opts.progress.fetch_add(resumed, Ordering::Relaxed);
        let file_handle = Arc::new(f);
        self.fetch_ranges(id, &file_handle, rec, &rec_path, opts)
            .await?;
        file_handle.sync_all().map_err(io("cannot sync", &part))?;
        drop(file_handle);
        let sha1 = sha1_of(&part).await?;
        if file.sha1.is_some_and(|want| want != sha1) {
            let _ = std::fs::remove_file(&part);
            let _ = std::fs::remove_file(&rec_path);
            return Err(Error::new(
                ErrorKind::Unverified,
                format!(
                    "the bytes downloaded of file {id} have SHA-1 {}, not Box's {}; nothing was kept",
                    sha1.to_hex(),
                    file.sha1.map(|s| s.to_hex()).unwrap_or_default()
                ),
            ));
        }
        std::fs::rename(&part, dest).map_err(io("cannot rename the download to", dest))?;
        let _ = std::fs::remove_file(&rec_path);
        Ok(Downloaded {
            size,
            sha1,
            resumed,
        })
    }

    /// Every range not done yet, `opts.ranges` at a time; the record is
    /// written after each one.
    async fn fetch_ranges(
        &self,
        id: &str,
        file: &Arc<std::fs::File>,
        mut rec: Record,
        rec_path: &Path,
        opts: &DownloadOptions,
    ) -> Result<(), Error> {
        let count = rec.size.div_ceil(rec.range_size);
        let mut todo: Vec<u64> = (0..count).filter(|i| !rec.done.contains(i)).collect();
        if todo.is_empty() {
            return Ok(());
        }
        // The first range finds where the content is (Box: its download host).
        let content = Endpoint::Download {
            file_id: id.to_owned(),
        }
        .url(self.api_url());
        let first = todo.remove(0);
        let permit = opts.ranges.clone().acquire_owned().await;
        let (url, redirected) = match self.range(&content, false, &rec, first, file, opts).await? {
            Some(next) => {
                self.range_here(&next, &rec, first, file, opts).await?;
                (next, true)
            }
            None => (content, false),
        };
        drop(permit);
        rec.done.insert(first);
        write_record(rec_path, &rec);
        let mut tasks = tokio::task::JoinSet::new();
        for i in todo {
            let (c, url, rec2, file, opts) = (
                self.clone(),
                url.clone(),
                rec.clone(),
                file.clone(),
                opts.clone(),
            );
            tasks.spawn(async move {
                let _permit = opts.ranges.clone().acquire_owned().await;
                if redirected {
                    c.range_here(&url, &rec2, i, &file, &opts).await.map(|()| i)
                } else {
                    match c.range(&url, false, &rec2, i, &file, &opts).await? {
                        None => Ok(i),
                        Some(_) => Err(redirected_again(&rec2.file_id)),
                    }
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            let i = done
                .map_err(|e| Error::new(ErrorKind::Io, format!("a download task failed: {e}")))??;
            rec.done.insert(i);
            write_record(rec_path, &rec);
        }
        Ok(())
    }

    /// Range `i` from the URL a redirect gave: its bytes, or an error (a
    /// second redirect is not followed, and the range is not done).
    async fn range_here(
        &self,
        url: &str,
        rec: &Record,
        i: u64,
        file: &Arc<std::fs::File>,
        opts: &DownloadOptions,
    ) -> Result<(), Error> {
        match self.range(url, true, rec, i, file, opts).await? {
            None => Ok(()),
            Some(_) => Err(redirected_again(&rec.file_id)),
        }
    }

    /// Range `i` of `rec` from `url` into `file`; `Some(url)` when the
    /// answer was a redirect (nothing written then).
    async fn range(
        &self,
        url: &str,
        redirected: bool,
        rec: &Record,
        i: u64,
        file: &Arc<std::fs::File>,
        opts: &DownloadOptions,
    ) -> Result<Option<String>, Error> {
        let start = i * rec.range_size;
        let end = (start + rec.range_size).min(rec.size).saturating_sub(1);
        let sink = Arc::new(AtOffset {
            file: file.clone(),
            start,
            written: AtomicU64::new(0),
            failed: Mutex::new(None),
            progress: opts.progress.clone(),
        });
        let op = DownloadRange {
            url: url.to_owned(),
            redirected,
            start,
            end,
            size: rec.size,
        };
        let fetched = self
            .run_with(op, Some(StreamTo(sink.clone())), None, None)
            .await?;
        if let Some(e) = sink
            .failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            return Err(Error::new(
                ErrorKind::Io,
                format!("cannot write the download: {e}"),
            ));
        }
        match fetched {
            Fetched::Elsewhere(next) => Ok(Some(next)),
            Fetched::Content(_) => {
                let got = sink.written.load(Ordering::SeqCst);
                if got != range_len(rec, i) {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        format!(
                            "bytes {start}-{end} of file {} came as {got} bytes",
                            rec.file_id
                        ),
                    ));
                }
                Ok(None)
            }
        }
    }
}

/// A range answered with a redirect where its bytes were due: never taken
/// as done (the record would claim bytes that were not written).
fn redirected_again(file_id: &str) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("the download of file {file_id} was redirected where its bytes were due"),
    )
}

fn range_len(rec: &Record, i: u64) -> u64 {
    let start = i * rec.range_size;
    (start + rec.range_size).min(rec.size) - start.min(rec.size)
}

fn read_record(rec: &Path, part: &Path) -> Option<Record> {
    if !part.is_file() {
        return None;
    }
    serde_json::from_slice(&std::fs::read(rec).ok()?).ok()
}

/// The record, replaced whole (a crash leaves the old one or the new one).
fn write_record(path: &Path, rec: &Record) {
    let tmp = path.with_extension("json.tmp");
    if std::fs::write(&tmp, serde_json::to_vec(rec).unwrap_or_default()).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

/// The SHA-1 of a file, read on a blocking thread.
pub(crate) async fn sha1_of(path: &Path) -> Result<Sha1Digest, Error> {
    let p = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(&p).map_err(io("cannot read", &p))?;
        let mut h = Sha1::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(io("cannot read", &p))?;
            if n == 0 {
                return Ok(Sha1Digest(h.finalize().into()));
            }
            h.update(&buf[..n]);
        }
    })
    .await
    .map_err(|e| Error::new(ErrorKind::Io, format!("the hashing task failed: {e}")))?
}
