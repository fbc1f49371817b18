//! Many files as one resumable job: paths and directories walked into a
//! list of files (symlinks skipped unless followed), the folder tree created
//! or reused by name, files uploaded a few at a time with one shared budget
//! of parts in flight, and every file's state in a job file written
//! atomically at each change, so that after Ctrl-C, a crash or `kill -9`
//! [`Job::run`] on the same file continues without re-sending a confirmed
//! part or a finished file.
//!
//! A file's session is in its checkpoint, and the job file names that
//! checkpoint, before any of its parts is sent. On a later run a file that
//! was in progress resumes from its checkpoint; one whose target already
//! holds the same SHA-1 and size (committed just before the kill) is done.

mod dry;
mod file;
mod run;
mod walk;

pub use dry::DryAction;
pub use file::{EntryState, JobEntry, JobFile, Skip, SkipReason, JOB_FORMAT};
pub use run::{FileOutcome, FileReport, Job, JobSummary};
