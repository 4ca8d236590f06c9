//! Token endpoint (secret and certificate assertions) and bearer-token checks.

mod common;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use serde_json::{Value, json};
use sha2::Digest;
use std::time::Duration;
use tenantvault_emulator::{Emulator, EmulatorConfig};

async fn post_form(emu: &Emulator, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/{tenant}/oauth2/v2.0/token", emu.base_url()))
        .form(form)
        .send()
        .await
        .expect("send");
    let s = r.status().as_u16();
    (s, r.json().await.expect("json"))
}

const SCOPE: &str = "https://graph.microsoft.com/.default";

#[tokio::test]
async fn client_secret_errors_are_aadsts_shaped() {
    let emu = start(2, false).await;
    let (cid, sec, tid) = (emu.client_id(), emu.client_secret(), emu.tenant_id());
    let (s, v) = post_form(
        &emu,
        &tid,
        &[
            ("client_id", &cid),
            ("client_secret", &sec),
            ("grant_type", "client_credentials"),
            ("scope", SCOPE),
        ],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_in"].as_i64().expect("expires_in") > 0);
    // Domain name works as tenant too.
    let (s, _) = post_form(
        &emu,
        &emu.domain(),
        &[
            ("client_id", &cid),
            ("client_secret", &sec),
            ("grant_type", "client_credentials"),
            ("scope", SCOPE),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = post_form(
        &emu,
        &tid,
        &[
            ("client_id", &cid),
            ("client_secret", "wrong"),
            ("grant_type", "client_credentials"),
            ("scope", SCOPE),
        ],
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")));
    assert_eq!(v["error_codes"][0], 7000215);
    assert!(
        v["error_description"]
            .as_str()
            .expect("desc")
            .starts_with("AADSTS7000215")
    );
    let (s, v) = post_form(
        &emu,
        &tid,
        &[
            ("client_id", &cid),
            ("client_secret", &sec),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/User.Read"),
        ],
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_scope")));
    let (s, v) = post_form(
        &emu,
        &tid,
        &[
            ("client_id", "00000000-0000-0000-0000-000000000000"),
            ("client_secret", &sec),
            ("grant_type", "client_credentials"),
            ("scope", SCOPE),
        ],
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("unauthorized_client")));
    let (s, v) = post_form(
        &emu,
        "nosuchtenant.onmicrosoft.com",
        &[
            ("client_id", &cid),
            ("client_secret", &sec),
            ("grant_type", "client_credentials"),
            ("scope", SCOPE),
        ],
    )
    .await;
    assert_eq!((s, v["error_codes"][0].as_u64()), (400, Some(90002)));
    let (s, v) = post_form(
        &emu,
        &tid,
        &[
            ("client_id", &cid),
            ("client_secret", &sec),
            ("grant_type", "password"),
            ("scope", SCOPE),
        ],
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

fn assertion(
    emu: &Emulator,
    alg: &str,
    aud: &str,
    exp_offset: i64,
    jti: &str,
    tamper: bool,
) -> String {
    let pem = emu.cert_pem();
    let der = pem_to_der(pem);
    let header = if alg == "PS256" {
        json!({"alg": "PS256", "typ": "JWT", "x5t#S256": URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der))})
    } else {
        json!({"alg": "RS256", "typ": "JWT", "x5t": URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der))})
    };
    let now = chrono::Utc::now().timestamp();
    let cid = emu.cert_client_id();
    let claims = json!({"aud": aud, "iss": cid, "sub": cid, "jti": jti, "nbf": now - 10, "iat": now - 10, "exp": now + exp_offset});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(emu.cert_key_pem()).expect("key");
    let mut sig = if alg == "PS256" {
        rsa::pss::BlindedSigningKey::<sha2::Sha256>::new(key)
            .sign_with_rng(&mut rand::thread_rng(), input.as_bytes())
            .to_vec()
    } else {
        rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key)
            .sign(input.as_bytes())
            .to_vec()
    };
    if tamper {
        sig[10] ^= 0xff;
    }
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("pem")
}

#[tokio::test]
async fn certificate_assertions_rs256_and_ps256() {
    let emu = start(2, false).await;
    let tid = emu.tenant_id();
    let aud = emu.token_url();
    let cid = emu.cert_client_id();
    let jwt_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    let call = |a: String| {
        let cid = cid.clone();
        let tid = tid.clone();
        let emu = &emu;
        async move {
            post_form(
                emu,
                &tid,
                &[
                    ("client_id", &cid),
                    ("client_assertion_type", jwt_type),
                    ("client_assertion", &a),
                    ("grant_type", "client_credentials"),
                    ("scope", SCOPE),
                ],
            )
            .await
        }
    };
    let (s, v) = call(assertion(&emu, "RS256", &aud, 300, "j1", false)).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(assertion(&emu, "PS256", &aud, 300, "j2", false)).await;
    assert_eq!(s, 200, "{v}");
    // Replay of j2.
    let (s, v) = call(assertion(&emu, "PS256", &aud, 300, "j2", false)).await;
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")));
    // Forged signature, expired, wrong audience.
    let (s, v) = call(assertion(&emu, "RS256", &aud, 300, "j3", true)).await;
    assert_eq!((s, v["error_codes"][0].as_u64()), (401, Some(700027)));
    let (s, v) = call(assertion(&emu, "RS256", &aud, -600, "j4", false)).await;
    assert_eq!((s, v["error_codes"][0].as_u64()), (401, Some(700024)));
    let (s, _) = call(assertion(
        &emu,
        "RS256",
        "https://example.com/token",
        300,
        "j5",
        false,
    ))
    .await;
    assert_eq!(s, 401);
    // The secret app has no certificate.
    let a = assertion(&emu, "RS256", &aud, 300, "j6", false);
    let (s, _) = post_form(
        &emu,
        &tid,
        &[
            ("client_id", &emu.client_id()),
            ("client_assertion_type", jwt_type),
            ("client_assertion", &a),
            ("grant_type", "client_credentials"),
            ("scope", SCOPE),
        ],
    )
    .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn expired_and_forged_bearer_tokens_get_401() {
    let cfg = EmulatorConfig {
        seed: 1,
        users: 2,
        token_lifetime: Duration::from_secs(60),
        ..Default::default()
    };
    let emu = Emulator::start(cfg).await.expect("start");
    let g = G::new(&emu).await;
    assert_eq!(g.get("/users").await.status(), 200);
    let forged = G {
        token: format!("{}x", g.token),
        base: g.base.clone(),
        http: reqwest::Client::new(),
    };
    let r = forged.get("/users").await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["code"], "InvalidAuthenticationToken");
    // Advance the simulated clock past the lifetime.
    let r = reqwest::Client::new()
        .post(format!("{}/_emulator/clock/advance", emu.base_url()))
        .json(&json!({"seconds": 120}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let r = g.get("/users").await;
    assert_eq!(r.status(), 401);
    let www = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(www.starts_with("Bearer"), "{www}");
    let v: Value = r.json().await.expect("json");
    assert_eq!(
        v["error"]["message"],
        "Access token has expired or is not yet valid."
    );
}

#[tokio::test]
async fn openid_configuration_document() {
    let emu = start(1, false).await;
    let r = reqwest::get(format!(
        "{}/{}/v2.0/.well-known/openid-configuration",
        emu.base_url(),
        emu.tenant_id()
    ))
    .await
    .expect("get");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["token_endpoint"], emu.token_url());
    assert!(v["issuer"].is_string() && v["authorization_endpoint"].is_string());
}
