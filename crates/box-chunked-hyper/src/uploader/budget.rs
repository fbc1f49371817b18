//! A budget of parts in flight shared by several uploads (a job's files):
//! fixed, or tuned by one [`Tuner`] that every upload's answers feed, so that
//! files uploaded together tune one limit for the link they share.

use box_chunked_core::tune::{Signal, Tuner, Tuning};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Parts in flight across the uploads that hold it: each part waits for a
/// place. Made by [`PartBudget::fixed`] or [`PartBudget::tuned`] and given
/// to each upload with [`crate::Uploader::part_budget`].
#[derive(Debug)]
pub struct PartBudget {
    places: Arc<Semaphore>,
    /// The limit the places add up to (some may be in use).
    limit: AtomicUsize,
    tuner: Option<Mutex<Tuner>>,
    /// Uploads at once: each one's window is its share of the limit.
    uploads: usize,
}

impl PartBudget {
    /// `parts` places, for good.
    pub fn fixed(parts: usize, uploads: usize) -> Arc<Self> {
        let parts = parts.max(1);
        Arc::new(Self {
            places: Arc::new(Semaphore::new(parts)),
            limit: AtomicUsize::new(parts),
            tuner: None,
            uploads: uploads.max(1),
        })
    }

    /// Places that one tuner sets, fed by the answers of every upload that
    /// holds the budget. The memory budget also pays for the buffers each
    /// of `uploads` uploads holds beyond its parts in flight (three: its
    /// next read, the part being hashed, and the share's rounding).
    pub fn tuned(mut tuning: Tuning, uploads: usize) -> Arc<Self> {
        let uploads = uploads.max(1);
        tuning.reserved_buffers = 3 * uploads as u64;
        let tuner = Tuner::new(tuning);
        let parts = tuner.limit().get();
        Arc::new(Self {
            places: Arc::new(Semaphore::new(parts)),
            limit: AtomicUsize::new(parts),
            tuner: Some(Mutex::new(tuner)),
            uploads,
        })
    }

    /// Parts in flight allowed now, across all uploads.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// One upload's window: its share of the limit, plus one so that an
    /// upload alone keeps the budget busy.
    pub fn share(&self) -> usize {
        (self.limit() / self.uploads + 1).min(self.limit())
    }

    /// Waits for a place for one part.
    pub(crate) async fn place(self: &Arc<Self>) -> Option<OwnedSemaphorePermit> {
        self.places.clone().acquire_owned().await.ok()
    }

    /// The largest part size of the uploads sharing it (the memory cap).
    pub(crate) fn part_size(&self, bytes: u64) {
        if let Some(t) = &self.tuner {
            let Ok(mut t) = t.lock() else { return };
            t.set_part_size(bytes);
            self.follow(t.limit().get());
        }
    }

    /// Takes one upload's signal; the places follow the tuner's limit.
    pub(crate) fn observe(&self, now: std::time::Instant, signal: Signal) {
        if let Some(t) = &self.tuner {
            let Ok(mut t) = t.lock() else { return };
            t.observe(now, signal);
            self.follow(t.limit().get());
        }
    }

    /// More places at once; fewer as parts in flight give theirs back.
    fn follow(&self, limit: usize) {
        let old = self.limit.swap(limit, Ordering::Relaxed);
        if limit > old {
            self.places.add_permits(limit - old);
        } else if limit < old {
            let places = self.places.clone();
            let fewer = u32::try_from(old - limit).unwrap_or(u32::MAX);
            let take = async move {
                if let Ok(p) = places.acquire_many_owned(fewer).await {
                    p.forget();
                }
            };
            if let Ok(h) = tokio::runtime::Handle::try_current() {
                drop(h.spawn(take));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn quick(in_flight: usize) -> Signal {
        Signal::Delivered {
            bytes: 8 << 20,
            elapsed: Duration::from_millis(500),
            in_flight,
            window_full: true,
        }
    }

    /// Two uploads feed one tuner: the places and each upload's share
    /// follow its limit, up and down.
    #[tokio::test]
    async fn uploads_sharing_a_tuned_budget_follow_one_limit() {
        let b = PartBudget::tuned(Tuning::default(), 2);
        b.part_size(8 << 20);
        assert_eq!((b.limit(), b.share()), (16, 9));
        let now = Instant::now();
        for _ in 0..4 {
            b.observe(now, quick(12));
        }
        assert_eq!(
            b.limit(),
            24,
            "two more parts per quick answer at the start"
        );
        assert_eq!(b.share(), 13);
        assert_eq!(b.places.available_permits(), 24);
        // All places taken, then a 429: the limit halves, and the places
        // shrink as the parts out give theirs back.
        let mut taken = Vec::new();
        for _ in 0..24 {
            taken.push(b.place().await);
        }
        b.observe(
            now,
            Signal::Throttled {
                pause: Duration::from_secs(1),
            },
        );
        assert_eq!(b.limit(), 12);
        drop(taken);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(b.places.available_permits(), 12);
    }

    /// The memory budget pays for three buffers per upload beyond the
    /// parts in flight.
    #[test]
    fn a_job_s_memory_cap_counts_every_upload_s_buffers() {
        let tuning = Tuning {
            memory: Some(64 << 20),
            ..Tuning::default()
        };
        let b = PartBudget::tuned(tuning, 2);
        b.part_size(4 << 20);
        assert_eq!(
            b.limit(),
            10,
            "16 buffers of 4 MiB, 6 of them the uploads' own"
        );
    }
}
