//! The high-level uploader: the core's state machine driven over tokio.

use crate::client::BoxClient;
use crate::error::{Error, ErrorKind};
use crate::transport::{Failure, ReqBody};
use box_chunked_core::{
    Checkpoint, Event, Input, OnFailure, Outcome, Output, PartHashes, ReadId, RequestId, Source,
    Target, Upload, UploadConfig,
};
use box_chunked_proto::{CommitAttributes, File};
use box_chunked_sha1::{Backend, DualSha1};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

/// What the uploader reports while it works.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum UploadEvent {
    /// Something the state machine reported: session ready, part confirmed,
    /// retry scheduled (cause, attempt, delay), throttled, commit pending,
    /// checkpoint changed, committed.
    Core(Event),
    /// Bytes handed to the network so far (repeats included) and bytes
    /// confirmed stored; emitted at most every 100 ms while bytes move.
    Progress {
        /// Bytes sent, counting within parts.
        bytes_sent: u64,
        /// Bytes the server confirmed.
        bytes_confirmed: u64,
        /// The source's size.
        bytes_total: u64,
    },
    /// The checkpoint file was written.
    CheckpointWritten(PathBuf),
}

type Callback = Arc<dyn Fn(&UploadEvent) + Send + Sync>;

/// The on-disk checkpoint: the core's checkpoint plus where the source is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointFile {
    /// Format of this file.
    pub format: u32,
    /// The source file, when the upload is from a path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_path: Option<PathBuf>,
    /// The state machine's checkpoint (session, parts, target; no secrets).
    pub upload: Checkpoint,
}

impl CheckpointFile {
    /// Reads a checkpoint file.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read(path).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot read the checkpoint {}: {e}", path.display()),
            )
        })?;
        let cp: Self = serde_json::from_slice(&text).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("{} is not a box-chunked checkpoint: {e}", path.display()),
            )
        })?;
        if cp.format != 1 {
            return Err(Error::new(
                ErrorKind::Config,
                format!("checkpoint format {} is not supported", cp.format),
            ));
        }
        Ok(cp)
    }

    /// Writes it atomically: a temporary file, fsync, rename, fsync the directory.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let io = |e: std::io::Error| {
            Error::new(
                ErrorKind::Io,
                format!("cannot write the checkpoint {}: {e}", path.display()),
            )
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let tmp = dir.join(format!(
            ".{}.tmp",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("checkpoint")
        ));
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&json).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

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

/// A fingerprint of a file: size, modification time and (on Unix) inode.
pub fn fingerprint(meta: &std::fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        format!("size={} mtime_ns={mtime} inode={}", meta.len(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        format!("size={} mtime_ns={mtime}", meta.len())
    }
}

/// Configures and runs uploads: `client.uploader()`.
#[derive(Clone)]
pub struct Uploader {
    client: BoxClient,
    parallelism: NonZeroUsize,
    checkpoint: Option<PathBuf>,
    keep_session: bool,
    keep_on_drop: bool,
    attributes: Option<CommitAttributes>,
    on_event: Option<Callback>,
    config: UploadConfig,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader")
            .field("parallelism", &self.parallelism)
            .field("checkpoint", &self.checkpoint)
            .field("keep_session", &self.keep_session)
            .finish_non_exhaustive()
    }
}

impl BoxClient {
    /// The high-level uploader (parallelism 4, no checkpoint file, the
    /// session deleted on failure or cancellation).
    pub fn uploader(&self) -> Uploader {
        let mut config = UploadConfig::default();
        config.upload_root = self.inner.upload_url.clone();
        config.retry = self.inner.retry.clone();
        config.timeouts.part = self.inner.part_timeout;
        config.timeouts.control = self.inner.control_timeout;
        config.commit_wait = self.inner.commit_wait;
        Uploader {
            client: self.clone(),
            parallelism: config.parallelism,
            checkpoint: None,
            keep_session: false,
            keep_on_drop: false,
            attributes: None,
            on_event: None,
            config,
        }
    }
}

impl Uploader {
    /// Parts in flight at once (default 4). Part buffers take
    /// `(parallelism + 2) x part_size` (fewer for a file of fewer parts),
    /// mapped at the first read and never more, whatever the file's size.
    #[must_use]
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN);
        self
    }

    /// Writes a checkpoint here whenever a part is confirmed, so that
    /// [`Uploader::resume`] can finish the upload in another process.
    #[must_use]
    pub fn checkpoint(mut self, path: impl Into<PathBuf>) -> Self {
        self.checkpoint = Some(path.into());
        self
    }

    /// Keeps the session when the upload fails or is cancelled (default:
    /// delete it), so that it can be resumed.
    #[must_use]
    pub fn keep_session(mut self, keep: bool) -> Self {
        self.keep_session = keep;
        self.keep_on_drop = keep;
        self
    }

    /// Keeps the session only when the upload future is dropped (an
    /// interruption to resume from later), while a final failure still
    /// deletes it. Call after [`Uploader::keep_session`].
    #[must_use]
    pub fn keep_session_on_drop(mut self, keep: bool) -> Self {
        self.keep_on_drop = keep;
        self
    }

    /// Attributes set at commit.
    #[must_use]
    pub fn attributes(mut self, attributes: CommitAttributes) -> Self {
        self.attributes = Some(attributes);
        self
    }

    /// Receives progress and events.
    #[must_use]
    pub fn on_event(mut self, f: impl Fn(&UploadEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(f));
        self
    }

    /// Tunes the state machine directly (retries, commit wait, expiry policy...).
    #[must_use]
    pub fn core_config(mut self, f: impl FnOnce(&mut UploadConfig)) -> Self {
        f(&mut self.config);
        self
    }

    fn core(&self) -> UploadConfig {
        let mut c = self.config.clone();
        c.parallelism = self.parallelism;
        c.attributes = self.attributes.clone();
        c.on_failure = if self.keep_session {
            OnFailure::Keep
        } else {
            OnFailure::Abort
        };
        c
    }

    /// Uploads `source` to `target` and returns the committed file.
    ///
    /// Dropping the future stops the upload: in-flight requests end and,
    /// unless [`Uploader::keep_session`] is set, the session is deleted in
    /// the background within 10 seconds.
    pub async fn upload(&self, target: Target, source: UploadSource) -> Result<File, Error> {
        let (src, reader, path) = open_source(source).await?;
        let upload = Upload::new(target, src, self.core(), now())?;
        self.drive(upload, reader, path, None).await
    }

    /// Uploads a file to a new file in a folder.
    pub async fn upload_file(
        &self,
        folder_id: &str,
        name: &str,
        path: impl AsRef<Path>,
    ) -> Result<File, Error> {
        let target = Target::NewFile {
            folder_id: folder_id.to_owned(),
            name: name.to_owned(),
        };
        self.upload(target, UploadSource::Path(path.as_ref().to_path_buf()))
            .await
    }

    /// Resumes the upload recorded in a checkpoint file (from any process).
    /// The server's list of parts is the truth; the stored prefix is re-read
    /// to prove the source did not change.
    pub async fn resume(&self, checkpoint: impl AsRef<Path>) -> Result<File, Error> {
        let cp_path = checkpoint.as_ref().to_path_buf();
        let cp = tokio::task::spawn_blocking({
            let p = cp_path.clone();
            move || CheckpointFile::read(&p)
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))??;
        let path = cp.source_path.clone().ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                "the checkpoint has no source path (it was made from a stream)",
            )
        })?;
        let (src, reader, path) = open_source(UploadSource::Path(path)).await?;
        let mut this = self.clone();
        if this.checkpoint.is_none() {
            this.checkpoint = Some(cp_path);
        }
        if this.attributes.is_none() {
            this.attributes = cp.upload.attributes.clone();
        }
        let upload = Upload::resume(cp.upload, src, this.core(), now())?;
        this.drive(upload, reader, path, None).await
    }

    /// Starts an upload on a background task, with a handle to abort it or
    /// change its parallelism.
    pub fn spawn(&self, target: Target, source: UploadSource) -> UploadTask {
        let (tx, rx) = mpsc::unbounded_channel();
        let this = self.clone();
        let task = tokio::spawn(async move {
            let (src, reader, path) = open_source(source).await?;
            let upload = Upload::new(target, src, this.core(), now())?;
            this.drive(upload, reader, path, Some(rx)).await
        });
        UploadTask {
            task,
            control: UploadControl { tx },
        }
    }

    async fn drive(
        &self,
        upload: Upload,
        reader: Reader,
        source_path: Option<PathBuf>,
        commands: Option<mpsc::UnboundedReceiver<Command>>,
    ) -> Result<File, Error> {
        let mut d = Driver {
            upload,
            client: self.client.clone(),
            reader,
            source_path,
            checkpoint: self.checkpoint.clone(),
            on_event: self.on_event.clone(),
            requests: JoinSet::new(),
            handles: HashMap::new(),
            reads: JoinSet::new(),
            file_reader: None,
            pool: BufferPool::new(self.parallelism.get() + 2),
            pool_reserved: false,
            checkpoint_writer: None,
            sent: Arc::new(AtomicU64::new(0)),
            auth_error: None,
            confirmed: 0,
            finished: false,
            keep_session: self.keep_on_drop,
        };
        d.run(commands).await
    }
}

/// A running upload.
#[derive(Debug)]
pub struct UploadTask {
    task: tokio::task::JoinHandle<Result<File, Error>>,
    control: UploadControl,
}

impl UploadTask {
    /// A handle to control the upload.
    pub fn control(&self) -> UploadControl {
        self.control.clone()
    }

    /// Stops the upload where it is, as dropping the future of
    /// [`Uploader::upload`] would: requests in flight end, and the session is
    /// deleted unless it is kept ([`Uploader::keep_session_on_drop`]).
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// Waits for the outcome (cancel-safe: the task goes on if this future is dropped).
    pub async fn wait(&mut self) -> Result<File, Error> {
        (&mut self.task)
            .await
            .map_err(|e| Error::new(ErrorKind::Cancelled, format!("the upload task ended: {e}")))?
    }

    /// Waits for the outcome, consuming the task.
    pub async fn join(self) -> Result<File, Error> {
        self.task
            .await
            .map_err(|e| Error::new(ErrorKind::Cancelled, format!("the upload task ended: {e}")))?
    }
}

/// Controls a running upload.
#[derive(Debug, Clone)]
pub struct UploadControl {
    tx: mpsc::UnboundedSender<Command>,
}

#[derive(Debug)]
enum Command {
    Abort,
    Parallelism(NonZeroUsize),
}

impl UploadControl {
    /// Aborts: in-flight requests end, the session is deleted, the upload
    /// ends with an [`ErrorKind::Cancelled`] error.
    pub fn abort(&self) {
        let _ = self.tx.send(Command::Abort);
    }

    /// Changes the number of parts in flight.
    pub fn set_parallelism(&self, n: usize) {
        let _ = self.tx.send(Command::Parallelism(
            NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN),
        ));
    }
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// How reads are served.
#[derive(Clone)]
enum Reader {
    File(FileHandle),
    Bytes(Bytes),
    Stream(Arc<StreamReader>),
}

/// A reader read once, in order: each read waits for its turn. It hashes
/// as it reads, like [`FileReader`].
struct StreamReader {
    state: tokio::sync::Mutex<(Box<dyn AsyncRead + Send + Unpin>, u64, ChainHasher)>,
    turn: tokio::sync::Notify,
}

async fn open_source(source: UploadSource) -> Result<(Source, Reader, Option<PathBuf>), Error> {
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
            })),
            None,
        )),
    }
}

/// Part buffers of one upload, reused and bounded.
///
/// A fresh buffer of a part's size is mapped and zeroed by the kernel page
/// by page; reusing buffers removes that cost (about a sixth of the client's
/// CPU in profiles). At most `cap` buffers (parallelism + 2) exist at once: a
/// read that finds none free waits for one to come back (a buffer returns
/// when the last `Bytes` sharing it is dropped: the core let go of the part
/// and the transport finished sending it). So peak memory is the same for a
/// 1 GiB file and a 1 TiB one. The wait is bounded ([`POOL_WAIT`]), after
/// which a read allocates anyway: a late buffer costs memory, never a stall.
#[derive(Clone)]
struct BufferPool(Arc<(std::sync::Mutex<PoolState>, std::sync::Condvar)>);

struct PoolState {
    free: Vec<Vec<u8>>,
    /// Buffers handed out and not yet back.
    out: usize,
    /// Buffers being mapped by [`BufferPool::reserve`]: they count against
    /// the cap before they exist, so that a read waits for one of them
    /// rather than mapping one more.
    mapping: usize,
    cap: usize,
}

impl PoolState {
    fn total(&self) -> usize {
        self.free.len() + self.out + self.mapping
    }
}

/// How long a read waits for a free buffer before allocating one.
const POOL_WAIT: Duration = Duration::from_secs(2);

struct Pooled {
    buf: Vec<u8>,
    pool: BufferPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let (lock, ready) = &*self.pool.0;
        if let Ok(mut st) = lock.lock() {
            st.out = st.out.saturating_sub(1);
            if st.total() < st.cap {
                st.free.push(buf);
            }
            ready.notify_one();
        }
    }
}

impl BufferPool {
    fn new(cap: usize) -> Self {
        Self(Arc::new((
            std::sync::Mutex::new(PoolState {
                free: Vec::new(),
                out: 0,
                mapping: 0,
                cap: cap.max(1),
            }),
            std::sync::Condvar::new(),
        )))
    }

    /// Maps, in the background, the buffers of `len` bytes an upload of
    /// `parts` parts may hold at once (up to the cap, less the one its first
    /// read takes), so that they are ready when reads need them.
    fn reserve(&self, parts: u64, len: usize) {
        if len == 0 {
            return;
        }
        let pool = self.clone();
        let want = {
            let (lock, _) = &*self.0;
            lock.lock().map_or(0, |mut st| {
                let n = usize::try_from(parts).unwrap_or(usize::MAX).min(st.cap);
                let want = n.saturating_sub(1 + st.total());
                st.mapping += want;
                want
            })
        };
        if want == 0 {
            return;
        }
        let job = move || {
            for _ in 0..want {
                // Written once so that every page is mapped now.
                let v = vec![1u8; len];
                let (lock, ready) = &*pool.0;
                let Ok(mut st) = lock.lock() else { return };
                st.mapping -= 1;
                if st.total() < st.cap {
                    st.free.push(v);
                }
                ready.notify_one();
            }
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            drop(tokio::task::spawn_blocking(job));
        } else {
            job();
        }
    }

    fn set_cap(&self, cap: usize) {
        let (lock, ready) = &*self.0;
        if let Ok(mut st) = lock.lock() {
            st.cap = cap.max(1);
            let keep = st.cap.saturating_sub(st.out + st.mapping);
            st.free.truncate(keep);
            ready.notify_all();
        }
    }

    /// A buffer of `len` bytes, waiting (blocking this thread) while `cap`
    /// buffers are out, up to [`POOL_WAIT`]. It comes back to the pool when
    /// dropped, or when the last `Bytes` made of it by [`Pooled::freeze`] is.
    fn take(&self, len: usize) -> Pooled {
        self.take_within(len, POOL_WAIT)
    }

    /// [`BufferPool::take`] from async code: the wait moves off the
    /// executor's threads. With one thread for everything, waiting would
    /// stop the very sends that free buffers, so it takes without waiting.
    async fn take_async(&self, len: usize) -> Pooled {
        if in_multi_thread_runtime() {
            tokio::task::block_in_place(|| self.take(len))
        } else {
            self.take_within(len, Duration::ZERO)
        }
    }

    fn take_within(&self, len: usize, wait: Duration) -> Pooled {
        let (lock, ready) = &*self.0;
        let mut v = match lock.lock() {
            Ok(mut st) => {
                let deadline = std::time::Instant::now() + wait;
                while st.free.is_empty() && st.out + st.mapping >= st.cap {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        if !wait.is_zero() {
                            tracing::debug!(
                                out = st.out,
                                cap = st.cap,
                                "no part buffer came back in time; taking one more"
                            );
                        }
                        break;
                    }
                    st = match ready.wait_timeout(st, left) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    };
                }
                st.out += 1;
                st.free.pop().unwrap_or_default()
            }
            Err(_) => Vec::new(),
        };
        // Only growth is zeroed; the rest is overwritten by the read.
        v.resize(len, 0);
        v.truncate(len);
        Pooled {
            buf: v,
            pool: self.clone(),
        }
    }
}

impl Pooled {
    /// Shared, immutable bytes that keep the buffer out of the pool until
    /// the last of them is dropped.
    fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

/// What a read returns: the bytes and, when the reader hashed them as it
/// read, the digests for [`Input::HashedData`].
type ReadOutcome = Result<(Bytes, Option<Box<PartHashes>>), String>;

/// Pieces a part is read in: each is hashed right after it is read, while it
/// is in the CPU's cache (a whole 32 MiB part is not).
const READ_PIECE: usize = 256 << 10;

/// The reader's own whole-file chain, continued across reads made in
/// offset order. A read that does not start where the chain stands (a
/// re-read, a restart) is not hashed here; the core hashes it.
struct ChainHasher(DualSha1);

impl Default for ChainHasher {
    fn default() -> Self {
        Self(DualSha1::new(Backend::detect()))
    }
}

impl ChainHasher {
    /// A working copy if a read at `start` continues the chain. Reads from
    /// offset 0 (a fresh start after a restart) begin a new chain.
    fn begin(&mut self, start: u64) -> Option<DualSha1> {
        if start == 0 {
            *self = Self::default();
        }
        (self.0.file_len() == start && self.0.at_block_boundary()).then(|| self.0.clone())
    }

    /// Ends a read that was hashed into `work`, adopting it.
    fn end(&mut self, before: DualSha1, mut work: DualSha1) -> Box<PartHashes> {
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
struct FileReader {
    jobs: std::sync::mpsc::Sender<ReadJob>,
}

struct ReadJob {
    start: u64,
    end: u64,
    reply: tokio::sync::oneshot::Sender<ReadOutcome>,
}

impl FileReader {
    fn spawn(file: FileHandle, pool: BufferPool) -> Result<Self, String> {
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

    async fn read(&self, start: u64, end: u64) -> ReadOutcome {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(ReadJob { start, end, reply })
            .map_err(|_| "the reader thread stopped".to_owned())?;
        rx.await
            .map_err(|_| "the reader thread stopped".to_owned())?
    }
}

#[cfg(unix)]
type FileHandle = Arc<std::fs::File>;
#[cfg(not(unix))]
type FileHandle = Arc<std::sync::Mutex<std::fs::File>>;

fn read_at(file: &FileHandle, buf: &mut [u8], at: u64) -> std::io::Result<()> {
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

fn read_file_range(
    file: &FileHandle,
    pool: &BufferPool,
    chain: &mut ChainHasher,
    start: u64,
    end: u64,
    reply: &tokio::sync::oneshot::Sender<ReadOutcome>,
) -> ReadOutcome {
    let len = usize::try_from(end - start).map_err(|_| "part too large for memory".to_owned())?;
    let mut buf = pool.take(len);
    let before = chain.begin(start);
    let mut work = before.clone();
    let mut at = start;
    for piece in buf.buf.chunks_mut(READ_PIECE) {
        if reply.is_closed() {
            return Err("cancelled".into());
        }
        read_at(file, piece, at).map_err(|e| format!("reading at {at}: {e}"))?;
        if let Some(w) = work.as_mut() {
            w.update(piece);
        }
        at += piece.len() as u64;
    }
    let hashes = before.zip(work).map(|(b, w)| chain.end(b, w));
    Ok((buf.freeze(), hashes))
}

async fn read_range(reader: Reader, pool: BufferPool, start: u64, end: u64) -> ReadOutcome {
    let len = usize::try_from(end - start).map_err(|_| "part too large for memory".to_owned())?;
    match reader {
        Reader::Bytes(b) => {
            let (s, e) = (start as usize, end as usize);
            if e > b.len() {
                return Err("the bytes are shorter than announced".into());
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
            .map_err(|e| e.to_string())?
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
                    for piece in buf.buf.chunks_mut(READ_PIECE) {
                        read = r.read_exact(piece).await.map(|_| ());
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
                    read.map_err(|e| format!("reading at {start}: {e}"))?;
                    return Ok((buf.freeze(), hashes));
                }
                if *pos > start {
                    return Err(format!(
                        "a stream is read once, in order: asked for {start}, the stream is at {pos}"
                    ));
                }
            }
            turn.await;
        },
    }
}

/// Writes the checkpoint file in the background, so that the driver never
/// waits for a disk (two fsyncs per write, tens of milliseconds while the
/// disk is busy). The latest state wins: states that arrive while a write
/// runs are coalesced into the next write. Every state written is a state
/// the upload passed through, so a crash between writes leaves a checkpoint
/// at most a few parts behind, which resume reconciles with the server.
struct CheckpointWriter {
    latest: tokio::sync::watch::Sender<Option<CheckpointFile>>,
    task: tokio::task::JoinHandle<()>,
}

impl CheckpointWriter {
    fn spawn(path: PathBuf, on_event: Option<Callback>) -> Self {
        let (latest, mut rx) = tokio::sync::watch::channel(None::<CheckpointFile>);
        let task = tokio::spawn(async move {
            // Ends once the sender is gone and its last state was written.
            while rx.changed().await.is_ok() {
                let Some(file) = rx.borrow_and_update().clone() else {
                    continue;
                };
                let p = path.clone();
                match tokio::task::spawn_blocking(move || file.write(&p)).await {
                    Ok(Ok(())) => {
                        if let Some(f) = &on_event {
                            f(&UploadEvent::CheckpointWritten(path.clone()));
                        }
                    }
                    Ok(Err(err)) => tracing::warn!(error = %err, "checkpoint not written"),
                    Err(err) => tracing::warn!(error = %err, "checkpoint task failed"),
                }
            }
        });
        Self { latest, task }
    }

    fn set(&self, file: CheckpointFile) {
        self.latest.send_replace(Some(file));
    }

    /// Waits until the latest state is on disk.
    async fn flush(self) {
        drop(self.latest);
        let _ = self.task.await;
    }
}

struct Driver {
    upload: Upload,
    client: BoxClient,
    reader: Reader,
    source_path: Option<PathBuf>,
    checkpoint: Option<PathBuf>,
    on_event: Option<Callback>,
    requests: JoinSet<(RequestId, Result<http::Response<Bytes>, Failure>)>,
    handles: HashMap<RequestId, AbortHandle>,
    reads: JoinSet<(ReadId, ReadOutcome)>,
    /// The reader thread of a file source, started at the first read.
    file_reader: Option<Arc<FileReader>>,
    /// This upload's part buffers.
    pool: BufferPool,
    pool_reserved: bool,
    /// Writes checkpoints off this loop, started at the first one.
    checkpoint_writer: Option<CheckpointWriter>,
    sent: Arc<AtomicU64>,
    /// The last "no token" failure: the core sees it as a final not-sent
    /// failure; the caller should see an auth error.
    auth_error: Option<Error>,
    confirmed: u64,
    finished: bool,
    keep_session: bool,
}

impl Driver {
    fn emit(&self, e: UploadEvent) {
        if let Some(f) = &self.on_event {
            f(&e);
        }
    }

    async fn run(
        &mut self,
        mut commands: Option<mpsc::UnboundedReceiver<Command>>,
    ) -> Result<File, Error> {
        let mut ticker = tokio::time::interval(Duration::from_millis(100));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_sent = 0u64;
        let total = self.upload.progress().bytes_total;
        loop {
            // Drain every output until the machine waits or is done.
            let deadline = loop {
                match self.upload.poll_output() {
                    Output::Request(r) => self.dispatch(r),
                    Output::Read(r) => {
                        let (id, range) = (r.id, r.range);
                        if !self.pool_reserved && !matches!(self.reader, Reader::Bytes(_)) {
                            // Every buffer the upload may hold, mapped now: memory
                            // use is known from the start and the same for any size.
                            self.pool_reserved = true;
                            let parts = self.upload.progress().parts_total;
                            let len = usize::try_from(range.end - range.start).unwrap_or(0);
                            self.pool.reserve(parts, len);
                        }
                        if let Reader::File(f) = &self.reader {
                            if self.file_reader.is_none() {
                                match FileReader::spawn(f.clone(), self.pool.clone()) {
                                    Ok(t) => self.file_reader = Some(Arc::new(t)),
                                    Err(e) => {
                                        tracing::warn!(error = %e, "reading on the blocking pool")
                                    }
                                }
                            }
                        }
                        if let Some(t) = self.file_reader.clone() {
                            self.reads
                                .spawn(async move { (id, t.read(range.start, range.end).await) });
                        } else {
                            let (reader, pool) = (self.reader.clone(), self.pool.clone());
                            self.reads.spawn(async move {
                                (id, read_range(reader, pool, range.start, range.end).await)
                            });
                        }
                    }
                    Output::Cancel(id) => {
                        if let Some(h) = self.handles.remove(&id) {
                            h.abort();
                        }
                    }
                    Output::Event(e) => self.on_core_event(e).await,
                    Output::Wait(d) => break d,
                    Output::Done(outcome) => {
                        self.finished = true;
                        self.requests.abort_all();
                        self.reads.abort_all();
                        // The last checkpoint is on disk before the caller
                        // hears the outcome (and, say, removes the file).
                        if let Some(w) = self.checkpoint_writer.take() {
                            w.flush().await;
                        }
                        return match outcome {
                            Outcome::Committed(file) => Ok(*file),
                            Outcome::Aborted => Err(Error::new(
                                ErrorKind::Cancelled,
                                "the upload was aborted and its session deleted",
                            )),
                            Outcome::Failed(
                                e @ box_chunked_core::UploadError::RetriesExhausted { .. },
                            ) => Err(self.auth_error.take().unwrap_or_else(|| e.into())),
                            Outcome::Failed(e) => Err(e.into()),
                        };
                    }
                }
            };
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending::<()>().await,
                }
            };
            let input = tokio::select! {
                Some(done) = self.requests.join_next(), if !self.requests.is_empty() => {
                    match done {
                        Ok((id, result)) => {
                            self.handles.remove(&id);
                            match result {
                                Ok(response) => Input::Response { id, response },
                                Err(f) => {
                                    if let Failure::Auth(e) = &f {
                                        self.auth_error = Some(e.clone());
                                    }
                                    Input::Failed { id, error: f.to_core() }
                                }
                            }
                        }
                        // Cancelled on the machine's request: its answer is not wanted.
                        Err(_) => continue,
                    }
                }
                Some(done) = self.reads.join_next(), if !self.reads.is_empty() => {
                    match done {
                        Ok((id, Ok((bytes, None)))) => Input::Data { id, bytes },
                        Ok((id, Ok((bytes, Some(hashes))))) => Input::HashedData { id, bytes, hashes },
                        Ok((id, Err(detail))) => Input::ReadFailed { id, detail },
                        Err(e) => return Err(Error::new(ErrorKind::Io, format!("a read task failed: {e}"))),
                    }
                }
                () = sleep => Input::Timeout,
                Some(cmd) = async { match commands.as_mut() { Some(c) => c.recv().await, None => std::future::pending().await } } => {
                    match cmd {
                        Command::Abort => self.upload.abort(now()),
                        Command::Parallelism(n) => {
                            self.upload.set_parallelism(n);
                            self.pool.set_cap(n.get() + 2);
                        }
                    }
                    continue;
                }
                _ = ticker.tick() => {
                    let sent = self.sent.load(Ordering::Relaxed);
                    if sent != last_sent {
                        last_sent = sent;
                        self.emit(UploadEvent::Progress { bytes_sent: sent, bytes_confirmed: self.confirmed, bytes_total: total });
                    }
                    continue;
                }
            };
            // Parts the reader hashed are adopted in microseconds, but one the
            // core cannot adopt (after a restart) is hashed here, like `Data`.
            let is_data = matches!(input, Input::Data { .. } | Input::HashedData { .. });
            let result = if is_data && in_multi_thread_runtime() {
                // Hashing a part takes milliseconds: keep it off the executor's other tasks.
                tokio::task::block_in_place(|| self.upload.handle_input(now(), input))
            } else {
                self.upload.handle_input(now(), input)
            };
            if let Err(e) = result {
                // Driver bugs only; the input is ignored and the machine goes on.
                tracing::error!(error = %e, "driver misuse");
            }
        }
    }

    fn dispatch(&mut self, r: box_chunked_core::OutgoingRequest) {
        let (parts, body) = r.request.into_parts();
        let progress = matches!(r.kind, box_chunked_core::RequestKind::UploadPart { .. })
            .then(|| self.sent.clone());
        let req = http::Request::from_parts(parts, ReqBody::new(body, progress));
        let transport = self.client.inner.transport.clone();
        let deadline = tokio::time::Instant::from_std(r.deadline);
        let id = r.id;
        let h = self
            .requests
            .spawn(async move { (id, transport.send(req, deadline).await) });
        self.handles.insert(id, h);
    }

    async fn on_core_event(&mut self, e: Event) {
        match &e {
            Event::CheckpointChanged => {
                if let (Some(path), Some(cp)) = (&self.checkpoint, self.upload.checkpoint()) {
                    let file = CheckpointFile {
                        format: 1,
                        source_path: self.source_path.clone(),
                        upload: cp,
                    };
                    self.checkpoint_writer
                        .get_or_insert_with(|| {
                            CheckpointWriter::spawn(path.clone(), self.on_event.clone())
                        })
                        .set(file);
                }
            }
            Event::PartConfirmed { bytes_done, .. } => {
                self.confirmed = *bytes_done;
                let total = self.upload.progress().bytes_total;
                self.emit(UploadEvent::Progress {
                    bytes_sent: self.sent.load(Ordering::Relaxed),
                    bytes_confirmed: *bytes_done,
                    bytes_total: total,
                });
            }
            _ => {}
        }
        self.emit(UploadEvent::Core(e));
    }
}

fn in_multi_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

impl Drop for Driver {
    /// The upload future was dropped before it finished: in-flight requests
    /// end with the `JoinSet`s, and unless the session is kept for a resume,
    /// it is deleted in the background (bounded to 10 seconds).
    fn drop(&mut self) {
        if self.finished || self.keep_session {
            return;
        }
        let Some(cp) = self.upload.checkpoint() else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = self.client.clone();
        let mut session = client.upload_session(cp.session.id.clone());
        if let Some(url) = cp.session.endpoints.abort.clone() {
            session = client.session(&box_chunked_proto::UploadSession {
                id: cp.session.id.clone(),
                kind: "upload_session".into(),
                session_expires_at: None,
                part_size: cp.session.part_size,
                total_parts: cp.session.total_parts,
                num_parts_processed: None,
                session_endpoints: box_chunked_proto::SessionEndpoints {
                    abort: Some(url),
                    ..Default::default()
                },
            });
        }
        handle.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(10), session.abort()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha1::{Digest as _, Sha1};
    use std::sync::atomic::AtomicBool;

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
            let (bytes, hashes) = reader.read(start, end).await.unwrap();
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
        let (bytes, hashes) = reader.read(2048, 4096).await.unwrap();
        assert_eq!(&bytes[..], &data[2048..4096]);
        assert!(hashes.is_none());
        // Offset 0 starts a new chain.
        let (_, hashes) = reader.read(0, 2048).await.unwrap();
        assert_eq!(hashes.unwrap().before.file_len(), 0);
        // A read past the end is an error, not a panic.
        assert!(reader.read(4096, 6000).await.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// At most `cap` buffers are out: a take past it waits until one comes
    /// back, then gets the returned buffer (no new allocation).
    #[test]
    fn pool_bounds_buffers_and_reuses_them() {
        let pool = BufferPool::new(2);
        let a = pool.take(1000).freeze();
        let b = pool.take(1000).freeze();
        let a_ptr = a.as_ptr() as usize;
        let released = Arc::new(AtomicBool::new(false));
        let r = released.clone();
        let dropper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            r.store(true, Ordering::SeqCst);
            drop(a);
        });
        let c = pool.take(800);
        assert!(
            released.load(Ordering::SeqCst),
            "the third buffer was handed out before one came back"
        );
        assert_eq!(c.buf.len(), 800);
        assert_eq!(
            c.buf.as_ptr() as usize,
            a_ptr,
            "the returned buffer is reused"
        );
        dropper.join().unwrap();
        drop(b);
        // Raising the cap lets more out at once without waiting.
        pool.set_cap(4);
        let held: Vec<Bytes> = (0..3).map(|_| pool.take(10).freeze()).collect();
        let (lock, _) = &*pool.0;
        assert_eq!(lock.lock().unwrap().out, 4);
        drop(held);
        drop(c);
        assert_eq!(lock.lock().unwrap().out, 0);
        // A buffer dropped without being frozen (a failed read) comes back too.
        drop(pool.take(10));
        assert_eq!(lock.lock().unwrap().out, 0);
        // Reserving maps up to the cap, less the buffer the first read takes
        // (outside a runtime it is done at once), and never more.
        let fresh = BufferPool::new(3);
        fresh.reserve(10, 64);
        let (lock, _) = &*fresh.0;
        assert_eq!(lock.lock().unwrap().free.len(), 2);
        assert!(lock.lock().unwrap().free.iter().all(|b| b.len() == 64));
        fresh.reserve(10, 64);
        assert_eq!(lock.lock().unwrap().free.len(), 2);
        let small = BufferPool::new(6);
        small.reserve(2, 64);
        assert_eq!(
            small.0 .0.lock().unwrap().free.len(),
            1,
            "a 2-part upload needs 2 buffers"
        );
    }
}
