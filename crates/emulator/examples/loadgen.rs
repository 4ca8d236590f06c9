//! Load generator for the emulator (a benchmark, not a test): small JSON requests per second,
//! MIME throughput, and resident memory of a large lazily generated tenant.
//!
//! `cargo run --release -p tenantvault-emulator --example loadgen -- [json_requests] [mime_requests] [big_users]`
//! Defaults: 20000 JSON requests, 2000 MIME requests, a 10,000-user tenant. Targets 127.0.0.1 only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tenantvault_emulator::{Emulator, EmulatorConfig, GeneratorConfig};

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

async fn token(emu: &Emulator) -> String {
    let r: serde_json::Value = reqwest::Client::new()
        .post(emu.token_url())
        .form(&[
            ("client_id", emu.client_id().as_str()),
            ("client_secret", emu.client_secret().as_str()),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    r["access_token"].as_str().expect("token").to_string()
}

/// Run `total` GETs over `urls` with `conc` workers; returns (seconds, bytes, errors).
async fn run(
    client: &reqwest::Client,
    tok: &str,
    urls: Arc<Vec<String>>,
    total: u64,
    conc: usize,
) -> (f64, u64, u64) {
    let next = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (client, tok, urls, next, bytes, errors) = (
            client.clone(),
            tok.to_string(),
            urls.clone(),
            next.clone(),
            bytes.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let url = &urls[i as usize % urls.len()];
                match client.get(url).bearer_auth(&tok).send().await {
                    Ok(r) if r.status().is_success() => {
                        let b = r.bytes().await.map(|b| b.len() as u64).unwrap_or(0);
                        bytes.fetch_add(b, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (
        start.elapsed().as_secs_f64(),
        bytes.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
    )
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let json_requests = args.first().copied().unwrap_or(20_000);
    let mime_requests = args.get(1).copied().unwrap_or(2_000);
    let big_users = args.get(2).copied().unwrap_or(10_000) as usize;

    let mut cfg = EmulatorConfig {
        seed: 42,
        users: 20,
        ..Default::default()
    };
    cfg.throttling.enabled = false;
    cfg.generator.attachment_rate = 0.6;
    let emu = Emulator::start(cfg).await.expect("start");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let tok = token(&emu).await;
    let users: serde_json::Value = client
        .get(format!("{}/users?$select=id&$top=20", emu.graph_url()))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("users")
        .json()
        .await
        .expect("json");
    let mut ids: Vec<String> = Vec::new();
    for u in users["value"]
        .as_array()
        .expect("v")
        .iter()
        .filter_map(|u| u["id"].as_str())
    {
        // Keep users with a mailbox (guests have none).
        let r = client
            .get(format!("{}/users/{u}/mailFolders/inbox", emu.graph_url()))
            .bearer_auth(&tok)
            .send()
            .await
            .expect("probe");
        if r.status().is_success() {
            ids.push(u.to_string());
        }
    }

    // 1. Small JSON requests (a folder GET is ~300 bytes).
    let urls: Vec<String> = ids
        .iter()
        .map(|u| {
            format!(
                "{}/users/{u}/mailFolders/inbox?$select=displayName",
                emu.graph_url()
            )
        })
        .collect();
    let (secs, bytes, errs) = run(&client, &tok, Arc::new(urls), json_requests, 32).await;
    println!(
        "json: {json_requests} requests in {secs:.2}s = {:.0} req/s ({} bytes avg, {errs} errors)",
        json_requests as f64 / secs,
        bytes / json_requests.max(1)
    );

    // 2. MIME content: $value of messages with attachments.
    let mut mime_urls = Vec::new();
    for u in &ids {
        let r = client
            .get(format!(
                "{}/users/{u}/mailFolders/inbox/messages?$select=hasAttachments&$top=100",
                emu.graph_url()
            ))
            .bearer_auth(&tok)
            .send()
            .await
            .expect("list");
        if !r.status().is_success() {
            continue;
        }
        let v: serde_json::Value = r.json().await.expect("json");
        for m in v["value"].as_array().into_iter().flatten() {
            if m["hasAttachments"] == true {
                mime_urls.push(format!(
                    "{}/users/{u}/messages/{}/$value",
                    emu.graph_url(),
                    m["id"].as_str().expect("id")
                ));
            }
        }
    }
    let (secs, bytes, errs) = run(
        &client,
        &tok,
        Arc::new(mime_urls.clone()),
        mime_requests,
        16,
    )
    .await;
    println!(
        "mime: {mime_requests} $value requests over {} messages in {secs:.2}s = {:.0} MB/s ({:.0} KB avg, {errs} errors)",
        mime_urls.len(),
        bytes as f64 / secs / 1e6,
        bytes as f64 / mime_requests.max(1) as f64 / 1e3
    );

    // 3. Large content: one message with an 8 MB attachment (uploaded through an upload
    // session), its $value fetched repeatedly.
    let big_requests = (mime_requests / 10).max(20);
    let u = &ids[0];
    let m: serde_json::Value = client
        .post(format!("{}/users/{u}/mailFolders/inbox/messages", emu.graph_url()))
        .bearer_auth(&tok)
        .json(&serde_json::json!({"subject": "big", "body": {"contentType": "text", "content": "big attachment"}}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let mid = m["id"].as_str().expect("id").to_string();
    let size = 8 * 1024 * 1024;
    let s: serde_json::Value = client
        .post(format!("{}/users/{u}/messages/{mid}/attachments/createUploadSession", emu.graph_url()))
        .bearer_auth(&tok)
        .json(&serde_json::json!({"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": size}}))
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("json");
    let upload = s["uploadUrl"].as_str().expect("uploadUrl").to_string();
    let data: Vec<u8> = (0..size).map(|i| (i * 7919 % 251) as u8).collect();
    for (k, chunk) in data.chunks(4 * 1024 * 1024).enumerate() {
        let start = k * 4 * 1024 * 1024;
        let r = client
            .put(&upload)
            .header(
                "content-range",
                format!("bytes {start}-{}/{size}", start + chunk.len() - 1),
            )
            .body(chunk.to_vec())
            .send()
            .await
            .expect("put");
        assert!(r.status().is_success(), "chunk {k}: {}", r.status());
    }
    let url = format!("{}/users/{u}/messages/{mid}/$value", emu.graph_url());
    let (secs, bytes, errs) = run(&client, &tok, Arc::new(vec![url]), big_requests, 4).await;
    println!(
        "mime-large: {big_requests} $value requests of one 8 MB-attachment message in {secs:.2}s = {:.0} MB/s ({:.1} MB each, {errs} errors)",
        bytes as f64 / secs / 1e6,
        bytes as f64 / big_requests as f64 / 1e6
    );
    emu.shutdown().await;

    // 4. RAM of a big tenant: 10,000 users × ~1,000 messages, every mailbox materialised.
    let before = rss_mib();
    let t0 = Instant::now();
    let mut cfg = EmulatorConfig {
        seed: 7,
        users: big_users,
        generator: GeneratorConfig {
            messages_per_mailbox: 1000,
            ..Default::default()
        },
        ..Default::default()
    };
    cfg.throttling.enabled = false;
    let emu = Emulator::start(cfg).await.expect("start big");
    let tok = token(&emu).await;
    let mut url = format!("{}/users?$select=id&$top=999", emu.graph_url());
    let mut all = Vec::new();
    loop {
        let v: serde_json::Value = client
            .get(&url)
            .bearer_auth(&tok)
            .send()
            .await
            .expect("users")
            .json()
            .await
            .expect("json");
        all.extend(
            v["value"]
                .as_array()
                .expect("v")
                .iter()
                .filter_map(|u| u["id"].as_str().map(str::to_string)),
        );
        match v["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    let urls: Vec<String> = all
        .iter()
        .map(|u| {
            format!(
                "{}/users/{u}/mailFolders/inbox?$select=totalItemCount",
                emu.graph_url()
            )
        })
        .collect();
    let n = urls.len() as u64;
    let (secs, _, errs) = run(&client, &tok, Arc::new(urls), n, 16).await;
    let materialised = emu.state().mail.materialised();
    let total_msgs: u64 = (0..materialised as u32)
        .map(|i| {
            emu.state()
                .mail
                .mailbox(i)
                .lock()
                .folders
                .iter()
                .map(|f| f.generated as u64)
                .sum::<u64>()
        })
        .sum();
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!(
        "ram: {big_users} users, {materialised} mailboxes materialised, {total_msgs} messages addressable, RSS {:.0} MiB (was {before:.0} MiB before start; setup {:.1}s, touch {secs:.1}s, {errs} errors on unlicensed/guest users)",
        rss_mib(),
        t0.elapsed().as_secs_f64()
    );
    emu.shutdown().await;
}
