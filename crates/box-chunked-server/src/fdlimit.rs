//! The open-files limit: each connection is a file descriptor, so a
//! server held to the usual soft limit (1,024) cannot hold more clients
//! than that however high the hard limit is. At start the soft limit is
//! raised to the hard limit, as Go's runtime does for every program, and
//! the connection cap is sized from the result.
//!
//! The calls below are this crate's second `unsafe`, on Linux: `getrlimit`
//! and `setrlimit` read and write one `rlimit` struct that lives on our
//! stack for the whole call. Elsewhere nothing is raised and the limit is
//! taken to be 1,024.

/// Raises this process's soft open-files limit to its hard limit (at most
/// what the kernel allows), and returns the soft limit in force afterwards.
/// A refusal leaves the limit as it was and returns it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable `rlimit` for the whole call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur >= lim.rlim_max {
        return Ok(lim.rlim_cur);
    }
    // `fs.nr_open` bounds the hard limit on Linux; an infinite hard limit
    // is raised only that far.
    let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|t| t.trim().parse::<libc::rlim_t>().ok())
        .unwrap_or(lim.rlim_max);
    let raised = libc::rlimit {
        rlim_cur: lim.rlim_max.min(ceiling),
        rlim_max: lim.rlim_max,
    };
    // SAFETY: `raised` is a valid `rlimit` for the whole call.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Ok(lim.rlim_cur);
    }
    Ok(raised.rlim_cur)
}

/// Not on Linux: the limit is left as it is, taken to be 1,024.
#[cfg(not(target_os = "linux"))]
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    Ok(1024)
}
