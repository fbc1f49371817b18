//! The `box-chunked` command: chunked uploads to Box (or to the local
//! server by default), resume, inspection, the local server, and a demo.

mod alloc;
mod args;
mod browse;
mod connect;
mod demo;
mod download;
mod dry;
mod failure;
mod filters;
mod health;
mod job_run;
mod jobs;
mod login;
mod logs;
mod progress;
mod resume;
mod seed;
mod serve;
mod serve_args;
mod session;
mod upload;
mod values;

use crate::args::{Cli, Command};
use crate::demo::demo;
use crate::failure::exit;
use crate::resume::resume;
use crate::serve::serve;
use crate::session::{abort, status};
use crate::upload::upload;
use clap::Parser;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    alloc::keep_freed_memory();
    let started = Instant::now();
    let cli = Cli::parse();
    let stats = cli.global.stats;
    if let Err(e) = logs::init(&cli.global) {
        eprintln!("error: {}", e.message);
        return ExitCode::from(e.code);
    }
    // Commands that need no runtime.
    if let Some(code) = without_runtime(&cli.command) {
        return code;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let global = cli.global;
    // With `--progress json`, the failure is a JSON line too.
    let json_failure = match &cli.command {
        Command::Upload(a) => a.progress.as_deref() == Some("json"),
        Command::Resume(a) => a.progress.as_deref() == Some("json"),
        _ => false,
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Upload(args) => upload(&global, args).await,
            Command::Resume(args) => resume(&global, args).await,
            Command::Status(args) => status(&global, args, false).await,
            Command::Parts(args) => status(&global, args, true).await,
            Command::Abort(args) => abort(&global, args).await,
            Command::Jobs(args) => jobs::jobs(&args),
            Command::Demo(args) => demo(args).await,
            Command::Login(args) => login::login(&global, args).await,
            Command::Health(args) => health::health(args).await,
            Command::Ls(args) => browse::ls(&global, args).await,
            Command::Mkdir(args) => browse::mkdir(&global, args).await,
            Command::Rm(args) => browse::rm(&global, args).await,
            Command::Download(args) => download::download(&global, args).await,
            // Answered before the runtime starts.
            Command::Completions { .. } | Command::ManPages { .. } => Ok(()),
        }
    });
    // Leave no task behind (an embedded server, a background abort) for long.
    runtime.shutdown_timeout(Duration::from_secs(10));
    if stats {
        print_stats(started);
    }
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) if json_failure => {
            eprintln!("{}", failure::json_event(&e));
            ExitCode::from(e.code)
        }
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

/// Completions and man pages, answered before any runtime starts; `None`
/// for every other command.
fn without_runtime(command: &Command) -> Option<ExitCode> {
    match command {
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "box-chunked", &mut std::io::stdout());
            Some(ExitCode::from(exit::OK))
        }
        Command::ManPages { dir } => {
            let cmd = <Cli as clap::CommandFactory>::command();
            Some(
                match std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir))
                {
                    Ok(()) => ExitCode::from(exit::OK),
                    Err(e) => {
                        eprintln!(
                            "error: cannot write the man pages into {}: {e}",
                            dir.display()
                        );
                        ExitCode::from(exit::FAILED)
                    }
                },
            )
        }
        _ => None,
    }
}

/// The `--stats` line: this process's wall time, CPU (user + system) and
/// peak resident memory and bytes read through read calls (`rchar`: files
/// and sockets), from `/proc/self` (zeros where there is none), how many
/// parts of committed uploads the reader hashed as it read them and how
/// many bytes of their sources were read.
fn print_stats(started: Instant) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (in parentheses); utime and stime are
    // fields 14 and 15 of proc(5), in ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let cpu_secs = (ticks(11) + ticks(12)) as f64 / 100.0;
    let peak_kib = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    let rchar = std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("rchar:")?.trim().parse::<u64>().ok())
        .unwrap_or(0);
    eprintln!(
        "stats: {}",
        serde_json::json!({
            "wall_secs": started.elapsed().as_secs_f64(),
            "cpu_secs": cpu_secs,
            "peak_rss_bytes": peak_kib * 1024,
            "parts_hashed_while_read": progress::HASHED_WHILE_READ.load(std::sync::atomic::Ordering::Relaxed),
            "parts": progress::PARTS_HASHED.load(std::sync::atomic::Ordering::Relaxed),
            "bytes_read": progress::BYTES_READ.load(std::sync::atomic::Ordering::Relaxed),
            "rchar": rchar,
        })
    );
}
