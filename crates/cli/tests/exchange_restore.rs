//! End-to-end `tenantvault restore exchange` / `export exchange` against an in-process emulator:
//! back up, delete in the tenant, restore (new folder, in place with conflicts, dry run), a
//! restore that fails item by item (exit code 3), export to a directory and a ZIP.

mod common;

use std::path::Path;

use common::{Env, assert_code};
use serde_json::Value;
use tenantvault_emulator::{Emulator, EmulatorConfig, GeneratorConfig};
use tenantvault_graph::{Credential, GraphClient, GraphConfig, SecretString};

fn write_config(path: &Path, emu: &Emulator, client_id: &str, secret: &str) {
    let text = format!(
        "[graph]\ntenant_id = \"{}\"\nclient_id = \"{client_id}\"\nclient_secret = \"{secret}\"\n\
         authority_host = \"{}\"\ngraph_base = \"{}\"\n",
        emu.tenant_id(),
        emu.base_url(),
        emu.graph_url()
    );
    std::fs::write(path, text).unwrap();
}

async fn run(env: &Env, args: Vec<String>) -> std::process::Output {
    let mut cmd = env.cmd();
    cmd.args(&args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run tenantvault"))
        .await
        .unwrap()
}

fn json_out(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_and_export_exchange_end_to_end() {
    let mut cfg = EmulatorConfig {
        seed: 31,
        users: 2,
        generator: GeneratorConfig {
            messages_per_mailbox: 8,
            user_folders: 2,
            events_per_mailbox: 2,
            contacts_per_mailbox: 2,
            ..GeneratorConfig::default()
        },
        ..EmulatorConfig::default()
    };
    cfg.throttling.enabled = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let env = Env::new();
    env.init("256KiB");
    let conf = env.path("graph.toml");
    write_config(&conf, &emu, &emu.client_id(), &emu.client_secret());
    let ro_conf = env.path("readonly.toml");
    write_config(
        &ro_conf,
        &emu,
        &emu.readonly_client_id(),
        &emu.readonly_client_secret(),
    );
    let conf_s = conf.to_str().unwrap().to_string();
    let upn = emu
        .state()
        .directory
        .read()
        .live_users()
        .next()
        .unwrap()
        .upn
        .clone();

    let out = run(
        &env,
        strs(&["backup", "exchange", "--config", &conf_s, "--mailbox", &upn]),
    )
    .await;
    assert_code(&out, 0, &["backup exchange"]);

    // Pick a message from the snapshot and delete it in the tenant.
    let found = run(
        &env,
        strs(&["--json", "find", "--mailbox", &upn, "--kind", "message"]),
    )
    .await;
    assert_code(&found, 0, &["find"]);
    let found = json_out(&found);
    let first = &found["items"][0];
    let item_id = first["id"].as_str().unwrap().to_string();
    let subject = first["name"].as_str().unwrap().to_string();
    let mut gc = GraphConfig::new(
        emu.tenant_id(),
        emu.client_id(),
        Credential::Secret(SecretString::new(emu.client_secret())),
    );
    gc.authority_host = emu.base_url().to_string();
    gc.graph_base = emu.graph_url();
    let graph = GraphClient::new(gc).unwrap();
    let msg_id = item_id.strip_prefix("msg:").unwrap();
    graph
        .delete(&format!(
            "users/{upn}/messages/{}",
            tenantvault_workloads::exchange::restore::target::seg(msg_id)
        ))
        .await
        .unwrap();

    // Dry run writes nothing and needs no credentials.
    let dry = run(
        &env,
        strs(&[
            "--json",
            "restore",
            "exchange",
            "--mailbox",
            &upn,
            "--item",
            &item_id,
            "--dry-run",
        ]),
    )
    .await;
    assert_code(&dry, 0, &["restore --dry-run"]);
    assert_eq!(json_out(&dry)["items"].as_array().unwrap().len(), 1);

    // Default: into `Restored <date>`, reported item by item.
    let out = run(
        &env,
        strs(&[
            "--json",
            "restore",
            "exchange",
            "--config",
            &conf_s,
            "--mailbox",
            &upn,
            "--item",
            &item_id,
        ]),
    )
    .await;
    assert_code(&out, 0, &["restore exchange"]);
    let report = json_out(&out);
    assert_eq!(report["items"][0]["status"], "restored");
    assert!(
        report["container"]
            .as_str()
            .unwrap()
            .starts_with("Restored ")
    );
    let new_id = report["items"][0]["newId"].as_str().unwrap();
    let got: Value = graph
        .get(&format!(
            "users/{upn}/messages/{}",
            tenantvault_workloads::exchange::restore::target::seg(new_id)
        ))
        .await
        .unwrap();
    assert_eq!(got["subject"].as_str().unwrap(), subject);
    assert_eq!(got["isDraft"], Value::Bool(false));

    // In place twice: restored, then skipped as a conflict.
    let args = strs(&[
        "--json",
        "restore",
        "exchange",
        "--config",
        &conf_s,
        "--mailbox",
        &upn,
        "--item",
        &item_id,
        "--in-place",
    ]);
    let out = run(&env, args.clone()).await;
    assert_code(&out, 0, &["restore --in-place"]);
    assert_eq!(json_out(&out)["items"][0]["status"], "restored");
    let out = run(&env, args).await;
    assert_code(&out, 0, &["restore --in-place again"]);
    assert_eq!(json_out(&out)["items"][0]["status"], "skipped");

    // An app without write permission: every item fails, exit code 3, reasons listed.
    let out = run(
        &env,
        strs(&[
            "restore",
            "exchange",
            "--config",
            ro_conf.to_str().unwrap(),
            "--mailbox",
            &upn,
            "--kind",
            "message",
            "--in-place",
            "--conflict",
            "copy",
        ]),
    )
    .await;
    assert_code(&out, 3, &["restore with read-only app"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FAILED"), "{err}");

    // Bad arguments: usage error, nothing written.
    let out = run(
        &env,
        strs(&[
            "restore",
            "exchange",
            "--config",
            &conf_s,
            "--mailbox",
            &upn,
            "--conflict",
            "merge",
        ]),
    )
    .await;
    assert_code(&out, 2, &["bad --conflict"]);
    let out = run(
        &env,
        strs(&[
            "restore",
            "exchange",
            "--config",
            &conf_s,
            "--mailbox",
            &upn,
            "--item",
            "msg:missing",
        ]),
    )
    .await;
    assert_code(&out, 6, &["missing item"]);

    // Export: directory and ZIP.
    let target = env.path("export");
    let out = run(
        &env,
        strs(&[
            "--json",
            "export",
            "exchange",
            "--mailbox",
            &upn,
            "--target",
            target.to_str().unwrap(),
        ]),
    )
    .await;
    assert_code(&out, 0, &["export exchange"]);
    let rep = json_out(&out);
    assert_eq!(rep["messages"], rep["emlFiles"]);
    assert_eq!(
        rep["messages"].as_u64().unwrap() as usize,
        found["items"].as_array().unwrap().len()
    );
    let mb_dir =
        target.join(tenantvault_workloads::exchange::export::names::sanitize_component(&upn));
    assert!(mb_dir.join("calendar.ics").is_file());
    assert!(mb_dir.join("contacts.vcf").is_file());
    let zip = env.path("mailbox.zip");
    let out = run(
        &env,
        strs(&[
            "export",
            "exchange",
            "--mailbox",
            &upn,
            "--target",
            zip.to_str().unwrap(),
            "--zip",
        ]),
    )
    .await;
    assert_code(&out, 0, &["export --zip"]);
    assert!(std::fs::metadata(&zip).unwrap().len() > 0);
    emu.shutdown().await;
}
