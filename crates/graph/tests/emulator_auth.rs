//! Token acquisition, refresh and credential errors against the emulator.

mod emulator_common;

use emulator_common::*;
use serde_json::{Value, json};
use std::io::Write;
use tenantvault_emulator::EmulatorConfig;
use tenantvault_graph::{
    AssertionAlgorithm, AuthError, Credential, GraphClient, GraphError, SecretString, User,
};

#[tokio::test]
async fn secret_token_is_cached_and_renewed_after_the_emulator_expires_it() {
    let (emu, client) = start(EmulatorConfig {
        seed: 7,
        users: 3,
        ..Default::default()
    })
    .await;
    let users: Vec<User> = futures::StreamExt::collect::<Vec<_>>(client.pages::<User>("users"))
        .await
        .into_iter()
        .map(|u| u.unwrap())
        .collect();
    assert!(users.len() >= 3);
    client
        .get::<Value>(&format!("users/{}", users[0].id))
        .await
        .unwrap();
    assert_eq!(client.metrics().token_requests, 1);
    // Two simulated hours later the emulator rejects the cached token (401
    // InvalidAuthenticationToken): the client fetches a new one once and carries on.
    emu.state()
        .clock
        .advance(chrono::Duration::hours(2).to_std().unwrap());
    client
        .get::<Value>(&format!("users/{}", users[0].id))
        .await
        .unwrap();
    assert_eq!(client.metrics().token_requests, 2);
    emu.shutdown().await;
}

#[tokio::test]
async fn wrong_secret_unknown_tenant_and_missing_role_are_clear_errors() {
    let (emu, _) = start(EmulatorConfig {
        seed: 8,
        users: 2,
        ..Default::default()
    })
    .await;
    let mut cfg = config_for(&emu);
    cfg.credential = Credential::Secret(SecretString::new("definitely-not-the-secret"));
    let err = GraphClient::new(cfg)
        .unwrap()
        .get::<Value>("users")
        .await
        .unwrap_err();
    assert!(
        matches!(err, GraphError::Auth(AuthError::InvalidClientSecret { .. })),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("definitely-not-the-secret"));

    let mut cfg = config_for(&emu);
    cfg.tenant_id = "00000000-0000-0000-0000-000000000000".into();
    let err = GraphClient::new(cfg)
        .unwrap()
        .get::<Value>("users")
        .await
        .unwrap_err();
    assert!(
        matches!(err, GraphError::Auth(AuthError::UnknownTenant { .. })),
        "{err:?}"
    );

    let mut cfg = config_for(&emu);
    cfg.client_id = "11111111-1111-1111-1111-111111111111".into();
    let err = GraphClient::new(cfg)
        .unwrap()
        .get::<Value>("users")
        .await
        .unwrap_err();
    assert!(
        matches!(err, GraphError::Auth(AuthError::UnknownClient { .. })),
        "{err:?}"
    );

    // The read-only app cannot create mail: 403 with Graph's code, not retried.
    let mut cfg = config_for(&emu);
    cfg.client_id = emu.readonly_client_id();
    cfg.credential = Credential::Secret(SecretString::new(emu.readonly_client_secret()));
    let ro = GraphClient::new(cfg).unwrap();
    let users = mailbox_users(&ro).await;
    let err = ro
        .post_json::<Value>(
            &format!("users/{}/mailFolders/inbox/messages", users[0].id),
            &json!({"subject":"x","body":{"contentType":"text","content":"y"}}),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::Forbidden(_)), "{err:?}");
    assert!(
        err.code().is_some() && err.request_id().is_some(),
        "{err:?}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn certificate_credentials_ps256_and_rs256() {
    let (emu, _) = start(EmulatorConfig {
        seed: 9,
        users: 2,
        ..Default::default()
    })
    .await;
    let mut pem = tempfile::NamedTempFile::new().unwrap();
    write!(pem, "{}\n{}", emu.cert_key_pem(), emu.cert_pem()).unwrap();
    for algorithm in [AssertionAlgorithm::Ps256, AssertionAlgorithm::Rs256] {
        let mut cfg = config_for(&emu);
        cfg.client_id = emu.cert_client_id();
        cfg.credential = Credential::Certificate {
            pem_path: pem.path().to_path_buf(),
            cert_path: None,
            algorithm,
        };
        let client = GraphClient::new(cfg).unwrap();
        let v: Value = client.get("users?$top=1").await.unwrap();
        assert!(v["value"].is_array(), "{algorithm:?}");
        assert_eq!(
            client.metrics().token_requests,
            1,
            "{algorithm:?}: accepted without fallback"
        );
    }
    emu.shutdown().await;
}
