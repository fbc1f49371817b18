//! The bytes to upload: files read in offset order by a reader thread that
//! hashes each piece right after reading it, and streams read once, in
//! order. It knows reads and digests, not requests.

use super::pool::BufferPool;
use crate::error::{Error, ErrorKind};
use box_chunked_core::{PartHashes, Source};
use box_chunked_sha1::{Backend, DualSha1};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The bytes to upload.
pub enum UploadSource {
    /// A file, read with positional reads (parts in parallel, resumable).
    Path(PathBuf),
    /// Bytes in memory (sliced without copies).
    Bytes(Bytes),
    /// Any reader of known size (stdin, a pipe): read once, in order,
    /// buffered only within the window of parts in flight.
    Reader(Box<dyn AsyncRead + Send + Unpin>, u64),
}

impl std::fmt::Debug for UploadSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(p) => write!(f, "Path({})", p.display()),
            Self::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Self::Reader(_, n) => write!(f, "Reader({n} bytes)"),
        }
    }
}

/// A fingerprint of a file: size, modification time and (on Unix) inode and device.
pub fn fingerprint(meta: &std::fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        format!(
            "size={} mtime_ns={mtime} inode={} dev={}",
            meta.len(),
            meta.ino(),
            meta.dev()
        )
    }
    #[cfg(not(unix))]
    {
        format!("size={} mtime_ns={mtime}", meta.len())
    }
}

/// Whether the file at `path` is the same file at the same size as when
/// its fingerprint was `recorded`, with only its modification time changed
/// (a `touch`): then its bytes, not its metadata, tell whether it changed.
pub(super) fn only_touched(path: &Path, recorded: &str) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let now = fingerprint(&meta);
    let field = |f: &str, key: &str| {
        f.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .map(str::to_owned)
    };
    ["size", "inode", "dev"]
        .iter()
        .all(|k| field(recorded, k) == field(&now, k))
}

/// What changed about the file at `path` since its fingerprint was
/// `recorded`, as a sentence; `None` when nothing did.
pub(super) fn identity_change(path: &Path, recorded: &str) -> Option<String> {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(_) => {
            return Some(format!(
                "{shown} was deleted or moved away during the upload"
            ))
        }
    };
    let now = fingerprint(&meta);
    if now == recorded {
        return None;
    }
    let field = |f: &str, key: &str| {
        f.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .map(str::to_owned)
    };
    let when = meta
        .modified()
        .ok()
        .map(|t| {
            box_chunked_proto::Timestamp::from_system_time(t)
                .as_str()
                .to_owned()
        })
        .unwrap_or_else(|| "an unknown time".to_owned());
    let (was, is) = (field(recorded, "size"), field(&now, "size"));
    Some(
        if field(recorded, "inode") != field(&now, "inode")
            || field(recorded, "dev") != field(&now, "dev")
        {
            format!("{shown} was replaced by another file during the upload (the new one modified at {when})")
        } else if was != is {
            format!(
                "{shown} changed size during the upload, from {} to {} bytes (modified at {when})",
                was.unwrap_or_default(),
                is.unwrap_or_default()
            )
        } else {
            format!("{shown} was modified during the upload, at {when}")
        },
    )
}

/// Whether a stream has bytes beyond its announced size (read once, in
/// order, so the next byte after the last part tells). A stream still open
/// with nothing more within two seconds counts as whole.
pub(super) async fn stream_overflow(reader: &Reader, size: u64) -> Option<String> {
    let Reader::Stream(s) = reader else {
        return None;
    };
    let mut guard = s.state.lock().await;
    let (r, _, _) = &mut *guard;
    let mut one = [0u8; 1];
    match tokio::time::timeout(std::time::Duration::from_secs(2), r.read(&mut one)).await {
        Ok(Ok(n)) if n > 0 => Some(format!(
            "the stream went on past its announced size of {size} bytes"
        )),
        _ => None,
    }
}

/// How reads are served.
#[derive(Clone)]
pub(super) enum Reader {
    File(FileHandle),
    Bytes(Bytes),
    Stream(Arc<StreamReader>),
}

/// A reader read once, in order: each read waits for its turn. It hashes
/// as it reads, like [`FileReader`].
pub(super) struct StreamReader {
    pub(super) state: tokio::sync::Mutex<(Box<dyn AsyncRead + Send + Unpin>, u64, ChainHasher)>,
    pub(super) turn: tokio::sync::Notify,
    /// The size the stream was announced with.
    pub(super) size: u64,
}

pub(super) async fn open_source(
    source: UploadSource,
) -> Result<(Source, Reader, Option<PathBuf>), Error> {
    match source {
        UploadSource::Path(path) => {
            let p = path.clone();
            tokio::task::spawn_blocking(move || {
                let meta = std::fs::metadata(&p).map_err(|e| {
                    Error::new(ErrorKind::Io, format!("cannot read {}: {e}", p.display()))
                })?;
                if !meta.is_file() {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!("{} is not a regular file", p.display()),
                    ));
                }
                let f = std::fs::File::open(&p).map_err(|e| {
                    Error::new(ErrorKind::Io, format!("cannot open {}: {e}", p.display()))
                })?;
                let abs = std::fs::canonicalize(&p).unwrap_or(p);
                let src = Source {
                    size: meta.len(),
                    fingerprint: Some(fingerprint(&meta)),
                };
                #[cfg(unix)]
                let reader = Reader::File(Arc::new(f));
                #[cfg(not(unix))]
                let reader = Reader::File(Arc::new(std::sync::Mutex::new(f)));
                Ok((src, reader, Some(abs)))
            })
            .await
            .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?
        }
        UploadSource::Bytes(b) => Ok((
            Source {
                size: b.len() as u64,
                fingerprint: None,
            },
            Reader::Bytes(b),
            None,
        )),
        UploadSource::Reader(r, size) => Ok((
            Source {
                size,
                fingerprint: None,
            },
            Reader::Stream(Arc::new(StreamReader {
                state: tokio::sync::Mutex::new((r, 0, ChainHasher::default())),
                turn: tokio::sync::Notify::new(),
                size,
            })),
            None,
        )),
    }
}

/// What a read returns: the bytes and, when the reader hashed them as it
/// read, the digests for [`Input::HashedData`].
pub(super) type ReadOutcome = Result<(Bytes, Option<Box<PartHashes>>), ReadError>;

/// Why a read failed.
#[derive(Debug)]
pub(super) enum ReadError {
    /// The source ended before the range did: it is shorter than announced
    /// (a truncated file, a short stream). That is a changed source.
    Short(String),
    /// Anything else (an IO error, a cancelled read).
    Failed(String),
}

impl From<String> for ReadError {
    fn from(s: String) -> Self {
        Self::Failed(s)
    }
}

impl From<&str> for ReadError {
    fn from(s: &str) -> Self {
        Self::Failed(s.to_owned())
    }
}

/// A read error as a [`ReadError`]: end of file is a short source.
fn read_error(e: &std::io::Error, at: u64) -> ReadError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        ReadError::Short(format!(
            "it ended before byte {at}, shorter than when the upload started"
        ))
    } else {
        ReadError::Failed(format!("reading at {at}: {e}"))
    }
}

/// Fills `piece` from `r`, counting the bytes read into `got`; an end
/// before it is full is `UnexpectedEof`.
async fn read_full(
    r: &mut (dyn AsyncRead + Send + Unpin),
    piece: &mut [u8],
    got: &mut u64,
) -> std::io::Result<()> {
    let mut filled = 0;
    while filled < piece.len() {
        let n = r.read(&mut piece[filled..]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        filled += n;
        *got += n as u64;
    }
    Ok(())
}

/// Pieces a part is read in: each is hashed right after it is read, while it
/// is in the CPU's cache (a whole 32 MiB part is not).
pub(super) const READ_PIECE: usize = 256 << 10;

/// The reader's own whole-file chain, continued across reads made in
/// offset order. A read that does not start where the chain stands (a
/// re-read, a restart) is not hashed here; the core hashes it.
pub(super) struct ChainHasher(DualSha1);

impl Default for ChainHasher {
    fn default() -> Self {
        Self(DualSha1::new(Backend::detect()))
    }
}

impl ChainHasher {
    /// A working copy if a read at `start` continues the chain. Reads from
    /// offset 0 (a fresh start after a restart) begin a new chain.
    pub(super) fn begin(&mut self, start: u64) -> Option<DualSha1> {
        if start == 0 {
            *self = Self::default();
        }
        (self.0.file_len() == start && self.0.at_block_boundary()).then(|| self.0.clone())
    }

    /// Ends a read that was hashed into `work`, adopting it.
    pub(super) fn end(&mut self, before: DualSha1, mut work: DualSha1) -> Box<PartHashes> {
        let part_sha1 = work.finish_part();
        self.0 = work.clone();
        Box::new(PartHashes {
            part_sha1,
            before,
            after: work,
        })
    }
}

/// A file read in offset order on a thread of its own, each piece hashed
/// (both the part's SHA-1 and the file's) right after it is read. One
/// sequential reader keeps ahead of the network at several GB/s of page
/// cache, and hashing hot data costs about a quarter less than hashing a
/// part after all of it was read.
pub(super) struct FileReader {
    pub(super) jobs: std::sync::mpsc::Sender<ReadJob>,
}

pub(super) struct ReadJob {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) reply: tokio::sync::oneshot::Sender<ReadOutcome>,
}

impl FileReader {
    pub(super) fn spawn(file: FileHandle, pool: BufferPool) -> Result<Self, String> {
        let (jobs, rx) = std::sync::mpsc::channel::<ReadJob>();
        std::thread::Builder::new()
            .name("box-chunked-reader".into())
            .spawn(move || {
                let mut chain = ChainHasher::default();
                // Ends when the driver drops its sender.
                while let Ok(job) = rx.recv() {
                    if job.reply.is_closed() {
                        continue;
                    }
                    let out =
                        read_file_range(&file, &pool, &mut chain, job.start, job.end, &job.reply);
                    let _ = job.reply.send(out);
                }
            })
            .map_err(|e| format!("cannot start the reader thread: {e}"))?;
        Ok(Self { jobs })
    }

    /// Queues the read of `start..end` now, so that the thread reads (and
    /// hashes) in the order the machine asked, whatever order the tasks
    /// awaiting the answers run in; the answer is the returned future's.
    pub(super) fn submit(
        &self,
        start: u64,
        end: u64,
    ) -> impl std::future::Future<Output = ReadOutcome> + Send + 'static {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let queued = self.jobs.send(ReadJob { start, end, reply }).is_ok();
        async move {
            if !queued {
                return Err("the reader thread stopped".into());
            }
            rx.await
                .map_err(|_| "the reader thread stopped".to_owned())?
        }
    }
}

#[cfg(unix)]
pub(super) type FileHandle = Arc<std::fs::File>;

#[cfg(not(unix))]
pub(super) type FileHandle = Arc<std::sync::Mutex<std::fs::File>>;

pub(super) fn read_at(file: &FileHandle, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buf, at)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek};
        let mut f = file
            .lock()
            .map_err(|_| std::io::Error::other("file lock poisoned"))?;
        f.seek(std::io::SeekFrom::Start(at))?;
        f.read_exact(buf)
    }
}

pub(super) fn read_file_range(
    file: &FileHandle,
    pool: &BufferPool,
    chain: &mut ChainHasher,
    start: u64,
    end: u64,
    reply: &tokio::sync::oneshot::Sender<ReadOutcome>,
) -> ReadOutcome {
    let len = usize::try_from(end - start).map_err(|_| "part too large for memory".to_owned())?;
    #[cfg(target_os = "linux")]
    if let Some(part) = super::mapped::MappedPart::map(file, start, len) {
        return hash_mapped(file, part, chain, start, end, reply);
    }
    let mut buf = pool.take(len);
    let before = chain.begin(start);
    let mut work = before.clone();
    let mut at = start;
    for piece in buf.buf.chunks_mut(READ_PIECE) {
        if reply.is_closed() {
            return Err("cancelled".into());
        }
        read_at(file, piece, at).map_err(|e| read_error(&e, at))?;
        if let Some(w) = work.as_mut() {
            w.update(piece);
        }
        at += piece.len() as u64;
    }
    let hashes = before.zip(work).map(|(b, w)| chain.end(b, w));
    Ok((buf.freeze(), hashes))
}

/// [`read_file_range`] for a mapped part: hashed from the page cache in
/// pieces, then checked: a part that lost pages (the file was truncated
/// under the mapping) or a file now shorter than the part is a short source.
#[cfg(target_os = "linux")]
fn hash_mapped(
    file: &std::fs::File,
    part: super::mapped::MappedPart,
    chain: &mut ChainHasher,
    start: u64,
    end: u64,
    reply: &tokio::sync::oneshot::Sender<ReadOutcome>,
) -> ReadOutcome {
    let before = chain.begin(start);
    let mut work = before.clone();
    if let Some(w) = work.as_mut() {
        for piece in part.as_ref().chunks(READ_PIECE) {
            if reply.is_closed() {
                return Err("cancelled".into());
            }
            w.update(piece);
        }
    }
    let now = file.metadata().map_err(|e| read_error(&e, start))?.len();
    if now < end {
        return Err(ReadError::Short(format!(
            "it is now {now} bytes long and ends before byte {end}, shorter than when the upload started"
        )));
    }
    if part.faulted() {
        // Truncated while being read, then grown again: the bytes read are
        // partly zeros, whatever its size says now.
        return Err(ReadError::Short(format!(
            "it was truncated while bytes {start} to {end} were being read"
        )));
    }
    let hashes = before.zip(work).map(|(b, w)| chain.end(b, w));
    Ok((Bytes::from_owner(part), hashes))
}

pub(super) async fn read_range(
    reader: Reader,
    pool: BufferPool,
    start: u64,
    end: u64,
) -> ReadOutcome {
    let len = usize::try_from(end - start).map_err(|_| "part too large for memory".to_owned())?;
    match reader {
        Reader::Bytes(b) => {
            let (s, e) = (start as usize, end as usize);
            if e > b.len() {
                return Err(ReadError::Short(
                    "the bytes are shorter than announced".into(),
                ));
            }
            Ok((b.slice(s..e), None))
        }
        Reader::File(f) => {
            // Only when no reader thread could be started.
            tokio::task::spawn_blocking(move || {
                let (tx, _rx) = tokio::sync::oneshot::channel();
                read_file_range(&f, &pool, &mut ChainHasher::default(), start, end, &tx)
                    .map(|(b, _)| (b, None))
            })
            .await
            .map_err(|e| ReadError::Failed(e.to_string()))?
        }
        Reader::Stream(s) => loop {
            // Registered before the check, so a wake-up between the two is not lost.
            let turn = s.turn.notified();
            {
                let mut guard = s.state.lock().await;
                let (r, pos, chain) = &mut *guard;
                if *pos == start {
                    let mut buf = pool.take_async(len).await;
                    let before = chain.begin(start);
                    let mut work = before.clone();
                    let mut read = Ok(());
                    let mut got = 0u64;
                    for piece in buf.buf.chunks_mut(READ_PIECE) {
                        read = read_full(r, piece, &mut got).await;
                        if read.is_err() {
                            break;
                        }
                        if let Some(w) = work.as_mut() {
                            w.update(piece);
                        }
                    }
                    *pos += len as u64;
                    let hashes = match &read {
                        Ok(()) => before.zip(work).map(|(b, w)| chain.end(b, w)),
                        Err(_) => None,
                    };
                    drop(guard);
                    s.turn.notify_waiters();
                    read.map_err(|e| match e.kind() {
                        std::io::ErrorKind::UnexpectedEof => ReadError::Short(format!(
                            "the stream ended after {} bytes, but its announced size is {} bytes",
                            start + got,
                            s.size
                        )),
                        _ => read_error(&e, start),
                    })?;
                    return Ok((buf.freeze(), hashes));
                }
                if *pos > start {
                    return Err(ReadError::Failed(format!(
                        "a stream is read once, in order: asked for {start}, the stream is at {pos}"
                    )));
                }
            }
            turn.await;
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha1::{Digest as _, Sha1};

    /// The reader thread hashes reads that continue its chain (part digest
    /// and whole-file chain right), leaves a re-read of an earlier range to
    /// the core, and starts over at offset 0.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reader_thread_hashes_reads_in_order() {
        let dir = std::env::temp_dir().join(format!("bc-reader-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("src.bin");
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = Arc::new(std::fs::File::open(&path).unwrap());
        #[cfg(not(unix))]
        let file = Arc::new(std::sync::Mutex::new(Arc::try_unwrap(file).unwrap()));
        let reader = FileReader::spawn(file, BufferPool::new(3)).unwrap();
        let mut file_sha = Sha1::new();
        for (start, end) in [(0u64, 2048u64), (2048, 4096), (4096, 5000)] {
            let (bytes, hashes) = reader.submit(start, end).await.unwrap();
            assert_eq!(&bytes[..], &data[start as usize..end as usize]);
            let h = hashes.expect("an in-order read is hashed by the reader");
            assert_eq!(h.part_sha1.0, <[u8; 20]>::from(Sha1::digest(&bytes)));
            assert_eq!(h.before.file_len(), start);
            assert_eq!(h.after.file_len(), end);
            file_sha.update(&bytes);
            if end == 5000 {
                assert_eq!(
                    h.after.finish_file().0,
                    <[u8; 20]>::from(file_sha.clone().finalize())
                );
            }
        }
        // A re-read of an earlier range: bytes only.
        let (bytes, hashes) = reader.submit(2048, 4096).await.unwrap();
        assert_eq!(&bytes[..], &data[2048..4096]);
        assert!(hashes.is_none());
        // Offset 0 starts a new chain.
        let (_, hashes) = reader.submit(0, 2048).await.unwrap();
        assert_eq!(hashes.unwrap().before.file_len(), 0);
        // A read past the end is an error, not a panic.
        assert!(reader.submit(4096, 6000).await.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
