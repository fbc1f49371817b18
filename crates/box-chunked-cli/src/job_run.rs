//! `box-chunked upload PATH... --folder ID` with several paths or a
//! directory, and `box-chunked resume JOB`: many files as one job (the
//! library's `box_chunked_hyper::job`), with a line (or a JSON line) per
//! file, a summary, and an exit code that says whether any file failed.

use crate::args::{Global, ResumeArgs, UploadArgs};
use crate::connect::{connect, data_dir, recorded};
use crate::failure::{exit, explain, explain_in, Failure, Where};
use crate::progress::{self, Progress};
use box_chunked_hyper::job::{FileOutcome, FileReport, Job, JobFile, JobSummary, Skip, SkipReason};
use box_chunked_hyper::{Throttle, UploadEvent, Uploader};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Whether `path` is a job file (rather than a file's checkpoint).
pub(crate) fn is_job_file(path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("entries").is_some() && v.get("folder_id").is_some())
}

/// How the job's files are shown.
#[derive(Clone, Copy)]
struct Show {
    json: bool,
    json_progress: bool,
    quiet: bool,
}

/// The checks of a job's arguments before anything is sent: no standard
/// input, no --file, no --name, every path there.
fn job_args_hold(args: &UploadArgs) -> Result<(), Failure> {
    let one = args.paths.len() == 1 && !args.paths[0].is_dir();
    if one && (args.file.is_some() || args.name.is_some() || args.paths[0].as_os_str() == "-") {
        let what = if args.dry_run {
            "--dry-run"
        } else {
            "--include, --exclude and --exclude-from"
        };
        return Err(Failure::new(
            exit::USAGE,
            format!("{what} works on uploads of files and directories into a folder, not with --file, --name or standard input; drop {what}, or upload into a folder with --folder"),
        ));
    }
    if args.paths.iter().any(|p| p.as_os_str() == "-") {
        return Err(Failure::new(
            exit::USAGE,
            "standard input (-) cannot be part of a job; upload it alone",
        ));
    }
    if args.file.is_some() {
        return Err(Failure::new(exit::USAGE, "--file ID uploads one file as a new version; give one path, or --folder ID for several"));
    }
    if let Some(name) = &args.name {
        return Err(Failure::new(
            exit::USAGE,
            format!("--name {name} names one file, but {} paths (or a directory) make a job whose files keep their own names; upload one file to give it a name", args.paths.len()),
        ));
    }
    for p in &args.paths {
        if !p.exists() {
            return Err(Failure::new(
                exit::USAGE,
                format!("{} does not exist; check the path", p.display()),
            ));
        }
    }
    Ok(())
}

pub(crate) async fn upload_job(g: &Global, args: UploadArgs) -> Result<(), Failure> {
    job_args_hold(&args)?;
    crate::browse::check_refs(&args)?;
    let folder = args.folder.clone().unwrap_or_else(|| "0".to_owned());
    let mut job = JobFile::plan(
        &args.paths,
        &folder,
        args.on_conflict,
        args.job.follow_symlinks,
    )
    .map_err(|e| explain(&e, "the paths"))?;
    let filters = crate::filters::Filters::of(&args)?;
    job.entries.retain(|e| filters.keeps(&e.rel));
    let path = args.job.job_file.clone().unwrap_or_else(|| {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        data_dir().join("jobs").join(format!("job-{stamp}.json"))
    });
    let t = connect(&args.conn.clone().or(&g.conn), g.quiet).await?;
    if args.dry_run {
        let out = crate::dry::dry_run(&t, &args, job).await;
        t.close().await;
        return out;
    }
    let args = match crate::browse::with_ids(&t, args).await {
        Ok(a) => a,
        Err(f) => {
            t.close().await;
            return Err(f);
        }
    };
    job.folder_id = args.folder.clone().unwrap_or_else(|| "0".to_owned());
    let show = Show {
        json: args.json,
        json_progress: args.progress.as_deref() == Some("json"),
        quiet: g.quiet,
    };
    let hint = t.resume_hint(&path);
    if !g.quiet {
        let files = job.entries.len();
        let bytes: u64 = job.entries.iter().map(|e| e.size).sum();
        eprintln!(
            "job: {} ({files} files, {}; if interrupted: {hint})",
            path.display(),
            progress::human(bytes),
        );
    }
    let mut uploader = args
        .parallel
        .apply(t.client.uploader(), args.max_memory)
        .keep_session(true)
        .local_server(t.embedded.is_some())
        .resume_flags(t.resume_flags())
        .one_shot_below(args.modes.one_shot_below)
        .delta(!args.modes.no_delta);
    if let Some(rate) = args.bwlimit {
        uploader = uploader.throttle(Throttle::new(rate));
    }
    let result = run(uploader, &path, job, &args.job, show, &t).await;
    t.close().await;
    result
}

/// `box-chunked resume JOB`.
pub(crate) async fn resume_job(g: &Global, args: ResumeArgs) -> Result<(), Failure> {
    let mut job = JobFile::read(&args.checkpoint).map_err(|e| explain(&e, "the job file"))?;
    if let Some(policy) = args.on_conflict {
        job.on_conflict = policy;
    }
    let given = args.conn.clone().or(&g.conn);
    let conn = recorded(&given, job.urls.as_ref(), "job")?;
    let t = connect(&conn, g.quiet).await?;
    let show = Show {
        json: args.json,
        json_progress: args.progress.as_deref() == Some("json"),
        quiet: g.quiet,
    };
    let mut uploader = args
        .parallel
        .apply(t.client.uploader(), args.max_memory)
        .keep_session(true)
        .local_server(t.embedded.is_some())
        .resume_flags(t.resume_flags());
    if let Some(rate) = args.bwlimit {
        uploader = uploader.throttle(Throttle::new(rate));
    }
    let opts = crate::args::JobArgs {
        job_file: Some(args.checkpoint.clone()),
        fail_fast: false,
        files: 4,
        follow_symlinks: false,
    };
    let result = run(uploader, &args.checkpoint, job, &opts, show, &t).await;
    t.close().await;
    result
}

async fn run(
    uploader: Uploader,
    path: &Path,
    job: JobFile,
    opts: &crate::args::JobArgs,
    show: Show,
    t: &crate::connect::Endpoint,
) -> Result<(), Failure> {
    let hint = &t.resume_hint(path);
    // Whether a file failed on a taken name: its resume needs another policy.
    let conflicted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = conflicted.clone();
    let mut runner = Job::new(uploader, path.to_path_buf())
        .files_at_once(opts.files)
        .fail_fast(opts.fail_fast)
        .on_file(move |r: &FileReport| {
            if r.remedy == Some(box_chunked_hyper::Remedy::ConflictPolicy) {
                seen.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            print_report(r, show);
        });
    if show.json_progress {
        let bars: Arc<Mutex<HashMap<String, Progress>>> = Arc::default();
        runner = runner.on_event(move |entry, e: &UploadEvent| {
            let mut map = bars
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(entry.rel.clone())
                .or_insert_with(|| Progress::json(entry.size, Some(entry.rel.clone())))
                .on_event(e);
        });
    }
    let at = Where {
        target: Some(("folder", job.folder_id.clone())),
        server: Some(t.client.upload_url().to_owned()),
        signed_in: Some(t.signed_in()),
        ..Where::default()
    };
    let summary = runner
        .run(job)
        .await
        .map_err(|e| explain_in(&e, &path.display().to_string(), &at))?;
    print_summary(&summary, path, show);
    if summary.failed > 0 {
        let again = if conflicted.load(std::sync::atomic::Ordering::Relaxed) {
            // The same policy would fail the same way.
            let cmd = crate::connect::resume_command(path, &t.resume_flags());
            let words = hint
                .strip_prefix(&crate::connect::resume_command(path, &t.resume_flags()))
                .unwrap_or_default();
            format!("names already taken in the folder: {cmd} --on-conflict version{words} (or rename, or skip for files that are the same)")
        } else {
            hint.clone()
        };
        return Err(Failure::new(
            exit::FAILED,
            format!(
                "{} of the job's files failed (listed above); try them again with {again}",
                summary.failed,
            ),
        ));
    }
    if path.starts_with(data_dir().join("jobs")) {
        // A job file the command named itself, now finished: nothing to resume.
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

fn print_report(r: &FileReport, show: Show) {
    if show.json {
        let line = serde_json::json!({
            "path": r.path.display().to_string(),
            "rel": r.rel,
            "id": r.id,
            "sha1": r.sha1,
            "size": r.size,
            "outcome": r.outcome.as_str(),
            "error": r.error,
        });
        println!("{line}");
        return;
    }
    if show.quiet && r.outcome != FileOutcome::Failed {
        return;
    }
    match (&r.outcome, &r.error) {
        (FileOutcome::Failed, Some(e)) => eprintln!("failed: {}: {e}", r.rel),
        (FileOutcome::Skipped(SkipReason::Known(Skip::Symlink)), _) => eprintln!(
            "skipped: {} (a symbolic link; --follow-symlinks follows them)",
            r.rel
        ),
        (FileOutcome::Skipped(why), _) => eprintln!("skipped: {} ({why})", r.rel),
        (outcome, _) => eprintln!(
            "{}: {} (file {}, {})",
            outcome.as_str(),
            r.rel,
            r.id.as_deref().unwrap_or("?"),
            progress::human(r.size)
        ),
    }
}

fn print_summary(s: &JobSummary, path: &Path, show: Show) {
    if show.quiet || show.json {
        return;
    }
    let rate = s.bytes as f64 / 1048576.0 / s.secs.max(1e-9);
    eprintln!(
        "job done: {} uploaded, {} skipped, {} failed{}, {} in {:.2} s ({rate:.1} MiB/s); job file {}",
        s.uploaded,
        s.skipped,
        s.failed,
        if s.earlier > 0 {
            format!(", {} finished in an earlier run", s.earlier)
        } else {
            String::new()
        },
        progress::human(s.bytes),
        s.secs,
        PathBuf::from(path).display()
    );
}
