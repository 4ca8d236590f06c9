//! Hostile repository input: random and mutated bytes in every kind of repository object
//! (config, key slot, owner key, index file, pack trailer/header/blobs, snapshot root, item
//! lists, sealed documents, gc candidate lists, session markers). Every operation that reads
//! them must end in a clear error or a `check` report naming the object — never a panic, never
//! wrong content, and nothing deleted on the strength of a damaged object.
//!
//! The decoders behind the authenticated encryption (item lists, pack headers, index bodies,
//! snapshot heads) get arbitrary *correctly sealed* plaintext in the unit tests of their modules.

mod common;
use common::*;
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tenantvault_repo::*;

/// A byte-level change to an object.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the whole object by random bytes.
    Replace(Vec<u8>),
    /// Keep only a prefix (shorter than the object).
    Truncate(Index),
    /// Flip one bit.
    Flip(Index, u8),
    /// Append bytes.
    Append(Vec<u8>),
    /// Overwrite a run of bytes at a position.
    Overwrite(Index, Vec<u8>),
    /// Declared lengths are the classic attack: set 4 bytes to 0xff.
    MaxLength(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Mutation::Replace),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Append),
        (
            any::<Index>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(i, v)| Mutation::Overwrite(i, v)),
        any::<Index>().prop_map(Mutation::MaxLength),
    ]
}

fn apply(m: &Mutation, orig: &[u8]) -> Vec<u8> {
    let mut b = orig.to_vec();
    match m {
        Mutation::Replace(v) => b = v.clone(),
        Mutation::Truncate(i) => b.truncate(i.index(orig.len().max(1))),
        Mutation::Flip(i, bit) => {
            let i = i.index(b.len());
            b[i] ^= 1 << bit;
        }
        Mutation::Append(v) => b.extend_from_slice(v),
        Mutation::Overwrite(i, v) => {
            let at = i.index(b.len());
            for (k, x) in v.iter().enumerate() {
                if let Some(slot) = b.get_mut(at + k) {
                    *slot = *x;
                }
            }
        }
        Mutation::MaxLength(i) => {
            let at = i.index(b.len());
            for slot in b.iter_mut().skip(at).take(4) {
                *slot = 0xff;
            }
        }
    }
    b
}

/// True if `a` and `b` mean the same to a JSON reader (a mutation inside insignificant
/// whitespace, say), or are identical bytes.
fn same_meaning(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    match (
        serde_json::from_slice::<serde_json::Value>(a),
        serde_json::from_slice::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Two key slot documents that mean the same slot: equal JSON, except that `created` may be
/// spelled differently for the same instant (RFC 3339 accepts `t`/`z` for `T`/`Z`).
fn same_slot(a: &[u8], b: &[u8]) -> bool {
    let (Ok(mut x), Ok(mut y)) = (
        serde_json::from_slice::<serde_json::Value>(a),
        serde_json::from_slice::<serde_json::Value>(b),
    ) else {
        return false;
    };
    for v in [&mut x, &mut y] {
        let t = v["created"]
            .as_str()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok());
        if let Some(t) = t {
            v["created"] = t.timestamp_nanos_opt().into();
        }
    }
    x == y
}

struct Template {
    dir: tempfile::TempDir,
    /// Item id → content, for owner "alice".
    contents: Vec<(String, Vec<u8>)>,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One small repository with every kind of object, built once and copied per case.
fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        rt().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let cache = tempfile::tempdir().unwrap();
            let repo_dir = dir.path().join("repo");
            let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(&repo_dir).unwrap());
            let repo = init(storage, cache.path()).await;
            let mut contents = Vec::new();
            let mut s = repo
                .begin_backup(OwnerRef::new("dir", "alice"), BackupOptions::default())
                .await
                .unwrap();
            for i in 0..6u64 {
                let id = format!("item-{i}");
                let data = bytes(i, 3000 + 7000 * i as usize);
                s.put_item(meta(&id), &data[..]).await.unwrap();
                contents.push((id, data));
            }
            s.commit(serde_json::json!({"cursor": 1})).await.unwrap();
            // an abandoned session: its packs are garbage; gc (with a long grace) lists them
            // as candidates in gc/, and the session marker stays in sessions/ until stale
            let mut s = repo
                .begin_backup(OwnerRef::new("dir", "bob"), BackupOptions::default())
                .await
                .unwrap();
            s.put_item(meta("lost"), &bytes(99, 200_000)[..])
                .await
                .unwrap();
            drop(s);
            repo.gc(GcOptions {
                grace: std::time::Duration::from_secs(3600),
                dry_run: false,
            })
            .await
            .unwrap();
            // the marker a killed backup leaves behind (stale: gc removes it, then sweeps)
            let marker = serde_json::json!({
                "session": "0123456789abcdef0123456789abcdef",
                "started": "2020-01-01T00:00:00Z",
                "refreshed": "2020-01-01T00:01:00Z",
                "oid": "00112233445566778899aabbccddeeff",
            });
            repo.storage()
                .put_if_absent(
                    "sessions/0123456789abcdef0123456789abcdef-00000003",
                    serde_json::to_vec(&marker).unwrap().into(),
                )
                .await
                .unwrap();
            repo.put_sealed("alerts/hostile-1", &serde_json::json!({"a": [1, 2, 3]}))
                .await
                .unwrap();
            Template { dir, contents }
        })
    })
}

fn repo_root(dir: &Path) -> PathBuf {
    dir.join("repo")
}

fn objects(dir: &Path, prefix: &str) -> Vec<String> {
    let root = repo_root(dir);
    let mut v: Vec<String> = walkdir::WalkDir::new(root.join(prefix))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|k| !k.rsplit('/').next().unwrap_or("").starts_with('.'))
        .collect();
    v.sort();
    v
}

fn copy_template() -> tempfile::TempDir {
    let t = template();
    let copy = tempfile::tempdir().unwrap();
    for e in walkdir::WalkDir::new(t.dir.path()) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(t.dir.path()).unwrap();
        let dst = copy.path().join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
    copy
}

/// A private copy of the template with object `key` (chosen by `which` under `prefix`)
/// mutated. Returns (copy, key, original bytes, mutated bytes).
fn mutated(
    prefix: &str,
    which: &Index,
    m: &Mutation,
) -> (tempfile::TempDir, String, Vec<u8>, Vec<u8>) {
    let copy = copy_template();
    let keys = objects(copy.path(), prefix);
    assert!(!keys.is_empty(), "template has objects under {prefix}");
    let key = keys[which.index(keys.len())].clone();
    let path = repo_root(copy.path()).join(&key);
    let orig = std::fs::read(&path).unwrap();
    let bad = apply(m, &orig);
    std::fs::write(&path, &bad).unwrap();
    (copy, key, orig, bad)
}

async fn open(dir: &Path) -> Result<Repository> {
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(repo_root(dir)).unwrap());
    Repository::open(storage, PASS, open_opts(&dir.join("cache"))).await
}

/// Every item of alice's latest snapshot reads back exactly, or fails with an error.
async fn reads_are_exact_or_fail(repo: &Repository) {
    let Ok(snaps) = repo.list_snapshots(SnapshotFilter::default()).await else {
        return;
    };
    for s in snaps.iter().filter(|s| s.owner.owner == "alice") {
        let Ok(snap) = repo.snapshot(&s.id.0).await else {
            continue;
        };
        let Ok(items) = all_items(&snap).await else {
            continue;
        };
        for item in items {
            let want = &template()
                .contents
                .iter()
                .find(|(id, _)| *id == item.id)
                .expect("known item")
                .1;
            if let Ok(got) = read_item(repo, &snap, &item).await {
                assert_eq!(&got, want, "item {} read back different bytes", item.id);
            }
        }
    }
}

/// `check` must name `key` (or, for a pack, the pack or a blob inside it).
fn named(report: &CheckReport, key: &str) -> bool {
    report.damaged.iter().any(|d| d.object.contains(key))
        || report.affected_items.iter().any(|a| a.object.contains(key))
}

fn cfg() -> ProptestConfig {
    ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn damaged_config_or_key_slot_refuses_to_open(prefix in prop_oneof![Just("config"), Just("keys/")], which in any::<Index>(), m in mutation()) {
        let (copy, key, orig, bad) = mutated(prefix, &which, &m);
        rt().block_on(async {
            let r = open(copy.path()).await;
            if same_meaning(&orig, &bad) {
                return;
            }
            match r {
                // the only key slot: its own error, or (KDF input or sealed key changed) no fit
                Err(Error::Corrupt { object, .. }) if key.starts_with("keys/") => {
                    assert_eq!(object, key, "{m:?}");
                }
                Err(Error::WrongPassphrase) if key.starts_with("keys/") => {}
                Err(e) if key.starts_with("keys/") => panic!("{key} mutated by {m:?}: {e}"),
                Err(_) => {}
                // The unauthenticated fields of a slot (creation date, MAC) are verified
                // against the slot MAC on open: a change of meaning is refused.
                Ok(_) if key.starts_with("keys/") && same_slot(&orig, &bad) => {}
                Ok(_) => panic!("{key} mutated by {m:?} still opened"),
            }
        });
    }

    #[test]
    fn damaged_index_file_is_skipped_on_open_and_named_by_check(which in any::<Index>(), m in mutation()) {
        let (copy, key, _, _) = mutated("index/", &which, &m);
        rt().block_on(async {
            let repo = open(copy.path()).await.expect("a damaged index file does not block open");
            let report = repo.check(CheckOptions::default()).await.unwrap();
            assert!(named(&report, &key), "{key} mutated by {m:?}: {report:?}");
            reads_are_exact_or_fail(&repo).await;
        });
    }

    #[test]
    fn damaged_pack_is_named_by_check_read_data_and_never_read_wrong(which in any::<Index>(), m in mutation()) {
        let (copy, key, _, _) = mutated("data/", &which, &m);
        rt().block_on(async {
            let repo = open(copy.path()).await.unwrap();
            reads_are_exact_or_fail(&repo).await;
            let report = repo.check(CheckOptions { read_data: true }).await.unwrap();
            assert!(named(&report, &key), "{key} mutated by {m:?}: {report:?}");
            // gc must not delete anything on the strength of a damaged walk
            let before = objects(copy.path(), "data/").len();
            let _ = repo.gc(GcOptions { grace: std::time::Duration::ZERO, dry_run: false }).await;
            if !report.affected_items.is_empty() {
                assert!(objects(copy.path(), "data/").contains(&key), "gc deleted the damaged pack {key}");
            }
            assert!(objects(copy.path(), "data/").len() <= before);
        });
    }

    #[test]
    fn damaged_snapshot_root_or_owner_key_is_named_by_check(prefix in prop_oneof![Just("snapshots/"), Just("owners/")], which in any::<Index>(), m in mutation()) {
        let (copy, key, orig, bad) = mutated(prefix, &which, &m);
        rt().block_on(async {
            let repo = open(copy.path()).await.unwrap();
            let _ = repo.list_snapshots(SnapshotFilter::default()).await;
            reads_are_exact_or_fail(&repo).await;
            let report = repo.check(CheckOptions::default()).await.unwrap();
            if !same_meaning(&orig, &bad) {
                assert!(named(&report, &key), "{key} mutated by {m:?}: {report:?}");
            }
            // a damaged root or owner key is an incomplete walk: gc refuses, deleting nothing
            // of what alice's snapshot references (bob's abandoned packs may go)
            let r = repo.gc(GcOptions { grace: std::time::Duration::ZERO, dry_run: false }).await;
            if !same_meaning(&orig, &bad)
                && (key.starts_with("snapshots/") || !report.affected_snapshots.is_empty())
            {
                assert!(r.is_err(), "gc ran over damaged {key} ({m:?}): {r:?}");
            }
            let fresh = open(copy.path()).await.unwrap();
            reads_are_exact_or_fail(&fresh).await;
        });
    }

    #[test]
    fn damaged_sealed_document_is_a_corrupt_error(which in any::<Index>(), m in mutation()) {
        let (copy, key, _, _) = mutated("alerts/", &which, &m);
        rt().block_on(async {
            let repo = open(copy.path()).await.unwrap();
            match repo.get_sealed(&key).await {
                Err(Error::Corrupt { object, .. }) => assert_eq!(object, key),
                other => panic!("{key} mutated by {m:?}: {other:?}"),
            }
        });
    }

    #[test]
    fn damaged_gc_candidates_or_session_marker_delete_nothing(prefix in prop_oneof![Just("gc/"), Just("sessions/")], which in any::<Index>(), m in mutation()) {
        let (copy, key, orig, bad) = mutated(prefix, &which, &m);
        rt().block_on(async {
            let repo = open(copy.path()).await.unwrap();
            let before = objects(copy.path(), "data/");
            let r = repo.gc(GcOptions { grace: std::time::Duration::ZERO, dry_run: false }).await;
            if key.starts_with("gc/") && !same_meaning(&orig, &bad) {
                assert!(r.is_err(), "gc used the damaged candidate list {key}: {r:?}");
                assert_eq!(before, objects(copy.path(), "data/"));
            }
            // a marker that no longer parses counts as a live session: nothing is swept
            if key.starts_with("sessions/")
                && serde_json::from_slice::<serde_json::Value>(&bad).is_err()
            {
                assert_eq!(r.unwrap().packs_deleted, 0, "{key} mutated by {m:?}");
            }
            // whatever happened, alice still reads back exactly
            reads_are_exact_or_fail(&repo).await;
        });
    }
}

#[test]
fn template_has_every_kind_of_object() {
    let t = template();
    for prefix in [
        "config",
        "keys/",
        "owners/",
        "index/",
        "data/",
        "snapshots/",
        "gc/",
        "sessions/",
        "alerts/",
    ] {
        assert!(
            !objects(t.dir.path(), prefix).is_empty(),
            "no object under {prefix}"
        );
    }
}

/// The baseline the mutation tests compare against: undamaged, the template checks clean and
/// gc removes the stale marker and sweeps the abandoned session's packs.
#[test]
fn undamaged_template_checks_clean_and_gc_sweeps_its_garbage() {
    let copy = copy_template();
    rt().block_on(async {
        let repo = open(copy.path()).await.unwrap();
        let report = repo.check(CheckOptions { read_data: true }).await.unwrap();
        assert!(report.is_clean(), "{report:?}");
        let gc = repo
            .gc(GcOptions {
                grace: std::time::Duration::ZERO,
                dry_run: false,
            })
            .await
            .unwrap();
        assert_eq!(gc.stale_markers_removed, 1, "{gc:?}");
        assert!(gc.packs_deleted > 0, "{gc:?}");
        let report = repo.check(CheckOptions { read_data: true }).await.unwrap();
        assert!(report.is_clean(), "{report:?}");
        reads_are_exact_or_fail(&repo).await;
        let snap = repo
            .snapshot(
                &repo
                    .list_snapshots(SnapshotFilter::default())
                    .await
                    .unwrap()[0]
                    .id
                    .0,
            )
            .await
            .unwrap();
        assert_eq!(
            all_items(&snap).await.unwrap().len(),
            template().contents.len()
        );
    });
}

/// Rewrite the JSON of key slot `key` in a template copy.
fn edit_slot(dir: &Path, key: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = repo_root(dir).join(key);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// A key slot whose creation date was altered is refused on open with an error naming it,
/// even with the right passphrase; another, intact slot still opens the repository, and
/// `check` names the altered one.
#[test]
fn altered_key_slot_is_refused_on_open_and_other_slots_still_open() {
    let copy = copy_template();
    rt().block_on(async {
        let repo = open(copy.path()).await.unwrap();
        let altered = format!("keys/{}", repo.info().key_id);
        repo.add_key_with("second passphrase", KdfParams::insecure_fast())
            .await
            .unwrap();
        drop(repo);
        edit_slot(copy.path(), &altered, |v| {
            v["created"] = "2001-01-01T00:00:00Z".into();
        });
        match open(copy.path()).await {
            Err(Error::Corrupt { object, detail }) => {
                assert_eq!(object, altered);
                assert!(detail.contains("MAC"), "{detail}");
            }
            other => panic!("an altered slot opened or gave another error: {other:?}"),
        }
        let storage: Arc<dyn Storage> =
            Arc::new(LocalStorage::new(repo_root(copy.path())).unwrap());
        let repo = Repository::open(
            storage,
            "second passphrase",
            open_opts(&copy.path().join("cache")),
        )
        .await
        .expect("the intact slot opens");
        let report = repo.check(CheckOptions::default()).await.unwrap();
        assert!(named(&report, &altered), "{report:?}");
        reads_are_exact_or_fail(&repo).await;
    });
}

/// Key slots asking Argon2 for more than the caps (FORMAT.md §2) are refused with an error
/// naming the slot, before Argon2 runs: had it run with the planted parameters, the result
/// would merely not fit (a wrong-passphrase error). Only cheap parameters are planted here,
/// so that the test also terminates against a build without the caps.
#[test]
fn key_slot_with_kdf_parameters_beyond_the_caps_is_refused() {
    for (field, value) in [("t", 50u32), ("p", 32)] {
        let copy = copy_template();
        let key = objects(copy.path(), "keys/")[0].clone();
        edit_slot(copy.path(), &key, |v| {
            v["kdf"][field] = value.into();
            v["kdf"]["m_kib"] = 1024.into();
        });
        rt().block_on(async {
            match open(copy.path()).await {
                Err(Error::Corrupt { object, detail }) => {
                    assert_eq!(object, key);
                    assert!(detail.contains("argon2 parameters"), "{detail}");
                }
                other => panic!("{field}={value}: {other:?}"),
            }
        });
    }
}
