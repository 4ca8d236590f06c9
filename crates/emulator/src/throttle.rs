//! Throttling as Graph documents it: Outlook limits per app per mailbox (4 concurrent requests,
//! 10,000 requests per 10 minutes) and SharePoint/OneDrive resource units per app per minute.
//! Windows run `time_scale` times faster than real time so tests can cross them quickly.

use crate::config::ThrottleConfig;
use crate::error::GraphError;
use axum::http::{HeaderName, StatusCode};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Cell {
    inflight: u32,
    window_start: Option<Instant>,
    count: u32,
}

/// Counter of SharePoint resource units in the current minute.
#[derive(Debug, Default)]
struct RuCell {
    window_start: Option<Instant>,
    used: u32,
}

/// The throttling engine (one per emulator).
#[derive(Debug)]
pub struct Throttler {
    config: RwLock<ThrottleConfig>,
    mailbox: Mutex<HashMap<(String, String), Cell>>,
    sharepoint: Mutex<HashMap<String, RuCell>>,
    throttled_count: AtomicU64,
    /// SharePoint throttle answers so far (drives the seeded 429/503 choice).
    sharepoint_throttled: AtomicU64,
    seed: u64,
}

/// Held while an Outlook request runs; frees the concurrency slot on drop.
#[derive(Debug)]
pub struct Permit {
    throttler: Option<(Arc<Throttler>, (String, String))>,
    /// `RateLimit-*` headers to add to the response (from 80% use).
    pub rate_headers: Vec<(HeaderName, String)>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some((t, key)) = self.throttler.take()
            && let Some(c) = t.mailbox.lock().get_mut(&key)
        {
            c.inflight = c.inflight.saturating_sub(1);
        }
    }
}

impl Throttler {
    /// New engine (seed 0).
    pub fn new(config: ThrottleConfig) -> Self {
        Self::with_seed(config, 0)
    }

    /// New engine whose random choices (429 or 503 for SharePoint) follow `seed`.
    pub fn with_seed(config: ThrottleConfig, seed: u64) -> Self {
        Self {
            config: RwLock::new(config),
            mailbox: Mutex::new(HashMap::new()),
            sharepoint: Mutex::new(HashMap::new()),
            throttled_count: AtomicU64::new(0),
            sharepoint_throttled: AtomicU64::new(0),
            seed,
        }
    }

    /// Current settings.
    pub fn config(&self) -> ThrottleConfig {
        self.config.read().clone()
    }

    /// Replace settings (admin API); counters are kept.
    pub fn set_config(&self, c: ThrottleConfig) {
        *self.config.write() = c;
    }

    /// Forget all windows and counters.
    pub fn reset(&self) {
        self.mailbox.lock().clear();
        self.sharepoint.lock().clear();
    }

    fn real_window(c: &ThrottleConfig, secs: u64) -> Duration {
        Duration::from_secs_f64(secs as f64 / c.time_scale.max(1e-6))
    }

    /// Admit an Outlook request of `app` on `mailbox` or answer Graph's 429.
    pub fn outlook(self: &Arc<Self>, app: &str, mailbox: &str) -> Result<Permit, GraphError> {
        let c = self.config.read().clone();
        if !c.enabled {
            return Ok(Permit {
                throttler: None,
                rate_headers: vec![],
            });
        }
        let key = (app.to_ascii_lowercase(), mailbox.to_ascii_lowercase());
        let window = Self::real_window(&c, c.window_secs);
        let now = Instant::now();
        let mut map = self.mailbox.lock();
        let cell = map.entry(key.clone()).or_default();
        let start = *cell.window_start.get_or_insert(now);
        if now.duration_since(start) >= window {
            cell.window_start = Some(now);
            cell.count = 0;
        }
        let start = cell.window_start.unwrap_or(now);
        let reset_in = window.saturating_sub(now.duration_since(start));
        // Throttled requests count against the limit too (as Graph documents).
        cell.count = cell.count.saturating_add(1);
        if cell.count > c.mailbox_requests_per_window {
            drop(map);
            return Err(self.too_many(
                &c,
                reset_in,
                "Application is over its MailboxConcurrency limit.",
                "ApplicationThrottled",
            ));
        }
        if cell.inflight >= c.mailbox_concurrency {
            drop(map);
            return Err(self.too_many(
                &c,
                Duration::from_secs(1),
                "Application is over its MailboxConcurrency limit.",
                "ApplicationThrottled",
            ));
        }
        cell.inflight += 1;
        let mut rate_headers = Vec::new();
        let limit = c.mailbox_requests_per_window;
        if cell.count as u64 * 10 >= limit as u64 * 8 {
            rate_headers = rate_limit_headers(limit, limit.saturating_sub(cell.count), reset_in);
        }
        drop(map);
        Ok(Permit {
            throttler: Some((self.clone(), key)),
            rate_headers,
        })
    }

    /// Charge `cost` SharePoint resource units to `app` or answer 429 (`activityLimitReached`),
    /// or for `sharepoint_503_share` of the throttled requests 503 (`serviceNotAvailable`),
    /// both with `Retry-After`.
    pub fn sharepoint(
        &self,
        app: &str,
        cost: u32,
    ) -> Result<Vec<(HeaderName, String)>, GraphError> {
        let c = self.config.read().clone();
        if !c.enabled {
            return Ok(vec![]);
        }
        let window = Self::real_window(&c, 60);
        let now = Instant::now();
        let mut map = self.sharepoint.lock();
        let cell = map.entry(app.to_ascii_lowercase()).or_default();
        let start = *cell.window_start.get_or_insert(now);
        if now.duration_since(start) >= window {
            cell.window_start = Some(now);
            cell.used = 0;
        }
        let start = cell.window_start.unwrap_or(now);
        let reset_in = window.saturating_sub(now.duration_since(start));
        let limit = c.sharepoint_ru_per_minute;
        if cell.used.saturating_add(cost) > limit {
            drop(map);
            let n = self.sharepoint_throttled.fetch_add(1, Ordering::Relaxed);
            if c.sharepoint_503_share > 0.0
                && crate::rng::stable_unit(self.seed, "throttle.sharepoint.503", &[n])
                    < c.sharepoint_503_share
            {
                let secs = reset_in.as_secs_f64().ceil().max(1.0) as u64;
                return Err(GraphError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable. Retry after the indicated delay.",
                )
                .with_header(HeaderName::from_static("retry-after"), &secs.to_string())
                .with_inner("status", serde_json::json!("503")));
            }
            return Err(self
                .too_many(
                    &c,
                    reset_in,
                    "The request has been throttled",
                    "activityLimitReached",
                )
                .with_inner("code", serde_json::json!("throttledRequest")));
        }
        cell.used += cost;
        let used = cell.used;
        drop(map);
        if used as u64 * 10 >= limit as u64 * 8 {
            Ok(rate_limit_headers(limit, limit - used, reset_in))
        } else {
            Ok(vec![])
        }
    }

    fn too_many(
        &self,
        c: &ThrottleConfig,
        wait: Duration,
        message: &str,
        code: &str,
    ) -> GraphError {
        let n = self.throttled_count.fetch_add(1, Ordering::Relaxed);
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        // Deterministic share of HTTP-date answers: the n-th 429 uses a date when the running
        // share of dates so far is below the configured share.
        let use_date = c.http_date_share > 0.0
            && ((n + 1) as f64 * c.http_date_share).floor()
                > (n as f64 * c.http_date_share).floor();
        let retry_after = if use_date {
            // HTTP dates have 1 s resolution; add one so the date is never earlier than `secs`.
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(secs + 1))
        } else {
            secs.to_string()
        };
        GraphError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
            .with_header(HeaderName::from_static("retry-after"), &retry_after)
            .with_inner("status", serde_json::json!("429"))
    }
}

fn rate_limit_headers(limit: u32, remaining: u32, reset_in: Duration) -> Vec<(HeaderName, String)> {
    vec![
        (
            HeaderName::from_static("ratelimit-limit"),
            limit.to_string(),
        ),
        (
            HeaderName::from_static("ratelimit-remaining"),
            remaining.to_string(),
        ),
        (
            HeaderName::from_static("ratelimit-reset"),
            reset_in.as_secs_f64().ceil().to_string(),
        ),
    ]
}

/// Resource-unit cost of a SharePoint/OneDrive request, per Microsoft's table (1 / 2 / 5).
pub fn sharepoint_cost(method: &axum::http::Method, path: &str, query: &str) -> u32 {
    let q = query.to_ascii_lowercase();
    let p = path.to_ascii_lowercase();
    if p.contains("/permissions") || q.contains("permissions") {
        return 5;
    }
    if method != axum::http::Method::GET {
        return 2;
    }
    if p.contains("/delta") {
        return if q.contains("token=") { 1 } else { 2 };
    }
    if p.ends_with("/children")
        || p.ends_with("/drives")
        || p.ends_with("/lists")
        || p.ends_with("/items")
        || p.contains("getallsites")
    {
        return 2;
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifth_concurrent_request_is_throttled_and_slot_frees_on_drop() {
        let t = Arc::new(Throttler::new(ThrottleConfig::default()));
        let permits: Vec<_> = (0..4)
            .map(|_| t.outlook("app", "mbx").expect("admitted"))
            .collect();
        let err = t.outlook("app", "mbx").expect_err("5th is throttled");
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.code, "ApplicationThrottled");
        assert!(err.headers.iter().any(|(k, v)| {
            k == "retry-after"
                && v.to_str()
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .is_some()
        }));
        // Another mailbox is independent.
        let _other = t.outlook("app", "other").expect("other mailbox admitted");
        drop(permits);
        let _again = t.outlook("app", "mbx").expect("slot freed");
    }

    #[test]
    fn request_budget_and_rate_limit_headers() {
        let cfg = ThrottleConfig {
            mailbox_requests_per_window: 10,
            ..Default::default()
        };
        let t = Arc::new(Throttler::new(cfg));
        for i in 1..=10 {
            let p = t.outlook("a", "m").expect("within budget");
            assert_eq!(
                !p.rate_headers.is_empty(),
                i >= 8,
                "headers from 80% use (request {i})"
            );
        }
        assert!(t.outlook("a", "m").is_err());
    }

    #[test]
    fn http_date_share_gives_dates() {
        let cfg = ThrottleConfig {
            mailbox_requests_per_window: 1,
            http_date_share: 1.0,
            ..Default::default()
        };
        let t = Arc::new(Throttler::new(cfg));
        let _p = t.outlook("a", "m").expect("first");
        let e = t.outlook("a", "m").expect_err("second");
        let ra = e
            .headers
            .iter()
            .find(|(k, _)| k == "retry-after")
            .expect("retry-after")
            .1
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(httpdate::parse_http_date(&ra).is_ok(), "{ra}");
    }

    /// Throttle answers for a budget of 1 RU: the first request passes, the next `n` are throttled.
    fn sharepoint_answers(seed: u64, share: f64, n: usize) -> Vec<(StatusCode, String)> {
        let cfg = ThrottleConfig {
            sharepoint_ru_per_minute: 1,
            sharepoint_503_share: share,
            ..Default::default()
        };
        let t = Throttler::with_seed(cfg, seed);
        t.sharepoint("app", 1).expect("first within budget");
        (0..n)
            .map(|_| {
                let e = t.sharepoint("app", 1).expect_err("over budget");
                let ra = e
                    .headers
                    .iter()
                    .find(|(k, _)| k == "retry-after")
                    .map(|(_, v)| v.to_str().expect("ascii").to_string())
                    .expect("Retry-After on every throttle answer");
                assert!(ra.parse::<u64>().expect("seconds") >= 1, "{ra}");
                (e.status, e.code.to_string())
            })
            .collect()
    }

    #[test]
    fn sharepoint_throttling_answers_a_seeded_share_of_503() {
        let all_429 = sharepoint_answers(1, 0.0, 50);
        assert!(
            all_429
                .iter()
                .all(|(s, c)| *s == StatusCode::TOO_MANY_REQUESTS && c == "activityLimitReached")
        );
        let mixed = sharepoint_answers(1, 0.3, 200);
        let n503 = mixed
            .iter()
            .filter(|(s, c)| *s == StatusCode::SERVICE_UNAVAILABLE && c == "serviceNotAvailable")
            .count();
        let n429 = mixed
            .iter()
            .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!(n503 + n429, 200);
        assert!(
            (30..=90).contains(&n503),
            "about 30% of 200 are 503: {n503}"
        );
        // Same seed, same sequence; another seed, another sequence.
        assert_eq!(sharepoint_answers(1, 0.3, 200), mixed);
        assert_ne!(sharepoint_answers(2, 0.3, 200), mixed);
        let all_503 = sharepoint_answers(3, 1.0, 20);
        assert!(
            all_503
                .iter()
                .all(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        );
    }

    #[test]
    fn time_scale_shortens_windows() {
        let cfg = ThrottleConfig {
            mailbox_requests_per_window: 1,
            time_scale: 6000.0,
            ..Default::default()
        };
        let t = Arc::new(Throttler::new(cfg));
        drop(t.outlook("a", "m").expect("first"));
        std::thread::sleep(Duration::from_millis(150));
        drop(
            t.outlook("a", "m")
                .expect("window of 600 s / 6000 = 100 ms passed"),
        );
    }
}
