//! The `box-chunked` command.

use box_chunked_server::faults::FaultSpec;
use box_chunked_server::{Server, ServerConfig};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Chunked uploads to Box, and a Box-compatible local server.
#[derive(Debug, Parser)]
#[command(name = "box-chunked", version, about, propagate_version = true)]
struct Cli {
    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a durable, Box-compatible upload server (for tests, CI and offline work).
    Serve(ServeArgs),
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = if cli.quiet {
        "error"
    } else {
        match cli.verbose {
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
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

/// A failure with its exit code.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("box-chunked")
}

async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let data = args
        .data
        .unwrap_or_else(|| default_data_dir().join("server"));
    let mut config = ServerConfig::new(data.clone());
    config.addr = args.addr;
    config.public_url = args.public_url;
    config.part_size = args.part_size;
    config.min_file_size = args.min_file_size;
    config.session_lifetime = Duration::from_secs(args.session_lifetime);
    config.token_ttl = Duration::from_secs(args.token_ttl);
    config.commit_wait = Duration::from_millis(args.commit_wait_ms);
    if args.part_size == Some(0) {
        return Err(Failure::usage("--part-size must be positive"));
    }
    if let Some(spec) = &args.faults {
        config.faults =
            FaultSpec::parse(spec).map_err(|e| Failure::usage(format!("--faults: {e}")))?;
    }
    let mut generated = None;
    for t in &args.tokens {
        if t.is_empty() || t.starts_with('=') {
            return Err(Failure::usage("--token needs a token: TOKEN or TOKEN=USER"));
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
            return Err(Failure::usage("--client must be ID:SECRET=USER"));
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
    let server = Server::bind(config).await.map_err(|e| Failure {
        code: 1,
        message: e.to_string(),
    })?;
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
        .map_err(|e| Failure {
            code: 1,
            message: e.to_string(),
        })?;
    println!("box-chunked server stopped");
    Ok(())
}

fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
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
