//! The local Exchange find index (`<cache>/…/exchange-find/`) describes an owner's mail (sealed):
//! an item erasure removes the index of every snapshot it rewrote, `erase --owner` every index
//! of the owner (and an unfinished build), no subject is readable in the cache at any time, and
//! another owner's index stays. Through the binary against an in-process emulator.

mod common;

use std::path::PathBuf;

use common::tv::{Tv, files};
use tenantvault_emulator::{Emulator, EmulatorConfig, GeneratorConfig};

/// Index files in the cache (file names), sorted.
fn index_files(tv: &Tv) -> Vec<String> {
    files(&tv.cache())
        .into_iter()
        .filter(|f| f.contains("exchange-find/"))
        .map(|f| f.rsplit('/').next().unwrap().to_string())
        .collect()
}

/// Files of the cache whose bytes contain `needle`.
fn cache_files_containing(tv: &Tv, needle: &str) -> Vec<PathBuf> {
    files(&tv.cache())
        .into_iter()
        .map(|f| tv.cache().join(f))
        .filter(|p| {
            let data = std::fs::read(p).unwrap();
            data.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .collect()
}

/// The snapshot ids of the mailbox `owner` (its id).
async fn snapshot_ids(tv: &Tv<'_>, owner: &str) -> Vec<String> {
    let all = tv.json(&["snapshots", "--all"]).await;
    all.as_array()
        .unwrap()
        .iter()
        .filter(|s| s["owner"] == owner && s["workload"] == "exchange")
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_no_find_index_of_the_owner() {
    let mut cfg = EmulatorConfig {
        seed: 53,
        users: 2,
        generator: GeneratorConfig {
            messages_per_mailbox: 12,
            events_per_mailbox: 1,
            contacts_per_mailbox: 1,
            ..GeneratorConfig::default()
        },
        ..EmulatorConfig::default()
    };
    cfg.throttling.enabled = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tv = Tv::new(&emu, dir.path());
    tv.init().await;
    let report = tv.json(&["backup", "exchange"]).await;
    // (UPN for `find --mailbox`, mailbox id: the snapshots' owner)
    let boxes: Vec<(String, String)> = report["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let s = |k: &str| m["mailbox"][k].as_str().unwrap().to_string();
            (s("upn"), s("id"))
        })
        .collect();
    assert_eq!(boxes.len(), 2);
    let ((a, a_id), (b, b_id)) = (&boxes[0], &boxes[1]);

    // Both mailboxes searched once: one index each.
    let found = tv
        .json(&["find", "--mailbox", a, "--kind", "message"])
        .await;
    let b_found = tv.json(&["find", "--mailbox", b]).await;
    // A subject of a's only: b's index must not hold it either.
    let only_a = |v: &serde_json::Value, skip: &str| -> serde_json::Value {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| {
                let n = i["name"].as_str().unwrap();
                n.len() >= 8
                    && n != skip
                    && !b_found["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|j| j["name"] == n)
            })
            .expect("a subject only a's mailbox has")
            .clone()
    };
    let a_old = snapshot_ids(&tv, a_id).await;
    let b_ids = snapshot_ids(&tv, b_id).await;
    assert_eq!((a_old.len(), b_ids.len()), (1, 1));
    let b_index = format!("{}.redb", b_ids[0]);
    assert_eq!(
        index_files(&tv),
        {
            let mut v = vec![format!("{}.redb", a_old[0]), b_index.clone()];
            v.sort();
            v
        },
        "one index per searched snapshot"
    );

    // Erase one message of a by its whole subject: the rewritten snapshot's index goes.
    let msg = only_a(&found, "");
    let subject = msg["name"].as_str().unwrap().to_string();
    // The index seals its rows and terms: no subject is readable in the cache at any time.
    assert!(cache_files_containing(&tv, &subject).is_empty());
    let words: Vec<&str> = subject
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut args = vec!["erase", "--owner", a_id, "--reason", "Art. 17 #1"];
    for w in &words {
        args.extend(["--subject", w]);
    }
    let erased = tv.json(&args).await;
    assert!(!erased["item_erasures"].as_array().unwrap().is_empty());
    assert_eq!(index_files(&tv), std::slice::from_ref(&b_index));
    assert!(
        cache_files_containing(&tv, &subject).is_empty(),
        "the erased subject is still in the cache"
    );

    // A search of the rewritten snapshot builds a new index without the erased message.
    let again = tv
        .json(&["find", "--mailbox", a, "--kind", "message"])
        .await;
    let ids: Vec<&str> = again["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&msg["id"].as_str().unwrap()));
    let a_new = snapshot_ids(&tv, a_id).await;
    assert_ne!(a_new, a_old);
    assert_eq!(index_files(&tv).len(), 2);
    let other_subject = only_a(&again, &subject)["name"]
        .as_str()
        .unwrap()
        .to_string();

    // Erase the owner: none of its index files (nor unfinished builds) is left, b's stays.
    let leftover = tv
        .cache()
        .join(index_dir_of(&tv))
        .join(format!(".building-{}-k1lled.redb", a_new[0]));
    std::fs::write(&leftover, other_subject.as_bytes()).unwrap();
    tv.json(&["erase", "--owner", a_id, "--reason", "Art. 17 #2"])
        .await;
    assert_eq!(index_files(&tv), std::slice::from_ref(&b_index));
    assert!(
        cache_files_containing(&tv, &other_subject).is_empty(),
        "the erased owner's subjects are still in the cache"
    );
    // b's index still answers, by snapshot id and by mailbox address (matching the address
    // skips the erased mailbox's snapshots instead of failing on them).
    let b_again = tv.json(&["find", &b_ids[0]]).await;
    assert_eq!(b_again["items"], b_found["items"]);
    let b_by_address = tv.json(&["find", "--mailbox", b]).await;
    assert_eq!(b_by_address["items"], b_found["items"]);
    assert_eq!(index_files(&tv), [b_index]);
}

/// The `exchange-find` directory, relative to the cache.
fn index_dir_of(tv: &Tv) -> PathBuf {
    let f = files(&tv.cache())
        .into_iter()
        .find(|f| f.contains("exchange-find/"))
        .expect("an index file");
    PathBuf::from(f).parent().unwrap().to_path_buf()
}
