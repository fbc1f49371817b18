//! The command line: every subcommand's arguments and their help (clap).
//! Parsing only; what the commands do is in their own modules.

pub(crate) use crate::serve_args::ServeArgs;
use crate::values::{
    parse_max_memory, parse_parallel, parse_size, parse_upload_parallel, Parallel,
};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Chunked uploads to Box, and a Box-compatible local server.
///
/// Box needs credentials (see --token). `--local` (or BOX_CHUNKED_LOCAL=1)
/// uses a local server embedded in this command instead (data under the
/// user's data directory); nothing is sent to Box then.
#[derive(Debug, Parser)]
#[command(name = "box-chunked", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where to connect and how to sign in; accepted before the subcommand and
/// after it.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct Conn {
    #[command(flatten)]
    pub(crate) auth: SignIn,
    #[command(flatten)]
    pub(crate) net: Net,
}

/// How to sign in.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Signing in")]
pub(crate) struct SignIn {
    /// Box access token (or BOX_ACCESS_TOKEN). The other ways to sign in,
    /// in the order they are tried: --box-config, --token-file, then
    /// BOX_ACCESS_TOKEN, BOX_CONFIG or BOX_CONFIG_JSON, BOX_TOKEN_FILE, and
    /// BOX_CLIENT_ID with BOX_CLIENT_SECRET (client credentials).
    #[arg(long)]
    pub(crate) token: Option<String>,
    /// JWT server auth with this Box app config file, as Box's developer
    /// console hands it out (or BOX_CONFIG; BOX_CONFIG_JSON holds the
    /// file's contents). Tokens act as the enterprise's service account, or
    /// as BOX_SUBJECT_ID with BOX_SUBJECT_TYPE=user.
    #[arg(long, value_name = "FILE")]
    pub(crate) box_config: Option<PathBuf>,
    /// OAuth 2.0 with the refresh token in this token file, as `box-chunked
    /// login` writes it (or BOX_TOKEN_FILE), for the app BOX_CLIENT_ID and
    /// BOX_CLIENT_SECRET. Each rotated pair is written back before use.
    #[arg(long, value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// Act as this managed user (`As-User` on every call), with a service
    /// account's token (JWT or client credentials for the enterprise).
    #[arg(long, value_name = "USER_ID")]
    pub(crate) as_user: Option<String>,
    /// Use the local box-chunked server embedded in this command instead
    /// of Box (data under the user's data directory; or BOX_CHUNKED_LOCAL=1).
    /// Without it, a command that has no credential fails rather than
    /// upload anywhere else.
    #[arg(long, env = "BOX_CHUNKED_LOCAL", value_parser = clap::builder::FalseyValueParser::new())]
    pub(crate) local: bool,
}

/// Where the requests go, and through what.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Connection")]
pub(crate) struct Net {
    /// API root (default `https://api.box.com/2.0`, or the local server).
    #[arg(long, value_name = "URL")]
    pub(crate) api_url: Option<String>,
    /// Upload root (default `https://upload.box.com/api/2.0`, or the local server).
    #[arg(long, value_name = "URL")]
    pub(crate) upload_url: Option<String>,
    /// OAuth token URL for the client-credentials grant.
    #[arg(long, value_name = "URL")]
    pub(crate) oauth_url: Option<String>,
    /// A server with box-chunked's layout at this URL: API `<URL>/2.0`,
    /// upload `<URL>/api/2.0`, OAuth `<URL>/oauth2/token` (each overridden by
    /// its own option).
    #[arg(long, value_name = "URL")]
    pub(crate) base_url: Option<String>,
    /// Trust the CA certificates in this PEM file beside the built-in
    /// roots (a company's CA, or a local `serve --tls-cert` certificate).
    /// SSL_CERT_FILE adds its certificates too.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_cert: Option<PathBuf>,
    /// Send through this proxy (`http://[user:password@]host:port`; hosts in
    /// NO_PROXY excepted). Default: HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and
    /// NO_PROXY as curl reads them.
    #[arg(long, value_name = "URL")]
    pub(crate) proxy: Option<String>,
}

impl Conn {
    /// Values after the subcommand win over values before it.
    ///
    /// Not clap's `global = true`: `serve` has a `--token TOKEN=USER` of its
    /// own (repeatable, the server's users), which a global `--token` would
    /// clash with, and `serve`, `demo` and `jobs` connect nowhere. So the
    /// commands that connect flatten these flags, and this merges the two
    /// places they may be given.
    pub(crate) fn or(self, before: &Self) -> Self {
        Self {
            auth: self.auth.or(&before.auth),
            net: self.net.or(&before.net),
        }
    }
}

impl SignIn {
    fn or(self, before: &Self) -> Self {
        Self {
            token: self.token.or_else(|| before.token.clone()),
            box_config: self.box_config.or_else(|| before.box_config.clone()),
            token_file: self.token_file.or_else(|| before.token_file.clone()),
            as_user: self.as_user.or_else(|| before.as_user.clone()),
            local: self.local || before.local,
        }
    }
}

impl Net {
    /// Values after the subcommand win over values before it.
    pub(crate) fn or(self, before: &Self) -> Self {
        Self {
            api_url: self.api_url.or_else(|| before.api_url.clone()),
            upload_url: self.upload_url.or_else(|| before.upload_url.clone()),
            oauth_url: self.oauth_url.or_else(|| before.oauth_url.clone()),
            base_url: self.base_url.or_else(|| before.base_url.clone()),
            ca_cert: self.ca_cert.or_else(|| before.ca_cert.clone()),
            proxy: self.proxy.or_else(|| before.proxy.clone()),
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct Global {
    #[command(flatten)]
    pub(crate) conn: Conn,
    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = "Global options")]
    pub(crate) verbose: u8,
    /// Only errors.
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = "Global options"
    )]
    pub(crate) quiet: bool,
    /// When the command ends, print its wall time, CPU seconds, peak memory,
    /// the parts hashed while read, the source bytes read and all bytes read
    /// (files and sockets) to stderr as one line:
    /// `stats: {"wall_secs":..,"cpu_secs":..,"peak_rss_bytes":..,"parts_hashed_while_read":..,"parts":..,"bytes_read":..,"rchar":..}`.
    #[arg(long, global = true, help_heading = "Global options")]
    pub(crate) stats: bool,
    /// Write the log (-v, -vv...) to FILE, appended, instead of stderr, so
    /// that it is kept apart from the progress display.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "BOX_CHUNKED_LOG_FILE",
        help_heading = "Global options"
    )]
    pub(crate) log_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Upload a file as a new file in a folder, or as a new version of a file.
    #[command(override_usage = "box-chunked upload [OPTIONS] <PATH>...")]
    Upload(UploadArgs),
    /// Finish an interrupted upload from its checkpoint file.
    #[command(override_usage = "box-chunked resume [OPTIONS] <CHECKPOINT_OR_JOB_FILE>")]
    Resume(ResumeArgs),
    /// Show an upload session, as Box returns it, by id or by its checkpoint file.
    #[command(override_usage = "box-chunked status [OPTIONS] <SESSION_ID|CHECKPOINT_FILE>")]
    Status(SessionArgs),
    /// List an upload session's parts (every page), by id or by its
    /// checkpoint file.
    #[command(override_usage = "box-chunked parts [OPTIONS] <SESSION_ID|CHECKPOINT_FILE>")]
    Parts(SessionArgs),
    /// Abort an upload session (its parts are discarded), by id or by its
    /// checkpoint file (which is removed too).
    #[command(override_usage = "box-chunked abort [OPTIONS] <SESSION_ID|CHECKPOINT_FILE>")]
    Abort(SessionArgs),
    /// List the unfinished uploads and jobs (checkpoints and job files under
    /// the data directory), each with the command that resumes it, and the
    /// files there that cannot be read.
    Jobs(JobsArgs),
    /// Run a durable, Box-compatible upload server (for tests, CI and offline work).
    Serve(ServeArgs),
    /// Sign in to Box with OAuth 2.0 in a browser and write the token file
    /// that --token-file (or BOX_TOKEN_FILE) then uses.
    #[command(
        override_usage = "box-chunked login [OPTIONS] --client-id <ID> --client-secret <SECRET>"
    )]
    Login(LoginArgs),
    /// Show the whole system working: generate a file, upload it to the local server, download it back and compare.
    Demo(DemoArgs),
    /// List a folder's items (or show one file), by path or id.
    #[command(override_usage = "box-chunked ls [OPTIONS] [PATH|ID]")]
    Ls(LsArgs),
    /// Make folders, by path (with -p, the missing ones on the way too).
    #[command(override_usage = "box-chunked mkdir [OPTIONS] <PATH>...")]
    Mkdir(MkdirArgs),
    /// Remove files, or folders with -r (to the trash, where Box keeps one).
    #[command(override_usage = "box-chunked rm [OPTIONS] <PATH|ID>...")]
    Rm(RmArgs),
    /// Download a file, or a folder's tree with -r, checked against Box's SHA-1.
    #[command(override_usage = "box-chunked download [OPTIONS] <PATH|ID> [DEST]")]
    Download(DownloadArgs),
    /// Ask a local server's health route; exit 0 when it serves (the
    /// container image's healthcheck).
    Health(HealthArgs),
    /// Print the shell completion script for SHELL to standard output,
    /// e.g. `box-chunked completions bash > /etc/bash_completion.d/box-chunked`.
    Completions {
        /// The shell: bash, zsh, fish, powershell or elvish.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (box-chunked.1 and one per command) into DIR
    /// (what `cargo xtask man` runs).
    #[command(hide = true)]
    ManPages {
        /// The directory to write them into.
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// A folder or a file: a path from "All Files" (/Backups/2026, or
    /// box:Backups/2026), or an id (a folder's; file:ID for a file).
    #[arg(value_name = "PATH|ID", default_value = "/")]
    pub(crate) target: String,
    /// Show each file's SHA-1 too.
    #[arg(short = 'l', long)]
    pub(crate) long: bool,
    /// Everything below, folder by folder.
    #[arg(short = 'R', long)]
    pub(crate) recursive: bool,
    /// One JSON object per line (path, type, id, name, size, modified_at, sha1).
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

#[derive(Debug, Args)]
pub(crate) struct MkdirArgs {
    /// Paths from "All Files", such as /Backups/2026.
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<String>,
    /// Make the missing folders on the way, and accept one that exists.
    #[arg(short = 'p', long)]
    pub(crate) parents: bool,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// Paths, or ids (a bare id is a file's; folder:ID for a folder).
    #[arg(required = true, value_name = "PATH|ID")]
    pub(crate) targets: Vec<String>,
    /// Remove folders, with everything in them.
    #[arg(short = 'r', long)]
    pub(crate) recursive: bool,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

/// Which files of a job go up (gitignore's syntax).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Filters (jobs)")]
pub(crate) struct FilterArgs {
    /// Upload only files this pattern matches (repeatable; `*.jpg`, `photos/2026/`).
    #[arg(long, value_name = "PATTERN")]
    pub(crate) include: Vec<String>,
    /// Leave out files this pattern matches (repeatable; `*.tmp`, `cache/`,
    /// `/top/raw`, `!keep.tmp`); it wins over --include.
    #[arg(long, value_name = "PATTERN")]
    pub(crate) exclude: Vec<String>,
    /// Leave out what the patterns in FILE match, one per line (a
    /// .gitignore file works; `#` starts a comment).
    #[arg(long, value_name = "FILE")]
    pub(crate) exclude_from: Vec<PathBuf>,
}

/// What `download` does with a local file that is there already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LocalConflict {
    /// Stop for that file (the others go on); exit 3.
    Error,
    /// Keep it when it holds Box's bytes (same SHA-1); else as error.
    Skip,
    /// Replace it (once the new bytes are checked).
    Overwrite,
    /// Write beside it under a numbered name (`report (1).pdf`).
    Rename,
}

#[derive(Debug, Args)]
pub(crate) struct DownloadArgs {
    /// A file, or a folder with -r: a path (/a/b.bin, box:a/b.bin) or an
    /// id (a bare id is a file's; folder:ID for a folder).
    #[arg(value_name = "PATH|ID")]
    pub(crate) source: String,
    /// Where: a file's local path, or a directory it goes into; a folder's
    /// tree goes into DEST (default: the item's name in the current directory).
    #[arg(value_name = "DEST")]
    pub(crate) dest: Option<PathBuf>,
    /// A folder's tree, every level.
    #[arg(short = 'r', long)]
    pub(crate) recursive: bool,
    /// Ranges in flight at once, all files together.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = parse_parallel)]
    pub(crate) parallel: usize,
    /// Files at once (with -r).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = parse_parallel)]
    pub(crate) files: usize,
    /// A local file that is there already.
    #[arg(long, value_enum, default_value = "error")]
    pub(crate) on_conflict: LocalConflict,
    /// One JSON object per file (action, path, local, id, size, sha1, resumed).
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress bar (there is one on a terminal).
    #[arg(long)]
    pub(crate) no_progress: bool,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// The server's URL (plain http), e.g. http://127.0.0.1:8080; without
    /// it, the address `serve` was given in BOX_CHUNKED_ADDR.
    #[arg(value_name = "URL")]
    pub(crate) url: Option<String>,
    /// The address `serve` listens on (an unspecified one such as 0.0.0.0
    /// is asked on loopback).
    #[arg(long, default_value = "127.0.0.1:8080", env = "BOX_CHUNKED_ADDR")]
    pub(crate) addr: String,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub(crate) timeout: u64,
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The app's client id.
    #[arg(long, value_name = "ID", env = "BOX_CLIENT_ID")]
    pub(crate) client_id: String,
    /// The app's client secret.
    #[arg(
        long,
        value_name = "SECRET",
        env = "BOX_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub(crate) client_secret: String,
    /// The redirect URI registered for the app: a loopback `http://` URL
    /// this command listens on (port 0 picks a free port).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:53682/")]
    pub(crate) redirect_uri: String,
    /// The authorize page (default Box's, or `<base-url>/oauth2/authorize`).
    #[arg(long, value_name = "URL")]
    pub(crate) authorize_url: Option<String>,
    /// Give up when the browser has not come back within this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub(crate) timeout: u64,
    /// Where to write the tokens (default: BOX_TOKEN_FILE, else
    /// box-token.json under the user's data directory).
    #[arg(long, value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// The server to sign in to, and through what.
    #[command(flatten)]
    pub(crate) net: Net,
}

#[derive(Debug, Args)]
pub(crate) struct UploadArgs {
    /// The file to upload, or `-` for standard input (with --name and
    /// --size); several paths, or a directory, make one resumable job.
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// The folder to create the file in: a path from "All Files"
    /// (/Backups/2026 or box:Backups/2026) or a folder id (default: the root).
    #[arg(long, value_name = "PATH|ID", conflicts_with = "file")]
    pub(crate) folder: Option<String>,
    /// Make the missing folders of the --folder path.
    #[arg(short = 'p', long, requires = "folder")]
    pub(crate) mkdir: bool,
    /// Print what the upload would do (new file, new version, skip and why,
    /// folder made), one line each, or JSON lines with --json; nothing is
    /// changed on the server.
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// Upload a new version of this file instead: its path or its id.
    #[arg(long, value_name = "PATH|ID")]
    pub(crate) file: Option<String>,
    /// The name on Box (default: the file's name).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Parts in flight at once: `auto` (tuned while the upload runs, from
    /// how long parts take, within --max-memory) or 1 to 64.
    #[arg(long, value_name = "N|auto", default_value_t = Parallel::Auto, value_parser = parse_upload_parallel)]
    pub(crate) parallel: Parallel,
    /// The most memory the parts in flight may take with --parallel auto
    /// (`1G`, `512M`, or bytes).
    #[arg(long, value_name = "SIZE", default_value_t = 1024 * 1024 * 1024, value_parser = parse_max_memory)]
    pub(crate) max_memory: u64,
    /// Where to keep the checkpoint: a file, or a directory to make it in
    /// (default: under the user's data directory). It must be writable
    /// before the upload starts.
    #[arg(long, value_name = "FILE|DIR", conflicts_with = "no_checkpoint")]
    pub(crate) checkpoint: Option<PathBuf>,
    /// Upload without a checkpoint (an interruption then cannot be resumed).
    #[arg(long)]
    pub(crate) no_checkpoint: bool,
    /// Keep the session when the upload fails, so that it can be resumed.
    #[arg(long)]
    pub(crate) keep_session: bool,
    /// Print the file as JSON (the file object as Box returns it) on the last line of stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress bar or progress lines.
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// Progress as `bar` (lines when stderr is not a terminal), `json`
    /// (JSON lines on stderr at most every 500 ms and at each change of
    /// phase) or `none`.
    #[arg(long, value_name = "FORMAT", value_parser = ["bar", "json", "none"])]
    pub(crate) progress: Option<String>,
    /// When the name is taken: `error` (as Box), `version` (a new version of
    /// that file), `skip` (nothing, if it has the same SHA-1 and size) or
    /// `rename` (`name (1).ext`, ...).
    #[arg(long, value_name = "POLICY", default_value = "error")]
    pub(crate) on_conflict: box_chunked_hyper::OnConflict,
    /// The size of standard input (`-`), which Box needs before the first
    /// byte: the stream then goes up as it is read. Without it, standard
    /// input is first copied to a temporary file (in --spool-dir) and
    /// uploaded from there.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) size: Option<u64>,
    /// Where standard input of unknown size is copied before it is
    /// uploaded (default: TMPDIR, or /tmp); the copy is removed afterwards.
    #[arg(long, value_name = "DIR")]
    pub(crate) spool_dir: Option<PathBuf>,
    /// At most this many bytes per second, across the whole upload (`10M`, `500k`).
    #[arg(long, value_name = "RATE", value_parser = parse_size)]
    pub(crate) bwlimit: Option<u64>,
    #[command(flatten)]
    pub(crate) modes: UploadModes,
    #[command(flatten)]
    pub(crate) job: JobArgs,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

/// Several files or directories as one job.
#[derive(Debug, Args, Clone)]
pub(crate) struct JobArgs {
    /// The job file that records every file's state (default: under the
    /// user's data directory; printed at the start). `box-chunked resume
    /// FILE` continues it.
    #[arg(long = "job", value_name = "FILE")]
    pub(crate) job_file: Option<PathBuf>,
    /// Stop at the first file that fails (default: the others go on).
    #[arg(long)]
    pub(crate) fail_fast: bool,
    /// Files uploaded at once in a job (parts in flight across them stay
    /// within --parallel, one tuned or fixed limit for all).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = parse_parallel)]
    pub(crate) files: usize,
    /// Follow symbolic links in directories (default: skip them).
    #[arg(long)]
    pub(crate) follow_symlinks: bool,
}

/// How files go up (shared by `upload` and `resume`).
#[derive(Debug, Args, Clone)]
pub(crate) struct UploadModes {
    /// Files below this size go up in one request (Box's chunked minimum;
    /// lower it for a server started with a smaller --min-file-size).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value_t = box_chunked_proto::rules::MIN_CHUNKED_FILE_SIZE, env = "BOX_CHUNKED_ONE_SHOT_BELOW")]
    pub(crate) one_shot_below: u64,
    /// Send every part of a new version, without asking the server which it
    /// already has (the upload session plan).
    #[arg(long)]
    pub(crate) no_delta: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ResumeArgs {
    /// The checkpoint file printed by `box-chunked upload`.
    pub(crate) checkpoint: PathBuf,
    /// Parts in flight at once: `auto` (tuned while the upload runs, from
    /// how long parts take, within --max-memory) or 1 to 64.
    #[arg(long, value_name = "N|auto", default_value_t = Parallel::Auto, value_parser = parse_upload_parallel)]
    pub(crate) parallel: Parallel,
    /// The most memory the parts in flight may take with --parallel auto
    /// (`1G`, `512M`, or bytes).
    #[arg(long, value_name = "SIZE", default_value_t = 1024 * 1024 * 1024, value_parser = parse_max_memory)]
    pub(crate) max_memory: u64,
    /// Print the file as JSON on the last line of stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress bar or progress lines.
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// Progress as `bar` (lines when stderr is not a terminal), `json` or `none`.
    #[arg(long, value_name = "FORMAT", value_parser = ["bar", "json", "none"])]
    pub(crate) progress: Option<String>,
    /// At most this many bytes per second (`10M`, `500k`).
    #[arg(long, value_name = "RATE", value_parser = parse_size)]
    pub(crate) bwlimit: Option<u64>,
    /// A job's new conflict policy for the files still to do (`error`,
    /// `version`, `skip`, `rename`): what a taken name then gets.
    #[arg(long, value_name = "POLICY")]
    pub(crate) on_conflict: Option<box_chunked_hyper::OnConflict>,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

#[derive(Debug, Args)]
pub(crate) struct SessionArgs {
    /// The upload session id, or the checkpoint file that names it.
    pub(crate) session_id: String,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

#[derive(Debug, Args)]
pub(crate) struct JobsArgs {
    /// One JSON object per pending upload instead of lines for people.
    #[arg(long)]
    pub(crate) json: bool,
    /// Remove finished job files and the checkpoints and job files that
    /// cannot be read (they are listed first).
    #[arg(long)]
    pub(crate) prune: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Size of the generated file (`256M`, `1G`, or bytes).
    #[arg(long, value_name = "SIZE", default_value_t = 256 * 1024 * 1024, value_parser = parse_size)]
    pub(crate) size: u64,
    /// Parts in flight at once: `auto` (tuned while the upload runs, from
    /// how long parts take, within --max-memory) or 1 to 64.
    #[arg(long, value_name = "N|auto", default_value_t = Parallel::Auto, value_parser = parse_upload_parallel)]
    pub(crate) parallel: Parallel,
    /// The most memory the parts in flight may take with --parallel auto
    /// (`1G`, `512M`, or bytes).
    #[arg(long, value_name = "SIZE", default_value_t = 1024 * 1024 * 1024, value_parser = parse_max_memory)]
    pub(crate) max_memory: u64,
}
