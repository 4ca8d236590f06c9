//! Delivering an alert to the `[alerts]` webhook: a JSON POST, signed, retried.
//!
//! * Body: `{"event": "tenantvault.alert", "alert": {…}}`.
//! * Headers: `X-Tenantvault-Timestamp` (Unix seconds of this attempt),
//!   `X-Tenantvault-Signature: sha256=<hex>` — HMAC-SHA256 with the configured
//!   `webhook_secret` over `<timestamp>.<body>` (the timestamp is signed so a captured request
//!   cannot be replayed later; a receiver recomputes it and rejects old timestamps), and
//!   `X-Tenantvault-Delivery` (the alert id; retries repeat it, so a receiver can de-duplicate).
//! * Retries: a connection error, a timeout, a 5xx or a 429 is retried with doubling delays
//!   (default 5 attempts over about a minute: 4 + 8 + 16 + 32 s); any other 4xx is final. The
//!   snapshots are committed before this runs, so a slow or dead receiver never holds a backup
//!   back; it only delays the exit by at most the bounded retry time.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header with the signing time.
pub const TIMESTAMP_HEADER: &str = "X-Tenantvault-Timestamp";
/// Header with the signature.
pub const SIGNATURE_HEADER: &str = "X-Tenantvault-Signature";
/// Header with the delivery id (the alert id).
pub const DELIVERY_HEADER: &str = "X-Tenantvault-Delivery";

/// How often and how patiently to try.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubled after each further failure.
    pub first_delay: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 5,
            first_delay: Duration::from_secs(4),
            timeout: Duration::from_secs(10),
        }
    }
}

/// `sha256=<hex>` of `<timestamp>.<body>` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The outcome of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Attempts made.
    pub attempts: u32,
    /// `None` when delivered; otherwise the last error.
    pub error: Option<String>,
}

enum Attempt {
    Done,
    Retry(String),
    Final(String),
}

async fn attempt(
    client: &reqwest::Client,
    url: &str,
    secret: Option<&str>,
    delivery: &str,
    body: &[u8],
) -> Attempt {
    let ts = chrono::Utc::now().timestamp();
    let mut req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(DELIVERY_HEADER, delivery)
        .body(body.to_vec());
    if let Some(s) = secret {
        req = req.header(SIGNATURE_HEADER, signature(s, ts, body));
    }
    match req.send().await {
        Ok(r) if r.status().is_success() => Attempt::Done,
        Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
            Attempt::Retry(format!("HTTP {}", r.status()))
        }
        Ok(r) => Attempt::Final(format!("HTTP {}", r.status())),
        Err(e) => Attempt::Retry(e.to_string()),
    }
}

/// POSTs `body` to `url`, signed with `secret` when one is set, retrying as [`Backoff`] says.
pub async fn deliver(
    url: &str,
    secret: Option<&str>,
    delivery: &str,
    body: &serde_json::Value,
    backoff: Backoff,
) -> Delivery {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let client = match reqwest::Client::builder().timeout(backoff.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            return Delivery {
                attempts: 0,
                error: Some(e.to_string()),
            };
        }
    };
    let mut delay = backoff.first_delay;
    let mut n = 0;
    loop {
        n += 1;
        match attempt(&client, url, secret, delivery, &bytes).await {
            Attempt::Done => {
                return Delivery {
                    attempts: n,
                    error: None,
                };
            }
            Attempt::Final(e) => {
                return Delivery {
                    attempts: n,
                    error: Some(e),
                };
            }
            Attempt::Retry(e) if n >= backoff.attempts.max(1) => {
                return Delivery {
                    attempts: n,
                    error: Some(e),
                };
            }
            Attempt::Retry(e) => {
                tracing::info!(attempt = n, error = %e, "alert webhook failed; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Requests received: (headers, body). Answers 500 to the first `fail` requests.
    type Seen = Arc<Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

    async fn receiver(fail: usize, status: u16) -> (String, Seen) {
        let seen: Seen = Arc::default();
        let s = seen.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let s = s.clone();
                    async move {
                        let mut v = s.lock().unwrap();
                        v.push((headers, body.to_vec()));
                        let code = if v.len() <= fail { status } else { 200 };
                        axum::http::StatusCode::from_u16(code).unwrap()
                    }
                },
            ),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        (format!("http://{addr}/hook"), seen)
    }

    fn quick(attempts: u32) -> Backoff {
        Backoff {
            attempts,
            first_delay: Duration::from_millis(20),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        let s = signature("Jefe", 0, b"what do ya want for nothing?");
        // An independent computation of the same construction.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"0.what do ya want for nothing?");
        assert_eq!(
            s,
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
        // The RFC vector itself, to pin the primitive.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[tokio::test]
    async fn a_500_is_retried_and_every_attempt_is_signed() {
        let (url, seen) = receiver(2, 500).await;
        let body = serde_json::json!({"event": "tenantvault.alert", "alert": {"id": "A1"}});
        let d = deliver(&url, Some("s3cret"), "A1", &body, quick(5)).await;
        assert_eq!(
            d,
            Delivery {
                attempts: 3,
                error: None
            }
        );
        let got = seen.lock().unwrap().clone();
        assert_eq!(got.len(), 3, "two 500s, then delivered");
        for (h, b) in &got {
            assert_eq!(
                serde_json::from_slice::<serde_json::Value>(b).unwrap(),
                body
            );
            let ts: i64 = h[TIMESTAMP_HEADER].to_str().unwrap().parse().unwrap();
            assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
            assert_eq!(
                h[SIGNATURE_HEADER].to_str().unwrap(),
                signature("s3cret", ts, b)
            );
            assert_ne!(
                h[SIGNATURE_HEADER].to_str().unwrap(),
                signature("other", ts, b)
            );
            assert_eq!(h[DELIVERY_HEADER], "A1");
            assert_eq!(h["content-type"], "application/json");
        }
    }

    #[tokio::test]
    async fn retries_are_bounded_and_a_4xx_is_final() {
        let (url, seen) = receiver(usize::MAX, 503).await;
        let body = serde_json::json!({"x": 1});
        let d = deliver(&url, None, "A2", &body, quick(4)).await;
        assert_eq!(d.attempts, 4);
        assert!(d.error.as_deref().unwrap().contains("503"), "{d:?}");
        let got = seen.lock().unwrap().clone();
        assert_eq!(got.len(), 4);
        assert!(
            !got[0].0.contains_key(SIGNATURE_HEADER),
            "no secret, no signature"
        );

        let (url, seen) = receiver(usize::MAX, 403).await;
        let d = deliver(&url, Some("k"), "A3", &body, quick(5)).await;
        assert_eq!(d.attempts, 1);
        assert_eq!(seen.lock().unwrap().len(), 1);

        // Nobody listening: connection errors are retried too, then given up.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = format!("http://{}/hook", l.local_addr().unwrap());
        drop(l);
        let d = deliver(&dead, None, "A4", &body, quick(3)).await;
        assert_eq!(d.attempts, 3);
        assert!(d.error.is_some());
    }

    #[test]
    fn the_default_schedule_is_five_tries_over_about_a_minute() {
        let b = Backoff::default();
        let waits: u64 = (0..b.attempts - 1)
            .map(|i| b.first_delay.as_secs() << i)
            .sum();
        assert_eq!((b.attempts, waits), (5, 60));
    }
}
