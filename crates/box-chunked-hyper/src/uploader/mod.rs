//! The high-level uploader: the core's state machine driven over tokio.
//! This module holds the public types ([`Uploader`], [`UploadTask`],
//! [`UploadControl`], [`UploadEvent`]); the loop is in `driver`, reading in
//! `source`, part buffers in `pool`, checkpoint files in `checkpoint`. None
//! of it knows Box's step order: that is the core's.

mod budget;
mod checkpoint;
mod driver;
mod early;
#[cfg(target_os = "linux")]
mod mapped;
mod pass;
mod pool;
mod put;
mod source;

pub use box_chunked_core::tune::Tuning;
pub use budget::PartBudget;
pub use checkpoint::{CheckpointFile, CheckpointUrls};
pub(crate) use put::file_sha1;
pub use put::{Put, PutOutcome};
pub use source::{fingerprint, UploadSource};

use crate::body::Throttle;
use crate::client::BoxClient;
use crate::error::{Error, ErrorKind};
use box_chunked_core::conflicts::OnConflict;
use box_chunked_core::{Event, OnFailure, Target, Upload, UploadConfig};
use box_chunked_proto::{CommitAttributes, File};
use driver::Driver;
use source::{open_source, Reader};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

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
        /// Part uploads in flight now.
        parts_in_flight: usize,
        /// Parts that may be in flight now (fixed, or as tuned).
        parallelism: usize,
    },
    /// The upload committed, and this is how its parts were hashed:
    /// `parts_hashed_while_read` of the `parts` read were hashed by the
    /// reader thread (or a new version's read pass) while their bytes were
    /// in cache; the rest by the
    /// state machine afterwards (more CPU). A benchmark's number.
    Hashing {
        /// Parts whose SHA-1s the reader thread computed as it read them.
        parts_hashed_while_read: u64,
        /// Parts in the session.
        parts: u64,
        /// Bytes of the source read for this upload: its size once, plus
        /// what was read again (after a new version's one read pass, the
        /// parts Box did not have; without that pass, every part).
        bytes_read: u64,
    },
    /// A new version's plan missed these parts and they were sent while
    /// the file was still being read, before the upload machine started
    /// (which then finds them stored, with the plan's hits): their number
    /// and bytes, sent in this run.
    SentDuringPass {
        /// Parts sent and stored.
        parts: u64,
        /// Their bytes.
        bytes: u64,
    },
    /// The checkpoint file was written.
    CheckpointWritten(PathBuf),
    /// The checkpoint file could not be written (the upload goes on; an
    /// interruption from here on may not be resumable from it).
    CheckpointFailed {
        /// The checkpoint file.
        path: PathBuf,
        /// Why, as a sentence.
        error: String,
    },
}

type Callback = Arc<dyn Fn(&UploadEvent) + Send + Sync>;

/// Configures and runs uploads: `client.uploader()`.
#[derive(Clone)]
pub struct Uploader {
    client: BoxClient,
    parallelism: NonZeroUsize,
    checkpoint: Option<PathBuf>,
    keep_session: bool,
    keep_on_drop: bool,
    local_server: bool,
    resume_flags: Vec<String>,
    attributes: Option<CommitAttributes>,
    on_event: Option<Callback>,
    config: UploadConfig,
    on_conflict: OnConflict,
    one_shot_below: u64,
    delta: bool,
    throttle: Option<Arc<Throttle>>,
    budget: Option<Arc<PartBudget>>,
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
    /// The high-level uploader (self-tuning parallelism, no checkpoint
    /// file, the session deleted on failure or cancellation).
    pub fn uploader(&self) -> Uploader {
        let mut config = UploadConfig::default();
        config.upload_root = self.inner.urls.upload.clone();
        config.retry = self.inner.retry.clone();
        config.timeouts.part = self.inner.part_timeout;
        config.timeouts.control = self.inner.control_timeout;
        config.commit_wait = self.inner.commit_wait;
        // Each upload's retry delays from the operating system's randomness.
        config.jitter_seed = crate::transport::os_seed();
        config.tuning = Some(Tuning::default());
        Uploader {
            client: self.clone(),
            parallelism: config.parallelism,
            checkpoint: None,
            keep_session: false,
            keep_on_drop: false,
            local_server: false,
            resume_flags: Vec::new(),
            attributes: None,
            on_event: None,
            config,
            on_conflict: OnConflict::Error,
            one_shot_below: self.inner.one_shot_below,
            delta: true,
            throttle: None,
            budget: None,
        }
    }
}

impl Uploader {
    /// A fixed number of parts in flight, in place of self-tuning. Part
    /// buffers (a stream's; a file's parts are mapped where that works)
    /// take at most `(parallelism + 2) x part_size`, whatever the source's
    /// size, each mapped when a read first needs one more.
    #[must_use]
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN);
        self.config.tuning = None;
        self
    }

    /// Parts in flight tuned while the upload runs, within `tuning` (the
    /// default: [`Tuning::default`], from 16 parts, between 4 and 32, within
    /// 1 GiB of part buffers; see [`box_chunked_core::tune`]).
    #[must_use]
    pub fn tuning(mut self, tuning: Tuning) -> Self {
        self.config.tuning = Some(tuning);
        self
    }

    /// The most bytes of part buffers self-tuning may hold (default
    /// 1 GiB); no effect on a fixed [`Uploader::parallelism`].
    #[must_use]
    pub fn max_memory(mut self, bytes: u64) -> Self {
        if let Some(t) = &mut self.config.tuning {
            t.memory = Some(bytes);
        }
        self
    }

    /// The self-tuning bounds, or `None` for a fixed parallelism.
    pub fn tuning_now(&self) -> Option<Tuning> {
        self.config.tuning
    }

    /// Writes a checkpoint here whenever a part is confirmed, so that
    /// [`Uploader::resume`] can finish the upload in another process. It is
    /// removed once the upload is committed; it stays after a failure that
    /// kept the session, an interruption, or a drop of the upload future.
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

    /// Records in checkpoints that the server is embedded in this process
    /// (its port changes from run to run), so that a resume starts it again
    /// instead of using the recorded URLs.
    #[must_use]
    pub fn local_server(mut self, yes: bool) -> Self {
        self.local_server = yes;
        self
    }

    /// Records in checkpoints and job files a program's own arguments for
    /// connecting the same way again (for example `--box-config
    /// /abs/config.json`), so that the program can print a resume command
    /// that works as printed. Never a secret: they are written to disk.
    #[must_use]
    pub fn resume_flags(mut self, flags: Vec<String>) -> Self {
        self.resume_flags = flags;
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

    /// What to do when the name is taken (default [`OnConflict::Error`], as
    /// Box): upload a new version, skip an identical file, or take a
    /// numbered name. Decided at the check before upload, before any byte.
    #[must_use]
    pub fn on_conflict(mut self, policy: OnConflict) -> Self {
        self.on_conflict = policy;
        self
    }

    /// Files below this size go up in one request (default: the client's
    /// [`crate::ClientBuilder::one_shot_below`], 20,000,000 bytes unless set);
    /// 0-byte files always do.
    #[must_use]
    pub fn one_shot_below(mut self, bytes: u64) -> Self {
        self.one_shot_below = bytes;
        self
    }

    /// Plans new versions through the session's `plan` endpoint, sending
    /// only the parts the server does not already have (default on; where
    /// the endpoint is absent or fails, every part is sent).
    #[must_use]
    pub fn delta(mut self, yes: bool) -> Self {
        self.delta = yes;
        self
    }

    /// Paces every request body of this uploader (and of every upload that
    /// shares the [`Throttle`]) to the throttle's rate; change the rate at
    /// run time with [`Throttle::set_rate`].
    ///
    /// ```no_run
    /// # fn demo(client: box_chunked_hyper::BoxClient) {
    /// use box_chunked_hyper::Throttle;
    /// let limit = Throttle::new(10 << 20); // 10 MiB/s across the job
    /// let uploader = client.uploader().throttle(limit.clone());
    /// limit.set_rate(20 << 20); // later, from anywhere
    /// # let _ = uploader; }
    /// ```
    #[must_use]
    pub fn throttle(mut self, throttle: Arc<Throttle>) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// What checkpoints and job files record of the client's URLs.
    pub fn checkpoint_urls(&self) -> CheckpointUrls {
        CheckpointUrls {
            api: self.client.inner.urls.api.clone(),
            upload: self.client.inner.urls.upload.clone(),
            oauth: self.client.inner.urls.token.clone(),
            local_server: self.local_server,
            as_user: self.client.inner.as_user.clone(),
            flags: self.resume_flags.clone(),
        }
    }

    /// The client this uploader sends with.
    pub fn client(&self) -> &BoxClient {
        &self.client
    }

    /// Parts in flight at once, as set (with self-tuning, where it starts).
    pub fn parallelism_now(&self) -> usize {
        self.config
            .tuning
            .map_or(self.parallelism.get(), |t| t.start.get())
    }

    /// Shares a budget of parts in flight with other uploads (a job's
    /// files): each part waits for a place, and a tuned budget takes this
    /// upload's answers and sets its window ([`PartBudget::share`]).
    #[must_use]
    pub fn part_budget(mut self, budget: Arc<PartBudget>) -> Self {
        self.budget = Some(budget);
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

    /// Uploads `source` to `target` and returns the file: [`Uploader::put`]
    /// without the outcome.
    ///
    /// Dropping the future stops the upload: in-flight requests end and,
    /// unless [`Uploader::keep_session`] is set, the session is deleted in
    /// the background within 10 seconds.
    pub async fn upload(&self, target: Target, source: UploadSource) -> Result<File, Error> {
        Ok(self.put(target, source).await?.file)
    }

    /// The chunked machine alone, from a new session.
    async fn upload_chunked(
        &self,
        target: Target,
        source: UploadSource,
        commands: Option<mpsc::UnboundedReceiver<Command>>,
    ) -> Result<File, Error> {
        let (src, reader, path) = open_source(source).await?;
        let upload = Upload::new(target, src, self.core(), now())?;
        self.drive(upload, reader, path, commands).await
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
        self.resume_from(cp, cp_path).await
    }

    /// Resumes from a checkpoint already read (and perhaps adjusted, for
    /// example pointed at a server's new address), keeping it up to date at
    /// `checkpoint`.
    pub async fn resume_from(
        &self,
        cp: CheckpointFile,
        checkpoint: impl AsRef<Path>,
    ) -> Result<File, Error> {
        let cp_path = checkpoint.as_ref().to_path_buf();
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

    /// Starts an upload ([`Uploader::put`]) on a background task, with a
    /// handle to abort it or change its parallelism.
    pub fn spawn(&self, target: Target, source: UploadSource) -> UploadTask {
        let (tx, rx) = mpsc::unbounded_channel();
        let this = self.clone();
        let task = tokio::spawn(async move { this.put_with(target, source, Some(rx)).await });
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
        self.drive_after_pass(upload, reader, source_path, commands, None)
            .await
    }

    /// [`Self::drive`], with a new version's read pass and how many parts
    /// its plan found stored.
    async fn drive_after_pass(
        &self,
        upload: Upload,
        reader: Reader,
        source_path: Option<PathBuf>,
        commands: Option<mpsc::UnboundedReceiver<Command>>,
        pass: Option<(pass::Pass, early::Planned)>,
    ) -> Result<File, Error> {
        let mut d = Driver::new(self, upload, reader, source_path);
        if let Some((pass, planned)) = pass {
            d.use_pass(pass, planned);
        }
        d.run(commands).await
    }
}

/// A running upload.
#[derive(Debug)]
pub struct UploadTask {
    task: tokio::task::JoinHandle<Result<Put, Error>>,
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

    /// Waits for the file (cancel-safe: the task goes on if this future is dropped).
    pub async fn wait(&mut self) -> Result<File, Error> {
        Ok(self.wait_put().await?.file)
    }

    /// Waits for the file and what was done (cancel-safe).
    pub async fn wait_put(&mut self) -> Result<Put, Error> {
        (&mut self.task)
            .await
            .map_err(|e| Error::new(ErrorKind::Cancelled, format!("the upload task ended: {e}")))?
    }

    /// Waits for the file, consuming the task.
    pub async fn join(self) -> Result<File, Error> {
        self.task
            .await
            .map_err(|e| Error::new(ErrorKind::Cancelled, format!("the upload task ended: {e}")))?
            .map(|p| p.file)
    }
}

/// Controls a running upload.
#[derive(Debug, Clone)]
pub struct UploadControl {
    tx: mpsc::UnboundedSender<Command>,
}

#[derive(Debug)]
pub(crate) enum Command {
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

/// Whether the current runtime has worker threads to spare for blocking work.
fn in_multi_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}
