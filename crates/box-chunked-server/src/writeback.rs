//! Starting a part's disk writeback while the part is still arriving.
//!
//! A part is acknowledged only after `fsync`, which waits until every byte is
//! on disk. Left alone, the kernel starts writing a part's pages back only
//! when `fsync` asks, so the whole part's disk write sits between its last
//! byte and its acknowledgement. `sync_file_range(SYNC_FILE_RANGE_WRITE)`
//! after each batch starts that write at once, overlapping it with the rest
//! of the body; `fsync` then mostly waits for writes already under way. It
//! changes no durability guarantee: `fsync` still runs before the answer.
//!
//! The only `unsafe` of this crate is the call below, on Linux: it passes a
//! file descriptor borrowed from a live `File` (so it is open for the whole
//! call) and two integers; the kernel reads no memory of ours. Elsewhere
//! this is a no-op.

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to
/// disk, without waiting. Errors are ignored: this is only a hint, and the
/// `fsync` that follows reports any real failure.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn start(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor belongs to `file`, which outlives the call; the
    // syscall takes no pointers.
    let _ = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
}

/// Not on Linux: nothing to do; `fsync` does all the work.
#[cfg(not(target_os = "linux"))]
pub(crate) fn start(_file: &std::fs::File, _offset: u64, _len: u64) {}
