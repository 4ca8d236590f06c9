//! Replaceable time source: every wait and every window in this crate goes through a [`Clock`],
//! so limiters, token expiry and backoff can be tested without waiting.

use parking_lot::Mutex;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A boxed `sleep` future.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Monotonic time, wall-clock time and sleeping.
pub trait Clock: Send + Sync + Debug {
    /// Monotonic time since an arbitrary origin fixed for the clock's life.
    fn now(&self) -> Duration;
    /// Wall-clock time (for HTTP dates, token issue times).
    fn wall(&self) -> SystemTime;
    /// Waits `duration`.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The real clock (tokio timers).
#[derive(Debug, Clone)]
pub struct SystemClock {
    origin: tokio::time::Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A manual clock for tests: `sleep` advances the clock by the requested amount at once
/// (and yields), so code that waits for a window to pass runs instantly and deterministically.
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<Mutex<(Duration, SystemTime)>>,
    slept: Arc<Mutex<Vec<Duration>>>,
}

impl ManualClock {
    /// A clock at monotonic 0 and the given wall time.
    pub fn new(wall: SystemTime) -> Self {
        Self {
            state: Arc::new(Mutex::new((Duration::ZERO, wall))),
            slept: Arc::default(),
        }
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        let mut s = self.state.lock();
        s.0 += by;
        s.1 += by;
    }

    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.slept.lock().clone()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.state.lock().0
    }
    fn wall(&self) -> SystemTime {
        self.state.lock().1
    }
    fn sleep(&self, duration: Duration) -> Sleep {
        self.slept.lock().push(duration);
        self.advance(duration);
        Box::pin(tokio::task::yield_now())
    }
}
