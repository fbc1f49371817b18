//! Where the log goes: stderr (coloured on a terminal unless NO_COLOR is
//! set), or with `--log-file FILE` appended to FILE, so that `-v` output is
//! kept apart from the progress display. `BOX_CHUNKED_LOG` (tracing's
//! filter syntax) overrides the level that `-v`/`-q` choose.

use crate::args::Global;
use crate::failure::{exit, Failure};
use std::sync::Mutex;

/// Starts the log for `global`'s verbosity and destination.
pub(crate) fn init(global: &Global) -> Result<(), Failure> {
    let level = if global.quiet {
        "error"
    } else {
        match global.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BOX_CHUNKED_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match &global.log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    Failure::new(
                        exit::USAGE,
                        format!(
                            "cannot open the log file {}: {e}; give --log-file a file in a directory that exists and is writable",
                            path.display()
                        ),
                    )
                })?;
            builder
                .with_writer(Mutex::new(file))
                .with_ansi(false)
                .init();
        }
        None => {
            // Colours only on a terminal, and never with NO_COLOR set.
            let ansi = {
                use std::io::IsTerminal as _;
                std::io::stderr().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            };
            builder.with_writer(std::io::stderr).with_ansi(ansi).init();
        }
    }
    Ok(())
}
