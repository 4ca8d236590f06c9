//! The simulated clock. Every date the emulator serves or compares comes from here, so tests can
//! advance time (`POST /_emulator/clock/advance`) instead of waiting.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// Simulated time = wall time at start + real elapsed time + manual advances.
#[derive(Debug)]
pub struct SimClock {
    start_wall: DateTime<Utc>,
    start: Instant,
    advanced: Mutex<ChronoDuration>,
}

impl SimClock {
    /// A clock starting at `start_wall`.
    pub fn new(start_wall: DateTime<Utc>) -> Self {
        Self {
            start_wall,
            start: Instant::now(),
            advanced: Mutex::new(ChronoDuration::zero()),
        }
    }

    /// Current simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = ChronoDuration::from_std(self.start.elapsed()).unwrap_or_default();
        self.start_wall + elapsed + *self.advanced.lock()
    }

    /// Move simulated time forward.
    pub fn advance(&self, by: Duration) {
        let by = ChronoDuration::from_std(by).unwrap_or_default();
        *self.advanced.lock() += by;
    }

    /// Total manual advance so far.
    pub fn advanced(&self) -> Duration {
        self.advanced.lock().to_std().unwrap_or_default()
    }
}

/// ISO-8601 as Graph writes it: `2026-01-02T03:04:05Z`.
pub fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now_forward() {
        let c = SimClock::new(Utc::now());
        let before = c.now();
        c.advance(Duration::from_secs(86_400));
        let after = c.now();
        assert!(after - before >= ChronoDuration::seconds(86_400));
        assert!(after - before < ChronoDuration::seconds(86_460));
    }
}
