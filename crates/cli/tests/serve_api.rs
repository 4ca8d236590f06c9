//! `tenantvault serve` as a real process against an emulated tenant in this process: every
//! API route (and every route of `docs/openapi.yaml` answers), authorization per role (a
//! read-only token cannot start a restore), a backup started through the API, browse,
//! restore and export runs, `/metrics`, the audit trail, and failure notifications reaching a
//! local webhook receiver and a local SMTP sink.

mod serve_common;

use std::time::Duration;

use serde_json::{Value, json};
use serve_common::*;
use tenantvault_emulator::Emulator;

fn config(dir: &std::path::Path, hook: &str, smtp_port: u16) -> std::path::PathBuf {
    let text = format!(
        r#"
[serve]
listen = "127.0.0.1:0"
jitter = "0s"
export_root = "{exports}"

[[serve.jobs]]
name = "mail"
kind = "exchange"
schedule = "daily at 03:00"
parallel = 2

[[serve.jobs]]
name = "ghost"
kind = "exchange"
schedule = "weekly"
mailboxes = ["nobody@nowhere.invalid"]

[[serve.jobs]]
name = "gc"
kind = "gc"
schedule = "weekly"

[notifications]
webhooks = ["{hook}"]

[notifications.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "tenantvault@example.com"
to = ["ops@example.com"]

{tokens}
"#,
        exports = dir.join("exports").display(),
        tokens = tokens_toml()
    );
    write(&dir.join("tenantvault.toml"), &text)
}

fn id(v: &Value) -> u64 {
    v["run"]
        .as_u64()
        .unwrap_or_else(|| panic!("no run id in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_every_route_with_least_privilege_and_notifies_failures() {
    let emu = Emulator::start(tenant(81, 2, 8)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    init_repo(&emu, dir.path()).await;
    let (hook, hooks) = webhook_receiver().await;
    let (smtp_port, mails) = smtp_sink().await;
    let cfg = config(dir.path(), &hook, smtp_port);
    let srv = Server::start(&emu, dir.path(), &cfg).await;
    let timeout = Duration::from_secs(120);

    // health needs no token; everything else does
    let (code, h) = srv.get(None, "/health").await;
    assert_eq!((code, h["status"].as_str()), (200, Some("ok")));
    assert_eq!(srv.get(None, "/api/v1/jobs").await.0, 401);
    let bad = srv
        .http
        .get(srv.url("/api/v1/jobs"))
        .bearer_auth("tv_not_a_token")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 401);
    let (code, jobs) = srv.get(Some("read-only"), "/api/v1/jobs").await;
    assert_eq!(code, 200);
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 3);

    // start a backup: read-only may not, operator may
    assert_eq!(
        srv.post(Some("read-only"), "/api/v1/jobs/mail/start", json!({}))
            .await
            .0,
        403
    );
    assert_eq!(
        srv.post(Some("auditor"), "/api/v1/jobs/mail/start", json!({}))
            .await
            .0,
        403
    );
    let (code, started) = srv
        .post(Some("operator"), "/api/v1/jobs/mail/start", json!({}))
        .await;
    assert_eq!(code, 202, "{started}");
    let mail_run = id(&started);
    let run = srv.wait_run(mail_run, timeout).await;
    assert_eq!(run["status"], "ok", "{run}\n{}", srv.log());
    assert_eq!(run["trigger"], "manual");
    assert_eq!(run["requested_by"], "operator-token");
    assert!(run["outcome"]["items"].as_u64().unwrap() >= 16, "{run}");
    assert_eq!(run["outcome"]["owners"], 2);
    assert_eq!(
        srv.post(Some("operator"), "/api/v1/jobs/nope/start", json!({}))
            .await
            .0,
        404
    );

    // owners, snapshots, browse
    let (code, owners) = srv.get(Some("read-only"), "/api/v1/owners").await;
    assert_eq!(code, 200);
    let owners = owners["owners"].as_array().unwrap();
    assert_eq!(owners.len(), 2, "{owners:?}");
    assert!(owners.iter().all(|o| o["lastBackup"]["id"].is_string()));
    let (code, snaps) = srv
        .get(Some("read-only"), "/api/v1/snapshots?workload=exchange")
        .await;
    assert_eq!(code, 200);
    let snap = snaps["snapshots"][0]["id"].as_str().unwrap().to_string();
    let (code, one) = srv
        .get(Some("read-only"), &format!("/api/v1/snapshots/{snap}"))
        .await;
    assert_eq!(
        (code, one["summary"]["id"].as_str()),
        (200, Some(snap.as_str()))
    );
    assert_eq!(
        srv.get(Some("read-only"), "/api/v1/snapshots/ffffffffffff")
            .await
            .0,
        404
    );
    let items_path = format!("/api/v1/snapshots/{snap}/items?kind=message");
    assert_eq!(srv.get(Some("read-only"), &items_path).await.0, 403);
    assert_eq!(srv.get(Some("auditor"), &items_path).await.0, 403);
    let (code, items) = srv.get(Some("operator"), &items_path).await;
    assert_eq!(code, 200);
    let items = items["items"].as_array().unwrap().clone();
    assert!(!items.is_empty());
    assert!(items.iter().all(|i| i["kind"] == "message"));
    let (_, all) = srv
        .get(Some("admin"), &format!("/api/v1/snapshots/{snap}/items"))
        .await;
    let all = all["items"].as_array().unwrap();
    assert_eq!(
        all.iter().filter(|i| i["kind"] == "message").count(),
        items.len(),
        "the kind filter keeps exactly the messages"
    );
    assert!(all.len() > items.len(), "folders, events and contacts too");
    let msg = items[0]["id"].as_str().unwrap().to_string();

    // restore: a read-only token cannot start one; an operator can
    let body = json!({ "snapshot": snap, "items": [msg] });
    let (code, denied) = srv
        .post(Some("read-only"), "/api/v1/restores", body.clone())
        .await;
    assert_eq!(code, 403, "{denied}");
    assert_eq!(
        srv.post(None, "/api/v1/restores", body.clone()).await.0,
        401
    );
    assert_eq!(
        srv.post(
            Some("operator"),
            "/api/v1/restores",
            json!({ "snapshot": snap, "bogus": 1 })
        )
        .await
        .0,
        400
    );
    let (code, r) = srv
        .post(Some("operator"), "/api/v1/restores", body.clone())
        .await;
    assert_eq!(code, 202, "{r}");
    let restore = srv.wait_run(id(&r), timeout).await;
    assert_eq!(restore["status"], "ok", "{restore}");
    assert_eq!(restore["kind"], "restore");
    assert_eq!(restore["outcome"]["items"], 1);

    // export into the export root only
    let (code, e) = srv
        .post(
            Some("operator"),
            "/api/v1/exports",
            json!({ "snapshot": snap, "target": "case-1" }),
        )
        .await;
    assert_eq!(code, 202, "{e}");
    let export = srv.wait_run(id(&e), timeout).await;
    assert_eq!(export["status"], "ok", "{export}");
    assert!(export["outcome"]["items"].as_u64().unwrap() >= 8);
    let written = walk(&dir.path().join("exports/case-1"));
    assert!(written.iter().any(|p| p.ends_with(".eml")), "{written:?}");
    assert_eq!(
        srv.post(
            Some("operator"),
            "/api/v1/exports",
            json!({ "snapshot": snap, "target": "../outside" }),
        )
        .await
        .0,
        400
    );
    assert!(!dir.path().join("outside").exists());

    // cancel: finished runs conflict, unknown runs are 404, read-only may not
    let cancel = format!("/api/v1/runs/{mail_run}/cancel");
    assert_eq!(srv.post(Some("read-only"), &cancel, json!({})).await.0, 403);
    assert_eq!(srv.post(Some("operator"), &cancel, json!({})).await.0, 409);
    assert_eq!(
        srv.post(Some("operator"), "/api/v1/runs/99999/cancel", json!({}))
            .await
            .0,
        404
    );

    // a failing job notifies by webhook and e-mail
    let (_, g) = srv
        .post(Some("admin"), "/api/v1/jobs/ghost/start", json!({}))
        .await;
    let ghost = srv.wait_run(id(&g), timeout).await;
    assert_eq!(ghost["status"], "failed", "{ghost}");
    assert!(
        ghost["outcome"]["error"]
            .as_str()
            .unwrap()
            .contains("nobody@nowhere.invalid"),
        "{ghost}"
    );
    eventually("the webhook", timeout, || {
        hooks
            .lock()
            .unwrap()
            .iter()
            .any(|h| h["event"] == "failed" && h["data"]["name"] == "ghost")
    })
    .await;
    eventually("the e-mail", timeout, || {
        mails.lock().unwrap().iter().any(|m| {
            m.contains("Subject: tenantvault: job ghost FAILED") && m.contains("ops@example.com")
        })
    })
    .await;
    assert!(
        !hooks
            .lock()
            .unwrap()
            .iter()
            .any(|h| h["data"]["name"] == "mail"),
        "a successful run notifies nobody"
    );

    // history
    let (code, runs) = srv.get(Some("read-only"), "/api/v1/runs?job=mail").await;
    assert_eq!(code, 200);
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1);

    // metrics
    assert_eq!(srv.get(None, "/metrics").await.0, 401);
    let (code, text) = srv.get(Some("read-only"), "/metrics").await;
    assert_eq!(code, 200);
    let text = text.as_str().unwrap().to_string();
    for needle in [
        "tenantvault_job_runs_total{job=\"mail\",status=\"ok\"} 1",
        "tenantvault_job_runs_total{job=\"ghost\",status=\"failed\"} 1",
        "tenantvault_job_duration_seconds_count{job=\"mail\"} 1",
        "tenantvault_graph_requests_total ",
        "tenantvault_graph_throttled_total ",
        "tenantvault_repository_size_bytes ",
        "tenantvault_owner_last_success_timestamp_seconds{workload=\"exchange\"",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }

    // holds: anyone may read them, only admins create and release
    let (code, holds) = srv.get(Some("read-only"), "/api/v1/holds").await;
    assert_eq!(
        (code, holds["holds"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let hold_body = json!({ "case": "LIT-7", "reason": "litigation", "scope": { "owners": [] } });
    assert_eq!(
        srv.post(Some("operator"), "/api/v1/holds", hold_body.clone())
            .await
            .0,
        403
    );
    let (code, hold) = srv
        .post(Some("admin"), "/api/v1/holds", hold_body.clone())
        .await;
    assert_eq!(code, 201, "{hold}");
    assert_eq!(hold["created_by"], "admin-token");
    let hold_id = hold["id"].as_str().unwrap().to_string();
    let release = format!("/api/v1/holds/{hold_id}/release");
    assert_eq!(
        srv.post(Some("operator"), &release, json!({ "reason": "settled" }))
            .await
            .0,
        403
    );
    let (code, released) = srv
        .post(Some("admin"), &release, json!({ "reason": "settled" }))
        .await;
    assert_eq!(code, 200, "{released}");
    assert!(released["released"].is_object(), "{released}");

    // policies (none configured) and alerts
    let (code, p) = srv.get(Some("read-only"), "/api/v1/policies").await;
    assert_eq!((code, p["policies"].is_null()), (200, true));
    let (code, a) = srv.get(Some("read-only"), "/api/v1/alerts").await;
    assert_eq!((code, a["alerts"].is_array()), (200, true));

    // the repository audit log holds the service's runs and the API's changes and refusals
    let (code, log) = srv.get(Some("auditor"), "/api/v1/audit").await;
    assert_eq!(code, 200);
    let records = log["records"].as_array().unwrap();
    let logged = |op: &str, actor: &str, outcome: &str| {
        records
            .iter()
            .any(|r| r["operation"] == op && r["actor"] == actor && r["outcome"] == outcome)
    };
    assert!(
        logged("serve exchange", "operator-token", "ok"),
        "{records:?}"
    );
    assert!(logged("serve restore", "operator-token", "ok"));
    assert!(logged("serve exchange", "admin-token", "failed"));
    assert!(logged(
        "api POST /api/v1/restores",
        "read-only-token",
        "refused"
    ));
    assert!(logged("api POST /api/v1/holds", "admin-token", "ok"));
    assert_eq!(srv.get(Some("read-only"), "/api/v1/audit").await.0, 403);

    // every documented route answers (none is 404/405 with valid arguments)
    for (method, path) in documented_routes() {
        let concrete = path
            .replace("/jobs/{name}", "/jobs/gc")
            .replace("/runs/{id}", &format!("/runs/{mail_run}"))
            .replace("/snapshots/{id}", &format!("/snapshots/{snap}"))
            .replace("/holds/{id}", &format!("/holds/{hold_id}"));
        let (code, body) = if method == "GET" {
            srv.get(Some("admin"), &concrete).await
        } else {
            let body = match path.as_str() {
                "/api/v1/restores" => json!({ "snapshot": snap, "items": [msg] }),
                "/api/v1/exports" => json!({ "snapshot": snap, "target": "case-2" }),
                "/api/v1/holds" => hold_body.clone(),
                "/api/v1/holds/{id}/release" => json!({ "reason": "again" }),
                _ => json!({}),
            };
            srv.post(Some("admin"), &concrete, body).await
        };
        assert!(
            ![404, 405].contains(&code),
            "{method} {concrete} answered {code}: {body}"
        );
    }

    // the audit trail: auditors and admins only; it names the actor of every call
    assert_eq!(srv.get(Some("operator"), "/api/v1/audit").await.0, 403);
    assert_eq!(srv.get(Some("read-only"), "/api/v1/audit").await.0, 403);
    let (code, audit) = srv
        .get(Some("auditor"), "/api/v1/audit/calls?limit=1000")
        .await;
    assert_eq!(code, 200);
    let calls = audit["calls"].as_array().unwrap();
    let has = |actor: &str, method: &str, path: &str, status: u64| {
        calls.iter().any(|c| {
            c["actor"] == actor
                && c["method"] == method
                && c["path"] == path
                && c["status"] == status
        })
    };
    assert!(has("read-only-token", "POST", "/api/v1/restores", 403));
    assert!(has("operator-token", "POST", "/api/v1/restores", 202));
    assert!(has("anonymous", "GET", "/api/v1/jobs", 401));
    assert!(has(
        "operator-token",
        "POST",
        "/api/v1/jobs/mail/start",
        202
    ));
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if e.file_type().is_file() {
            out.push(e.path().display().to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_is_a_usage_error_before_anything_starts() {
    let emu = Emulator::start(tenant(83, 1, 1)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    init_repo(&emu, dir.path()).await;
    for (text, needle) in [
        (
            "[serve]\n[[serve.jobs]]\nname = \"mail\"\nkind = \"exchange\"\nschedule = \"sometimes\"\n",
            "job \"mail\"",
        ),
        ("[serve]\nlisten_on = \"x\"\n", "listen_on"),
        (
            "[api]\n[[api.tokens]]\nname = \"x\"\nrole = \"root\"\nsha256 = \"00\"\n",
            "root",
        ),
        (
            "[api]\n[[api.tokens]]\nname = \"x\"\nrole = \"admin\"\nsha256 = \"00\"\n",
            "64 hex digits",
        ),
        ("[notifications]\nwebhooks = [\"ftp://x\"]\n", "http(s)"),
        (
            "[serve]\n[[serve.jobs]]\nname = \"r\"\nkind = \"retention\"\n",
            "needs [retention] policies",
        ),
    ] {
        let cfg = write(&dir.path().join("bad.toml"), text);
        let out = command(&emu, dir.path())
            .arg("--config")
            .arg(&cfg)
            .arg("serve")
            .output()
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(needle), "{text}: {err}");
    }
    // nothing was started: no job history was created
    let history = walkdir::WalkDir::new(dir.path().join("cache"))
        .into_iter()
        .flatten()
        .any(|e| e.file_name() == "serve.sqlite");
    assert!(
        !history,
        "a job history was created for a refused configuration"
    );

    // hash-token prints the SHA-256 the configuration stores
    let out = command(&emu, dir.path())
        .args(["--json", "serve", "hash-token", "--token", "abc"])
        .output()
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["sha256"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
