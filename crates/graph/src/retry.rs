//! The one place that decides whether a failed attempt is retried, and how long to wait.

use rand::Rng;
use std::time::{Duration, SystemTime};

/// How an attempt failed, as far as the retry decision cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with an error status.
    Status {
        /// HTTP status.
        status: u16,
        /// Parsed `Retry-After`, if the response had one.
        retry_after: Option<Duration>,
    },
    /// Connection refused/reset, timeout, or a body cut short.
    Transport(TransportKind),
}

/// Kinds of network failure (all transient).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Could not connect.
    Connect,
    /// Connect or read timeout.
    Timeout,
    /// Connection reset / closed mid-response.
    Reset,
    /// Body ended before it was complete (short read or JSON cut off).
    Truncated,
}

/// The decision for one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Give up: the error is permanent (4xx other than 429, or the 401 refresh was used).
    Fail,
    /// Wait exactly what the server asked (`Retry-After`), then retry.
    After(Duration),
    /// Retry after a jittered exponential backoff.
    Backoff,
    /// Fetch a fresh token and retry at once (only once per request).
    RefreshToken,
}

/// Decides retry for a failure. `token_refreshed` says whether this request already used its
/// one token refresh. `idempotent` is false for requests that must not run twice (a POST that
/// creates something): those are retried only when the server certainly did not act on them
/// (connection never made, 429/503 refusals, 500/502 failures), never after an ambiguous
/// reset, timeout, cut-off answer or 504.
pub fn classify(failure: &Failure, token_refreshed: bool, idempotent: bool) -> Decision {
    match failure {
        Failure::Transport(TransportKind::Connect) => Decision::Backoff,
        Failure::Transport(_) if !idempotent => Decision::Fail,
        Failure::Transport(_) => Decision::Backoff,
        Failure::Status {
            status,
            retry_after,
        } => match *status {
            401 if !token_refreshed => Decision::RefreshToken,
            504 if !idempotent => Decision::Fail,
            429 | 503 | 500 | 502 | 504 => match retry_after {
                Some(d) => Decision::After(*d),
                None => Decision::Backoff,
            },
            _ => Decision::Fail,
        },
    }
}

/// Parses a `Retry-After` value: delta-seconds (`"10"`) or an HTTP-date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`). A date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs));
        }
        return None;
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Retry limits and backoff shape.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Maximum attempts per request, the first included.
    pub max_attempts: u32,
    /// Give up once this much time has been spent on one request (waits included).
    pub max_elapsed: Duration,
    /// First backoff step.
    pub base_delay: Duration,
    /// Largest backoff step.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            max_elapsed: Duration::from_secs(15 * 60),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based) for [`Decision::Backoff`]:
    /// "equal jitter" — uniformly in `[cap/2, cap]` where `cap = min(max_delay, base·2^retry)`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let cap = self.backoff_cap(retry);
        let half = cap / 2;
        let jitter_ms = rand::thread_rng().gen_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter_ms)
    }

    /// Upper bound of [`RetryPolicy::backoff`] for `retry`.
    pub fn backoff_cap(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(20));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The wait for a decision, or `None` when the request must not be retried
    /// (permanent error, attempts or time used up).
    pub fn wait_for(
        &self,
        decision: Decision,
        attempts_made: u32,
        elapsed: Duration,
        retries_so_far: u32,
    ) -> Option<Duration> {
        if attempts_made >= self.max_attempts {
            return None;
        }
        let wait = match decision {
            Decision::Fail => return None,
            Decision::RefreshToken => Duration::ZERO,
            Decision::After(d) => d,
            Decision::Backoff => self.backoff(retries_so_far),
        };
        if elapsed + wait > self.max_elapsed {
            return None;
        }
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16, ra: Option<u64>) -> Failure {
        Failure::Status {
            status: s,
            retry_after: ra.map(Duration::from_secs),
        }
    }

    #[test]
    fn retry_after_in_seconds_and_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("10", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        // A date in the past means "retry now".
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn only_throttling_server_errors_and_network_failures_are_retried() {
        assert_eq!(
            classify(&status(429, Some(7)), false, true),
            Decision::After(Duration::from_secs(7))
        );
        assert_eq!(
            classify(&status(503, Some(2)), false, true),
            Decision::After(Duration::from_secs(2))
        );
        assert_eq!(classify(&status(429, None), false, true), Decision::Backoff);
        for s in [500, 502, 504] {
            assert_eq!(classify(&status(s, None), false, true), Decision::Backoff);
        }
        for s in [400, 403, 404, 405, 409, 410, 412, 413, 416, 501] {
            assert_eq!(
                classify(&status(s, None), false, true),
                Decision::Fail,
                "{s}"
            );
        }
        assert_eq!(
            classify(&status(401, None), false, true),
            Decision::RefreshToken
        );
        assert_eq!(classify(&status(401, None), true, true), Decision::Fail);
        assert_eq!(
            classify(&Failure::Transport(TransportKind::Reset), true, true),
            Decision::Backoff
        );
        // A POST that may have been executed is not repeated.
        let reset = Failure::Transport(TransportKind::Reset);
        assert_eq!(classify(&reset, false, false), Decision::Fail);
        let truncated = Failure::Transport(TransportKind::Truncated);
        assert_eq!(classify(&truncated, false, false), Decision::Fail);
        assert_eq!(classify(&status(504, None), false, false), Decision::Fail);
        let connect = Failure::Transport(TransportKind::Connect);
        assert_eq!(classify(&connect, false, false), Decision::Backoff);
        assert_eq!(
            classify(&status(503, Some(1)), false, false),
            Decision::After(Duration::from_secs(1))
        );
        assert_eq!(
            classify(&status(500, None), false, false),
            Decision::Backoff
        );
    }

    #[test]
    fn backoff_is_jittered_within_bounds_and_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            ..RetryPolicy::default()
        };
        for retry in 0..12 {
            let cap = p.backoff_cap(retry);
            assert!(cap <= Duration::from_secs(2));
            for _ in 0..50 {
                let d = p.backoff(retry);
                assert!(
                    d >= cap / 2 && d <= cap,
                    "retry {retry}: {d:?} not in [{:?},{cap:?}]",
                    cap / 2
                );
            }
        }
        assert_eq!(p.backoff_cap(0), Duration::from_millis(100));
        assert_eq!(p.backoff_cap(3), Duration::from_millis(800));
        assert_eq!(p.backoff_cap(10), Duration::from_secs(2));
        // Not all equal: jitter is real.
        let samples: std::collections::HashSet<_> = (0..50).map(|_| p.backoff(4)).collect();
        assert!(samples.len() > 1);
    }

    #[test]
    fn attempts_and_total_time_are_capped() {
        let p = RetryPolicy {
            max_attempts: 3,
            max_elapsed: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        let after = Decision::After(Duration::from_secs(10));
        assert_eq!(
            p.wait_for(after, 1, Duration::ZERO, 0),
            Some(Duration::from_secs(10))
        );
        assert_eq!(p.wait_for(after, 3, Duration::ZERO, 2), None);
        assert_eq!(p.wait_for(after, 1, Duration::from_secs(55), 0), None);
        assert_eq!(p.wait_for(Decision::Fail, 1, Duration::ZERO, 0), None);
    }
}
