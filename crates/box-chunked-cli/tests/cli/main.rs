//! The built `box-chunked` command, end to end, as one test binary with
//! its modules by subject; `support` holds what they share (a `serve`
//! process, the command pointed at it, readers of its output).

mod commands;
mod crash;
mod delta;
mod downloads;
mod dryrun;
mod emulator;
mod jobs;
mod manual;
mod paths;
mod serving;
mod signin;
mod support;
mod truth;
