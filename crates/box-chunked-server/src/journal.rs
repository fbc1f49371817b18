//! The request journal: the last requests the server answered, newest
//! last, for tests to assert on ("no part was sent twice", "the plan came
//! before the parts"). An entry holds what was asked and answered: method,
//! path (no query), user, status, Box's error code, bytes declared,
//! duration and request id; never a token, a secret or a body.

use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;

/// One request, as the journal keeps it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Entry {
    /// When it arrived, Unix milliseconds on the server's clock.
    pub(crate) at_ms: u64,
    pub(crate) method: String,
    /// The path, without the query.
    pub(crate) path: String,
    /// The user it acted as, once it was signed in.
    pub(crate) user: Option<String>,
    pub(crate) status: u16,
    /// Box's error code of a refusal.
    pub(crate) code: Option<String>,
    /// The body's declared size (`Content-Length`).
    pub(crate) bytes: Option<u64>,
    pub(crate) ms: u64,
    pub(crate) request_id: String,
}

/// What to select.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    pub(crate) user: Option<String>,
    pub(crate) path_prefix: Option<String>,
    /// Arrived at or after this Unix millisecond.
    pub(crate) since_ms: Option<u64>,
    /// At most this many, the newest.
    pub(crate) limit: Option<usize>,
}

/// The last `capacity` requests.
#[derive(Debug)]
pub(crate) struct Journal {
    entries: Mutex<VecDeque<Entry>>,
    capacity: usize,
}

impl Journal {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `e`, dropping the oldest beyond the capacity.
    pub(crate) fn record(&self, e: Entry) {
        if self.capacity == 0 {
            return;
        }
        let mut q = self.lock();
        if q.len() == self.capacity {
            q.pop_front();
        }
        q.push_back(e);
    }

    /// The entries `f` selects, oldest first.
    pub(crate) fn select(&self, f: &Filter) -> Vec<Entry> {
        let q = self.lock();
        let mut out: Vec<Entry> = q
            .iter()
            .filter(|e| f.user.as_ref().is_none_or(|u| e.user.as_ref() == Some(u)))
            .filter(|e| {
                f.path_prefix
                    .as_ref()
                    .is_none_or(|p| e.path.starts_with(p.as_str()))
            })
            .filter(|e| f.since_ms.is_none_or(|s| e.at_ms >= s))
            .cloned()
            .collect();
        if let Some(n) = f.limit {
            let skip = out.len().saturating_sub(n);
            out.drain(..skip);
        }
        out
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }
}
