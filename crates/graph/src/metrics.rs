//! Counters callers read to report requests-per-item, throttling and volume.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn inc(&self) {
        self.add(1);
    }
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) requests: Counter,
    pub(crate) retries: Counter,
    pub(crate) throttled: Counter,
    pub(crate) server_errors: Counter,
    pub(crate) transport_errors: Counter,
    pub(crate) token_requests: Counter,
    pub(crate) bytes_received: Counter,
    pub(crate) bytes_sent: Counter,
    pub(crate) batch_requests: Counter,
}

/// A point-in-time copy of the client's counters (shared by every handle of one client).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// HTTP requests sent to Graph (each attempt counts; `$batch` counts once).
    pub requests: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// 429 answers received (inner `$batch` 429s included).
    pub throttled: u64,
    /// 5xx answers received.
    pub server_errors: u64,
    /// Connection failures, resets, timeouts and truncated bodies.
    pub transport_errors: u64,
    /// Token requests to the identity platform.
    pub token_requests: u64,
    /// Response body bytes received.
    pub bytes_received: u64,
    /// Request body bytes sent.
    pub bytes_sent: u64,
    /// Requests carried inside `$batch` calls.
    pub batch_requests: u64,
}

impl Metrics {
    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            requests: self.requests.get(),
            retries: self.retries.get(),
            throttled: self.throttled.get(),
            server_errors: self.server_errors.get(),
            transport_errors: self.transport_errors.get(),
            token_requests: self.token_requests.get(),
            bytes_received: self.bytes_received.get(),
            bytes_sent: self.bytes_sent.get(),
            batch_requests: self.batch_requests.get(),
        }
    }
}
