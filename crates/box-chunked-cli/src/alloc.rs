//! Keeping freed memory in the process instead of handing it back to the
//! kernel at once.
//!
//! The server receives part bodies in frames of a few hundred KiB that it
//! holds while they are hashed and written, so the HTTP layer keeps asking
//! for fresh read buffers. With glibc's default, adaptive thresholds, freed
//! buffers are trimmed from the thread arenas and every new one is faulted
//! in and zeroed by the kernel again: measured at 73,000 page faults per GiB
//! received and about a sixth of the server's CPU. Fixed thresholds (serve
//! blocks under 32 MiB from the heap, trim only past 256 MiB, grow the heap
//! 64 MiB at a time) cut that to under 3,000 faults per GiB (docs/performance.md).
//!
//! glibc on Linux only; elsewhere this does nothing. The one `unsafe` of
//! this crate is the `mallopt` call below.

/// Sets glibc's malloc thresholds. Call once, first thing in `main`, before
/// other threads exist.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn keep_freed_memory() {
    for (param, value) in [
        (libc::M_MMAP_THRESHOLD, 32 << 20),
        (libc::M_TRIM_THRESHOLD, 256 << 20),
        (libc::M_TOP_PAD, 64 << 20),
    ] {
        // SAFETY: mallopt takes two integers and no pointers; it is called
        // before any other thread is started, as glibc asks of it. A
        // refused value (return 0) leaves glibc's default in place.
        let _ = unsafe { libc::mallopt(param, value) };
    }
}

/// Not glibc: nothing to tune.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn keep_freed_memory() {}
