//! Graph URL spellings for drive items that the path normaliser must preserve: the function-call
//! form of a delta link (`delta(token='…')`) and user file names inside `root:/…:` paths.

use reqwest::StatusCode;
use serde_json::Value;
use tenantvault_emulator::drive::DriveConfig;
use tenantvault_emulator::{Emulator, EmulatorConfig, ThrottleConfig};

struct T {
    emu: Emulator,
    http: reqwest::Client,
    token: String,
}

impl T {
    async fn start() -> T {
        let emu = Emulator::start(EmulatorConfig {
            seed: 11,
            users: 2,
            throttling: ThrottleConfig {
                enabled: false,
                ..Default::default()
            },
            drive: DriveConfig {
                files_per_drive: 8,
                large_files: 0,
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r: Value = http
            .post(emu.token_url())
            .form(&[
                ("client_id", emu.client_id().as_str()),
                ("client_secret", emu.client_secret().as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = r["access_token"].as_str().expect("token").to_string();
        T { emu, http, token }
    }

    fn url(&self, p: &str) -> String {
        if p.starts_with("http") {
            p.to_string()
        } else {
            format!("{}{p}", self.emu.graph_url())
        }
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = r.bearer_auth(&self.token).send().await.unwrap();
        let s = resp.status();
        let bytes = resp.bytes().await.unwrap();
        (s, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn get(&self, p: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.url(p))).await
    }

    async fn drive_id(&self) -> String {
        let (s, users) = self.get("/users?$select=id").await;
        assert_eq!(s, StatusCode::OK, "{users}");
        let user = users["value"][0]["id"].as_str().unwrap().to_string();
        let (s, d) = self.get(&format!("/users/{user}/drive")).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        d["id"].as_str().unwrap().to_string()
    }

    /// Follows nextLinks to the deltaLink; returns (items, deltaLink).
    async fn delta_round(&self, start: &str) -> (Vec<Value>, String) {
        let mut url = start.to_string();
        let mut items = Vec::new();
        loop {
            let (s, body) = self.get(&url).await;
            assert_eq!(s, StatusCode::OK, "{url}: {body}");
            items.extend(body["value"].as_array().unwrap().iter().cloned());
            match body["@odata.nextLink"].as_str() {
                Some(n) => url = n.to_string(),
                None => {
                    let dl = body["@odata.deltaLink"].as_str().expect("deltaLink");
                    return (items, dl.to_string());
                }
            }
        }
    }
}

/// The `token` query parameter of a deltaLink, still percent-encoded as it appears in the URL.
fn raw_token(link: &str) -> String {
    let q = link.split_once('?').expect("deltaLink has a query").1;
    q.split('&')
        .find_map(|p| p.strip_prefix("token="))
        .expect("token parameter")
        .to_string()
}

#[tokio::test]
async fn function_style_delta_link_keeps_its_token() {
    let t = T::start().await;
    let did = t.drive_id().await;
    let (all, delta_link) = t.delta_round(&format!("/drives/{did}/root/delta")).await;
    assert!(all.len() > 3, "full enumeration has the drive's items");

    let (s, created) = t
        .send(
            t.http
                .put(t.url(&format!("/drives/{did}/root:/after-token.txt:/content")))
                .body("new"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");

    // The same round, addressed as Graph's doc spells it: `delta(token='…')`.
    let tok = raw_token(&delta_link);
    let (changes, _) = t
        .delta_round(&format!("/drives/{did}/root/delta(token='{tok}')"))
        .await;
    let names: Vec<&str> = changes.iter().filter_map(|c| c["name"].as_str()).collect();
    assert!(names.contains(&"after-token.txt"), "{names:?}");
    assert!(
        changes.len() < all.len(),
        "only changes since the token, not a full enumeration: {names:?}"
    );

    // Unquoted and namespaced form, as in nextLinks of the doc.
    let (again, _) = t
        .delta_round(&format!(
            "/drives/{did}/root/microsoft.graph.delta(token={tok})"
        ))
        .await;
    assert_eq!(again.len(), changes.len());
}

#[tokio::test]
async fn file_names_inside_item_paths_keep_their_case() {
    let t = T::start().await;
    let did = t.drive_id().await;
    let (s, created) = t
        .send(
            t.http
                .put(t.url(&format!("/drives/{did}/root:/Children/Content:/content")))
                .body("bytes"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "Content", "{created}");

    let (s, folder) = t.get(&format!("/drives/{did}/root:/Children")).await;
    assert_eq!(s, StatusCode::OK, "{folder}");
    assert_eq!(folder["name"], "Children");

    // Upload into the folder by id, with a name that is a Graph segment name.
    let fid = folder["id"].as_str().unwrap();
    let (s, v) = t
        .send(
            t.http
                .put(t.url(&format!("/drives/{did}/items/{fid}:/Delta:/content")))
                .body("x"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["name"], "Delta");

    let (s, kids) = t
        .get(&format!("/drives/{did}/root:/Children:/children"))
        .await;
    assert_eq!(s, StatusCode::OK, "{kids}");
    let mut names: Vec<&str> = kids["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["Content", "Delta"]);
}
