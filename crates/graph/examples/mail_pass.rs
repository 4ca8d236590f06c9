//! Measures the client against the emulator: a full mail pass (folder delta, per-folder message
//! delta, MIME of every message) over many mailboxes in parallel, with the emulator throttling
//! at Microsoft's Outlook limits. Prints requests per message, 429s and throughput, then the
//! same work one mailbox after another for comparison.
//!
//! `cargo run -p tenantvault-graph --example mail_pass -- [users] [messages_per_mailbox]`

use futures::StreamExt;
use std::time::{Duration, Instant};
use tenantvault_emulator::{Emulator, EmulatorConfig, GeneratorConfig};
use tenantvault_graph::{
    Credential, DeltaEvent, GraphClient, GraphConfig, GraphError, ListOptions, MailFolder, Message,
    MetricsSnapshot, SecretString,
};

fn client_for(emu: &Emulator) -> GraphClient {
    let mut c = GraphConfig::new(
        emu.tenant_id(),
        emu.client_id(),
        Credential::Secret(SecretString::new(emu.client_secret())),
    );
    c.authority_host = emu.base_url().to_string();
    c.graph_base = emu.graph_url();
    GraphClient::new(c).expect("client")
}

async fn mailboxes(client: &GraphClient) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct U {
        id: String,
        mail: Option<String>,
    }
    let users: Vec<U> = client
        .pages("users?$select=id,mail")
        .map(|u| u.unwrap())
        .collect()
        .await;
    let mut out = Vec::new();
    for u in users.into_iter().filter(|u| u.mail.is_some()) {
        match client
            .get::<serde_json::Value>(&format!("users/{}/mailFolders/inbox", u.id))
            .await
        {
            Ok(_) => out.push(u.id),
            Err(GraphError::NotFound(_) | GraphError::Forbidden(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    out
}

/// One mailbox: returns the number of messages fetched.
async fn pass(client: &GraphClient, user: &str) -> usize {
    let mbx = client.mailbox(user);
    let (folders, _) = mbx
        .delta::<MailFolder>(&format!("users/{user}/mailFolders/delta"))
        .collect_all()
        .await
        .expect("folders");
    let mut n = 0;
    for f in folders {
        let DeltaEvent::Upsert(f) = f else { continue };
        let url = format!(
            "users/{user}/mailFolders/{}/messages/delta?$select=id",
            f.id
        );
        let opts = ListOptions::default().max_page_size(100).immutable_ids();
        let (events, _) = mbx
            .delta_with::<Message>(&url, opts)
            .collect_all()
            .await
            .expect("delta");
        let ids: Vec<String> = events
            .into_iter()
            .filter_map(|e| {
                if let DeltaEvent::Upsert(m) = e {
                    Some(m.id)
                } else {
                    None
                }
            })
            .collect();
        n += ids.len();
        futures::stream::iter(ids)
            .map(|id| {
                let mbx = mbx.clone();
                async move {
                    mbx.get_bytes(&format!("users/{user}/messages/{id}/$value"))
                        .await
                        .expect("mime")
                        .len()
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
    }
    n
}

fn report(label: &str, messages: usize, m: MetricsSnapshot, took: Duration) {
    println!(
        "{label}: {messages} messages, {} requests ({:.3} per message), {} throttled (429), {} retries, {:.1} MB, {:.2} s, {:.0} messages/s",
        m.requests,
        m.requests as f64 / messages.max(1) as f64,
        m.throttled,
        m.retries,
        m.bytes_received as f64 / 1e6,
        took.as_secs_f64(),
        messages as f64 / took.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let users: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let per: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200);
    let cfg = EmulatorConfig {
        seed: 5,
        users,
        generator: GeneratorConfig {
            messages_per_mailbox: per,
            ..GeneratorConfig::default()
        },
        ..Default::default()
    };

    let emu = Emulator::start(cfg.clone()).await.expect("emulator");
    let setup = client_for(&emu);
    let boxes = mailboxes(&setup).await;
    drop(setup);
    let client = client_for(&emu);
    let t = Instant::now();
    let counts: Vec<usize> = futures::stream::iter(boxes.clone())
        .map(|u| {
            let c = client.clone();
            async move { pass(&c, &u).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    report(
        &format!("parallel   ({} mailboxes)", boxes.len()),
        counts.iter().sum(),
        client.metrics(),
        t.elapsed(),
    );
    emu.shutdown().await;

    let emu = Emulator::start(cfg).await.expect("emulator");
    let client = client_for(&emu);
    let t = Instant::now();
    let mut total = 0;
    for u in &boxes {
        total += pass(&client, u).await;
    }
    report(
        &format!("sequential ({} mailboxes)", boxes.len()),
        total,
        client.metrics(),
        t.elapsed(),
    );
    emu.shutdown().await;
}
