//! `box-chunked jobs`: the unfinished uploads and jobs, from the checkpoints
//! and job files under the data directory, each with the command that
//! resumes it as printed; files there that cannot be read, with why;
//! `--prune` removes those and the finished job files. It reads files
//! only; it asks no server.

use crate::connect::{data_dir, resume_command};
use crate::failure::Failure;
use crate::progress::human;
use box_chunked_hyper::job::{EntryState, JobFile};
use box_chunked_hyper::{CheckpointFile, CheckpointUrls};
use serde_json::json;
use std::path::{Path, PathBuf};

pub(crate) fn jobs(args: &crate::args::JobsArgs) -> Result<(), Failure> {
    let mut shown = 0;
    for path in json_files(&data_dir().join("checkpoints")) {
        shown += 1;
        match CheckpointFile::read(&path) {
            Ok(cp) => show_checkpoint(&path, &cp, args.json),
            Err(e) => unreadable(&path, &e.to_string(), args),
        }
    }
    for path in json_files(&data_dir().join("jobs")) {
        shown += 1;
        match JobFile::read(&path) {
            Ok(job) if finished(&job) => {
                shown -= 1;
                if args.prune && std::fs::remove_file(&path).is_ok() && !args.json {
                    println!("removed the finished job file {}", path.display());
                }
            }
            Ok(job) => show_job(&path, &job, args.json),
            Err(e) => unreadable(&path, &e.to_string(), args),
        }
    }
    if shown == 0 && !args.json {
        println!(
            "no unfinished uploads or jobs (no checkpoints or job files to resume in {})",
            data_dir().display()
        );
    }
    Ok(())
}

/// The `.json` files directly in `dir`, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Every file of the job is on Box or skipped on purpose.
fn finished(job: &JobFile) -> bool {
    job.entries.iter().all(|e| {
        matches!(
            e.state,
            EntryState::Done { .. } | EntryState::Skipped { .. }
        )
    })
}

/// The resume command for a file that recorded `urls`, and what it needs
/// besides, in words.
fn resume_for(path: &Path, urls: Option<&CheckpointUrls>) -> String {
    let flags = urls.map(|u| u.flags.clone()).unwrap_or_default();
    let cmd = resume_command(path, &flags);
    let signs_in = flags
        .iter()
        .any(|f| f == "--box-config" || f == "--token-file");
    match urls {
        Some(u) if !u.local_server && !signs_in => format!(
            "{cmd} (with the credential it used: BOX_ACCESS_TOKEN or --token, or another way to sign in)"
        ),
        _ => cmd,
    }
}

fn server_of(urls: Option<&CheckpointUrls>) -> Option<String> {
    urls.map(|x| {
        if x.local_server {
            "the local server (--local)".to_owned()
        } else {
            x.upload.clone()
        }
    })
}

fn show_checkpoint(path: &Path, cp: &CheckpointFile, as_json: bool) {
    let u = &cp.upload;
    let resume = resume_for(path, cp.urls.as_ref());
    let source = cp
        .source_path
        .as_ref()
        .map_or_else(|| "(a stream)".to_owned(), |p| p.display().to_string());
    let expires = u
        .session
        .expires_at
        .as_ref()
        .map_or("unknown", |t| t.as_str());
    if as_json {
        println!(
            "{}",
            json!({
                "kind": "upload", "checkpoint": path, "source": source, "size": u.source.size,
                "parts_done": u.parts.len(), "parts_total": u.session.total_parts,
                "session_id": u.session.id, "session_expires_at": expires,
                "server": server_of(cp.urls.as_ref()), "resume": resume,
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

fn show_job(path: &Path, job: &JobFile, as_json: bool) {
    let count = |f: fn(&EntryState) -> bool| job.entries.iter().filter(|e| f(&e.state)).count();
    let pending = count(|s| matches!(s, EntryState::Pending));
    let running = count(|s| matches!(s, EntryState::InProgress { .. }));
    let failed = count(|s| matches!(s, EntryState::Failed { .. }));
    let done = job.entries.len() - pending - running - failed;
    let resume = resume_for(path, job.urls.as_ref());
    if as_json {
        println!(
            "{}",
            json!({
                "kind": "job", "job_file": path, "folder_id": job.folder_id,
                "files": job.entries.len(), "done": done, "pending": pending,
                "in_progress": running, "failed": failed,
                "server": server_of(job.urls.as_ref()), "resume": resume,
            })
        );
    } else {
        println!(
            "job into folder {} ({} files): {done} done, {pending} pending, {running} in progress, {failed} failed\n  job file {}\n  resume with: {resume}",
            job.folder_id,
            job.entries.len(),
            path.display()
        );
    }
}

fn unreadable(path: &Path, why: &str, args: &crate::args::JobsArgs) {
    let removed = args.prune && std::fs::remove_file(path).is_ok();
    if args.json {
        println!(
            "{}",
            json!({"kind": "unreadable", "file": path, "error": why, "removed": removed})
        );
    } else if removed {
        println!("removed {}, which cannot be read: {why}", path.display());
    } else {
        println!(
            "{} cannot be read: {why} (`box-chunked jobs --prune` removes it)",
            path.display()
        );
    }
}
