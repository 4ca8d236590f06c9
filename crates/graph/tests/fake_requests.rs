//! Auth, retry and budgets against a local fake Graph (axum).

mod common;

use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tenantvault_graph::{
    AssertionAlgorithm, AuthError, Credential, GraphError, SecretString, User,
};

fn counter() -> Arc<AtomicU32> {
    Arc::new(AtomicU32::new(0))
}

#[tokio::test]
async fn token_is_cached_then_renewed_before_expiry() {
    let fake = Fake::start(|_| Reply::Json(200, json!({"id":"u1"}))).await;
    fake.state.lock().token_lifetime = 3600;
    let (client, clock) = fake.client();
    for _ in 0..3 {
        let u: User = client.get("users/u1").await.unwrap();
        assert_eq!(u.id, "u1");
    }
    assert_eq!(fake.state.lock().token_requests, 1, "token must be cached");
    // 5 minutes before expiry the token is renewed.
    clock.advance(Duration::from_secs(3600 - 299));
    client.get::<Value>("users/u1").await.unwrap();
    assert_eq!(fake.state.lock().token_requests, 2);
    let reqs = fake.requests();
    assert_eq!(
        reqs.last().unwrap().header("authorization"),
        Some("Bearer tok-2")
    );
    assert_eq!(client.metrics().token_requests, 2);
}

#[tokio::test]
async fn a_revoked_token_is_refreshed_once_on_401() {
    let fake = Fake::start(|_| Reply::Json(200, json!({"id":"u1"}))).await;
    let (client, _) = fake.client();
    client.get::<Value>("users/u1").await.unwrap();
    fake.state.lock().revoked.push("tok-1".into());
    client.get::<Value>("users/u1").await.unwrap();
    assert_eq!(fake.state.lock().token_requests, 2);
    // A Graph that rejects every token: one refresh, then a clear Unauthorized error.
    let fake = Fake::start(|_| {
        graph_error(
            401,
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        )
    })
    .await;
    let (client, _) = fake.client();
    let err = client.get::<Value>("users/u1").await.unwrap_err();
    assert!(matches!(err, GraphError::Unauthorized(_)), "{err:?}");
    assert_eq!(fake.state.lock().token_requests, 2);
    assert_eq!(fake.count("/v1.0/users/u1"), 2);
}

#[tokio::test]
async fn wrong_secret_is_a_clear_auth_error_without_the_secret() {
    let fake = Fake::start(|_| Reply::Json(200, json!({}))).await;
    let mut cfg = fake.config();
    cfg.credential = Credential::Secret(SecretString::new("wrong-secret-XYZ"));
    let (client, _) = fake.client_with(cfg);
    let err = client.get::<Value>("users").await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        matches!(err, GraphError::Auth(AuthError::InvalidClientSecret { .. })),
        "{err:?}"
    );
    assert!(
        text.contains("invalid client secret") && text.contains("AADSTS7000215"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret-XYZ"), "secret leaked: {text}");
    // 4xx from the token endpoint is never retried.
    assert_eq!(fake.state.lock().token_requests, 1);

    let mut cfg = fake.config();
    cfg.tenant_id = "nope".into();
    let (client, _) = fake.client_with(cfg);
    let err = client.get::<Value>("users").await.unwrap_err();
    assert!(
        matches!(err, GraphError::Auth(AuthError::UnknownTenant { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("unknown tenant nope"), "{err}");
}

#[tokio::test]
async fn certificate_credential_ps256_and_rs256_fallback() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let fake = Fake::start(|_| Reply::Json(200, json!({"id":"u1"}))).await;
    let mut cfg = fake.config();
    cfg.credential = Credential::Certificate {
        pem_path: fixtures.join("test-combined.pem"),
        cert_path: None,
        algorithm: AssertionAlgorithm::Ps256,
    };
    let (client, _) = fake.client_with(cfg.clone());
    client.get::<Value>("users/u1").await.unwrap();
    let header = fake.state.lock().assertions[0].clone();
    assert_eq!(header["alg"], "PS256");
    let expected = std::fs::read_to_string(fixtures.join("test-cert.x5t-s256")).unwrap();
    assert_eq!(header["x5t#S256"], expected.trim());

    // A platform that refuses PS256: the client falls back to RS256 with x5t once.
    let fake = Fake::start(|_| Reply::Json(200, json!({"id":"u1"}))).await;
    fake.state.lock().reject_ps256 = true;
    let mut cfg2 = cfg.clone();
    cfg2.authority_host = fake.base.clone();
    cfg2.graph_base = fake.graph();
    let (client, _) = fake.client_with(cfg2);
    client.get::<Value>("users/u1").await.unwrap();
    let st = fake.state.lock();
    assert_eq!(st.token_requests, 2);
    assert_eq!(st.assertions[0]["alg"], "RS256");
    assert!(st.assertions[0]["x5t"].is_string());
}

#[tokio::test]
async fn throttling_honours_retry_after_seconds_and_http_dates() {
    let n = counter();
    let n2 = n.clone();
    let fake = Fake::start(move |_| match n2.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::JsonWith(
            429,
            vec![("retry-after", "7".into())],
            json!({"error":{"code":"TooManyRequests","message":"Please retry again later."}}),
        ),
        1 => {
            let at = std::time::SystemTime::now() + Duration::from_secs(120);
            Reply::JsonWith(
                503,
                vec![("retry-after", httpdate::fmt_http_date(at))],
                json!({"error":{"code":"serviceNotAvailable","message":"busy"}}),
            )
        }
        _ => Reply::Json(200, json!({"id":"u1"})),
    })
    .await;
    let (client, clock) = fake.client();
    let u: User = client.get("users/u1").await.unwrap();
    assert_eq!(u.id, "u1");
    let sleeps = clock.sleeps();
    assert!(sleeps.contains(&Duration::from_secs(7)), "{sleeps:?}");
    // The HTTP date was ~120 s ahead (clock skew of a second allowed).
    assert!(
        sleeps
            .iter()
            .any(|s| *s >= Duration::from_secs(110) && *s <= Duration::from_secs(121)),
        "{sleeps:?}"
    );
    let m = client.metrics();
    assert_eq!(
        (m.requests, m.retries, m.throttled, m.server_errors),
        (3, 2, 1, 1)
    );
}

#[tokio::test]
async fn server_errors_back_off_and_client_errors_are_not_retried() {
    let n = counter();
    let n2 = n.clone();
    let fake = Fake::start(move |r| {
        if r.path().ends_with("/missing") {
            return graph_error(
                404,
                "ErrorItemNotFound",
                "The specified object was not found in the store.",
            );
        }
        if r.path().ends_with("/bad") {
            return graph_error(400, "invalidRequest", "nope");
        }
        match n2.fetch_add(1, Ordering::SeqCst) {
            0 => graph_error(500, "generalException", "oops"),
            1 => graph_error(502, "badGateway", "oops"),
            2 => graph_error(504, "gatewayTimeout", "oops"),
            _ => Reply::Json(200, json!({"ok":true})),
        }
    })
    .await;
    let (client, clock) = fake.client();
    client.get::<Value>("users/x").await.unwrap();
    assert_eq!(clock.sleeps().len(), 3);
    for (i, s) in clock.sleeps().iter().enumerate() {
        let cap = Duration::from_millis(10 * 2u64.pow(i as u32)).min(Duration::from_millis(100));
        assert!(*s >= cap / 2 && *s <= cap, "backoff {i}: {s:?}");
    }
    let err = client.get::<Value>("users/missing").await.unwrap_err();
    match &err {
        GraphError::NotFound(info) => {
            assert_eq!(info.code, "ErrorItemNotFound");
            assert_eq!(info.request_id.as_deref(), Some("req-123"));
            assert!(info.client_request_id.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.code(), Some("ErrorItemNotFound"));
    let err = client.get::<Value>("users/bad").await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(fake.count("/v1.0/users/missing"), 1);
    assert_eq!(fake.count("/v1.0/users/bad"), 1);
    // Every request carries a client-request-id.
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.header("client-request-id").is_some())
    );
}

#[tokio::test]
async fn truncated_bodies_and_resets_are_retried_and_garbage_is_corrupt() {
    let n = counter();
    let n2 = n.clone();
    let fake = Fake::start(move |r| {
        if r.path().ends_with("/garbage") {
            return Reply::Raw(
                200,
                vec![],
                bytes::Bytes::from_static(b"{\"value\": [1, 2,, ]}"),
            );
        }
        match n2.fetch_add(1, Ordering::SeqCst) {
            0 => Reply::Cut(
                200,
                vec![],
                bytes::Bytes::from_static(b"{\"id\":\"u1\",\"displ"),
            ),
            1 => Reply::Raw(
                200,
                vec![],
                bytes::Bytes::from_static(b"{\"id\":\"u1\",\"displ"),
            ),
            _ => Reply::Json(200, json!({"id":"u1","displayName":"Adele"})),
        }
    })
    .await;
    let (client, _) = fake.client();
    let u: User = client.get("users/u1").await.unwrap();
    assert_eq!(u.display_name.as_deref(), Some("Adele"));
    assert_eq!(client.metrics().transport_errors, 2);
    let err = client.get::<Value>("users/garbage").await.unwrap_err();
    assert!(
        matches!(&err, GraphError::Corrupt { url, .. } if url.ends_with("/v1.0/users/garbage")),
        "{err:?}"
    );
    assert_eq!(
        fake.count("/v1.0/users/garbage"),
        1,
        "malformed JSON is not retried"
    );
}

#[tokio::test]
async fn retries_stop_at_the_attempt_cap_with_a_typed_error() {
    let fake = Fake::start(|_| Reply::JsonWith(429, vec![("retry-after", "1".into())], json!({"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}}))).await;
    let mut cfg = fake.config();
    cfg.retry.max_attempts = 4;
    let (client, _) = fake.client_with(cfg);
    let err = client.get::<Value>("users/u1/messages").await.unwrap_err();
    match err {
        GraphError::Throttled { info, retry_after } => {
            assert_eq!(info.code, "ApplicationThrottled");
            assert_eq!(retry_after, Some(Duration::from_secs(1)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.count("/v1.0/users/u1/messages"), 4);

    // Nothing listening: connection errors, retried, then a Transport error naming the URL.
    let mut cfg = fake.config();
    cfg.retry.max_attempts = 3;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    cfg.graph_base = format!("http://127.0.0.1:{port}/v1.0");
    let (client, _) = fake.client_with(cfg);
    let err = client.get::<Value>("users").await.unwrap_err();
    assert!(
        matches!(&err, GraphError::Transport { attempts: 3, url, .. } if url.contains("/v1.0/users")),
        "{err:?}"
    );
}

#[tokio::test]
async fn foreign_origins_never_get_the_token() {
    let fake = Fake::start(|_| Reply::Json(200, json!({}))).await;
    let (client, _) = fake.client();
    let err = client
        .get::<Value>("https://evil.example/v1.0/users")
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::InvalidRequest(_)), "{err:?}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn mailbox_handles_never_exceed_four_concurrent_requests() {
    let fake = Fake::start(|_| {
        Reply::Slow(
            Duration::from_millis(30),
            Box::new(Reply::Json(200, json!({"id":"m"}))),
        )
    })
    .await;
    let (client, _) = fake.client();
    let mbx = client.mailbox("adele@contoso.test");
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let mbx = mbx.clone();
            tokio::spawn(async move {
                mbx.get::<Value>(&format!("users/adele/messages/m{i}"))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(fake.requests().len(), 24);
    let max = fake.state.lock().max_in_flight;
    assert_eq!(
        max, 4,
        "per-mailbox concurrency must be exactly the limit of 4, saw {max}"
    );

    // Two mailboxes run in parallel (8 at once), under the tenant-wide budget.
    fake.state.lock().max_in_flight = 0;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let h = client.mailbox(if i % 2 == 0 { "a@x" } else { "b@x" });
            tokio::spawn(async move { h.get::<Value>("users/x/messages/m").await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(fake.state.lock().max_in_flight, 8);
    let mut cfg = fake.config();
    cfg.limits.tenant_concurrency = 3;
    let (client, _) = fake.client_with(cfg);
    fake.state.lock().max_in_flight = 0;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let h = client.mailbox(&format!("user{i}@x"));
            tokio::spawn(async move { h.get::<Value>("users/x/messages/m").await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        fake.state.lock().max_in_flight,
        3,
        "tenant budget caps all mailboxes together"
    );
}

#[tokio::test]
async fn ratelimit_headers_slow_down_before_throttling() {
    let n = counter();
    let n2 = n.clone();
    let fake = Fake::start(move |_| {
        if n2.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::JsonWith(
                200,
                vec![
                    ("ratelimit-limit", "1200".into()),
                    ("ratelimit-remaining", "0".into()),
                    ("ratelimit-reset", "9".into()),
                ],
                json!({"id":"d"}),
            )
        } else {
            Reply::Json(200, json!({"id":"d"}))
        }
    })
    .await;
    let (client, clock) = fake.client();
    let sp = client.sharepoint();
    sp.get::<Value>("drives/d/items/1").await.unwrap();
    assert!(clock.sleeps().is_empty());
    sp.get::<Value>("drives/d/items/2").await.unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(9)]);
}
