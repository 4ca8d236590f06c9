//! The per-snapshot find index answers every filter exactly like the scan over the item lists
//! (same items, same order), is built once, and is found again on the next use.

#[path = "exchange_restore_common.rs"]
mod common;

use chrono::Duration;
use common::*;
use futures::TryStreamExt;
use tenantvault_repo::ItemRecord;
use tenantvault_workloads::exchange::{self, ItemFilter, index};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_answers_like_the_scan() {
    let emu = tenantvault_emulator::Emulator::start(tenant(21, 2, 60))
        .await
        .unwrap();
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let snaps = backup_all(&repo, &graph).await;
    let (_, snap) = &snaps[0];
    let all = items(snap).await;
    let msgs: Vec<&ItemRecord> = all.iter().filter(|r| r.kind == "message").collect();
    assert!(msgs.len() >= 20);
    let probe = msgs[msgs.len() / 3];
    // Part of a word in the middle of the subject, as a user types it.
    let word = probe
        .name
        .split_whitespace()
        .max_by_key(|w| w.len())
        .unwrap()
        .to_string();
    let part: String = word.chars().skip(1).take(4).collect();
    let sender = probe.attrs["from"].clone();
    let sender_part = sender.split('@').next().unwrap().to_uppercase();
    let recipient = probe.attrs["recipients"]
        .split("; ")
        .next()
        .unwrap()
        .to_string();
    let when = probe.received.unwrap();

    let (idx, built) = index::open_or_build(&repo, snap).await.unwrap();
    assert!(built);
    drop(idx);
    let (idx, built) = index::open_or_build(&repo, snap).await.unwrap();
    assert!(!built, "the second use finds the index built by the first");
    let idx2 = &idx;

    let filters = vec![
        ItemFilter::default(),
        ItemFilter::messages(),
        ItemFilter {
            subject: Some(part.clone()),
            ..ItemFilter::messages()
        },
        ItemFilter {
            subject: Some(probe.name.clone()),
            ..ItemFilter::default()
        },
        ItemFilter {
            sender: Some(sender_part),
            ..ItemFilter::messages()
        },
        ItemFilter {
            recipient: Some(recipient.clone()),
            ..ItemFilter::messages()
        },
        ItemFilter {
            folder: Some(probe.path.to_lowercase()),
            ..ItemFilter::messages()
        },
        ItemFilter {
            received_after: Some(when - Duration::days(3)),
            received_before: Some(when + Duration::days(3)),
            ..ItemFilter::messages()
        },
        ItemFilter {
            kinds: vec!["event".into(), "contact".into()],
            ..ItemFilter::default()
        },
        ItemFilter {
            sender: Some(sender.clone()),
            subject: Some(part),
            folder: Some(probe.path.clone()),
            ..ItemFilter::messages()
        },
        // No word in the needle: every row is checked.
        ItemFilter {
            sender: Some("@".into()),
            ..ItemFilter::messages()
        },
        ItemFilter {
            subject: Some("zzqx-no-such-subject".into()),
            ..ItemFilter::default()
        },
    ];
    for f in &filters {
        let scanned: Vec<String> = exchange::find(snap, f.clone())
            .map_ok(|r| r.id)
            .try_collect()
            .await
            .unwrap();
        let indexed: Vec<String> = idx
            .find(f, None)
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(indexed, scanned, "filter {f:?}");
        let limited = idx2.find(f, Some(2)).unwrap();
        assert_eq!(limited.len(), scanned.len().min(2));
    }
    // The probe itself is found by its subject, and its row carries the filter fields.
    let hit = idx
        .find(
            &ItemFilter {
                subject: Some(probe.name.clone()),
                sender: Some(sender.clone()),
                ..ItemFilter::messages()
            },
            None,
        )
        .unwrap();
    let row = hit.iter().find(|h| h.id == probe.id).expect("probe found");
    assert_eq!(row.path, probe.path);
    assert_eq!(row.received, probe.received);
    assert_eq!(row.from.as_deref(), Some(sender.as_str()));
    drop(idx);

    // Nothing readable in the file: no subject word, address, folder or item id, and a row is
    // not JSON.
    let path = index::index_path(&repo.info().cache_path, &snap.id().0);
    let raw = std::fs::read(&path).unwrap();
    let mut secrets: Vec<String> = probe
        .name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 5)
        .map(str::to_string)
        .collect();
    secrets.extend([sender.clone(), probe.id.clone(), probe.path.clone()]);
    secrets.extend(
        recipient
            .split(['<', '>', ' ', ';'])
            .filter(|w| w.contains('@'))
            .map(str::to_string),
    );
    assert!(secrets.len() >= 4, "{secrets:?}");
    for s in &secrets {
        let found = raw
            .windows(s.len())
            .any(|w| w.eq_ignore_ascii_case(s.as_bytes()));
        assert!(!found, "{s:?} readable in the find index file");
    }
    let db = redb::Database::open(&path).unwrap();
    let tx = db.begin_read().unwrap();
    let rows = tx
        .open_table(redb::TableDefinition::<u32, &[u8]>::new("rows"))
        .unwrap();
    let first = rows.get(0).unwrap().unwrap().value().to_vec();
    assert!(serde_json::from_slice::<serde_json::Value>(&first).is_err());
    assert!(!first.windows(5).any(|w| w == b"\"id\":"));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_file_from_elsewhere_is_rebuilt_not_trusted() {
    let emu = tenantvault_emulator::Emulator::start(tenant(23, 1, 8))
        .await
        .unwrap();
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let (repo, other) = (
        new_repo(&dir.path().join("one")).await,
        new_repo(&dir.path().join("two")).await,
    );
    let snap = &backup_all(&repo, &graph).await[0].1;
    let theirs = &backup_all(&other, &graph).await[0].1;
    let path = index::index_path(&repo.info().cache_path, &snap.id().0);
    let (idx, built) = index::open_or_build(&repo, snap).await.unwrap();
    assert!(built);
    let all = idx.find(&ItemFilter::default(), None).unwrap();
    drop(idx);

    // The other repository's index of its own snapshot, put in this snapshot's place: sealed
    // under another key, so it is thrown away and rebuilt.
    let (o, _) = index::open_or_build(&other, theirs).await.unwrap();
    drop(o);
    let foreign = index::index_path(&other.info().cache_path, &theirs.id().0);
    std::fs::copy(&foreign, &path).unwrap();
    let (idx, built) = index::open_or_build(&repo, snap).await.unwrap();
    assert!(
        built,
        "a file sealed under another repository's key was used"
    );
    assert_eq!(idx.find(&ItemFilter::default(), None).unwrap(), all);
    drop(idx);

    // Not an index at all (or an unfinished one): rebuilt too.
    std::fs::write(&path, b"not a database").unwrap();
    let (idx, built) = index::open_or_build(&repo, snap).await.unwrap();
    assert!(built);
    assert_eq!(idx.find(&ItemFilter::default(), None).unwrap(), all);
    emu.shutdown().await;
}

/// The index files in the cache (file names, sorted).
fn index_files(repo: &tenantvault_repo::Repository) -> Vec<String> {
    let cache = repo.info().cache_path;
    let dir = index::index_path(&cache, "x")
        .parent()
        .unwrap()
        .to_path_buf();
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_of_removed_snapshots_are_pruned_at_the_next_use() {
    let emu = tenantvault_emulator::Emulator::start(tenant(22, 3, 6))
        .await
        .unwrap();
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let snaps = backup_all(&repo, &graph).await;
    assert_eq!(snaps.len(), 3);
    for (_, s) in &snaps[..2] {
        index::open_or_build(&repo, s).await.unwrap();
    }
    let [a, b, c] = [0, 1, 2].map(|i| snaps[i].1.id().0.clone());
    assert_eq!(index_files(&repo), sorted([&a, &b]));

    // b's snapshot goes (as `retention apply` removes it): its index outlives it until the
    // next use of any index on this machine.
    repo.storage()
        .delete(&format!("snapshots/{b}"))
        .await
        .unwrap();
    assert_eq!(index_files(&repo), sorted([&a, &b]));
    let (_, built) = index::open_or_build(&repo, &snaps[2].1).await.unwrap();
    assert!(built);
    assert_eq!(index_files(&repo), sorted([&a, &c]));

    // `prune` alone (what `erase` runs) removes an unfinished build of a removed snapshot too,
    // and keeps the live ones.
    let cache = repo.info().cache_path;
    let killed = index::index_path(&cache, &format!(".building-{b}-Zq9x"));
    std::fs::write(&killed, b"partial").unwrap();
    assert_eq!(index::prune(&repo).await, 1);
    assert!(!killed.exists());
    assert_eq!(index_files(&repo), sorted([&a, &c]));
    emu.shutdown().await;
}

fn sorted(ids: [&String; 2]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|i| format!("{i}.redb")).collect();
    v.sort();
    v
}
