//! Parallelism that tunes itself: how many parts go at once, from what the
//! answers say about the link. Pure arithmetic on [`Signal`]s, with time as
//! an input; an [`crate::Upload`] with [`crate::UploadConfig::tuning`] feeds
//! its own, and a driver running many uploads (a job) feeds one shared
//! [`Tuner`] with the [`crate::Event::PartSignal`]s of all of them.
//!
//! # The rule
//!
//! Box's latency per part (a round trip and its processing) is hidden only by
//! parts in flight, and the number that fills a link is its bandwidth times a
//! part's time, over the part size: 10 to 20 parts of 8 MiB on a typical
//! line to Box, 2 or 3 on a slow office line. The tuner finds it from each
//! part's time, the way TCP Vegas finds a window from round trips:
//!
//! - `base` is the shortest time of a full-size part lately (the last 256),
//!   taken as the time of a part that waited for nothing but the link;
//! - a part that took `elapsed` with `n` parts in flight says that
//!   `n x base / elapsed` parts would just keep the link busy if parts never
//!   paused; they do (a part uses no bandwidth while Box processes it), so
//!   the tuner aims at twice that ([`HEADROOM`]), where a part waits about as
//!   long as it travels: the limit moves toward that aim by `1 / limit` of
//!   the way per answer, most of the way in one round of answers;
//! - at the start it grows by two parts per answer that waited for nothing
//!   (it triples each round) until one waited ([`QUEUED`]);
//! - `base` is only trusted once it was measured with at most a quarter of
//!   the limit in flight: otherwise (a start above what the link needs) the
//!   limit drops to a quarter for one round of answers to measure it again,
//!   two rounds after the start and then every half window of answers;
//! - a `429` halves the limit (to one at least) and holds it for the pause
//!   and as long again; a part that timed out takes a quarter off and holds
//!   it for [`TIMEOUT_HOLD`]; a `5xx` takes a quarter off;
//! - answers of parts sent while fewer than the limit were out (the reads
//!   were the bound) never raise it;
//! - the limit stays between [`Tuning::min`] and the cap: [`Tuning::max`],
//!   and the memory budget over the part size less the buffers the driver
//!   holds beyond the parts in flight ([`Tuning::reserved_buffers`]).
//!
//! Defaults and the reasoning behind them are on [`Tuning::default`].

use crate::Instant;
use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::time::Duration;

/// The share above "just keeps the link busy" that the tuner aims for.
pub const HEADROOM: f64 = 1.0;
/// At the start, an answer whose part waited longer than this share of its
/// time ends the fast growth.
pub const QUEUED: f64 = 0.2;
/// How many recent full-size parts `base` is the shortest of.
pub const BASE_WINDOW: usize = 256;
/// How long a timed-out part holds the limit down.
pub const TIMEOUT_HOLD: Duration = Duration::from_secs(60);
/// Part buffers a driver holds beyond the parts in flight (the next part
/// being read and the one being hashed): the memory budget pays for them too.
pub const DRIVER_BUFFERS: u64 = 2;

/// The bounds of self-tuning parallelism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Parts in flight at the start.
    pub start: NonZeroUsize,
    /// Never fewer, unless Box throttles (`429`) or parts time out.
    pub min: NonZeroUsize,
    /// Never more.
    pub max: NonZeroUsize,
    /// Bytes of part buffers at most: the limit stays at or below
    /// `memory / part_size - reserved_buffers` (one part at least).
    pub memory: Option<u64>,
    /// Part buffers the driver holds beyond the parts in flight, which the
    /// memory budget pays for too ([`DRIVER_BUFFERS`] for one upload).
    pub reserved_buffers: u64,
}

impl Default for Tuning {
    /// Start at 16, never below 4 or above 32, within 1 GiB of buffers.
    ///
    /// Box's edge takes 3 to 12 MB/s per connection and 50 to 125 MB/s in
    /// all from a well-connected site, with 0.1 to 1 s of processing per part:
    /// 10 to 20 parts of 8 MiB fill such a link, and as many of 32 MiB.
    /// Sixteen parts of 3 MB/s nearly fill a 50 MB/s line across an ocean
    /// before the first answer comes back (11 s for a part of 32 MiB), where
    /// 12 used 0.72 of it: through the server's link model a 1 GB upload took
    /// 23.5 s from 16 and 24.6 s from 12 (21.4 s at a fixed 32), and 250 MB
    /// took 6.4 s and 6.8 s (docs/performance.md). A higher start wins more
    /// on such links but lengthens every part of the first round on a slow
    /// one, where a part's whole attempt must end within its time limit
    /// (300 s). The floor of 4 is the fixed default of earlier versions, so
    /// no link gets fewer parts than before unless Box throttles. 1 GiB holds
    /// 30 parts of 32 MiB (files from 256 MiB to 4 GiB) and 14 of 64 MiB: on
    /// a 1 GB upload across the Atlantic, 512 MiB (14 parts) reached 0.69 of
    /// the best fixed setting and 2 GiB 0.92. It fits a CI runner of 4 GB.
    fn default() -> Self {
        Self {
            start: nz(16),
            min: nz(4),
            max: nz(32),
            memory: Some(1 << 30),
            reserved_buffers: DRIVER_BUFFERS,
        }
    }
}

const fn nz(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => NonZeroUsize::MIN,
    }
}

/// What one answer says about the link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// A part was stored.
    Delivered {
        /// Its size.
        bytes: u64,
        /// From its (last) attempt's start to the answer.
        elapsed: Duration,
        /// The most parts in flight at once while it was out, itself included.
        in_flight: usize,
        /// Whether the parts in flight reached the limit while it was out
        /// (if not, the reads were the bound, and its time says nothing
        /// about more parts).
        window_full: bool,
    },
    /// `429`: every request waits `pause`.
    Throttled {
        /// The wait before the next attempt.
        pause: Duration,
    },
    /// A part's attempt passed its time limit: no growth for a minute.
    TimedOut,
    /// A part met a `5xx`.
    ServerBusy,
}

/// Where the tuner stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Tripling each round until a part waits.
    Startup,
    /// Moving toward the aim, answer by answer.
    Steady,
    /// At a quarter of the limit for a round, to measure `base`; then back
    /// to `restore`.
    Probe { restore: f64, answers: usize },
}

/// Self-tuning parallelism: feed it [`Signal`]s, read [`Tuner::limit`].
#[derive(Debug, Clone)]
pub struct Tuner {
    cfg: Tuning,
    limit: f64,
    mode: Mode,
    /// The part size the memory cap is computed for (the largest seen).
    part_size: u64,
    /// Recent full-size parts: (elapsed, parts in flight when sent).
    recent: VecDeque<(Duration, usize)>,
    /// No growth before this instant (after a `429`).
    hold_until: Option<Instant>,
    /// Answers since the last probe or start.
    since_probe: usize,
    /// Probes so far.
    probes: u32,
}

impl Tuner {
    /// A tuner at `cfg.start` (within its bounds).
    pub fn new(cfg: Tuning) -> Self {
        let mut t = Self {
            cfg,
            limit: cfg.start.get() as f64,
            mode: Mode::Startup,
            part_size: 0,
            recent: VecDeque::with_capacity(BASE_WINDOW),
            hold_until: None,
            since_probe: 0,
            probes: 0,
        };
        t.clamp(cfg.min.get() as f64);
        t
    }

    /// Parts that may be in flight now.
    pub fn limit(&self) -> NonZeroUsize {
        nz(self.limit.floor() as usize)
    }

    /// The most parts it would ever allow, given the part size.
    pub fn cap(&self) -> NonZeroUsize {
        let mut cap = self.cfg.max.get() as u64;
        if let (Some(memory), true) = (self.cfg.memory, self.part_size > 0) {
            cap = cap.min((memory / self.part_size).saturating_sub(self.cfg.reserved_buffers));
        }
        nz(usize::try_from(cap).unwrap_or(usize::MAX))
    }

    /// The bounds it was made with.
    pub const fn tuning(&self) -> Tuning {
        self.cfg
    }

    /// The size of the parts it will see (the largest, when uploads of
    /// different part sizes share it): the memory budget's cap follows.
    pub fn set_part_size(&mut self, bytes: u64) {
        if bytes > self.part_size {
            self.part_size = bytes;
            self.recent.clear();
            self.clamp(self.cfg.min.get() as f64);
        }
    }

    /// Takes one answer's signal at `now`; returns whether the limit changed.
    pub fn observe(&mut self, now: Instant, signal: Signal) -> bool {
        let before = self.limit();
        match signal {
            Signal::Delivered {
                bytes,
                elapsed,
                in_flight,
                window_full,
            } => self.delivered(now, bytes, elapsed, in_flight, window_full),
            Signal::Throttled { pause } => {
                self.limit /= 2.0;
                self.mode = Mode::Steady;
                let hold = now.checked_add(pause.saturating_mul(2).max(Duration::from_secs(1)));
                self.hold(hold);
                self.clamp(1.0);
            }
            Signal::TimedOut => {
                self.limit *= 0.75;
                self.mode = Mode::Steady;
                self.hold(now.checked_add(TIMEOUT_HOLD));
                self.clamp(1.0);
            }
            Signal::ServerBusy => {
                self.limit *= 0.75;
                self.mode = Mode::Steady;
                let floor = self.floor(now);
                self.clamp(floor);
            }
        }
        self.limit() != before
    }

    fn delivered(
        &mut self,
        now: Instant,
        bytes: u64,
        elapsed: Duration,
        in_flight: usize,
        window_full: bool,
    ) {
        // The last part is shorter: its time is not a full part's.
        if bytes < self.part_size || elapsed.is_zero() {
            return;
        }
        self.set_part_size(bytes);
        if self.recent.len() == BASE_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back((elapsed, in_flight.max(1)));
        // The shortest, and of equal ones the one with the fewest parts out.
        let Some(&(base, base_in_flight)) = self.recent.iter().min() else {
            return;
        };
        let waited = 1.0 - base.as_secs_f64() / elapsed.as_secs_f64();
        let held = self.hold_until.is_some_and(|t| now < t);
        let floor = self.floor(now);
        self.since_probe += 1;
        match self.mode {
            Mode::Startup if waited < QUEUED => {
                if window_full && !held {
                    self.limit += 2.0;
                }
            }
            Mode::Startup => self.mode = Mode::Steady,
            Mode::Probe { restore, answers } => {
                // Answers of parts sent before the probe do not count.
                let probe = self.limit.floor() as usize;
                let answers = answers + usize::from(in_flight <= probe);
                if answers >= probe || self.since_probe > 2 * restore as usize {
                    self.limit = restore;
                    self.mode = Mode::Steady;
                    self.since_probe = 0;
                } else {
                    self.mode = Mode::Probe { restore, answers };
                }
                return;
            }
            Mode::Steady => {
                let mut aim = in_flight as f64 * (1.0 - waited) * (1.0 + HEADROOM);
                if !window_full || held {
                    aim = aim.min(self.limit);
                }
                self.limit += (aim - self.limit) / self.limit.max(1.0);
            }
        }
        self.clamp(floor);
        // `base` measured with more than a quarter of the limit out may
        // itself have waited: measure it again at a quarter.
        let quarter = (self.limit / 4.0).floor().max(floor);
        if self.mode == Mode::Steady
            && base_in_flight as f64 > quarter
            && quarter < self.limit.floor()
            && self.since_probe > self.probe_every()
        {
            self.mode = Mode::Probe {
                restore: self.limit,
                answers: 0,
            };
            self.limit = quarter;
            self.since_probe = 0;
            self.probes += 1;
        }
    }

    /// Answers between probes: two rounds before the first (the start is
    /// the likeliest to be wrong), then half the window of `base`.
    fn probe_every(&self) -> usize {
        if self.probes == 0 {
            2 * self.limit as usize
        } else {
            BASE_WINDOW / 2
        }
    }

    /// No growth before `until` (the later of it and any hold already on).
    fn hold(&mut self, until: Option<Instant>) {
        self.hold_until = match (self.hold_until, until) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// The least limit at `now`: one while a `429` or a timeout holds it,
    /// [`Tuning::min`] otherwise.
    fn floor(&self, now: Instant) -> f64 {
        if self.hold_until.is_some_and(|t| now < t) {
            1.0
        } else {
            self.cfg.min.get() as f64
        }
    }

    /// Keeps the limit within `[floor, cap]` (the cap wins).
    fn clamp(&mut self, floor: f64) {
        let cap = self.cap().get() as f64;
        self.limit = self.limit.max(floor.max(1.0)).min(cap);
    }
}
