//! The `box-chunked` command: chunked uploads to Box (or to the local
//! server by default), resume, inspection, the local server, and a demo.

mod alloc;
mod progress;

use box_chunked_core::Target;
use box_chunked_hyper::{
    BoxClient, CheckpointFile, Error, ErrorKind, Subject, UploadEvent, UploadSource, Uploader,
};
use box_chunked_server::faults::FaultSpec;
use box_chunked_server::{RunningServer, Server, ServerConfig};
use clap::{Args, Parser, Subcommand};
use sha1::Digest as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Exit codes (also in docs/cli.md).
mod exit {
    /// Success.
    pub(crate) const OK: u8 = 0;
    /// Anything not listed below (an internal or protocol failure).
    pub(crate) const FAILED: u8 = 1;
    /// Bad usage: arguments, a missing or unreadable file, a bad checkpoint.
    pub(crate) const USAGE: u8 = 2;
    /// Box refused (4xx: name in use, file too small, bad token...).
    pub(crate) const REFUSED: u8 = 3;
    /// The network or the server kept failing; retries ran out.
    pub(crate) const NETWORK: u8 = 4;
    /// The source changed during the upload or since the checkpoint.
    pub(crate) const SOURCE_CHANGED: u8 = 5;
    /// Interrupted (Ctrl-C); the checkpoint is kept for `box-chunked resume`.
    pub(crate) const INTERRUPTED: u8 = 6;
    /// Aborted (a second Ctrl-C): the session was deleted.
    pub(crate) const ABORTED: u8 = 7;
}

/// Chunked uploads to Box, and a Box-compatible local server.
///
/// Without Box credentials or URLs, `upload` uses a local server embedded in
/// this command (data under the user's data directory).
#[derive(Debug, Parser)]
#[command(name = "box-chunked", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Where to connect; accepted before the subcommand and after it.
#[derive(Debug, Args, Clone, Default)]
struct Conn {
    /// Box access token (or BOX_ACCESS_TOKEN; or BOX_CLIENT_ID, BOX_CLIENT_SECRET,
    /// BOX_SUBJECT_TYPE, BOX_SUBJECT_ID for the client-credentials grant).
    #[arg(long)]
    token: Option<String>,
    /// API root (default `https://api.box.com/2.0`, or the local server).
    #[arg(long, value_name = "URL")]
    api_url: Option<String>,
    /// Upload root (default `https://upload.box.com/api/2.0`, or the local server).
    #[arg(long, value_name = "URL")]
    upload_url: Option<String>,
    /// OAuth token URL for the client-credentials grant.
    #[arg(long, value_name = "URL")]
    oauth_url: Option<String>,
}

impl Conn {
    /// Values after the subcommand win over values before it.
    fn or(self, before: &Self) -> Self {
        Self {
            token: self.token.or_else(|| before.token.clone()),
            api_url: self.api_url.or_else(|| before.api_url.clone()),
            upload_url: self.upload_url.or_else(|| before.upload_url.clone()),
            oauth_url: self.oauth_url.or_else(|| before.oauth_url.clone()),
        }
    }
}

#[derive(Debug, Args)]
struct Global {
    #[command(flatten)]
    conn: Conn,
    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// When the command ends, print its wall time, CPU seconds and peak
    /// memory to stderr as one line: `stats: {"wall_secs":..,"cpu_secs":..,"peak_rss_bytes":..}`.
    #[arg(long, global = true)]
    stats: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Upload a file as a new file in a folder, or as a new version of a file.
    Upload(UploadArgs),
    /// Finish an interrupted upload from its checkpoint file.
    Resume(ResumeArgs),
    /// Show an upload session, as Box returns it.
    Status(SessionArgs),
    /// List an upload session's parts (every page).
    Parts(SessionArgs),
    /// Abort an upload session (its parts are discarded).
    Abort(SessionArgs),
    /// Run a durable, Box-compatible upload server (for tests, CI and offline work).
    Serve(ServeArgs),
    /// Show the whole system working: generate a file, upload it to the local server, download it back and compare.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
struct UploadArgs {
    /// The file to upload.
    path: PathBuf,
    #[command(flatten)]
    conn: Conn,
    /// The folder to create the file in (default 0, the root).
    #[arg(long, value_name = "ID", conflicts_with = "file")]
    folder: Option<String>,
    /// Upload a new version of this file instead.
    #[arg(long, value_name = "ID")]
    file: Option<String>,
    /// The name on Box (default: the file's name).
    #[arg(long)]
    name: Option<String>,
    /// Parts in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    parallel: usize,
    /// Where to keep the checkpoint (default: under the user's data directory).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Keep the session when the upload fails, so that it can be resumed.
    #[arg(long)]
    keep_session: bool,
    /// Print the file as JSON (the file object as Box returns it) on the last line of stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar or progress lines.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Debug, Args)]
struct ResumeArgs {
    /// The checkpoint file printed by `box-chunked upload`.
    checkpoint: PathBuf,
    #[command(flatten)]
    conn: Conn,
    /// Parts in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    parallel: usize,
    /// Print the file as JSON on the last line of stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar or progress lines.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Debug, Args)]
struct SessionArgs {
    /// The upload session id.
    session_id: String,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Data directory (default: box-chunked/server under the user's data directory).
    #[arg(long)]
    data: Option<PathBuf>,
    /// An accepted bearer token, as TOKEN=USER or TOKEN (a user of its own). Repeatable.
    /// Without any, a random token is generated and printed.
    #[arg(long = "token", value_name = "TOKEN[=USER]")]
    tokens: Vec<String>,
    /// An OAuth client for the client-credentials grant, as ID:SECRET=USER. Repeatable.
    #[arg(long = "client", value_name = "ID:SECRET=USER")]
    clients: Vec<String>,
    /// Base URL for session_endpoints, when the server sits behind a proxy.
    #[arg(long)]
    public_url: Option<String>,
    /// A fixed part size for every session (default: Box's observed policy).
    #[arg(long, value_name = "BYTES")]
    part_size: Option<u64>,
    /// The smallest file a session accepts.
    #[arg(long, value_name = "BYTES", default_value_t = box_chunked_proto::rules::MIN_CHUNKED_FILE_SIZE)]
    min_file_size: u64,
    /// Faults to inject (grammar in docs/server.md), e.g. `part:500@0.05,commit:202=2@first1`.
    #[arg(long, value_name = "SPEC")]
    faults: Option<String>,
    /// How long sessions live.
    #[arg(long, value_name = "SECS", default_value_t = box_chunked_proto::rules::SESSION_LIFETIME_SECS)]
    session_lifetime: u64,
    /// Lifetime of tokens issued by /oauth2/token.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    token_ttl: u64,
    /// How long a commit waits for the whole-file check before answering 202.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    commit_wait_ms: u64,
    /// Benchmark aid: verify part digests but keep no bytes (no disk writes;
    /// the whole-file digest is taken as sent; files cannot be downloaded).
    #[arg(long)]
    verify_only: bool,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Size of the generated file.
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024 * 1024)]
    size: u64,
    /// Parts in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    parallel: usize,
}

/// A failure with its exit code and one sentence for the user.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    alloc::keep_freed_memory();
    let started = Instant::now();
    let cli = Cli::parse();
    let stats = cli.global.stats;
    let level = if cli.global.quiet {
        "error"
    } else {
        match cli.global.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BOX_CHUNKED_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Upload(args) => upload(&global, args).await,
            Command::Resume(args) => resume(&global, args).await,
            Command::Status(args) => status(&global, args, false).await,
            Command::Parts(args) => status(&global, args, true).await,
            Command::Abort(args) => abort(&global, args).await,
            Command::Demo(args) => demo(args).await,
        }
    });
    // Leave no task behind (an embedded server, a background abort) for long.
    runtime.shutdown_timeout(Duration::from_secs(10));
    if stats {
        print_stats(started);
    }
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

/// The `--stats` line: this process's wall time, CPU (user + system) and
/// peak resident memory, from `/proc/self` (zeros where there is none).
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
    eprintln!(
        "stats: {}",
        serde_json::json!({
            "wall_secs": started.elapsed().as_secs_f64(),
            "cpu_secs": cpu_secs,
            "peak_rss_bytes": peak_kib * 1024,
        })
    );
}

fn data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("box-chunked")
}

fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for i in 0..2u8 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// Where the requests go: Box (or given URLs) with credentials, or the embedded server.
struct Endpoint {
    client: BoxClient,
    embedded: Option<RunningServer>,
}

fn credentials_given(g: &Conn) -> bool {
    g.token.is_some()
        || std::env::var("BOX_ACCESS_TOKEN").is_ok_and(|t| !t.is_empty())
        || std::env::var("BOX_CLIENT_ID").is_ok_and(|t| !t.is_empty())
}

fn urls_given(g: &Conn) -> bool {
    g.api_url.is_some() || g.upload_url.is_some() || g.oauth_url.is_some()
}

async fn connect(g: &Conn, quiet_embedded: bool) -> Result<Endpoint, Failure> {
    if !credentials_given(g) && !urls_given(g) {
        let dir = data_dir().join("server");
        let token = random_token();
        let mut cfg = ServerConfig::new(dir.clone());
        cfg.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        cfg.tokens = vec![(token.clone(), "local".to_owned())];
        let server = Server::bind(cfg).await.map_err(|e| {
            Failure::new(
                exit::FAILED,
                format!("cannot start the local server in {}: {e}", dir.display()),
            )
        })?;
        if !quiet_embedded {
            eprintln!(
                "No Box credentials given: using the local box-chunked server at {} (data in {}).",
                server.url(),
                dir.display()
            );
        }
        let client = BoxClient::builder()
            .token(token)
            .base_url(server.url())
            .build()
            .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
        return Ok(Endpoint {
            client,
            embedded: Some(server.spawn()),
        });
    }
    let mut b = BoxClient::builder();
    if let Some(u) = &g.api_url {
        b = b.api_url(u.clone());
    }
    if let Some(u) = &g.upload_url {
        b = b.upload_url(u.clone());
    }
    if let Some(u) = &g.oauth_url {
        b = b.oauth_url(u.clone());
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(t) = g.token.clone().or_else(|| env("BOX_ACCESS_TOKEN")) {
        b = b.token(t);
    } else if let (Some(id), Some(secret)) = (env("BOX_CLIENT_ID"), env("BOX_CLIENT_SECRET")) {
        let subject_id = env("BOX_SUBJECT_ID").unwrap_or_default();
        let subject = match env("BOX_SUBJECT_TYPE").as_deref() {
            Some("user") => Subject::User(subject_id),
            _ => Subject::Enterprise(subject_id),
        };
        b = b.client_credentials(id, secret, subject);
    } else {
        return Err(Failure::new(
            exit::USAGE,
            "no credentials for the given URL: pass --token, or set BOX_ACCESS_TOKEN (or BOX_CLIENT_ID and BOX_CLIENT_SECRET)",
        ));
    }
    let client = b
        .build()
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    Ok(Endpoint {
        client,
        embedded: None,
    })
}

impl Endpoint {
    async fn close(self) {
        if let Some(s) = self.embedded {
            let _ = s.shutdown().await;
        }
    }
}

/// One sentence, with what to do, for every way an upload can fail.
fn explain(e: &Error, what: &str) -> Failure {
    let code = match e.kind() {
        ErrorKind::Refused | ErrorKind::Auth => exit::REFUSED,
        ErrorKind::NetworkExhausted => exit::NETWORK,
        ErrorKind::SourceChanged => exit::SOURCE_CHANGED,
        ErrorKind::Cancelled => exit::ABORTED,
        ErrorKind::Config => exit::USAGE,
        ErrorKind::Io => exit::USAGE,
        ErrorKind::Protocol => exit::FAILED,
    };
    let status = e.status();
    let message = match (e.kind(), e.code(), status) {
        (_, Some("file_size_too_small"), _) => format!(
            "{what} is too small for a chunked upload (Box needs at least 20,000,000 bytes); use Box's regular upload for small files"
        ),
        (_, Some("item_name_in_use"), _) => {
            let id = e
                .api()
                .and_then(|a| a.error.as_ref())
                .and_then(|b| b.conflicts().into_iter().next())
                .map(|c| c.id)
                .unwrap_or_default();
            format!("a file with this name already exists in the folder (id {id}); choose another --name, or upload a new version with --file {id}")
        }
        (ErrorKind::Auth, _, _) | (_, _, Some(401)) => {
            format!("Box rejected the access token ({e}); get a new token and pass it with --token or BOX_ACCESS_TOKEN")
        }
        (_, Some("not_found"), _) | (_, _, Some(404)) => {
            format!("Box could not find the folder, file or session ({e}); check the id")
        }
        (ErrorKind::NetworkExhausted, _, _) => {
            format!("could not reach Box or the server kept failing ({e}); check the URL and your network, then retry (or resume from the checkpoint)")
        }
        (ErrorKind::SourceChanged, _, _) => {
            format!("{what} changed during the upload or since the checkpoint ({e}); nothing was committed: start a new upload")
        }
        _ => e.to_string(),
    };
    Failure::new(code, message)
}

fn source_problem(path: &Path) -> Option<Failure> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Failure::new(
            exit::USAGE,
            format!("{} does not exist; check the path", path.display()),
        )),
        Err(e) => Some(Failure::new(
            exit::USAGE,
            format!("cannot read {}: {e}; check its permissions", path.display()),
        )),
        Ok(m) if m.is_dir() => Some(Failure::new(
            exit::USAGE,
            format!("{} is a directory; give the path of a file", path.display()),
        )),
        Ok(m) if !m.is_file() => Some(Failure::new(
            exit::USAGE,
            format!("{} is not a regular file", path.display()),
        )),
        Ok(_) => std::fs::File::open(path).err().map(|e| {
            Failure::new(
                exit::USAGE,
                format!("cannot read {}: {e}; check its permissions", path.display()),
            )
        }),
    }
}

fn print_file(file: &box_chunked_proto::File, json: bool) {
    if json {
        println!("{}", serde_json::to_string(file).unwrap_or_default());
    } else {
        println!(
            "uploaded file {} ({}, {} bytes, SHA-1 {})",
            file.id,
            file.name.as_deref().unwrap_or("?"),
            file.size.unwrap_or(0),
            file.sha1.map(|s| s.to_hex()).unwrap_or_default()
        );
    }
}

/// Runs an upload task under Ctrl-C handling: the first Ctrl-C stops it at
/// once and keeps the session and the checkpoint (exit 6); a second Ctrl-C
/// within 3 seconds deletes the session instead (exit 7).
async fn run_interruptible(
    client: &BoxClient,
    mut task: box_chunked_hyper::UploadTask,
    checkpoint: &Path,
    what: &str,
) -> Result<box_chunked_proto::File, Failure> {
    tokio::select! {
        r = task.wait() => return r.map_err(|e| explain(&e, what)),
        _ = tokio::signal::ctrl_c() => {}
    }
    task.stop().await;
    eprintln!(
        "\ninterrupted: the session is kept for `box-chunked resume {}`; press Ctrl-C again within 3 seconds to delete it instead",
        checkpoint.display()
    );
    let second = tokio::select! {
        _ = tokio::signal::ctrl_c() => true,
        () = tokio::time::sleep(Duration::from_secs(3)) => false,
    };
    if second {
        if let Ok(cp) = CheckpointFile::read(checkpoint) {
            client
                .session(&session_of(&cp))
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
        format!(
            "interrupted; resume with: box-chunked resume {}",
            checkpoint.display()
        ),
    ))
}

fn with_progress(u: Uploader, total: u64, enabled: bool) -> (Uploader, progress::Progress) {
    let p = progress::Progress::new(total, enabled);
    let sink = p.clone();
    (u.on_event(move |e: &UploadEvent| sink.on_event(e)), p)
}

async fn upload(g: &Global, args: UploadArgs) -> Result<(), Failure> {
    if let Some(f) = source_problem(&args.path) {
        return Err(f);
    }
    if args.parallel == 0 || args.parallel > 64 {
        return Err(Failure::new(
            exit::USAGE,
            "--parallel must be between 1 and 64",
        ));
    }
    let size = std::fs::metadata(&args.path).map(|m| m.len()).unwrap_or(0);
    let name = match &args.name {
        Some(n) => n.clone(),
        None => args
            .path
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
    let checkpoint = args.checkpoint.clone().unwrap_or_else(|| {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let base = args
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("upload");
        data_dir()
            .join("checkpoints")
            .join(format!("{base}-{stamp}.json"))
    });
    let t = connect(&args.conn.clone().or(&g.conn), args.json).await?;
    eprintln!(
        "checkpoint: {} (if interrupted: box-chunked resume {})",
        checkpoint.display(),
        checkpoint.display()
    );
    let uploader = t
        .client
        .uploader()
        .parallelism(args.parallel)
        .checkpoint(&checkpoint)
        .keep_session(args.keep_session)
        .keep_session_on_drop(true);
    let (uploader, progress) = with_progress(uploader, size, !args.no_progress && !g.quiet);
    let started = Instant::now();
    let task = uploader.spawn(target, UploadSource::Path(args.path.clone()));
    let result = run_interruptible(
        &t.client,
        task,
        &checkpoint,
        &args.path.display().to_string(),
    )
    .await;
    progress.finish();
    let outcome = match result {
        Ok(file) => {
            let _ = std::fs::remove_file(&checkpoint);
            report_rate(size, started, g.quiet || args.json);
            print_file(&file, args.json);
            Ok(())
        }
        Err(f) => Err(f),
    };
    t.close().await;
    outcome
}

fn report_rate(size: u64, started: Instant, quiet: bool) {
    if quiet {
        return;
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "{:.1} MiB in {:.2} s: {:.1} MiB/s",
        size as f64 / 1048576.0,
        secs,
        size as f64 / 1048576.0 / secs
    );
}

/// Points a checkpoint of the embedded server at the embedded server now running.
fn rebase_endpoints(cp: &mut CheckpointFile, base: &str) {
    let e = &mut cp.upload.session.endpoints;
    for url in [
        &mut e.upload_part,
        &mut e.commit,
        &mut e.abort,
        &mut e.list_parts,
        &mut e.status,
        &mut e.log_event,
    ]
    .into_iter()
    .flatten()
    {
        if let Some(i) = url.find("/api/2.0/") {
            *url = format!("{}{}", base.trim_end_matches('/'), &url[i..]);
        }
    }
}

async fn resume(g: &Global, args: ResumeArgs) -> Result<(), Failure> {
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

fn session_of(cp: &CheckpointFile) -> box_chunked_proto::UploadSession {
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

async fn status(g: &Global, args: SessionArgs, parts: bool) -> Result<(), Failure> {
    let t = connect(&args.conn.clone().or(&g.conn), true).await?;
    let mut s = t.client.upload_session(args.session_id.clone());
    let out = if parts {
        s.get_parts().await.map(|p| {
            let n = p.len();
            serde_json::json!({"total_count": n, "entries": p})
        })
    } else {
        s.get()
            .await
            .map(|s| serde_json::to_value(s).unwrap_or_default())
    };
    t.close().await;
    let v = out.map_err(|e| explain(&e, "the session"))?;
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}

async fn abort(g: &Global, args: SessionArgs) -> Result<(), Failure> {
    let t = connect(&args.conn.clone().or(&g.conn), true).await?;
    let r = t
        .client
        .upload_session(args.session_id.clone())
        .abort()
        .await;
    t.close().await;
    r.map_err(|e| explain(&e, "the session"))?;
    println!("aborted upload session {}", args.session_id);
    Ok(())
}

async fn demo(args: DemoArgs) -> Result<(), Failure> {
    if args.size == 0 {
        return Err(Failure::new(exit::USAGE, "--size must be positive"));
    }
    let work = std::env::temp_dir().join(format!("box-chunked-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| {
        Failure::new(
            exit::FAILED,
            format!("cannot create {}: {e}", work.display()),
        )
    })?;
    let result = demo_in(&work, &args).await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

async fn demo_in(work: &Path, args: &DemoArgs) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::new(exit::FAILED, format!("demo: {e}"));
    // 1. A file of pseudo-random bytes.
    let path = work.join("demo.bin");
    eprintln!(
        "1/4 writing {} MiB of pseudo-random bytes to {}",
        args.size / 1048576,
        path.display()
    );
    let source_sha = {
        use std::io::Write as _;
        let mut f =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).map_err(io)?);
        let mut h = sha1::Sha1::new();
        let mut state = 0x0123_4567_89ab_cdefu64;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = args.size;
        while left > 0 {
            for c in buf.chunks_exact_mut(8) {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                c.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
            }
            let n = left.min(buf.len() as u64) as usize;
            f.write_all(&buf[..n]).map_err(io)?;
            h.update(&buf[..n]);
            left -= n as u64;
        }
        f.flush().map_err(io)?;
        box_chunked_proto::Sha1Digest(h.finalize().into())
    };
    // 2. The local server.
    let token = random_token();
    let mut cfg = ServerConfig::new(work.join("server"));
    cfg.addr = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.tokens = vec![(token.clone(), "demo".to_owned())];
    cfg.min_file_size = 1;
    let server = Server::bind(cfg)
        .await
        .map_err(|e| Failure::new(exit::FAILED, format!("demo server: {e}")))?;
    eprintln!("2/4 local box-chunked server at {}", server.url());
    let client = BoxClient::builder()
        .token(token)
        .base_url(server.url())
        .build()
        .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
    let running = server.spawn();
    // 3. Upload.
    eprintln!("3/4 uploading with {} parts in flight", args.parallel);
    let (uploader, progress) = with_progress(
        client.uploader().parallelism(args.parallel.max(1)),
        args.size,
        true,
    );
    let started = Instant::now();
    let uploaded = uploader.upload_file("0", "demo.bin", &path).await;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    progress.finish();
    let file = uploaded.map_err(|e| explain(&e, "the demo file"))?;
    // 4. Download through the server's API and compare.
    eprintln!("4/4 downloading file {} back and comparing SHA-1", file.id);
    let (size, sha) = client
        .download_sha1(&file.id)
        .await
        .map_err(|e| explain(&e, "the demo file"))?;
    let _ = running.shutdown().await;
    if size != args.size || sha != source_sha || file.sha1 != Some(source_sha) {
        return Err(Failure::new(
            exit::FAILED,
            format!("SHA-1 mismatch: source {source_sha}, committed {:?}, downloaded {sha} ({size} bytes)", file.sha1),
        ));
    }
    println!(
        "demo: uploaded {} bytes as file {} in {:.2} s ({:.1} MiB/s); downloaded SHA-1 {} matches the source",
        args.size,
        file.id,
        secs,
        args.size as f64 / 1048576.0 / secs,
        sha
    );
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let data = args.data.unwrap_or_else(|| data_dir().join("server"));
    let mut config = ServerConfig::new(data.clone());
    config.addr = args.addr;
    config.public_url = args.public_url;
    config.part_size = args.part_size;
    config.min_file_size = args.min_file_size;
    config.session_lifetime = Duration::from_secs(args.session_lifetime);
    config.token_ttl = Duration::from_secs(args.token_ttl);
    config.commit_wait = Duration::from_millis(args.commit_wait_ms);
    config.verify_only = args.verify_only;
    if args.part_size == Some(0) {
        return Err(Failure::new(exit::USAGE, "--part-size must be positive"));
    }
    if let Some(spec) = &args.faults {
        config.faults = FaultSpec::parse(spec)
            .map_err(|e| Failure::new(exit::USAGE, format!("--faults: {e}")))?;
    }
    let mut generated = None;
    for t in &args.tokens {
        if t.is_empty() || t.starts_with('=') {
            return Err(Failure::new(
                exit::USAGE,
                "--token needs a token: TOKEN or TOKEN=USER",
            ));
        }
        config.tokens.push(ServerConfig::parse_token(t));
    }
    for c in &args.clients {
        let parsed = c
            .split_once(':')
            .and_then(|(id, rest)| {
                rest.split_once('=')
                    .map(|(secret, user)| (id, secret, user))
            })
            .filter(|(id, secret, user)| !id.is_empty() && !secret.is_empty() && !user.is_empty());
        let Some((id, secret, user)) = parsed else {
            return Err(Failure::new(exit::USAGE, "--client must be ID:SECRET=USER"));
        };
        config
            .clients
            .push((id.to_owned(), secret.to_owned(), user.to_owned()));
    }
    if config.tokens.is_empty() && config.clients.is_empty() {
        let token = random_token();
        config.tokens.push((token.clone(), "user".to_owned()));
        generated = Some(token);
    }
    let server = Server::bind(config)
        .await
        .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
    println!(
        "box-chunked server listening on {} (data in {})",
        server.url(),
        data.display()
    );
    if let Some(t) = generated {
        println!("no --token given; use this one: {t}");
    }
    server
        .run_until(shutdown_signal())
        .await
        .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
    println!("box-chunked server stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
