//! A blocking driver of `box-chunked-core`: std threads and `ureq` (a
//! blocking HTTP client with rustls), no async runtime. It drives [`Upload`]
//! exactly as docs/sans-io.md describes: after every input, drain
//! [`Upload::poll_output`]; send each request on a pool of worker threads
//! (several parts in flight); read the source for each [`Output::Read`];
//! sleep until the machine's deadline when nothing is due (that is how
//! `Retry-After` and backoff are honoured: the machine sets the deadline);
//! keep the checkpoint file up to date; on Ctrl-C stop with the checkpoint
//! kept (or, with `--abort`, delete the session).
//!
//! ```text
//! box-chunked-blocking --api URL --upload URL --token TOKEN --folder ID FILE
//!                      [--name NAME] [--parallel N] [--checkpoint FILE] [--abort-after PARTS]
//! ```
//!
//! With `--checkpoint FILE` an existing checkpoint is resumed (only missing
//! parts are sent). Exit codes: 0 committed, 1 failed, 6 stopped with the
//! checkpoint kept, 7 aborted.

mod transport;

use box_chunked_core::{Checkpoint, Input, Outcome, Output, Source, Target, Upload, UploadConfig};
use bytes::Bytes;
use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;
use transport::{Pool, Sent};

/// The command line.
struct Args {
    api: String,
    upload: String,
    token: String,
    folder: String,
    name: Option<String>,
    file: PathBuf,
    parallel: usize,
    checkpoint: Option<PathBuf>,
    abort_after: Option<u64>,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        api: String::new(),
        upload: String::new(),
        token: std::env::var("BOX_ACCESS_TOKEN").unwrap_or_default(),
        folder: "0".into(),
        name: None,
        file: PathBuf::new(),
        parallel: 4,
        checkpoint: None,
        abort_after: None,
    };
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--api" => a.api = value()?,
            "--upload" => a.upload = value()?,
            "--token" => a.token = value()?,
            "--folder" => a.folder = value()?,
            "--name" => a.name = Some(value()?),
            "--parallel" => {
                a.parallel = value()?.parse().map_err(|_| "--parallel takes a number")?
            }
            "--checkpoint" => a.checkpoint = Some(value()?.into()),
            "--abort-after" => {
                a.abort_after = Some(
                    value()?
                        .parse()
                        .map_err(|_| "--abort-after takes a number")?,
                )
            }
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
            _ => a.file = arg.into(),
        }
    }
    if a.api.is_empty()
        || a.upload.is_empty()
        || a.token.is_empty()
        || a.file.as_os_str().is_empty()
    {
        return Err("usage: box-chunked-blocking --api URL --upload URL --token TOKEN [--folder ID] [--name NAME] [--parallel N] [--checkpoint FILE] [--abort-after PARTS] FILE".into());
    }
    Ok(a)
}

/// The source's identity: its size and modification time, checked when the
/// machine asks ([`Output::CheckSource`]).
fn identity(file: &std::fs::File) -> std::io::Result<(u64, std::time::SystemTime)> {
    let m = file.metadata()?;
    Ok((m.len(), m.modified()?))
}

fn start(a: &Args, size: u64, now: Instant) -> Result<Upload, String> {
    let mut config = UploadConfig::default();
    config.upload_root = a.upload.clone();
    config.parallelism = NonZeroUsize::new(a.parallel.max(1)).unwrap_or(NonZeroUsize::MIN);
    let source = Source {
        size,
        fingerprint: None,
    };
    if let Some(cp) = a.checkpoint.as_ref().filter(|p| p.is_file()) {
        let text = std::fs::read(cp).map_err(|e| format!("cannot read {}: {e}", cp.display()))?;
        let checkpoint: Checkpoint = serde_json::from_slice(&text)
            .map_err(|e| format!("{} is not a checkpoint: {e}", cp.display()))?;
        eprintln!(
            "resuming session {} from {}",
            checkpoint.session.id,
            cp.display()
        );
        return Upload::resume(checkpoint, source, config, now).map_err(|e| e.to_string());
    }
    let name = a.name.clone().unwrap_or_else(|| {
        a.file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let target = Target::NewFile {
        folder_id: a.folder.clone(),
        name,
    };
    Upload::new(target, source, config, now).map_err(|e| e.to_string())
}

/// Writes the checkpoint atomically (a crash leaves the old or the new one).
fn save(path: &std::path::Path, cp: &Checkpoint) {
    let tmp = path.with_extension("tmp");
    if let Ok(text) = serde_json::to_vec_pretty(cp) {
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }
}

fn main() {
    let code = match args().and_then(|a| run(&a)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    };
    std::process::exit(code);
}

// Long on purpose: the driver's loop in one place, as docs/sans-io.md shows it.
fn run(a: &Args) -> Result<i32, String> {
    let file = std::fs::File::open(&a.file)
        .map_err(|e| format!("cannot open {}: {e}", a.file.display()))?;
    let at_start = identity(&file).map_err(|e| e.to_string())?;
    let mut upload = start(a, at_start.0, Instant::now())?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    let (answers, results) = mpsc::channel::<Sent>();
    let pool = Pool::new(a.parallel + 1, &a.token, &a.api, &a.upload, answers);
    let mut cancelled = HashSet::new();
    let mut saved_parts = usize::MAX;
    let mut aborted = false;
    loop {
        // 1. Drain: act on every output until the machine waits or is done.
        let mut ready: Vec<Input> = Vec::new();
        let deadline = loop {
            match upload.poll_output() {
                Output::Request(r) => pool.send(r),
                Output::Read(r) => {
                    let mut buf = vec![0u8; (r.range.end - r.range.start) as usize];
                    ready.push(match file.read_exact_at(&mut buf, r.range.start) {
                        Ok(()) => Input::Data {
                            id: r.id,
                            bytes: Bytes::from(buf),
                        },
                        Err(e) => Input::ReadFailed {
                            id: r.id,
                            detail: e.to_string(),
                        },
                    });
                }
                Output::Cancel(id) => {
                    cancelled.insert(id);
                }
                Output::CheckSource => {
                    let now = identity(&file).ok();
                    let changed = (now != Some(at_start))
                        .then(|| "the file's size or modification time changed".to_owned());
                    ready.push(Input::SourceChecked { changed });
                }
                Output::Event(event) => say(&event),
                Output::Wait(deadline) => break deadline,
                Output::Done(outcome) => return Ok(finish(a, outcome)),
            }
        };
        // The checkpoint, whenever a part was confirmed.
        if let (Some(path), Some(cp)) = (&a.checkpoint, upload.checkpoint()) {
            if cp.parts.len() != saved_parts {
                saved_parts = cp.parts.len();
                save(path, &cp);
                if a.abort_after.is_some_and(|n| saved_parts as u64 >= n) && !aborted {
                    aborted = true;
                    upload.abort(Instant::now());
                    continue;
                }
            }
        }
        if stop.load(Ordering::SeqCst) {
            eprintln!("stopped; the checkpoint is kept: run the same command again to resume");
            return Ok(6);
        }
        // 2. Feed the inputs that are ready, else the next answer, else the timeout.
        if ready.is_empty() {
            let answer = match deadline {
                Some(d) => results
                    .recv_timeout(d.saturating_duration_since(Instant::now()))
                    .ok(),
                None => results.recv().ok(),
            };
            match answer {
                Some(sent) if cancelled.remove(&sent.id) => continue,
                Some(sent) => ready.push(sent.into_input()),
                None => ready.push(Input::Timeout),
            }
        }
        for input in ready {
            upload
                .handle_input(Instant::now(), input)
                .map_err(|e| format!("the driver broke the contract: {e}"))?;
        }
    }
}

/// A line for the events a person follows: parts confirmed, retries.
fn say(event: &box_chunked_core::Event) {
    use box_chunked_core::Event;
    match event {
        Event::PartConfirmed {
            index, bytes_done, ..
        } => {
            eprintln!("part {index} confirmed ({bytes_done} bytes so far)")
        }
        Event::RetryScheduled {
            kind,
            attempt,
            delay,
            ..
        } => {
            eprintln!(
                "{kind}: attempt {attempt} failed; trying again in {} ms",
                delay.as_millis()
            )
        }
        _ => {}
    }
}

/// Prints the outcome; the exit code.
fn finish(a: &Args, outcome: Outcome) -> i32 {
    match outcome {
        Outcome::Committed(file) => {
            if let Some(cp) = &a.checkpoint {
                let _ = std::fs::remove_file(cp);
            }
            println!(
                "{}",
                serde_json::json!({"id": file.id, "sha1": file.sha1.map(|s| s.to_hex()), "size": file.size})
            );
            0
        }
        Outcome::Aborted => {
            if let Some(cp) = &a.checkpoint {
                let _ = std::fs::remove_file(cp);
            }
            eprintln!("aborted: the upload session was deleted");
            7
        }
        Outcome::Failed(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
