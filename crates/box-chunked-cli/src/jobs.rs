//! `box-chunked jobs`: the pending uploads, from the checkpoints under the
//! data directory, each with the command that resumes it. It reads files
//! only; it asks no server.

use crate::connect::{data_dir, shell_quote};
use crate::failure::Failure;
use crate::progress::human;
use box_chunked_hyper::CheckpointFile;
use serde_json::json;

pub(crate) fn jobs(args: &crate::args::JobsArgs) -> Result<(), Failure> {
    let dir = data_dir().join("checkpoints");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut shown = 0;
    for path in files {
        let Ok(cp) = CheckpointFile::read(&path) else {
            continue;
        };
        shown += 1;
        let u = &cp.upload;
        let resume = format!(
            "box-chunked resume {}",
            shell_quote(&path.display().to_string())
        );
        let source = cp
            .source_path
            .as_ref()
            .map_or_else(|| "(a stream)".to_owned(), |p| p.display().to_string());
        let expires = u
            .session
            .expires_at
            .as_ref()
            .map_or("unknown", |t| t.as_str());
        if args.json {
            println!(
                "{}",
                json!({
                    "checkpoint": path, "source": source, "size": u.source.size,
                    "parts_done": u.parts.len(), "parts_total": u.session.total_parts,
                    "session_id": u.session.id, "session_expires_at": expires,
                    "server": cp.urls.as_ref().map(|x| if x.local_server { "the local server".to_owned() } else { x.upload.clone() }),
                    "resume": resume,
                })
            );
        } else {
            println!(
                "{source} ({}): {} of {} parts on the server, session {} expires {expires}\n  checkpoint {}\n  resume with: {resume}",
                human(u.source.size),
                u.parts.len(),
                u.session.total_parts,
                u.session.id,
                path.display()
            );
        }
    }
    if shown == 0 && !args.json {
        println!("no pending uploads (no checkpoints in {})", dir.display());
    }
    Ok(())
}
