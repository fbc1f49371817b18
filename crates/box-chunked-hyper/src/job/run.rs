//! Running a job: the folder tree created or reused by name, files a few
//! at a time with one shared budget of parts in flight, each file resumed
//! from its checkpoint, found already there, or uploaded, and its state
//! recorded in the job file at each step.

use super::file::{EntryState, JobEntry, JobFile, SkipReason};
use crate::error::{Error, ErrorKind};
use crate::uploader::{
    CheckpointFile, PartBudget, PutOutcome, UploadEvent, UploadSource, Uploader,
};
use box_chunked_core::conflicts::OnConflict;
use box_chunked_core::Target;
use box_chunked_proto::urls::BaseUrls;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How a file of a job ended in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    /// Uploaded, as a new version, or under a numbered name, or found
    /// already there; what was done.
    Done(PutOutcome),
    /// Not uploaded on purpose, and why.
    Skipped(SkipReason),
    /// Failed; the next run tries again.
    Failed,
}

impl FileOutcome {
    /// `uploaded`, `version`, `skipped`, `renamed` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Done(p) => p.as_str(),
            Self::Skipped(_) => "skipped",
            Self::Failed => "failed",
        }
    }
}

/// What happened to one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The local file.
    pub path: PathBuf,
    /// Its place under the job's folder.
    pub rel: String,
    /// Its size.
    pub size: u64,
    /// How it ended.
    pub outcome: FileOutcome,
    /// The file's id on Box.
    pub id: Option<String>,
    /// Its SHA-1.
    pub sha1: Option<String>,
    /// Why it failed (or was skipped).
    pub error: Option<String>,
    /// What would let a failed file through (another conflict policy, say).
    pub remedy: Option<crate::Remedy>,
}

/// The end of a run.
#[derive(Debug, Clone, Default)]
pub struct JobSummary {
    /// Files uploaded in this run (new files, versions, renamed).
    pub uploaded: u64,
    /// Files skipped (already there, or not regular files).
    pub skipped: u64,
    /// Files that failed.
    pub failed: u64,
    /// Files finished in an earlier run.
    pub earlier: u64,
    /// Bytes of the files uploaded in this run.
    pub bytes: u64,
    /// Seconds this run took.
    pub secs: f64,
}

type Reporter = Arc<dyn Fn(&FileReport) + Send + Sync>;
type EventSink = Arc<dyn Fn(&JobEntry, &UploadEvent) + Send + Sync>;

/// Runs a [`JobFile`]: `Job::new(uploader, job_path)`.
#[derive(Clone)]
pub struct Job {
    uploader: Uploader,
    path: PathBuf,
    files_at_once: usize,
    fail_fast: bool,
    on_file: Option<Reporter>,
    on_event: Option<EventSink>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The job's state, shared by the files in flight.
struct Shared {
    job: Mutex<JobFile>,
    path: PathBuf,
}

impl Shared {
    /// The job file's state (a panic elsewhere does not poison it: every
    /// change is one assignment, then a write).
    fn lock(&self) -> std::sync::MutexGuard<'_, JobFile> {
        self.job
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, i: usize, state: EntryState) -> Result<(), Error> {
        let mut job = self.lock();
        job.entries[i].state = state;
        job.write(&self.path)
    }

    /// Entry `i`, the folder it goes to and the job's conflict policy.
    fn place(&self, i: usize) -> (JobEntry, String, OnConflict) {
        let job = self.lock();
        let e = job.entries[i].clone();
        let folder = match e.rel.rsplit_once('/') {
            Some((d, _)) => job
                .folders
                .get(d)
                .cloned()
                .unwrap_or_else(|| job.folder_id.clone()),
            None => job.folder_id.clone(),
        };
        (e, folder, job.on_conflict)
    }
}

impl Job {
    /// A job run by `uploader` (its parallelism, fixed or tuned, is the
    /// job's budget of parts in flight across all files), keeping its state in `path`.
    pub fn new(uploader: Uploader, path: impl Into<PathBuf>) -> Self {
        Self {
            uploader,
            path: path.into(),
            files_at_once: 4,
            fail_fast: false,
            on_file: None,
            on_event: None,
        }
    }

    /// Files open at once (default 4).
    #[must_use]
    pub fn files_at_once(mut self, n: usize) -> Self {
        self.files_at_once = n.max(1);
        self
    }

    /// Stops at the first failed file (default: the others go on).
    #[must_use]
    pub fn fail_fast(mut self, yes: bool) -> Self {
        self.fail_fast = yes;
        self
    }

    /// Called once per file as it ends.
    #[must_use]
    pub fn on_file(mut self, f: impl Fn(&FileReport) + Send + Sync + 'static) -> Self {
        self.on_file = Some(Arc::new(f));
        self
    }

    /// Receives each file's upload events (progress, retries), with the file.
    #[must_use]
    pub fn on_event(mut self, f: impl Fn(&JobEntry, &UploadEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(f));
        self
    }

    /// The uploader for one file: the job's, sharing its budget, reporting
    /// events with the file.
    fn uploader_for(&self, entry: &JobEntry, budget: Arc<PartBudget>) -> Uploader {
        // The budget bounds parts in flight across files; each file's own
        // window (and so its part buffers, `window + 2` of them) is its
        // share of the budget, plus one so that a file alone keeps it busy.
        let mut u = self
            .uploader
            .clone()
            .parallelism(budget.share())
            .part_budget(budget);
        if let Some(f) = &self.on_event {
            let (f, e) = (f.clone(), entry.clone());
            u = u.on_event(move |ev: &UploadEvent| f(&e, ev));
        }
        u
    }

    /// Runs the job (a new one, or one a crash interrupted) to its end.
    pub async fn run(&self, mut job: JobFile) -> Result<JobSummary, Error> {
        let started = Instant::now();
        job.urls = Some(self.uploader.checkpoint_urls());
        job.write(&self.path)?;
        let shared = Arc::new(Shared {
            job: Mutex::new(job),
            path: self.path.clone(),
        });
        self.make_folders(&shared).await?;
        // One budget of parts in flight for all files: fixed, or tuned by
        // the answers of all of them.
        let budget = match self.uploader.tuning_now() {
            Some(t) => PartBudget::tuned(t, self.files_at_once),
            None => PartBudget::fixed(self.uploader.parallelism_now(), self.files_at_once),
        };
        let (todo, mut summary) = self.earlier(&shared);
        let mut set = tokio::task::JoinSet::new();
        let mut queue = todo.into_iter();
        let mut stop = false;
        loop {
            while !stop && set.len() < self.files_at_once {
                let Some(i) = queue.next() else { break };
                let (this, shared, budget) = (self.clone(), shared.clone(), budget.clone());
                set.spawn(async move { this.one(&shared, i, budget).await });
            }
            let Some(done) = set.join_next().await else {
                break;
            };
            let report = done.map_err(|e| Error::new(ErrorKind::Cancelled, e.to_string()))?;
            match report.outcome {
                FileOutcome::Failed => {
                    summary.failed += 1;
                    stop |= self.fail_fast;
                }
                FileOutcome::Skipped(_) | FileOutcome::Done(PutOutcome::Skipped) => {
                    summary.skipped += 1;
                }
                FileOutcome::Done(_) => {
                    summary.uploaded += 1;
                    summary.bytes += report.size;
                }
            }
            self.report(report);
        }
        summary.secs = started.elapsed().as_secs_f64();
        Ok(summary)
    }

    /// The entries still to do, and the summary of those done or skipped
    /// in an earlier run (each skipped one reported again).
    fn earlier(&self, shared: &Shared) -> (Vec<usize>, JobSummary) {
        let job = shared.lock();
        let mut summary = JobSummary::default();
        let mut todo = Vec::new();
        for (i, e) in job.entries.iter().enumerate() {
            match &e.state {
                EntryState::Done { .. } => summary.earlier += 1,
                EntryState::Skipped { reason } => {
                    summary.skipped += 1;
                    self.report(FileReport {
                        path: e.path.clone(),
                        rel: e.rel.clone(),
                        size: e.size,
                        outcome: FileOutcome::Skipped(reason.clone()),
                        id: None,
                        sha1: None,
                        error: Some(reason.to_string()),
                        remedy: None,
                    });
                }
                s if !JobFile::is_final(s) => todo.push(i),
                _ => {}
            }
        }
        (todo, summary)
    }

    fn report(&self, r: FileReport) {
        if let Some(f) = &self.on_file {
            f(&r);
        }
    }

    /// The folder of every directory, created or found by name, parents first.
    async fn make_folders(&self, shared: &Shared) -> Result<(), Error> {
        let (root, dirs) = {
            let job = shared.lock();
            let mut dirs: Vec<String> = job
                .entries
                .iter()
                .filter(|e| !JobFile::is_final(&e.state))
                .filter_map(|e| e.rel.rsplit_once('/').map(|(d, _)| d.to_owned()))
                .flat_map(|d| {
                    let parts: Vec<&str> = d.split('/').collect();
                    (1..=parts.len())
                        .map(|n| parts[..n].join("/"))
                        .collect::<Vec<_>>()
                })
                .filter(|d| !job.folders.contains_key(d))
                .collect();
            dirs.sort_by_key(|d| (d.matches('/').count(), d.clone()));
            dirs.dedup();
            (job.folder_id.clone(), dirs)
        };
        for d in dirs {
            let (parent_rel, name) = d.rsplit_once('/').unwrap_or(("", d.as_str()));
            let parent = if parent_rel.is_empty() {
                root.clone()
            } else {
                let job = shared.lock();
                job.folders
                    .get(parent_rel)
                    .cloned()
                    .unwrap_or_else(|| root.clone())
            };
            let id = self.uploader.client().ensure_folder(&parent, name).await?;
            let mut job = shared.lock();
            job.folders.insert(d.clone(), id);
            job.write(&shared.path)?;
        }
        Ok(())
    }

    /// One file to its end: resumed from its checkpoint, found already
    /// there, or uploaded; its state recorded at each step.
    async fn one(&self, shared: &Shared, i: usize, budget: Arc<PartBudget>) -> FileReport {
        let (entry, folder, policy) = shared.place(i);
        let name = entry
            .rel
            .rsplit('/')
            .next()
            .unwrap_or(&entry.rel)
            .to_owned();
        let report = |outcome: FileOutcome,
                      id: Option<String>,
                      sha1: Option<String>,
                      error: Option<String>| FileReport {
            path: entry.path.clone(),
            rel: entry.rel.clone(),
            size: entry.size,
            outcome,
            id,
            sha1,
            error,
            remedy: None,
        };
        let checkpoint = self.path.with_extension(format!("file-{i}.json"));
        let target = Target::NewFile {
            folder_id: folder,
            name,
        };
        let result = self
            .upload_entry(shared, i, &entry, &target, policy, &checkpoint, budget)
            .await;
        match result {
            Ok((file, outcome)) => {
                let _ = std::fs::remove_file(&checkpoint);
                let sha1 = file.sha1.map(|s| s.to_hex());
                let state = EntryState::Done {
                    id: file.id.clone(),
                    sha1: sha1.clone(),
                    outcome,
                };
                if let Err(e) = shared.update(i, state) {
                    return report(
                        FileOutcome::Failed,
                        Some(file.id),
                        sha1,
                        Some(e.to_string()),
                    );
                }
                report(FileOutcome::Done(outcome), Some(file.id), sha1, None)
            }
            Err(e) => {
                // A kept session stays resumable; one that is gone is not.
                let kept = checkpoint.exists() && !e.session_gone();
                if !kept {
                    let _ = std::fs::remove_file(&checkpoint);
                }
                let _ = shared.update(
                    i,
                    EntryState::Failed {
                        error: e.fact().to_owned(),
                        checkpoint: kept.then(|| checkpoint.clone()),
                    },
                );
                FileReport {
                    remedy: e.remedy(),
                    ..report(FileOutcome::Failed, None, None, Some(e.fact().to_owned()))
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn upload_entry(
        &self,
        shared: &Shared,
        i: usize,
        entry: &JobEntry,
        target: &Target,
        policy: OnConflict,
        checkpoint: &Path,
        budget: Arc<PartBudget>,
    ) -> Result<(box_chunked_proto::File, PutOutcome), Error> {
        // Interrupted or failed earlier: resume the session, or find the file committed.
        let earlier = match &entry.state {
            EntryState::InProgress { checkpoint } => Some(checkpoint),
            EntryState::Failed {
                checkpoint: Some(checkpoint),
                ..
            } => Some(checkpoint),
            _ => None,
        };
        if let Some(cp) = earlier {
            let size = std::fs::metadata(&entry.path).map_or(entry.size, |m| m.len());
            let local = crate::uploader::file_sha1(&entry.path);
            let client = self.uploader.client();
            if let Some(file) = client.identical_at(target, size, local).await? {
                return Ok((file, PutOutcome::Uploaded));
            }
            if let Ok(mut file) = CheckpointFile::read(cp) {
                let up = self.uploader_for(entry, budget.clone());
                // A local server embedded in the process listens on a new
                // port each run: the session is at the same paths there.
                if file.urls.as_ref().is_some_and(|u| u.local_server) {
                    if let Some(base) = BaseUrls::base_of(up.client().upload_url()) {
                        file.rebase_onto(&base);
                    }
                }
                match up.resume_from(file, cp).await {
                    Ok(file) => return Ok((file, PutOutcome::Uploaded)),
                    Err(e) if e.session_gone() || e.kind() == ErrorKind::Config => {
                        tracing::info!(error = %e, "the file's session is gone; uploading it again");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        shared.update(
            i,
            EntryState::InProgress {
                checkpoint: checkpoint.to_path_buf(),
            },
        )?;
        let put = self
            .uploader_for(entry, budget)
            .on_conflict(policy)
            .checkpoint(checkpoint)
            .put(target.clone(), UploadSource::Path(entry.path.clone()))
            .await?;
        Ok((put.file, put.outcome))
    }
}
