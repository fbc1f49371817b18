//! `box-chunked resume`: finishing an upload from its checkpoint file.

use crate::args::{Global, ResumeArgs};
use crate::connect::connect_for;
use crate::failure::{exit, explain, explain_in, source_problem, Failure, Where};
use crate::upload::{print_file, report_rate, with_progress};
use box_chunked_hyper::{CheckpointFile, ErrorKind};
use std::time::Instant;

pub(crate) async fn resume(g: &Global, args: ResumeArgs) -> Result<(), Failure> {
    if crate::job_run::is_job_file(&args.checkpoint) {
        return crate::job_run::resume_job(g, args).await;
    }
    let mut cp = CheckpointFile::read(&args.checkpoint).map_err(|e| {
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
    let size = cp.upload.source.size;
    let t = connect_for(
        &args.conn.clone().or(&g.conn),
        &mut cp,
        args.json || g.quiet,
    )
    .await?;
    let hint = t.resume_hint(&args.checkpoint);
    let mut uploader = t
        .client
        .uploader()
        .parallelism(args.parallel)
        .keep_session_on_drop(true)
        .local_server(t.embedded.is_some());
    if let Some(rate) = args.bwlimit {
        uploader = uploader.throttle(box_chunked_hyper::Throttle::new(rate));
    }
    let json_progress = args.progress.as_deref() == Some("json");
    let show = !args.no_progress && !g.quiet && args.progress.as_deref() != Some("none");
    let (uploader, progress) = if json_progress {
        let p = crate::progress::Progress::json(size, None);
        let sink = p.clone();
        (
            uploader.on_event(move |e: &box_chunked_hyper::UploadEvent| sink.on_event(e)),
            p,
        )
    } else {
        with_progress(uploader, size, show, !g.quiet)
    };
    let started = Instant::now();
    let result = uploader.resume_from(cp.clone(), &args.checkpoint).await;
    progress.end(result.is_ok(), size);
    progress.finish();
    let outcome = match result {
        Ok(file) => {
            let _ = std::fs::remove_file(&args.checkpoint);
            report_rate(
                progress.sent(),
                size,
                started,
                g.quiet || args.json || json_progress,
            );
            print_file(&file, args.json, progress.session_id(), g.quiet);
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::SourceChanged => {
            // Final: the session holds other bytes than the file now has.
            let _ = t.client.session(&session_of(&cp)).abort().await;
            let _ = std::fs::remove_file(&args.checkpoint);
            Err(explain(&e, &source.display().to_string()))
        }
        Err(e) if e.session_gone() => {
            let _ = std::fs::remove_file(&args.checkpoint);
            Err(Failure::new(
                exit::REFUSED,
                format!(
                    "upload session {} no longer exists (it expired or was deleted), so it cannot be resumed; the checkpoint {} was removed: upload {} again",
                    cp.upload.session.id,
                    args.checkpoint.display(),
                    source.display()
                ),
            ))
        }
        Err(e) => {
            let at = Where {
                target: None,
                session: Some(cp.upload.session.id.clone()),
                server: Some(t.client.upload_url().to_owned()),
            };
            let f = explain_in(&e, &source.display().to_string(), &at);
            Err(Failure::new(
                f.code,
                format!("{}; the session is kept: try again with {hint}", f.message),
            ))
        }
    };
    t.close().await;
    outcome
}

pub(crate) fn session_of(cp: &CheckpointFile) -> box_chunked_proto::UploadSession {
    box_chunked_proto::UploadSession {
        id: cp.upload.session.id.clone(),
        kind: "upload_session".into(),
        session_expires_at: cp.upload.session.expires_at.clone(),
        part_size: cp.upload.session.part_size,
        total_parts: cp.upload.session.total_parts,
        num_parts_processed: None,
        session_endpoints: cp.upload.session.endpoints.clone(),
    }
}
