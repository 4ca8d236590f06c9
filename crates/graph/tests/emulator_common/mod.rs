//! Shared setup for the conformance tests against `tenantvault-emulator`.
#![allow(dead_code)]

use futures::StreamExt;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tenantvault_emulator::{Emulator, EmulatorConfig};
use tenantvault_graph::{
    Credential, DeltaEvent, GraphClient, GraphConfig, GraphError, ListOptions, MailFolder, Message,
    SecretString,
};

pub fn config_for(emu: &Emulator) -> GraphConfig {
    let mut c = GraphConfig::new(
        emu.tenant_id(),
        emu.client_id(),
        Credential::Secret(SecretString::new(emu.client_secret())),
    );
    c.authority_host = emu.base_url().to_string();
    c.graph_base = emu.graph_url();
    c.retry.base_delay = Duration::from_millis(20);
    c.retry.max_delay = Duration::from_millis(300);
    c.retry.max_attempts = 12;
    c.read_timeout = Duration::from_secs(3);
    c
}

pub async fn start(config: EmulatorConfig) -> (Emulator, GraphClient) {
    let emu = Emulator::start(config).await.expect("emulator starts");
    let client = GraphClient::new(config_for(&emu)).unwrap();
    (emu, client)
}

#[derive(Debug, Deserialize)]
pub struct MailUser {
    pub id: String,
    pub mail: Option<String>,
    #[serde(rename = "userPrincipalName")]
    pub upn: Option<String>,
}

/// Users that have a mailbox the app can read (messages in their Inbox).
pub async fn mailbox_users(client: &GraphClient) -> Vec<MailUser> {
    let users: Vec<MailUser> = client
        .pages("users?$select=id,mail,userPrincipalName")
        .map(|u| u.unwrap())
        .collect()
        .await;
    let mut out = Vec::new();
    for u in users {
        if u.mail.is_none() {
            continue;
        }
        match client
            .get::<serde_json::Value>(&format!("users/{}/mailFolders/inbox", u.id))
            .await
        {
            Ok(_) => out.push(u),
            Err(GraphError::NotFound(_)) | Err(GraphError::Forbidden(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    out
}

/// A full "backup" of one mailbox: every folder's delta round and every message's MIME.
/// Returns folder id → (message id → MIME bytes) and the deltaLinks.
pub async fn full_mail_pass(
    client: &GraphClient,
    user: &str,
) -> (
    BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    BTreeMap<String, String>,
) {
    let mbx = client.mailbox(user);
    let (folders, _) = mbx
        .delta::<MailFolder>(&format!("users/{user}/mailFolders/delta"))
        .collect_all()
        .await
        .unwrap();
    let mut content = BTreeMap::new();
    let mut links = BTreeMap::new();
    for f in folders {
        let DeltaEvent::Upsert(f) = f else { continue };
        let opts = ListOptions::default().max_page_size(7).immutable_ids();
        let url = format!(
            "users/{user}/mailFolders/{}/messages/delta?$select=id,subject,isRead",
            f.id
        );
        let (events, link) = mbx
            .delta_with::<Message>(&url, opts)
            .collect_all()
            .await
            .unwrap();
        let ids: Vec<String> = events
            .into_iter()
            .filter_map(|e| match e {
                DeltaEvent::Upsert(m) => Some(m.id),
                DeltaEvent::Removed { .. } => None,
            })
            .collect();
        let mimes: Vec<(String, Vec<u8>)> = futures::stream::iter(ids)
            .map(|id| {
                let mbx = mbx.clone();
                let url = format!("users/{user}/messages/{id}/$value");
                async move { (id, mbx.get_bytes(&url).await.unwrap().to_vec()) }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        content.insert(f.id.clone(), mimes.into_iter().collect());
        links.insert(f.id, link);
    }
    (content, links)
}
