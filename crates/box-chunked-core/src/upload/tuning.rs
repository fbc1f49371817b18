//! The upload's side of self-tuning parallelism: the limit the window uses,
//! what each part's attempt saw while out, and the [`Signal`]s its answers
//! give, to its own [`crate::tune::Tuner`] and as events for a shared one.
//! What the signals mean for the limit is [`crate::tune`]'s alone.

use super::Upload;
use crate::event::Event;
use crate::io::Output;
use crate::tune::Signal;

impl Upload {
    /// Parts that may be in flight now.
    pub(super) fn limit(&self) -> usize {
        self.tuner
            .as_ref()
            .map_or(self.cfg.parallelism, |t| t.limit())
            .get()
    }

    /// The session's part size: the memory budget's cap follows.
    pub(super) fn tune_part_size(&mut self, bytes: u64) {
        let before = self.limit();
        if let Some(t) = &mut self.tuner {
            t.set_part_size(bytes);
        }
        self.announce_limit(before);
    }

    /// After a send: every attempt out sees how many are out now.
    pub(super) fn note_flights(&mut self) {
        let out = self.parts.values().filter(|p| p.in_flight()).count();
        let full = out >= self.limit();
        for p in self.parts.values_mut() {
            p.saw(out, full);
        }
    }

    /// Part `index` was stored by its attempt out: what that attempt says.
    pub(super) fn part_delivered(&mut self, index: u64) {
        let Some(p) = self.parts.get(&index) else {
            return;
        };
        let Some(f) = p.payload().and_then(|p| p.flight) else {
            return;
        };
        self.signal(Signal::Delivered {
            bytes: p.range.len,
            elapsed: self.now.saturating_duration_since(f.at),
            in_flight: f.peak.max(1),
            window_full: f.full,
        });
    }

    /// One signal: an event for a shared tuner, and this upload's own.
    pub(super) fn signal(&mut self, s: Signal) {
        self.out.push_back(Output::Event(Event::PartSignal(s)));
        let before = self.limit();
        if let Some(t) = &mut self.tuner {
            t.observe(self.now, s);
        }
        self.announce_limit(before);
    }

    fn announce_limit(&mut self, before: usize) {
        let parts = self.limit();
        if parts != before {
            self.out
                .push_back(Output::Event(Event::ParallelismChanged { parts }));
        }
    }
}
