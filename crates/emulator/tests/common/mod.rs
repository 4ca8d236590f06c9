//! Shared helpers for the emulator's integration tests.
#![allow(dead_code)]

use serde_json::Value;
use tenantvault_emulator::{Emulator, EmulatorConfig};

/// Start an emulator with `users` users and throttling as given.
pub async fn start(users: usize, throttle: bool) -> Emulator {
    let mut cfg = EmulatorConfig {
        seed: 42,
        users,
        ..Default::default()
    };
    cfg.throttling.enabled = throttle;
    Emulator::start(cfg).await.expect("emulator starts")
}

/// A token for the full app.
pub async fn token(emu: &Emulator) -> String {
    token_for(emu, &emu.client_id(), &emu.client_secret()).await
}

/// A token for (client, secret).
pub async fn token_for(emu: &Emulator, client: &str, secret: &str) -> String {
    let r = reqwest::Client::new()
        .post(emu.token_url())
        .form(&[
            ("client_id", client),
            ("client_secret", secret),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status(), 200, "token endpoint");
    let v: Value = r.json().await.expect("json");
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// A Graph client bound to one emulator and token.
pub struct G {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl G {
    pub async fn new(emu: &Emulator) -> Self {
        G {
            base: emu.graph_url(),
            token: token(emu).await,
            http: reqwest::Client::new(),
        }
    }
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        }
    }
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("send")
    }
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut r = self.http.get(self.url(path)).bearer_auth(&self.token);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send().await.expect("send")
    }
    pub async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        let status = r.status();
        let v: Value = r.json().await.expect("json body");
        assert!(status.is_success(), "GET {path} → {status}: {v}");
        v
    }
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut r = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.expect("send")
    }
    /// Follow nextLinks/deltaLink of a delta round; returns (items, deltaLink).
    pub async fn delta_round(&self, first: &str, page: usize) -> (Vec<Value>, String) {
        let mut url = first.to_string();
        let mut items = Vec::new();
        loop {
            let r = self
                .get_with(&url, &[("Prefer", &format!("odata.maxpagesize={page}"))])
                .await;
            assert_eq!(r.status(), 200, "delta page {url}");
            let v: Value = r.json().await.expect("json");
            let vals = v["value"].as_array().expect("value").clone();
            assert!(vals.len() <= page, "page size honoured");
            items.extend(vals);
            if let Some(n) = v["@odata.nextLink"].as_str() {
                assert!(v.get("@odata.deltaLink").is_none(), "exactly one link");
                url = n.to_string();
                continue;
            }
            return (
                items,
                v["@odata.deltaLink"]
                    .as_str()
                    .expect("deltaLink")
                    .to_string(),
            );
        }
    }
}

/// First licensed user id (user 0 is always licensed).
pub async fn first_user(g: &G) -> String {
    let v = g.json("/users?$select=id,userPrincipalName&$top=1").await;
    v["value"][0]["id"].as_str().expect("id").to_string()
}
