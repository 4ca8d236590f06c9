//! OneDrive/SharePoint endpoints of the emulator, exercised over HTTP as a Graph client would.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tenantvault_emulator::drive::DriveConfig;
use tenantvault_emulator::quickxor::quick_xor_hash;
use tenantvault_emulator::{Emulator, EmulatorConfig, ThrottleConfig};

mod schema {
    //! Every property name served must exist in the v1.0 schema for its type (incl. base types).
    use serde_json::{Map, Value};
    use std::collections::HashMap;
    use std::sync::OnceLock;

    struct Schema {
        props: HashMap<String, Vec<String>>,
        base: HashMap<String, String>,
    }

    fn load() -> &'static Schema {
        static S: OnceLock<Schema> = OnceLock::new();
        S.get_or_init(|| {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schema/");
            let mut props = HashMap::new();
            for f in ["v1.0-entity-types.json", "v1.0-complex-types.json"] {
                let v: Value =
                    serde_json::from_str(&std::fs::read_to_string(format!("{dir}{f}")).unwrap())
                        .unwrap();
                for (t, def) in v["microsoft.graph"].as_object().unwrap() {
                    let mut names: Vec<String> = Vec::new();
                    for k in ["properties", "navigationProperties"] {
                        names.extend(
                            def[k]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|x| x.as_str().map(String::from)),
                        );
                    }
                    props.insert(t.clone(), names);
                }
            }
            let b: Value = serde_json::from_str(
                &std::fs::read_to_string(format!("{dir}v1.0-base-types.json")).unwrap(),
            )
            .unwrap();
            let mut base: HashMap<String, String> = b
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect();
            // Complex-type inheritance the base map does not list.
            for (t, p) in [
                ("teamworkUserIdentity", "identity"),
                ("chatMessageFromIdentitySet", "identitySet"),
                ("sharePointIdentitySet", "identitySet"),
                ("sharePointIdentity", "identity"),
            ] {
                base.entry(t.into()).or_insert(p.into());
            }
            Schema { props, base }
        })
    }

    fn has(t: &str, name: &str) -> bool {
        let s = load();
        let mut cur = Some(t.to_string());
        while let Some(ty) = cur {
            if s.props
                .get(&ty)
                .is_some_and(|p| p.iter().any(|x| x == name))
            {
                return true;
            }
            cur = s.base.get(&ty).cloned().filter(|b| !b.is_empty());
        }
        false
    }

    /// Known nested types (property → complex type) checked recursively.
    fn nested(t: &str, prop: &str) -> Option<&'static str> {
        Some(match (t, prop) {
            (_, "createdBy" | "lastModifiedBy" | "owner" | "grantedTo" | "grantedToV2") => {
                "identitySet"
            }
            (_, "parentReference") if t != "listItem" && t != "list" => "itemReference",
            (_, "fileSystemInfo") => "fileSystemInfo",
            ("driveItem", "file") => "file",
            ("driveItem", "folder") => "folder",
            ("driveItem", "deleted") => "deleted",
            ("driveItem", "shared") => "shared",
            ("file", "hashes") => "hashes",
            (_, "sharepointIds" | "sharePointIds") => "sharepointIds",
            ("drive", "quota") => "quota",
            ("site", "siteCollection") => "siteCollection",
            ("list", "list") => "listInfo",
            ("listItem", "contentType") => "contentTypeInfo",
            ("permission", "link") => "sharingLink",
            ("chatMessage", "body") => "itemBody",
            ("chatMessage", "channelIdentity") => "channelIdentity",
            ("chatMessage", "from") => "chatMessageFromIdentitySet",
            ("chatMessageFromIdentitySet", "user") => "teamworkUserIdentity",
            ("identitySet", "user" | "application" | "group") => "identity",
            _ => return None,
        })
    }

    /// Panics naming the first property that is not in the schema.
    pub fn check(t: &str, v: &Value) {
        let Some(m) = v.as_object() else { return };
        check_map(t, m, t);
    }

    fn check_map(t: &str, m: &Map<String, Value>, path: &str) {
        for (k, v) in m {
            if k.starts_with('@') || k.contains('@') {
                continue;
            }
            assert!(
                has(t, k),
                "property '{k}' at {path} is not in microsoft.graph.{t}"
            );
            if let Some(n) = nested(t, k)
                && let Some(o) = v.as_object()
            {
                check_map(n, o, &format!("{path}.{k}"));
            }
            if t == "driveItem" && k == "children" {
                for c in v.as_array().into_iter().flatten() {
                    check("driveItem", c);
                }
            }
            if t == "chatMessage" && k == "replies" {
                for c in v.as_array().into_iter().flatten() {
                    check("chatMessage", c);
                }
            }
        }
    }
}

struct T {
    emu: Emulator,
    http: reqwest::Client,
    token: String,
}

fn cfg() -> EmulatorConfig {
    EmulatorConfig {
        seed: 7,
        users: 4,
        throttling: ThrottleConfig {
            enabled: false,
            ..Default::default()
        },
        drive: DriveConfig {
            files_per_drive: 10,
            large_files: 1,
            large_file_size: 3 * 1024 * 1024 + 17,
            list_items: 5,
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn token_for(http: &reqwest::Client, emu: &Emulator, id: &str, secret: &str) -> String {
    let r: Value = http
        .post(emu.token_url())
        .form(&[
            ("client_id", id),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().expect("token").to_string()
}

impl T {
    async fn start(c: EmulatorConfig) -> T {
        let emu = Emulator::start(c).await.unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let token = token_for(&http, &emu, &emu.client_id(), &emu.client_secret()).await;
        T { emu, http, token }
    }

    fn url(&self, p: &str) -> String {
        if p.starts_with("http") {
            p.to_string()
        } else {
            format!("{}{p}", self.emu.graph_url())
        }
    }

    async fn req(
        &self,
        m: reqwest::Method,
        p: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Value) {
        let mut r = self.http.request(m, self.url(p)).bearer_auth(&self.token);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let (s, h) = (resp.status(), resp.headers().clone());
        let bytes = resp.bytes().await.unwrap();
        (s, h, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn get(&self, p: &str) -> (StatusCode, HeaderMap, Value) {
        self.req(reqwest::Method::GET, p, None, &[]).await
    }

    async fn admin(&self, p: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{p}", self.emu.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{p}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn first_user(&self) -> String {
        let (_, _, users) = self
            .get("/users?$select=id,userPrincipalName,assignedLicenses")
            .await;
        users["value"][0]["id"].as_str().unwrap().to_string()
    }

    /// Follows nextLinks to the deltaLink; returns (items, deltaLink, pages).
    async fn delta_round(&self, start: &str) -> (Vec<Value>, String, usize) {
        let mut url = start.to_string();
        let mut items = Vec::new();
        let mut pages = 0;
        loop {
            let (s, _, body) = self.get(&url).await;
            assert_eq!(s, StatusCode::OK, "{url}: {body}");
            pages += 1;
            items.extend(body["value"].as_array().unwrap().iter().cloned());
            if let Some(n) = body["@odata.nextLink"].as_str() {
                assert!(body.get("@odata.deltaLink").is_none());
                url = n.to_string();
            } else {
                return (
                    items,
                    body["@odata.deltaLink"]
                        .as_str()
                        .expect("deltaLink")
                        .to_string(),
                    pages,
                );
            }
        }
    }
}

#[tokio::test]
async fn onedrive_delta_rounds_changes_and_resync() {
    let t = T::start(cfg()).await;
    let user = t.first_user().await;
    let (s, _, drive) = t.get(&format!("/users/{user}/drive")).await;
    assert_eq!(s, StatusCode::OK, "{drive}");
    assert_eq!(drive["driveType"], "business");
    schema::check("drive", &drive);
    let did = drive["id"].as_str().unwrap().to_string();
    assert!(did.starts_with("b!"));

    // Full enumeration in pages of 4, with the SDK's delta() spelling.
    let (items, delta_link, pages) = t
        .delta_round(&format!("/drives/{did}/root/delta()?$top=4"))
        .await;
    assert!(pages > 1, "paged");
    assert!(items[0].get("root").is_some(), "root comes first");
    for it in &items {
        schema::check("driveItem", it);
        assert!(
            it["parentReference"].get("path").is_none(),
            "no parentReference.path in delta: {it}"
        );
        assert!(it.get("deleted").is_none());
    }
    assert!(
        delta_link.starts_with(&t.emu.graph_url()),
        "absolute deltaLink on the emulator's origin"
    );
    let files: Vec<&Value> = items.iter().filter(|i| i.get("file").is_some()).collect();
    assert!(files.len() >= 5);

    // No changes: an empty round.
    let (again, delta_link, _) = t.delta_round(&delta_link).await;
    assert!(again.is_empty(), "{again:?}");

    // Rename twice, delete one, add one.
    let a = files[0]["id"].as_str().unwrap();
    let b = files[1]["id"].as_str().unwrap();
    for name in ["first-name.txt", "second-name.txt"] {
        let (s, _, v) = t
            .req(
                reqwest::Method::PATCH,
                &format!("/drives/{did}/items/{a}"),
                Some(json!({"name": name})),
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, _, _) = t
        .req(
            reqwest::Method::DELETE,
            &format!("/drives/{did}/items/{b}"),
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, created) = t
        .req(
            reqwest::Method::PUT,
            &format!("/drives/{did}/root:/Notes/new.txt:/content"),
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let (changes, delta_link, _) = t.delta_round(&delta_link).await;
    let renamed: Vec<&Value> = changes.iter().filter(|c| c["id"] == json!(a)).collect();
    assert_eq!(renamed.len(), 1, "latest state once");
    assert_eq!(renamed[0]["name"], "second-name.txt");
    let gone = changes
        .iter()
        .find(|c| c["id"] == json!(b))
        .expect("deleted item reported");
    assert!(gone.get("deleted").is_some());
    assert!(gone.get("name").is_none(), "ODB omits name on deletes");
    assert!(changes.iter().any(|c| c["id"] == created["id"]));
    assert!(
        changes
            .iter()
            .any(|c| c["name"] == "Notes" && c.get("folder").is_some()),
        "new parent folder reported"
    );
    for c in &changes {
        schema::check("driveItem", c);
    }

    // token=latest gives an empty page and a link; a timestamp token is accepted.
    let (s, _, latest) = t
        .get(&format!("/drives/{did}/root/delta?token=latest"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(latest["value"].as_array().unwrap().is_empty());
    assert!(latest["@odata.deltaLink"].is_string());
    let (s, _, _) = t
        .get(&format!(
            "/drives/{did}/root/delta?token=2020-01-01T00%3A00%3A00Z"
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, err) = t
        .get(&format!("/drives/{did}/root/delta?token=forged"))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{err}");

    // Expired tokens: 410 with Location and resyncChangesApplyDifferences.
    t.admin("/_emulator/drive/expire-delta", json!({"drive": did}))
        .await;
    let (s, h, err) = t.get(&delta_link).await;
    assert_eq!(s, StatusCode::GONE);
    assert_eq!(
        err["error"]["innerError"]["code"],
        "resyncChangesApplyDifferences"
    );
    let loc = h
        .get("location")
        .expect("Location")
        .to_str()
        .unwrap()
        .to_string();
    let (restart, _, _) = t.delta_round(&loc).await;
    assert!(restart.len() >= files.len());
    t.emu.shutdown().await;
}

#[tokio::test]
async fn download_redirect_range_etags_and_hash() {
    let t = T::start(cfg()).await;
    let user = t.first_user().await;
    let (_, _, kids) = t.get(&format!("/users/{user}/drive/root/children")).await;
    let mut candidates = Vec::new();
    let (items, _, _) = t
        .delta_round(&format!("/users/{user}/drive/root/delta"))
        .await;
    candidates.extend(items.into_iter().filter(|i| i.get("file").is_some()));
    assert!(kids["value"].is_array());
    let big = candidates
        .iter()
        .find(|i| i["size"].as_u64() == Some(3 * 1024 * 1024 + 17))
        .expect("the large file lives in the first OneDrive");
    let did = big["parentReference"]["driveId"].as_str().unwrap();
    let id = big["id"].as_str().unwrap();
    let (_, _, item) = t.get(&format!("/drives/{did}/items/{id}")).await;
    schema::check("driveItem", &item);
    let hash = item["file"]["hashes"]["quickXorHash"]
        .as_str()
        .expect("hash")
        .to_string();
    assert_eq!(
        item["file"]["hashes"].as_object().unwrap().len(),
        1,
        "only quickXorHash, like ODB"
    );

    // 302 to a pre-authenticated URL on our origin.
    let (s, h, _) = t.get(&format!("/drives/{did}/items/{id}/content")).await;
    assert_eq!(s, StatusCode::FOUND);
    let loc = h["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(t.emu.base_url()));
    let full = t.http.get(&loc).send().await.unwrap();
    assert_eq!(full.status(), StatusCode::OK);
    let bytes = full.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, 3 * 1024 * 1024 + 17);
    assert_eq!(quick_xor_hash(&bytes), hash);

    // Ranges of several sizes.
    for (range, start, end) in [
        ("bytes=0-0", 0usize, 0usize),
        ("bytes=100-65635", 100, 65635),
        ("bytes=3145700-", 3145700, bytes.len() - 1),
        ("bytes=-10", bytes.len() - 10, bytes.len() - 1),
    ] {
        let r = t
            .http
            .get(&loc)
            .header("Range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        let cr = r.headers()["content-range"].to_str().unwrap().to_string();
        assert_eq!(cr, format!("bytes {start}-{end}/{}", bytes.len()));
        assert_eq!(
            &r.bytes().await.unwrap()[..],
            &bytes[start..=end],
            "{range}"
        );
    }
    let r = t
        .http
        .get(&loc)
        .header("Range", "bytes=99999999-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // If-None-Match with the eTag or cTag: 304 on /content and on the download URL.
    let etag = item["eTag"].as_str().unwrap();
    let ctag = item["cTag"].as_str().unwrap();
    let (s, _, _) = t
        .req(
            reqwest::Method::GET,
            &format!("/drives/{did}/items/{id}/content"),
            None,
            &[("If-None-Match", etag)],
        )
        .await;
    assert_eq!(s, StatusCode::NOT_MODIFIED);
    let r = t
        .http
        .get(&loc)
        .header("If-None-Match", ctag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    // Download URLs expire (simulated time).
    t.admin("/_emulator/clock/advance", json!({"seconds": 3000}))
        .await;
    assert_eq!(
        t.http
            .get(&loc)
            .header("Range", "bytes=0-0")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::PARTIAL_CONTENT,
        "still valid before the hour"
    );
    t.admin("/_emulator/clock/advance", json!({"seconds": 1000}))
        .await;
    let r = t.http.get(&loc).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    t.emu.shutdown().await;
}

#[tokio::test]
async fn upload_session_rules_and_conflicts() {
    let t = T::start(cfg()).await;
    let user = t.first_user().await;
    let data: Vec<u8> = (0..800_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let path = format!("/users/{user}/drive/root:/Restore/big.bin:/createUploadSession");
    let body = json!({"item": {"@microsoft.graph.conflictBehavior": "fail", "fileSystemInfo": {"createdDateTime": "2019-05-01T10:00:00Z", "lastModifiedDateTime": "2020-06-02T11:00:00Z"}}});
    let (s, _, sess) = t
        .req(reqwest::Method::POST, &path, Some(body.clone()), &[])
        .await;
    assert_eq!(s, StatusCode::OK, "{sess}");
    assert_eq!(sess["nextExpectedRanges"], json!(["0-"]));
    let url = sess["uploadUrl"].as_str().unwrap().to_string();
    assert!(url.starts_with(t.emu.base_url()));
    let put = |a: usize, b: usize, auth: bool| {
        let mut r = t
            .http
            .put(&url)
            .header(
                "Content-Range",
                format!("bytes {a}-{}/{}", b - 1, data.len()),
            )
            .body(data[a..b].to_vec());
        if auth {
            r = r.bearer_auth(&t.token);
        }
        r.send()
    };
    assert_eq!(
        put(0, 327_680, true).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "Authorization on the upload URL"
    );
    let r = put(0, 327_680, false).await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["nextExpectedRanges"], json!(["327680-"]));
    let r = put(0, 327_680, false).await.unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "overlap");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "invalidRange");
    assert_eq!(
        put(327_680, 327_680 + 1000, false).await.unwrap().status(),
        StatusCode::BAD_REQUEST,
        "non-final fragment not a 320 KiB multiple"
    );
    assert_eq!(
        put(700_000, 800_000, false).await.unwrap().status(),
        StatusCode::RANGE_NOT_SATISFIABLE,
        "out of order"
    );
    let status: Value = t.http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["nextExpectedRanges"], json!(["327680-"]));
    let r = put(327_680, 800_000, false).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let item: Value = r.json().await.unwrap();
    schema::check("driveItem", &item);
    assert_eq!(item["size"], json!(800_000));
    assert_eq!(
        item["file"]["hashes"]["quickXorHash"],
        json!(quick_xor_hash(&data))
    );
    assert_eq!(
        item["fileSystemInfo"]["lastModifiedDateTime"], "2020-06-02T11:00:00Z",
        "fileSystemInfo honoured"
    );
    assert_eq!(
        item["fileSystemInfo"]["createdDateTime"],
        "2019-05-01T10:00:00Z"
    );

    // Same name again with fail: 409 at commit; with rename: a new name.
    let (_, _, sess) = t.req(reqwest::Method::POST, &path, Some(body), &[]).await;
    let url2 = sess["uploadUrl"].as_str().unwrap();
    let r = t
        .http
        .put(url2)
        .header("Content-Range", "bytes 0-9/10")
        .body(vec![1u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "nameAlreadyExists");
    let (_, _, sess) = t
        .req(
            reqwest::Method::POST,
            &path,
            Some(json!({"item": {"@microsoft.graph.conflictBehavior": "rename"}})),
            &[],
        )
        .await;
    let r = t
        .http
        .put(sess["uploadUrl"].as_str().unwrap())
        .header("Content-Range", "bytes 0-9/10")
        .body(vec![1u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "big 1.bin");
    // replace: a new version of the existing item (200).
    let (_, _, sess) = t
        .req(
            reqwest::Method::POST,
            &path,
            Some(json!({"item": {"@microsoft.graph.conflictBehavior": "replace"}})),
            &[],
        )
        .await;
    let r = t
        .http
        .put(sess["uploadUrl"].as_str().unwrap())
        .header("Content-Range", "bytes 0-9/10")
        .body(vec![2u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], item["id"]);
    let (_, _, versions) = t
        .get(&format!(
            "/users/{user}/drive/items/{}/versions",
            item["id"].as_str().unwrap()
        ))
        .await;
    let ids: Vec<&str> = versions["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["2.0", "1.0"], "newest first");
    // DELETE cancels a session.
    let (_, _, sess) = t
        .req(reqwest::Method::POST, &path, Some(json!({})), &[])
        .await;
    let u = sess["uploadUrl"].as_str().unwrap();
    assert_eq!(
        t.http.delete(u).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.http.get(u).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    t.emu.shutdown().await;
}

#[tokio::test]
async fn small_put_versions_patch_permissions_and_errors() {
    let t = T::start(cfg()).await;
    let user = t.first_user().await;
    let base = format!("/users/{user}/drive");
    let put = |name: &str, body: &'static [u8], q: &str| {
        let url = t.url(&format!("{base}/root:/{name}:/content{q}"));
        t.http.put(url).bearer_auth(&t.token).body(body).send()
    };
    let r = put("Reports/summary.txt", b"version one", "")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let one: Value = r.json().await.unwrap();
    let r = put("Reports/summary.txt", b"version two!", "")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "replace is the PUT default");
    let two: Value = r.json().await.unwrap();
    assert_eq!(one["id"], two["id"]);
    assert_ne!(one["cTag"], two["cTag"]);
    let r = put(
        "Reports/summary.txt",
        b"x",
        "?@microsoft.graph.conflictBehavior=fail",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let id = two["id"].as_str().unwrap();
    // Versions newest first, old content still downloadable.
    let (_, _, vs) = t.get(&format!("{base}/items/{id}/versions")).await;
    let vs = vs["value"].as_array().unwrap().clone();
    assert_eq!(vs.len(), 2);
    for v in &vs {
        schema::check("driveItemVersion", v);
    }
    let (s, h, _) = t
        .get(&format!("{base}/items/{id}/versions/1.0/content"))
        .await;
    assert_eq!(s, StatusCode::FOUND);
    let old = t
        .http
        .get(h["location"].to_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&old[..], b"version one");
    // PATCH rename + fileSystemInfo: eTag changes, cTag does not.
    let (s, _, three) = t
        .req(reqwest::Method::PATCH, &format!("{base}/items/{id}"), Some(json!({"name": "final.txt", "fileSystemInfo": {"lastModifiedDateTime": "2021-01-01T00:00:00Z"}})), &[])
        .await;
    assert_eq!(s, StatusCode::OK, "{three}");
    assert_eq!(three["cTag"], two["cTag"]);
    assert_ne!(three["eTag"], two["eTag"]);
    assert_eq!(
        three["fileSystemInfo"]["lastModifiedDateTime"],
        "2021-01-01T00:00:00Z"
    );
    // If-Match with a stale eTag: 412.
    let stale = two["eTag"].as_str().unwrap();
    let (s, _, _) = t
        .req(
            reqwest::Method::DELETE,
            &format!("{base}/items/{id}"),
            None,
            &[("If-Match", stale)],
        )
        .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    // Folder creation and conflicts.
    let (s, _, f) = t
        .req(
            reqwest::Method::POST,
            &format!("{base}/root/children"),
            Some(json!({"name": "Archive 2020", "folder": {}})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{f}");
    let (s, _, e) = t
        .req(
            reqwest::Method::POST,
            &format!("{base}/root/children"),
            Some(json!({"name": "Archive 2020", "folder": {}})),
            &[],
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("nameAlreadyExists"))
    );
    let (s, _, e) = t
        .req(
            reqwest::Method::POST,
            &format!("{base}/root/children"),
            Some(json!({"name": "bad:name", "folder": {}})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    // Move into the new folder by parentReference.id.
    let (s, _, moved) = t
        .req(
            reqwest::Method::PATCH,
            &format!("{base}/items/{id}"),
            Some(json!({"parentReference": {"id": f["id"]}})),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        moved["parentReference"]["path"],
        json!(format!(
            "/drives/{}/root:/Archive 2020",
            moved["parentReference"]["driveId"].as_str().unwrap()
        ))
    );
    // Permissions: the owner permission is inherited.
    let (s, _, perms) = t.get(&format!("{base}/items/{id}/permissions")).await;
    assert_eq!(s, StatusCode::OK);
    let perms = perms["value"].as_array().unwrap();
    assert!(
        perms
            .iter()
            .any(|p| p["roles"] == json!(["owner"]) && p.get("inheritedFrom").is_some())
    );
    for p in perms {
        schema::check("permission", p);
    }
    // Errors: unknown item, unknown $select property, unknown segment.
    let (s, _, e) = t.get(&format!("{base}/items/01NOPE")).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("itemNotFound"))
    );
    let (s, _, _) = t
        .get(&format!("{base}/root?$select=name,bogusProperty"))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = t.get(&format!("{base}/root/nonsense")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // The read-only app cannot write.
    let ro = token_for(
        &t.http,
        &t.emu,
        &t.emu.readonly_client_id(),
        &t.emu.readonly_client_secret(),
    )
    .await;
    let r = t
        .http
        .put(t.url(&format!("{base}/root:/x.txt:/content")))
        .bearer_auth(&ro)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = t
        .http
        .get(t.url(&format!("{base}/root")))
        .bearer_auth(&ro)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // No token: 401.
    let r = t
        .http
        .get(t.url(&format!("{base}/root")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    t.emu.shutdown().await;
}

#[tokio::test]
async fn sites_libraries_lists_and_items() {
    let t = T::start(cfg()).await;
    let (s, _, first) = t.get("/sites/getAllSites?$top=2").await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(first["value"].as_array().unwrap().len(), 2);
    let mut sites = first["value"].as_array().unwrap().clone();
    let mut next = first["@odata.nextLink"].as_str().map(String::from);
    while let Some(n) = next {
        let (_, _, p) = t.get(&n).await;
        sites.extend(p["value"].as_array().unwrap().iter().cloned());
        next = p["@odata.nextLink"].as_str().map(String::from);
    }
    for s in &sites {
        schema::check("site", s);
    }
    assert!(
        sites.iter().any(|s| s["isPersonalSite"] == json!(true)),
        "OneDrive sites are listed"
    );
    let root = sites
        .iter()
        .find(|s| s.get("root").is_some())
        .expect("root site");
    let sid = root["id"].as_str().unwrap();
    assert_eq!(sid.split(',').count(), 3);
    let (_, _, by_path) = t
        .get(&format!(
            "/sites/{}",
            root["siteCollection"]["hostname"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_path["id"], root["id"]);
    let (_, _, drives) = t.get(&format!("/sites/{sid}/drives")).await;
    let names: Vec<&str> = drives["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Documents", "Site Pages"]);
    let pages = drives["value"][1]["id"].as_str().unwrap();
    let (_, _, kids) = t.get(&format!("/drives/{pages}/root/children")).await;
    assert!(
        kids["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "Home.aspx")
    );
    let (_, _, lists) = t.get(&format!("/sites/{sid}/lists")).await;
    for l in lists["value"].as_array().unwrap() {
        schema::check("list", l);
    }
    let tasks = lists["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["list"]["template"] == "genericList")
        .expect("a generic list");
    let (_, _, items) = t
        .get(&format!(
            "/sites/{sid}/lists/{}/items?$expand=fields&$top=2",
            tasks["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(items["value"].as_array().unwrap().len(), 2);
    assert!(items["@odata.nextLink"].is_string());
    let it = &items["value"][0];
    schema::check("listItem", it);
    assert!(it["fields"]["Title"].is_string());
    // Microsoft 365 groups have a team site whose default library is the group's drive.
    let (_, _, groups) = t.get("/groups").await;
    let unified = groups["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| {
            g["groupTypes"]
                .as_array()
                .is_some_and(|a| a.contains(&json!("Unified")))
        })
        .expect("a Microsoft 365 group");
    let gid = unified["id"].as_str().unwrap();
    let (s, _, gdrive) = t.get(&format!("/groups/{gid}/drive")).await;
    assert_eq!(s, StatusCode::OK, "{gdrive}");
    assert_eq!(gdrive["driveType"], "documentLibrary");
    assert_eq!(gdrive["owner"]["group"]["id"], json!(gid));
    let (s, _, gsite) = t.get(&format!("/groups/{gid}/sites/root")).await;
    assert_eq!(s, StatusCode::OK);
    let (_, _, gdrives) = t
        .get(&format!("/sites/{}/drives", gsite["id"].as_str().unwrap()))
        .await;
    assert_eq!(gdrives["value"][0]["id"], gdrive["id"]);
    let (s, _, _) = t.get("/sites/contoso.sharepoint.com,00000000-0000-0000-0000-000000000000,00000000-0000-0000-0000-000000000000").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    t.emu.shutdown().await;
}

#[tokio::test]
async fn scenarios_ransomware_purge_departure_and_throttling() {
    let mut c = cfg();
    c.throttling = ThrottleConfig {
        enabled: true,
        sharepoint_ru_per_minute: 40,
        ..Default::default()
    };
    let t = T::start(c).await;
    let user = t.first_user().await;
    let (_, _, drive) = t.get(&format!("/users/{user}/drive")).await;
    let did = drive["id"].as_str().unwrap().to_string();
    let (_, delta_link, _) = t.delta_round(&format!("/drives/{did}/root/delta")).await;
    let r = t
        .admin("/_emulator/drive/ransomware", json!({"drive": did}))
        .await;
    assert!(r["encrypted"].as_u64().unwrap() >= 5, "{r}");
    assert!(r["notes"].as_u64().unwrap() >= 1);
    let (changes, _, _) = t.delta_round(&delta_link).await;
    let locked: Vec<&Value> = changes
        .iter()
        .filter(|c| c["name"].as_str().is_some_and(|n| n.ends_with(".locked")))
        .collect();
    assert_eq!(locked.len() as u64, r["encrypted"].as_u64().unwrap());
    assert!(
        changes
            .iter()
            .any(|c| c["name"] == "README_RESTORE_FILES.txt")
    );
    // Throttling: 429 with Retry-After once the resource units are spent; RateLimit-* from 80%.
    let mut saw_ratelimit = false;
    let mut throttled = None;
    for _ in 0..40 {
        let (s, h, _) = t.get(&format!("/drives/{did}/root")).await;
        saw_ratelimit |= h.contains_key("ratelimit-remaining");
        if s == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(h);
            break;
        }
    }
    let h = throttled.expect("throttled");
    assert!(h.get("retry-after").is_some());
    assert!(saw_ratelimit);
    let r = t
        .http
        .post(format!("{}/_emulator/throttling", t.emu.base_url()))
        .json(&json!({"enabled": false, "reset": true}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    // Insider purge and departure.
    let p = t
        .admin(
            "/_emulator/drive/purge",
            json!({"drive": did, "share": 1.0}),
        )
        .await;
    assert!(p["deleted"].as_u64().unwrap() >= 5);
    let (_, _, kids) = t.get(&format!("/drives/{did}/root/children")).await;
    assert!(
        kids["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("folder").is_some()),
        "only folders remain"
    );
    t.admin("/_emulator/drive/remove-onedrive", json!({"user": user}))
        .await;
    let (s, _, _) = t.get(&format!("/drives/{did}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = t.get(&format!("/users/{user}/drive")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    t.emu.shutdown().await;
}

#[tokio::test]
async fn activity_is_deterministic_across_runs() {
    let mut names = Vec::new();
    for _ in 0..2 {
        let t = T::start(cfg()).await;
        let user = t.first_user().await;
        let (_, dl, _) = t
            .delta_round(&format!("/users/{user}/drive/root/delta"))
            .await;
        let a = t
            .admin(
                "/_emulator/drive/activity",
                json!({"user": user, "days": 2}),
            )
            .await;
        assert_eq!(a["created"], json!(4));
        // Two simulated days passed: the access token expired, get a new one.
        let mut t = t;
        t.token = token_for(&t.http, &t.emu, &t.emu.client_id(), &t.emu.client_secret()).await;
        let (changes, _, _) = t.delta_round(&dl).await;
        let mut n: Vec<String> = changes
            .iter()
            .map(|c| format!("{}|{}", c["id"], c["name"]))
            .collect();
        n.sort();
        names.push(n);
        t.emu.shutdown().await;
    }
    assert_eq!(names[0], names[1]);
}

#[tokio::test]
async fn departed_users_onedrive_disappears_after_retention() {
    let t = T::start(cfg()).await;
    let user = t.first_user().await;
    let (_, _, drive) = t.get(&format!("/users/{user}/drive")).await;
    let did = drive["id"].as_str().unwrap().to_string();
    let r = t
        .http
        .post(format!(
            "{}/_emulator/scenarios/departure",
            t.emu.base_url()
        ))
        .json(&json!({"user": user}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // The account is gone, the drive is still reachable by id during retention.
    let (s, _, _) = t.get(&format!("/users/{user}/drive")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = t.get(&format!("/drives/{did}/root/children")).await;
    assert_eq!(s, StatusCode::OK);
    t.admin("/_emulator/clock/advance", json!({"days": 31}))
        .await;
    let mut t = t;
    t.token = token_for(&t.http, &t.emu, &t.emu.client_id(), &t.emu.client_secret()).await;
    let (s, _, _) = t.get(&format!("/drives/{did}")).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "OneDrive removed after 30 days of retention"
    );
    t.emu.shutdown().await;
}
