//! `box-chunked resume`: finishing an upload from its checkpoint file.

use crate::args::{Global, ResumeArgs};
use crate::connect::connect_for;
use crate::failure::{exit, explain, explain_in, source_problem, Failure, Where};
use crate::upload::{print_file, progress_of, report_rate};
use box_chunked_hyper::{CheckpointFile, ErrorKind};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The checkpoint and the file it uploads (which must be there).
fn open_checkpoint(path: &Path) -> Result<(CheckpointFile, PathBuf), Failure> {
    let cp = CheckpointFile::read(path).map_err(|e| {
        Failure::new(
            exit::USAGE,
            format!("{e}; give the checkpoint file that `box-chunked upload` printed"),
        )
    })?;
    let source = cp.source_path.clone().ok_or_else(|| {
        Failure::new(
            exit::USAGE,
            "the checkpoint has no source path; it cannot be resumed",
        )
    })?;
    if let Some(f) = source_problem(&source) {
        return Err(f);
    }
    Ok((cp, source))
}

pub(crate) async fn resume(g: &Global, args: ResumeArgs) -> Result<(), Failure> {
    if crate::job_run::is_job_file(&args.checkpoint) {
        return crate::job_run::resume_job(g, args).await;
    }
    if args.on_conflict.is_some() {
        return Err(Failure::new(
            exit::USAGE,
            "--on-conflict with resume changes a job's policy; a single upload keeps the one it started with (upload it again with --on-conflict to choose another)",
        ));
    }
    let (mut cp, source) = open_checkpoint(&args.checkpoint)?;
    let size = cp.upload.source.size;
    let t = connect_for(&args.conn.clone().or(&g.conn), &mut cp, g.quiet).await?;
    let hint = t.resume_hint(&args.checkpoint);
    let mut uploader = args
        .parallel
        .apply(t.client.uploader(), args.max_memory)
        .keep_session_on_drop(true)
        .local_server(t.embedded.is_some())
        .resume_flags(t.resume_flags());
    if let Some(rate) = args.bwlimit {
        uploader = uploader.throttle(box_chunked_hyper::Throttle::new(rate));
    }
    let mode = args.progress.as_deref();
    let json_progress = mode == Some("json");
    let (uploader, progress) = progress_of(uploader, size, mode, args.no_progress, g.quiet);
    progress.starting(serde_json::json!({
        "source": source.display().to_string(),
        "checkpoint": args.checkpoint.display().to_string(),
        "session_id": cp.upload.session.id,
        "resume": hint,
    }));
    let started = Instant::now();
    let result = uploader.resume_from(cp.clone(), &args.checkpoint).await;
    progress.end(result.is_ok(), size);
    progress.finish();
    let outcome = match result {
        Ok(file) => {
            let _ = std::fs::remove_file(&args.checkpoint);
            let quiet = g.quiet || args.json || json_progress;
            report_rate(progress.sent(), size, started, quiet);
            print_file(&file, args.json, progress.session_id(), g.quiet);
            Ok(())
        }
        Err(e) => Err(failed(e, &cp, &args.checkpoint, &source, &t, &hint).await),
    };
    t.close().await;
    outcome
}

/// A resume that failed: a changed source deletes the session and the
/// checkpoint; a session that is gone takes its checkpoint with it; any
/// other failure keeps both, with the command that tries again.
async fn failed(
    e: box_chunked_hyper::Error,
    cp: &CheckpointFile,
    checkpoint: &Path,
    source: &Path,
    t: &crate::connect::Endpoint,
    hint: &str,
) -> Failure {
    match e {
        e if e.kind() == ErrorKind::SourceChanged => {
            // Final: the session holds other bytes than the file now has.
            let _ = t.client.session(&cp.session()).abort().await;
            let _ = std::fs::remove_file(checkpoint);
            explain(&e, &source.display().to_string())
        }
        e if e.session_gone() => {
            let _ = std::fs::remove_file(checkpoint);
            Failure::new(
                exit::REFUSED,
                format!(
                    "upload session {} no longer exists (it expired or was deleted), so it cannot be resumed; the checkpoint {} was removed: upload {} again",
                    cp.upload.session.id,
                    checkpoint.display(),
                    source.display()
                ),
            )
        }
        e => {
            let at = Where {
                target: None,
                session: Some(cp.upload.session.id.clone()),
                server: Some(t.client.upload_url().to_owned()),
                signed_in: Some(t.signed_in()),
                stdin: None,
            };
            let f = explain_in(&e, &source.display().to_string(), &at);
            Failure::new(
                f.code,
                format!("{}; the session is kept: try again with {hint}", f.message),
            )
        }
    }
}
