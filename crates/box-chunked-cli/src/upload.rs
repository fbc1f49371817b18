//! `box-chunked upload`: one file, with progress, Ctrl-C handling and a
//! checkpoint for `resume`.

use crate::args::{Global, UploadArgs};
use crate::connect::{connect, data_dir};
use crate::failure::{exit, explain, explain_in, source_problem, Failure, Where};
use crate::progress;
use box_chunked_core::one_shot;
use box_chunked_core::Target;
use box_chunked_hyper::{
    BoxClient, CheckpointFile, Put, PutOutcome, Throttle, UploadEvent, UploadSource, Uploader,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The result: with `--json` the file object as Box returns it, plus the
/// upload session's id (`upload_session_id`); otherwise one line, unless quiet.
pub(crate) fn print_file(
    file: &box_chunked_proto::File,
    json: bool,
    session: Option<String>,
    quiet: bool,
) {
    print_put(file, PutOutcome::Uploaded, json, session, quiet);
}

/// [`print_file`] with what was done: `outcome` in the JSON, and a line
/// that says a version, a skip or a new name.
pub(crate) fn print_put(
    file: &box_chunked_proto::File,
    outcome: PutOutcome,
    json: bool,
    session: Option<String>,
    quiet: bool,
) {
    if json {
        let mut v = serde_json::to_value(file).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            if let Some(id) = session {
                obj.insert("upload_session_id".into(), serde_json::Value::String(id));
            }
            obj.insert("outcome".into(), serde_json::json!(outcome.as_str()));
        }
        println!("{}", serde_json::to_string(&v).unwrap_or_default());
    } else if !quiet {
        let what = match outcome {
            PutOutcome::Skipped => "skipped: the same content is already file",
            PutOutcome::Version => "uploaded a new version of file",
            PutOutcome::Renamed => "uploaded (the name was taken) file",
            _ => "uploaded file",
        };
        println!(
            "{what} {} ({}, {}, SHA-1 {})",
            file.id,
            file.name.as_deref().unwrap_or("?"),
            progress::human(file.size.unwrap_or(0)),
            file.sha1.map(|s| s.to_hex()).unwrap_or_default()
        );
    }
}

/// SIGTERM, or never where there is none.
async fn sigterm() {
    #[cfg(unix)]
    {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}

/// Runs an upload task under Ctrl-C handling: the first Ctrl-C stops it at
/// once and keeps the session and the checkpoint (exit 6); a second Ctrl-C
/// within 3 seconds deletes the session instead (exit 7). SIGTERM is the
/// first Ctrl-C, with no wait for a second one.
pub(crate) async fn run_interruptible(
    client: &BoxClient,
    mut task: box_chunked_hyper::UploadTask,
    checkpoint: &Path,
    hint: &str,
    what: &str,
    at: &Where,
    display: &progress::Progress,
) -> Result<Put, Failure> {
    let terminated = tokio::select! {
        r = task.wait_put() => return r.map_err(|e| explain_in(&e, what, at)),
        _ = tokio::signal::ctrl_c() => false,
        () = sigterm() => true,
    };
    display.freeze();
    // Stopping flushes the checkpoint: the task's last state is on disk.
    task.stop().await;
    if terminated {
        return Err(Failure::new(
            exit::INTERRUPTED,
            format!("terminated (SIGTERM): the session is kept; resume with: {hint}"),
        ));
    }
    if checkpoint.exists() {
        eprintln!(
            "\ninterrupted: the session is kept for `{hint}`; press Ctrl-C again within 3 seconds to delete it instead"
        );
    } else {
        eprintln!("\ninterrupted: press Ctrl-C again within 3 seconds to delete the session");
    }
    let second = tokio::select! {
        _ = tokio::signal::ctrl_c() => true,
        () = tokio::time::sleep(Duration::from_secs(3)) => false,
    };
    if second {
        if let Ok(cp) = CheckpointFile::read(checkpoint) {
            client
                .session(&cp.session())
                .abort()
                .await
                .map_err(|e| explain(&e, "the session"))?;
        }
        let _ = std::fs::remove_file(checkpoint);
        return Err(Failure::new(
            exit::ABORTED,
            "aborted: the upload session was deleted",
        ));
    }
    Err(Failure::new(
        exit::INTERRUPTED,
        format!("interrupted; resume with: {hint}"),
    ))
}

/// `show`: the bar or progress lines; `talk`: lines for people at all (not with `-q`).
pub(crate) fn with_progress(
    u: Uploader,
    total: u64,
    show: bool,
    talk: bool,
) -> (Uploader, progress::Progress) {
    let p = progress::Progress::new(total, show, talk);
    let sink = p.clone();
    (u.on_event(move |e: &UploadEvent| sink.on_event(e)), p)
}

/// The progress a command shows: JSON lines with `--progress json`, else
/// the bar or lines (none with `--no-progress`, `--progress none` or `-q`).
pub(crate) fn progress_of(
    u: Uploader,
    total: u64,
    mode: Option<&str>,
    no_progress: bool,
    quiet: bool,
) -> (Uploader, progress::Progress) {
    if mode == Some("json") {
        let p = progress::Progress::json(total, None);
        let sink = p.clone();
        return (u.on_event(move |e: &UploadEvent| sink.on_event(e)), p);
    }
    let show = !no_progress && !quiet && mode != Some("none");
    with_progress(u, total, show, !quiet)
}

/// Standard input copied to a temporary file (for a stream of unknown
/// size), removed when dropped.
struct Spool(PathBuf);

impl Spool {
    async fn of_stdin(args: &UploadArgs) -> Result<Self, Failure> {
        if args.name.is_none() && args.file.is_none() {
            return Err(Failure::new(
                exit::USAGE,
                "uploading standard input (-) needs --name NAME (or --file ID)",
            ));
        }
        let dir = args.spool_dir.clone().unwrap_or_else(std::env::temp_dir);
        let path = dir.join(format!(
            "box-chunked-stdin-{}-{}",
            std::process::id(),
            crate::connect::random_token()?
        ));
        let spool = Self(path.clone());
        let fail = |e: std::io::Error| {
            Failure::new(
                exit::USAGE,
                format!(
                    "cannot copy standard input to {} ({e}); choose a directory with room for it with --spool-dir DIR, or give its size with --size to send it as it is read",
                    path.display()
                ),
            )
        };
        // Owner-only: the stream may be anything the user pipes in.
        let mut opts = tokio::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        opts.mode(0o600);
        let mut f = opts.open(&path).await.map_err(fail)?;
        tokio::io::copy(&mut tokio::io::stdin(), &mut f)
            .await
            .map_err(fail)?;
        tokio::io::AsyncWriteExt::flush(&mut f)
            .await
            .map_err(fail)?;
        Ok(spool)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The size of what `upload` sends: the file's, or `--size` for standard
/// input (which also needs a name).
fn source_size(args: &UploadArgs, path: &Path, stdin: bool) -> Result<u64, Failure> {
    if !stdin {
        if let Some(f) = source_problem(path) {
            return Err(f);
        }
        return Ok(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0));
    }
    if args.name.is_none() && args.file.is_none() {
        return Err(Failure::new(
            exit::USAGE,
            "uploading standard input (-) needs --name NAME (or --file ID)",
        ));
    }
    args.size.ok_or_else(|| {
        Failure::new(
            exit::USAGE,
            "uploading standard input (-) needs --size BYTES: Box needs the size before the first byte",
        )
    })
}

/// The uploader `upload` runs, from its flags.
fn uploader_of(
    t: &crate::connect::Endpoint,
    args: &UploadArgs,
    checkpoint: Option<&PathBuf>,
) -> Uploader {
    let mut uploader = args
        .parallel
        .apply(t.client.uploader(), args.max_memory)
        .keep_session(args.keep_session)
        .keep_session_on_drop(true)
        .local_server(t.embedded.is_some())
        .resume_flags(t.resume_flags())
        .on_conflict(args.on_conflict)
        .one_shot_below(args.modes.one_shot_below)
        .delta(!args.modes.no_delta);
    if let Some(c) = checkpoint {
        uploader = uploader.checkpoint(c);
    }
    if let Some(rate) = args.bwlimit {
        uploader = uploader.throttle(Throttle::new(rate));
    }
    uploader
}

/// Whether `args` make a job: several paths, a directory, a dry run or
/// filters (which apply to a job's files).
fn is_job(args: &UploadArgs) -> bool {
    args.paths.len() > 1
        || args.paths.iter().any(|p| p.is_dir())
        || args.dry_run
        || !args.filter.include.is_empty()
        || !args.filter.exclude.is_empty()
        || !args.filter.exclude_from.is_empty()
}

pub(crate) async fn upload(g: &Global, args: UploadArgs) -> Result<(), Failure> {
    if is_job(&args) {
        return crate::job_run::upload_job(g, args).await;
    }
    crate::browse::check_refs(&args)?;
    target_of(&args, &args.paths[0])?;
    let src = Prepared::of(&args).await?;
    let t = connect(&args.conn.clone().or(&g.conn), g.quiet).await?;
    let args = match crate::browse::with_ids(&t, args).await {
        Ok(a) => a,
        Err(f) => {
            t.close().await;
            return Err(f);
        }
    };
    let target = target_of(&args, &args.paths[0])?;
    let hint = src
        .checkpoint
        .as_ref()
        .map(|c| t.resume_hint(c))
        .unwrap_or_default();
    let json_progress = args.progress.as_deref() == Some("json");
    if let (false, Some(c)) = (g.quiet || json_progress, &src.checkpoint) {
        eprintln!("checkpoint: {} (if interrupted: {hint})", c.display());
    }
    let uploader = uploader_of(&t, &args, src.checkpoint.as_ref());
    let mode = args.progress.as_deref();
    let (uploader, progress) = progress_of(uploader, src.size, mode, args.no_progress, g.quiet);
    progress.starting(src.starting(&args, &hint));
    let started = Instant::now();
    let source = if src.stdin {
        UploadSource::Reader(Box::new(tokio::io::stdin()), src.size)
    } else {
        UploadSource::Path(src.path.clone())
    };
    let task = uploader.spawn(target, source);
    let no_checkpoint = PathBuf::new();
    let at = src.where_of(&args, &t);
    let cp = src.checkpoint.as_ref().unwrap_or(&no_checkpoint);
    let result = run_interruptible(&t.client, task, cp, &hint, &src.what, &at, &progress).await;
    progress.end(result.is_ok(), src.size);
    progress.finish();
    let outcome = match result {
        Ok(put) => {
            if let Some(c) = &src.checkpoint {
                let _ = std::fs::remove_file(c);
            }
            if put.outcome != PutOutcome::Skipped {
                let sent = if src.one_shot {
                    src.size
                } else {
                    progress.sent()
                };
                report_rate(
                    sent,
                    src.size,
                    started,
                    g.quiet || args.json || json_progress,
                );
            }
            let session = progress.session_id();
            print_put(&put.file, put.outcome, args.json, session, g.quiet);
            Ok(())
        }
        Err(f) => Err(match &src.checkpoint {
            Some(c) => with_session_fate(f, c, args.keep_session, &hint),
            None => f,
        }),
    };
    t.close().await;
    outcome
}

/// What one upload reads, made ready before any request: standard input
/// of unknown size spooled, the size known, the checkpoint's place tried.
struct Prepared {
    /// The file read (the spool, for spooled standard input).
    path: PathBuf,
    /// Standard input spooled to a file: held only to be removed when this
    /// is dropped, after the upload.
    _spool: Option<Spool>,
    /// Standard input read as it comes (with `--size`).
    stdin: bool,
    size: u64,
    /// What messages call the source.
    what: String,
    /// It goes up in one request.
    one_shot: bool,
    checkpoint: Option<PathBuf>,
}

impl Prepared {
    /// `--progress json`'s first line: the source, the target, the
    /// checkpoint and the command that resumes it.
    fn starting(&self, args: &UploadArgs, hint: &str) -> serde_json::Value {
        serde_json::json!({
            "source": self.what,
            "target": match &args.file {
                Some(id) => serde_json::json!({"file_id": id}),
                None => serde_json::json!({"folder_id": args.folder.as_deref().unwrap_or("0")}),
            },
            "checkpoint": self.checkpoint.as_ref().map(|c| c.display().to_string()),
            "resume": self.checkpoint.as_ref().map(|_| hint.to_owned()),
        })
    }

    /// What a failure's sentence names: the target, the server, the sign-in.
    fn where_of(&self, args: &UploadArgs, t: &crate::connect::Endpoint) -> Where {
        Where {
            target: Some(match &args.file {
                Some(id) => ("file", id.clone()),
                None => ("folder", args.folder.clone().unwrap_or_else(|| "0".into())),
            }),
            session: None,
            server: Some(t.client.upload_url().to_owned()),
            signed_in: Some(t.signed_in()),
            stdin: self.stdin.then_some(self.one_shot),
        }
    }

    async fn of(args: &UploadArgs) -> Result<Self, Failure> {
        let mut path = args.paths[0].clone();
        // Standard input of unknown size: counted into a file first.
        let spool = match (path.as_os_str() == "-", args.size) {
            (true, None) => Some(Spool::of_stdin(args).await?),
            _ => None,
        };
        if let Some(s) = &spool {
            path = s.0.clone();
        }
        let stdin = path.as_os_str() == "-";
        let size = source_size(args, &path, stdin)?;
        let what = if stdin || spool.is_some() {
            "standard input".to_owned()
        } else {
            path.display().to_string()
        };
        let one_shot = one_shot::is_one_shot(size, args.modes.one_shot_below);
        // A checkpoint serves a resume, which needs a file (not a spool that
        // goes away) and a session.
        let keeps = !stdin && spool.is_none() && !one_shot && !args.no_checkpoint;
        let checkpoint = match keeps.then(|| checkpoint_path(args, &path)) {
            Some(c) => Some(writable(c)?),
            None => None,
        };
        Ok(Self {
            path,
            _spool: spool,
            stdin,
            size,
            what,
            one_shot,
            checkpoint,
        })
    }
}

/// A failed upload's sentence, ended with what became of its session: kept
/// (and the command that resumes it), deleted (and how to keep the next
/// one), or nothing when no session was made.
fn with_session_fate(f: Failure, checkpoint: &Path, keep: bool, hint: &str) -> Failure {
    match f {
        // Interrupted with a checkpoint that was never written: the hint
        // would name a file that does not exist.
        f if f.code == exit::INTERRUPTED && !checkpoint.exists() => Failure::new(
            f.code,
            format!(
                "interrupted; the checkpoint {} could not be written, so this upload cannot be resumed: upload it again (its session is left to expire)",
                checkpoint.display()
            ),
        ),
        f if matches!(
            f.code,
            exit::INTERRUPTED | exit::ABORTED | exit::SOURCE_CHANGED
        ) =>
        {
            f
        }
        // A final failure: the session was deleted unless it is kept.
        f if keep && checkpoint.exists() => Failure::new(
            f.code,
            format!("{}; the session is kept: resume with {hint}", f.message),
        ),
        // No session was made (the checkpoint comes with the session).
        f if !checkpoint.exists() => f,
        f => {
            let _ = std::fs::remove_file(checkpoint);
            Failure::new(
                f.code,
                format!(
                    "{}; the upload session was deleted: run the upload again (with --keep-session, a session that fails like this is kept for `box-chunked resume`)",
                    f.message
                ),
            )
        }
    }
}

/// Where the file goes: a new version of `--file`, or a new file in
/// `--folder` (the root by default) named by `--name` or the path.
fn target_of(args: &UploadArgs, path: &Path) -> Result<Target, Failure> {
    let name = match &args.name {
        Some(n) => n.clone(),
        None if path.as_os_str() == "-" => String::new(),
        None => path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                Failure::new(
                    exit::USAGE,
                    "the file name is not valid UTF-8; give one with --name",
                )
            })?,
    };
    let target = match &args.file {
        Some(id) => Target::NewVersion {
            file_id: id.clone(),
            name: args.name.clone(),
            if_match: None,
        },
        None => Target::NewFile {
            folder_id: args.folder.clone().unwrap_or_else(|| "0".to_owned()),
            name,
        },
    };
    Ok(target)
}

/// `--checkpoint`, or a new file under the data directory named after the source.
fn checkpoint_path(args: &UploadArgs, path: &Path) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let base = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("upload");
    let named = format!("{base}-{stamp}.json");
    match &args.checkpoint {
        // A directory: the checkpoint is made inside it.
        Some(dir) if dir.is_dir() => dir.join(named),
        Some(file) => file.clone(),
        None => data_dir().join("checkpoints").join(named),
    }
}

/// `path`, once its directory exists and a file can be written there
/// (tried with a probe beside it); otherwise the usage failure that says
/// how to go on. Nothing has been sent yet.
fn writable(path: PathBuf) -> Result<PathBuf, Failure> {
    let probe = |p: &Path| -> std::io::Result<()> {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut name = p.as_os_str().to_owned();
        name.push(".probe");
        let probe = PathBuf::from(name);
        let r =
            std::fs::write(&probe, b"{}").and_then(|()| std::fs::File::open(&probe)?.sync_all());
        let _ = std::fs::remove_file(&probe);
        r
    };
    match probe(&path) {
        Ok(()) => Ok(path),
        Err(e) => Err(Failure::new(
            exit::USAGE,
            format!(
                "cannot write the checkpoint {} ({e}); nothing was sent: give a writable place with --checkpoint FILE|DIR, or pass --no-checkpoint to upload without one (an interruption then cannot be resumed)",
                path.display()
            ),
        )),
    }
}

/// The rate of this run: the bytes it sent, not what a resume found stored.
pub(crate) fn report_rate(sent: u64, size: u64, started: Instant, quiet: bool) {
    if quiet {
        return;
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    if sent < size {
        eprintln!(
            "sent {} of {} in {secs:.2} s: {:.1} MiB/s (the rest was already on the server)",
            progress::human(sent),
            progress::human(size),
            sent as f64 / 1048576.0 / secs
        );
    } else {
        eprintln!(
            "sent {} in {secs:.2} s: {:.1} MiB/s",
            progress::human(sent),
            sent as f64 / 1048576.0 / secs
        );
    }
}
