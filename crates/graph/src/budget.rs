//! Client-side budgets: a tenant-wide concurrency limit, Exchange's per-mailbox limits
//! (concurrency + requests per sliding window), SharePoint resource units per window, and a
//! pause set by `Retry-After`/`RateLimit-*` so one throttled owner slows down as a whole.

use crate::clock::Clock;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Counts cost in a sliding window, in buckets so memory stays small whatever the limit.
/// Conservative: a bucket counts until its *end* has left the window, so the real
/// number of requests in any window never exceeds the limit.
#[derive(Debug)]
pub(crate) struct SlidingWindow {
    window: Duration,
    bucket: Duration,
    limit: u64,
    buckets: VecDeque<(Duration, u64)>,
    total: u64,
}

impl SlidingWindow {
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        let bucket = (window / 60).max(Duration::from_millis(1));
        Self {
            window,
            bucket,
            limit: u64::from(limit.max(1)),
            buckets: VecDeque::new(),
            total: 0,
        }
    }

    fn expire(&mut self, now: Duration) {
        while let Some(&(start, n)) = self.buckets.front() {
            if start + self.bucket + self.window <= now {
                self.buckets.pop_front();
                self.total -= n;
            } else {
                break;
            }
        }
    }

    /// Records `cost` at `now` if it fits; otherwise says how long to wait before trying again.
    pub(crate) fn try_take(&mut self, now: Duration, cost: u64) -> Result<(), Duration> {
        self.expire(now);
        let cost = cost.min(self.limit);
        if self.total + cost <= self.limit {
            let start =
                now - Duration::from_nanos((now.as_nanos() % self.bucket.as_nanos()) as u64);
            match self.buckets.back_mut() {
                Some((s, n)) if *s == start => *n += cost,
                _ => self.buckets.push_back((start, cost)),
            }
            self.total += cost;
            return Ok(());
        }
        // Wait until enough old buckets have left the window.
        let mut freed = 0;
        for &(start, n) in &self.buckets {
            freed += n;
            if self.total - freed + cost <= self.limit {
                return Err((start + self.bucket + self.window)
                    .saturating_sub(now)
                    .max(Duration::from_millis(1)));
            }
        }
        Err(self.window)
    }

    #[cfg(test)]
    pub(crate) fn used(&self) -> u64 {
        self.total
    }
}

/// A limiter for one owner (a mailbox, or the tenant's SharePoint budget): optional
/// concurrency, a sliding window of cost, and a "paused until" set by throttling answers.
#[derive(Debug)]
pub(crate) struct Limiter {
    concurrency: Option<Arc<Semaphore>>,
    window: Mutex<SlidingWindow>,
    paused_until: Mutex<Duration>,
}

impl Limiter {
    pub(crate) fn new(concurrency: Option<usize>, limit: u32, window: Duration) -> Self {
        Self {
            concurrency: concurrency.map(|n| Arc::new(Semaphore::new(n))),
            window: Mutex::new(SlidingWindow::new(limit, window)),
            paused_until: Mutex::new(Duration::ZERO),
        }
    }

    /// Waits for a concurrency slot, for any pause, and for room in the window.
    pub(crate) async fn acquire(
        &self,
        clock: &dyn Clock,
        cost: u64,
    ) -> Option<OwnedSemaphorePermit> {
        let permit = match &self.concurrency {
            Some(s) => Some(
                s.clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore never closed"),
            ),
            None => None,
        };
        loop {
            let now = clock.now();
            let paused = *self.paused_until.lock();
            if paused > now {
                clock.sleep(paused - now).await;
                continue;
            }
            let r = self.window.lock().try_take(now, cost);
            match r {
                Ok(()) => return permit,
                Err(wait) => {
                    tracing::debug!(?wait, "client-side budget full, waiting");
                    clock.sleep(wait).await;
                }
            }
        }
    }

    /// Holds every request of this owner until `now + d` (from a 429's `Retry-After`).
    pub(crate) fn pause_for(&self, clock: &dyn Clock, d: Duration) {
        let until = clock.now() + d;
        let mut p = self.paused_until.lock();
        if until > *p {
            *p = until;
        }
    }
}

/// The shared budgets of one client.
#[derive(Debug)]
pub(crate) struct Budgets {
    pub(crate) tenant: Arc<Semaphore>,
    /// Pause for requests that are not mailbox-scoped (generic throttling, RateLimit-*).
    pub(crate) tenant_pause: Limiter,
    pub(crate) sharepoint: Limiter,
    mailboxes: Mutex<HashMap<String, Arc<Limiter>>>,
    mailbox_concurrency: usize,
    mailbox_limit: u32,
    mailbox_window: Duration,
}

impl Budgets {
    pub(crate) fn new(limits: &crate::config::Limits) -> Self {
        Self {
            tenant: Arc::new(Semaphore::new(limits.tenant_concurrency)),
            tenant_pause: Limiter::new(None, u32::MAX, Duration::from_secs(1)),
            sharepoint: Limiter::new(
                None,
                limits.resource_units_per_window,
                limits.resource_unit_window,
            ),
            mailboxes: Mutex::new(HashMap::new()),
            mailbox_concurrency: limits.mailbox_concurrency,
            mailbox_limit: limits.mailbox_requests_per_window,
            mailbox_window: limits.mailbox_window,
        }
    }

    /// The limiter of one mailbox (created on first use; keys compare case-insensitively,
    /// since Graph accepts ids and UPNs in any case).
    pub(crate) fn mailbox(&self, key: &str) -> Arc<Limiter> {
        let key = key.to_ascii_lowercase();
        self.mailboxes
            .lock()
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Limiter::new(
                    Some(self.mailbox_concurrency),
                    self.mailbox_limit,
                    self.mailbox_window,
                ))
            })
            .clone()
    }
}

/// SharePoint/OneDrive resource-unit cost of a request, after Microsoft's table:
/// 1 = single item GET, delta with a token, download; 2 = collections, delta without token,
/// writes; 5 = permission operations.
pub(crate) fn resource_unit_cost(method: &reqwest::Method, url: &str) -> u64 {
    let lower = url.to_ascii_lowercase();
    let path = lower.split('?').next().unwrap_or("");
    if path.contains("/permissions") || lower.contains("expand=permissions") {
        return 5;
    }
    if method != reqwest::Method::GET {
        return 2;
    }
    if path.contains("delta") {
        let with_token =
            lower.contains("token=") || lower.contains("token%3d") || lower.contains("(token");
        return if with_token { 1 } else { 2 };
    }
    if path.ends_with("/content") || path.ends_with("/$value") {
        return 1;
    }
    let collection_suffixes = [
        "/children",
        "/drives",
        "/lists",
        "/items",
        "/versions",
        "/sites",
        "/getallsites",
    ];
    if collection_suffixes.iter().any(|s| path.ends_with(s)) || lower.contains("$skiptoken") {
        return 2;
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::time::SystemTime;

    #[test]
    fn window_admits_up_to_limit_then_waits_for_the_oldest_bucket() {
        let w_len = Duration::from_secs(600);
        let mut w = SlidingWindow::new(10, w_len);
        let t0 = Duration::from_secs(1000);
        for i in 0..10 {
            w.try_take(t0 + Duration::from_secs(i), 1).unwrap();
        }
        assert_eq!(w.used(), 10);
        let wait = w.try_take(t0 + Duration::from_secs(20), 1).unwrap_err();
        // The first bucket (10 s long at 600 s / 60) started at t0 and leaves the window at
        // t0 + 10 + 600; from t0 + 20 that is 590 s.
        assert_eq!(wait, Duration::from_secs(590));
        // Still full just before, free after.
        assert!(w.try_take(t0 + Duration::from_secs(609), 1).is_err());
        w.try_take(t0 + Duration::from_secs(610), 1).unwrap();
    }

    #[test]
    fn window_never_exceeds_limit_in_any_real_window() {
        // Model check: take greedily at 1 ms steps for a while, then verify that every
        // 600-unit interval of real request times holds at most `limit` requests.
        let mut w = SlidingWindow::new(50, Duration::from_millis(600));
        let mut times = Vec::new();
        let mut now = Duration::ZERO;
        while now < Duration::from_millis(5000) {
            match w.try_take(now, 1) {
                Ok(()) => times.push(now),
                Err(wait) => now += wait,
            }
            now += Duration::from_millis(1);
        }
        assert!(
            times.len() > 300,
            "limiter too conservative: {}",
            times.len()
        );
        for (i, &t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|&&u| u < t + Duration::from_millis(600))
                .count();
            assert!(
                in_window <= 50,
                "{in_window} requests in a window starting at {t:?}"
            );
        }
    }

    #[test]
    fn weighted_costs_count() {
        let mut w = SlidingWindow::new(10, Duration::from_secs(60));
        w.try_take(Duration::ZERO, 5).unwrap();
        w.try_take(Duration::ZERO, 5).unwrap();
        assert!(w.try_take(Duration::ZERO, 1).is_err());
    }

    #[tokio::test]
    async fn limiter_waits_on_the_fake_clock_and_honours_pauses() {
        let clock = ManualClock::new(SystemTime::UNIX_EPOCH);
        let l = Limiter::new(Some(4), 3, Duration::from_secs(600));
        for _ in 0..3 {
            drop(l.acquire(&clock, 1).await);
        }
        assert!(clock.sleeps().is_empty());
        drop(l.acquire(&clock, 1).await);
        let slept: Duration = clock.sleeps().iter().sum();
        assert!(
            slept >= Duration::from_secs(600) && slept <= Duration::from_secs(611),
            "{slept:?}"
        );
        l.pause_for(&clock, Duration::from_secs(30));
        let before = clock.now();
        drop(l.acquire(&clock, 1).await);
        assert!(clock.now() - before >= Duration::from_secs(30));
    }

    #[tokio::test]
    async fn mailbox_concurrency_is_four() {
        let limits = crate::config::Limits::default();
        let b = Budgets::new(&limits);
        let clock = ManualClock::new(SystemTime::UNIX_EPOCH);
        let mbx = b.mailbox("User@Contoso.com");
        assert!(Arc::ptr_eq(&mbx, &b.mailbox("user@contoso.com")));
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(mbx.acquire(&clock, 1).await);
        }
        let fifth = tokio::time::timeout(Duration::from_millis(50), mbx.acquire(&clock, 1)).await;
        assert!(fifth.is_err(), "a fifth concurrent request must wait");
        held.pop();
        let fifth = tokio::time::timeout(Duration::from_millis(50), mbx.acquire(&clock, 1)).await;
        assert!(fifth.is_ok());
    }

    #[test]
    fn resource_unit_costs() {
        use reqwest::Method;
        let g = Method::GET;
        assert_eq!(
            resource_unit_cost(&g, "https://g/v1.0/drives/b!1/items/x"),
            1
        );
        assert_eq!(
            resource_unit_cost(&g, "https://g/v1.0/drives/b!1/items/x/children"),
            2
        );
        assert_eq!(
            resource_unit_cost(&g, "https://g/v1.0/drives/b!1/root/delta"),
            2
        );
        assert_eq!(
            resource_unit_cost(&g, "https://g/v1.0/drives/b!1/root/delta?token=abc"),
            1
        );
        assert_eq!(
            resource_unit_cost(&g, "https://g/v1.0/drives/b!1/items/x/content"),
            1
        );
        assert_eq!(
            resource_unit_cost(&Method::PUT, "https://g/v1.0/drives/b!1/items/x/content"),
            2
        );
        assert_eq!(
            resource_unit_cost(&g, "https://g/v1.0/drives/b!1/items/x/permissions"),
            5
        );
    }
}
