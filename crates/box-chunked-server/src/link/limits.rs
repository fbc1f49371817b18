//! The link model at run time: the server's shared paces, each user's
//! request budgets (token buckets refilled at the per-minute limits, so a
//! burst up to the limit passes and the rest waits for its `Retry-After`),
//! and the delays (round trip, part processing, new connections), each
//! varied by the jitter from a seeded generator.

use super::shape::{Direction, Shared};
use super::{LinkModel, PartsCount};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What a request is, for the per-user limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Any request to the API root.
    Api,
    /// A request to the upload root other than a part.
    Upload,
    /// A part upload.
    Part,
}

/// A per-minute budget.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    per_minute: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_minute: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(per_minute),
            per_minute: f64::from(per_minute),
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let secs = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + secs * self.per_minute / 60.0).min(self.per_minute);
        self.at = now;
    }

    /// How long until one request fits.
    fn wait(&self) -> Duration {
        let short = (1.0 - self.tokens).max(0.0);
        Duration::from_secs_f64(short * 60.0 / self.per_minute)
    }
}

/// One user's budgets: the general one and the upload one.
#[derive(Debug)]
struct Budgets {
    api: Option<Bucket>,
    uploads: Option<Bucket>,
}

/// The link model in force.
#[derive(Debug)]
pub(crate) struct Link {
    model: LinkModel,
    up: Option<Arc<Mutex<Shared>>>,
    down: Option<Arc<Mutex<Shared>>>,
    users: Mutex<HashMap<String, Budgets>>,
    rng: Mutex<u64>,
}

impl Link {
    /// The run-time state of `model`, or `None` when it changes nothing.
    pub(crate) fn new(model: &LinkModel) -> Option<Self> {
        let shared = || model.total_rate.map(Shared::new);
        model.is_active().then(|| Self {
            up: shared(),
            down: shared(),
            model: model.clone(),
            users: Mutex::default(),
            // xorshift needs a non-zero state.
            rng: Mutex::new(model.seed ^ 0x9e37_79b9_7f4a_7c15),
        })
    }

    /// A new connection's two directions, when any bandwidth is limited.
    pub(crate) fn directions(&self) -> Option<(Direction, Direction)> {
        (self.model.conn_rate.is_some() || self.model.total_rate.is_some()).then(|| {
            (
                Direction::new(self.model.conn_rate, self.up.clone()),
                Direction::new(self.model.conn_rate, self.down.clone()),
            )
        })
    }

    /// `d`, varied uniformly by up to the jitter.
    fn jittered(&self, d: Duration) -> Duration {
        if d.is_zero() || self.model.jitter == 0.0 {
            return d;
        }
        let mut x = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        let unit = (*x >> 11) as f64 / (1u64 << 53) as f64;
        d.mul_f64(1.0 + self.model.jitter * (2.0 * unit - 1.0))
    }

    /// Before a request's answer: one round trip.
    pub(crate) async fn answer_delay(&self) {
        sleep(self.jittered(self.model.rtt)).await;
    }

    /// Before a part upload's answer: the service's processing.
    pub(crate) async fn part_delay(&self) {
        sleep(self.jittered(self.model.part_time)).await;
    }

    /// Before a new connection's first request: its handshake's round trips.
    pub(crate) async fn connection_delay(&self, tls: bool) {
        let trips = if tls { 2 } else { 1 };
        sleep(self.jittered(self.model.rtt * trips)).await;
    }

    /// Whether `user` may make a request of `class` now: `Err` with the wait
    /// (for `Retry-After`) when a budget is spent, and nothing is taken.
    pub(crate) fn admit(&self, user: &str, class: Class, now: Instant) -> Result<(), Duration> {
        let m = &self.model;
        let (api, upload) = match (class, m.parts) {
            (Class::Api, _) | (Class::Part, PartsCount::Api) => (true, false),
            (Class::Upload, _) | (Class::Part, PartsCount::Upload) => (true, true),
            (Class::Part, PartsCount::Free) => (false, false),
        };
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        let b = users.entry(user.to_owned()).or_insert_with(|| Budgets {
            api: m.api_per_minute.map(|n| Bucket::new(n, now)),
            uploads: m.uploads_per_minute.map(|n| Bucket::new(n, now)),
        });
        let mut used: Vec<&mut Bucket> = Vec::new();
        if let (true, Some(a)) = (api, b.api.as_mut()) {
            used.push(a);
        }
        if let (true, Some(u)) = (upload, b.uploads.as_mut()) {
            used.push(u);
        }
        let mut wait = Duration::ZERO;
        for bucket in &mut used {
            bucket.refill(now);
            wait = wait.max(bucket.wait());
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        for bucket in used {
            bucket.tokens -= 1.0;
        }
        Ok(())
    }
}

async fn sleep(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_lets_a_burst_through_then_says_how_long_to_wait() {
        let m = LinkModel::parse("api=60,uploads=2,parts=upload").unwrap();
        let link = Link::new(&m).unwrap();
        let t0 = Instant::now();
        // Two uploads, then the upload budget is spent for a second each.
        assert!(link.admit("alice", Class::Upload, t0).is_ok());
        assert!(link.admit("alice", Class::Part, t0).is_ok());
        let wait = link.admit("alice", Class::Part, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(30));
        // Another user has budgets of their own; API requests still pass.
        assert!(link.admit("bob", Class::Upload, t0).is_ok());
        assert!(link.admit("alice", Class::Api, t0).is_ok());
        // Half a minute later one upload fits again.
        assert!(link
            .admit("alice", Class::Part, t0 + Duration::from_secs(30))
            .is_ok());
    }

    #[test]
    fn free_parts_count_toward_nothing_and_jitter_stays_in_its_band() {
        let m = LinkModel::parse("api=1,parts=free,rtt=100ms,jitter=0.5,seed=3").unwrap();
        let link = Link::new(&m).unwrap();
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(link.admit("alice", Class::Part, t0).is_ok());
        }
        assert!(link.admit("alice", Class::Api, t0).is_ok());
        assert!(link.admit("alice", Class::Api, t0).is_err());
        let delays: Vec<Duration> = (0..1000).map(|_| link.jittered(m.rtt)).collect();
        assert!(delays.iter().all(|d| (50..=150).contains(&d.as_millis())));
        assert!(
            delays.iter().any(|d| d.as_millis() < 60) && delays.iter().any(|d| d.as_millis() > 140)
        );
    }
}
