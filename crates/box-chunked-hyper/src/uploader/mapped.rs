//! A file's parts mapped into memory instead of copied into part buffers
//! (Linux): the reader thread hashes a part straight from the page cache and
//! the transport sends it from there, so the client makes no copy of the
//! source of its own and touches no part buffer.
//!
//! A mapped file that shrinks under us would end the process: touching a
//! page past the new end raises `SIGBUS`. So this module installs, once, a
//! `SIGBUS` handler that knows every part mapped here. A fault inside one
//! of them gets a page of zeros mapped over the missing one (the touch then
//! reads zeros and goes on) and marks the part as faulted; the read that
//! hashed the part checks the mark and the file's size and reports a
//! shorter source, which the upload turns into its "source changed" error.
//! A part that faults later, while being sent, sends zeros that no longer
//! match the SHA-1 in its `Digest` header; its retry reads again and finds
//! the file short. A fault anywhere else goes to the handler that was there
//! before (Rust's own, which reports stack overflows), or to the default
//! action, so nothing else changes.
//!
//! This is the crate's only `unsafe`: the mapping itself (the file may
//! change under it, which is the case handled above) and the signal
//! handler, which only loads atomics and calls `mmap`, which the kernel
//! runs as one system call and is safe in a handler on Linux.

#![allow(unsafe_code)]

use std::fs::File;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// How many parts can be mapped at once, across every upload of the
/// process; a part past that is read into a buffer instead.
const SLOTS: usize = 1024;
/// A slot being filled: not yet a range the handler may match.
const FILLING: usize = usize::MAX;

/// First address of each mapped part (0: a free slot).
static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
/// One past the last address of each mapped part.
static ENDS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
/// Pages of each part that faulted and were replaced by zeros.
static FAULTS: [AtomicU32; SLOTS] = [const { AtomicU32::new(0) }; SLOTS];
/// The page size, read before the handler is installed.
static PAGE: AtomicUsize = AtomicUsize::new(4096);
/// The handler that was installed before ours, or why ours is not.
static PREVIOUS: OnceLock<Option<libc::sigaction>> = OnceLock::new();

/// A part of a file mapped read-only, registered with the `SIGBUS` handler
/// until it is dropped (after the last `Bytes` made of it).
pub(super) struct MappedPart {
    map: memmap2::Mmap,
    slot: usize,
}

impl MappedPart {
    /// Maps `len` bytes of `file` at `start`, or `None` when it cannot be
    /// mapped safely (no handler, every slot taken, a file that cannot be
    /// mapped): the caller then reads the part into a buffer.
    pub(super) fn map(file: &File, start: u64, len: usize) -> Option<Self> {
        if len == 0 || !handler_installed() {
            return None;
        }
        let slot = (0..SLOTS).find(|&i| {
            STARTS[i]
                .compare_exchange(0, FILLING, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        // SAFETY: the mapping is read-only and shared with the file, which
        // another process may change under it. Changed bytes are caught by
        // the part's digest (the server refuses a part whose bytes do not
        // match it) and by the source check before the commit; a page that
        // vanished (SIGBUS) reads as zeros and is counted by the handler,
        // and the read checks the count and the file's size.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(start)
                .len(len)
                .populate()
                .map(file)
        };
        let Ok(map) = map else {
            STARTS[slot].store(0, Ordering::Release);
            return None;
        };
        let page = PAGE.load(Ordering::Relaxed);
        let first = map.as_ptr() as usize & !(page - 1);
        FAULTS[slot].store(0, Ordering::Relaxed);
        ENDS[slot].store(map.as_ptr() as usize + len, Ordering::Relaxed);
        STARTS[slot].store(first, Ordering::Release);
        Some(Self { map, slot })
    }

    /// Whether a page of this part vanished since it was mapped (the file
    /// was truncated): its bytes are then partly zeros, not the file's.
    pub(super) fn faulted(&self) -> bool {
        FAULTS[self.slot].load(Ordering::Acquire) > 0
    }
}

impl AsRef<[u8]> for MappedPart {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl Drop for MappedPart {
    fn drop(&mut self) {
        // Unregistered before `map` is unmapped (fields drop after this).
        STARTS[self.slot].store(0, Ordering::Release);
    }
}

/// Whether our `SIGBUS` handler is in place: installed on the first call,
/// and checked again on every later one, so that a handler installed over
/// ours by other code turns mapping off rather than letting a truncated
/// file end the process.
fn handler_installed() -> bool {
    let previous = PREVIOUS.get_or_init(install);
    if previous.is_none() {
        return false;
    }
    // SAFETY: a query (no new action) into a zeroed struct of ours.
    let mut now: libc::sigaction = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut now) } == 0;
    ok && now.sa_sigaction == on_sigbus as *const () as usize
}

/// Installs the handler; the action it replaced, or `None` when it could
/// not be installed.
fn install() -> Option<libc::sigaction> {
    // SAFETY: sysconf takes no pointers.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if let Ok(page) = usize::try_from(page) {
        if page.is_power_of_two() {
            PAGE.store(page, Ordering::Relaxed);
        }
    }
    // SAFETY: the action is fully initialised (zeroed, then its handler,
    // flags and an empty mask set); the old one is written into our struct.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        (libc::sigaction(libc::SIGBUS, &action, &mut old) == 0).then_some(old)
    }
}

/// The `SIGBUS` handler. Only atomics and system calls: no allocation, no
/// lock.
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo with SA_SIGINFO.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for slot in 0..SLOTS {
        let start = STARTS[slot].load(Ordering::Acquire);
        if start == 0 || start == FILLING || addr < start {
            continue;
        }
        if addr >= ENDS[slot].load(Ordering::Relaxed) {
            continue;
        }
        // SAFETY: the page lies inside a live mapping of ours (registered
        // until it is unmapped); replacing it with a private page of zeros
        // changes nothing else.
        let zeros = unsafe {
            libc::mmap(
                (addr & !(page - 1)) as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if zeros != libc::MAP_FAILED {
            FAULTS[slot].fetch_add(1, Ordering::AcqRel);
            return;
        }
        break;
    }
    previous_action(sig, info, ctx);
}

/// Hands a fault that is not ours to the action that was there before.
fn previous_action(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let Some(Some(old)) = PREVIOUS.get() else {
        return;
    };
    let handler = old.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Back to the default action: returning re-runs the faulting
        // instruction, which faults again and ends the process as it
        // would have without us.
        // SAFETY: a zeroed action is SIG_DFL with an empty mask.
        unsafe {
            let dfl: libc::sigaction = std::mem::zeroed();
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
        }
        return;
    }
    // SAFETY: `handler` is the address of the function the previous action
    // named, called with the signature its flags promise.
    unsafe {
        if old.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(handler);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
            f(sig);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mapped part whose file is truncated under it reads zeros past the
    /// new end and says it faulted; the process goes on. Without the
    /// handler this test dies of SIGBUS.
    #[test]
    fn a_part_truncated_under_its_mapping_reads_zeros_and_says_so() {
        let dir = std::env::temp_dir().join(format!("bc-mapped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("src.bin");
        let page = PAGE.load(Ordering::Relaxed).max(4096);
        let data: Vec<u8> = (0..8 * page).map(|i| (i % 251) as u8 + 1).collect();
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        let part = MappedPart::map(&file, page as u64, 6 * page).expect("mapped");
        assert_eq!(part.as_ref(), &data[page..7 * page]);
        assert!(!part.faulted());
        // Truncate to the middle of the part's third page.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len((3 * page + page / 2) as u64)
            .unwrap();
        let bytes = part.as_ref();
        assert!(bytes[3 * page..].iter().all(|&b| b == 0));
        assert!(part.faulted(), "the vanished pages were counted");
        assert_eq!(
            &bytes[..2 * page + page / 2],
            &data[page..3 * page + page / 2]
        );
        // Two parts at once each get their own slot, and free it when dropped.
        let other = MappedPart::map(&file, 0, page).expect("mapped");
        assert_ne!(other.slot, part.slot);
        assert!(!other.faulted());
        let slot = part.slot;
        drop(part);
        assert_eq!(STARTS[slot].load(Ordering::Acquire), 0);
        drop(other);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
