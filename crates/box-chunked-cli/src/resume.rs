//! `box-chunked resume`: finishing an upload from its checkpoint file.

use crate::args::{Global, ResumeArgs};
use crate::connect::{connect, rebase_endpoints};
use crate::failure::{exit, explain, source_problem, Failure};
use crate::upload::{print_file, report_rate, with_progress};
use box_chunked_hyper::{CheckpointFile, ErrorKind};
use std::time::Instant;

pub(crate) async fn resume(g: &Global, args: ResumeArgs) -> Result<(), Failure> {
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
    let t = connect(&args.conn.clone().or(&g.conn), args.json).await?;
    let mut path = args.checkpoint.clone();
    if let Some(server) = &t.embedded {
        // The embedded server listens on a new port each run: point the session there.
        rebase_endpoints(&mut cp, server.url());
        let rebased = args.checkpoint.with_extension("resume.json");
        cp.write(&rebased)
            .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
        path = rebased;
    }
    let uploader = t
        .client
        .uploader()
        .parallelism(args.parallel.max(1))
        .keep_session_on_drop(true);
    let (uploader, progress) = with_progress(uploader, size, !args.no_progress && !g.quiet);
    let started = Instant::now();
    let result = uploader.resume(&path).await;
    progress.finish();
    let outcome = match result {
        Ok(file) => {
            let _ = std::fs::remove_file(&args.checkpoint);
            let _ = std::fs::remove_file(args.checkpoint.with_extension("resume.json"));
            report_rate(size, started, g.quiet || args.json);
            print_file(&file, args.json);
            Ok(())
        }
        Err(e) => {
            if e.kind() == ErrorKind::SourceChanged {
                // Final: the session holds other bytes than the file now has.
                let _ = t.client.session(&session_of(&cp)).abort().await;
                let _ = std::fs::remove_file(&args.checkpoint);
            }
            Err(explain(&e, &source.display().to_string()))
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
