//! When a drive backup writes a checkpoint.
//!
//! A checkpoint is a partial snapshot: it re-writes the whole item list (every record so far,
//! carried-over ones included), so its cost grows with the snapshot, not with what changed
//! since the last one. With a fixed item interval a first backup of N items would write N/k
//! checkpoints of up to N records each — quadratic (a 220,000-file run with `k = 500` wrote
//! 442 checkpoints, 13 GB for 282 MB of content). Here:
//!
//! * **Items**: a checkpoint is due after `max(min_items, growth_percent % of the items
//!   already committed)` delta events. The sizes of successive checkpoints then grow
//!   geometrically (×4/3 at 25 %), so a first backup of N items writes O(log N) checkpoints
//!   and about `N · 100 / growth_percent` records in all — linear in the drive.
//! * **Time**: a checkpoint is also due once `interval` has passed (restic: 5 minutes), but
//!   never sooner than `cost_factor` times the duration of the previous checkpoint, so on slow
//!   storage checkpoints take at most 1/`cost_factor` of the run's time.

use std::time::{Duration, Instant};

/// Checkpoint schedule of one drive run.
#[derive(Debug, Clone)]
pub(crate) struct Cadence {
    min_items: u64,
    growth_percent: u64,
    interval: Duration,
    cost_factor: u32,
    /// Delta events applied since the last checkpoint.
    since: u64,
    last: Instant,
    last_cost: Duration,
}

impl Cadence {
    /// A schedule starting now.
    pub(crate) fn new(min_items: u64, growth_percent: u64, interval: Duration) -> Self {
        Cadence {
            min_items: min_items.max(1),
            growth_percent,
            interval,
            cost_factor: 20,
            since: 0,
            last: Instant::now(),
            last_cost: Duration::ZERO,
        }
    }

    /// Counts one applied delta event.
    pub(crate) fn tick(&mut self) {
        self.since += 1;
    }

    /// Delta events a checkpoint waits for when `committed` items are already in the snapshot.
    pub(crate) fn item_interval(&self, committed: u64) -> u64 {
        self.min_items
            .max(committed.saturating_mul(self.growth_percent) / 100)
    }

    /// Whether a checkpoint is due, with `committed` items in the snapshot so far.
    pub(crate) fn due(&self, committed: u64, now: Instant) -> bool {
        if self.since == 0 {
            return false;
        }
        if self.since >= self.item_interval(committed) {
            return true;
        }
        let wait = self.interval.max(self.last_cost * self.cost_factor);
        now.saturating_duration_since(self.last) >= wait
    }

    /// Records a checkpoint that started at `started` and has just finished.
    pub(crate) fn written(&mut self, started: Instant) {
        let now = Instant::now();
        self.last_cost = now.saturating_duration_since(started);
        self.last = now;
        self.since = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulates a first backup of `n` items (one event each, no time trigger) and returns the
    /// item counts of the checkpoints written.
    fn checkpoints_for(n: u64, min: u64) -> Vec<u64> {
        let mut c = Cadence::new(min, 25, Duration::from_secs(3600));
        let now = Instant::now();
        let mut out = Vec::new();
        for done in 1..=n {
            c.tick();
            if c.due(done, now) {
                out.push(done);
                c.written(Instant::now());
            }
        }
        out
    }

    #[test]
    fn checkpoint_count_grows_logarithmically_and_total_cost_linearly() {
        let small = checkpoints_for(10_000, 500);
        let big = checkpoints_for(500_000, 500);
        // A fixed interval would give 20 and 1,000.
        assert!(small.len() <= 12, "{small:?}");
        assert!(big.len() <= 30, "{} checkpoints", big.len());
        // 50× the items costs a bounded number of extra checkpoints (log_4/3 50 ≈ 13.6).
        assert!(big.len() - small.len() <= 15);
        // Records written by all checkpoints together: about 4× the drive, not N²/k.
        let total: u64 = big.iter().sum();
        assert!(total <= 5 * 500_000 + 4 * 2000, "{total}");
    }

    #[test]
    fn small_drives_keep_the_configured_interval() {
        // At 100 items the interval is already 25.
        assert_eq!(checkpoints_for(100, 20), vec![20, 40, 60, 80]);
        assert_eq!(checkpoints_for(2000, 500), vec![500, 1000, 1500, 2000]);
    }

    #[test]
    fn time_trigger_waits_for_the_interval_and_for_slow_checkpoints() {
        let start = Instant::now();
        let mut c = Cadence::new(1_000_000, 25, Duration::from_secs(300));
        assert!(
            !c.due(0, start + Duration::from_secs(400)),
            "nothing to save"
        );
        c.tick();
        assert!(!c.due(1, start + Duration::from_secs(299)));
        assert!(c.due(1, start + Duration::from_secs(301)));
        // A checkpoint that took 60 s: the next one waits 20 × 60 s, not 300 s.
        c.last_cost = Duration::from_secs(60);
        c.last = start;
        assert!(!c.due(1, start + Duration::from_secs(1199)));
        assert!(c.due(1, start + Duration::from_secs(1200)));
    }
}
