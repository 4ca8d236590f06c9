//! The audit log: appends chain up, concurrent appenders serialise, and every kind of
//! tampering (alter, remove, insert, reorder, splice, truncate the tail, forge a checkpoint)
//! is detected with the sequence number and key where it happened.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tenantvault_repo::*;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn rec(i: i64, op: &str, owner: &str) -> AuditRecord {
    let mut r = AuditRecord::new(t0() + Duration::hours(i), op, "tester@host", "ok");
    r.owners.push(format!("exchange:{owner}"));
    r.details = serde_json::json!({ "items": i });
    r
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    cache: PathBuf,
    repo: Repository,
}

impl Fixture {
    /// A repository with `n` records and a checkpoint after the last one.
    async fn new(n: i64) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let cache = dir.path().join("cache");
        let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(&root).unwrap());
        let repo = init(storage, &cache).await;
        for i in 1..=n {
            repo.audit_append(&rec(i, "backup exchange", "alice@x.com"))
                .await
                .unwrap();
        }
        repo.audit_checkpoint(t0() + Duration::days(1))
            .await
            .unwrap();
        Fixture {
            _dir: dir,
            root,
            cache,
            repo,
        }
    }

    fn record(&self, seq: u64) -> PathBuf {
        self.root.join(format!("audit/r/{seq:020}"))
    }

    fn checkpoint(&self, seq: u64) -> PathBuf {
        self.root.join(format!("audit/c/{seq:020}"))
    }

    /// The repository opened with a fresh cache (no local witness): only what is in storage
    /// can reveal the tampering.
    async fn elsewhere(&self) -> Repository {
        let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(&self.root).unwrap());
        let other = self.cache.with_file_name("cache-elsewhere");
        Repository::open(storage, PASS, open_opts(&other))
            .await
            .unwrap()
    }
}

fn key(seq: u64) -> String {
    format!("audit/r/{seq:020}")
}

fn first(rep: &AuditVerifyReport) -> &AuditProblem {
    rep.problems
        .first()
        .unwrap_or_else(|| panic!("tampering not detected: {rep:#?}"))
}

fn replace(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = std::fs::read(path).unwrap();
    f(&mut b);
    std::fs::remove_file(path).unwrap();
    std::fs::write(path, b).unwrap();
}

#[tokio::test]
async fn clean_log_verifies_and_filters() {
    let f = Fixture::new(7).await;
    let rep = f.repo.audit_verify(None).await.unwrap();
    assert!(rep.ok(), "{rep:#?}");
    assert_eq!(rep.records, 7);
    assert_eq!(rep.head.as_ref().unwrap().seq, 7);
    assert_eq!(rep.last_checkpoint, Some(7));
    assert_eq!(rep.unsealed_tail, 0);
    assert_eq!(rep.witness, rep.head);
    // the same log verifies from another machine, and that machine's expectation holds
    let other = f.elsewhere().await;
    let rep2 = other.audit_verify(rep.head.as_ref()).await.unwrap();
    assert!(rep2.ok(), "{rep2:#?}");

    other
        .audit_append(&rec(8, "restore", "bob@x.com"))
        .await
        .unwrap();
    let all = f.repo.audit_records(&AuditFilter::default()).await.unwrap();
    assert_eq!(all.1, 0);
    assert_eq!(
        all.0.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    assert_eq!(all.0[2].record, rec(3, "backup exchange", "alice@x.com"));
    let filter = AuditFilter {
        owner: Some("bob@x.com".into()),
        ..Default::default()
    };
    let bob = f.repo.audit_records(&filter).await.unwrap().0;
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0].record.operation, "restore");
    let filter = AuditFilter {
        operation: Some("backup".into()),
        since: Some(t0() + Duration::hours(3)),
        until: Some(t0() + Duration::hours(5)),
        ..Default::default()
    };
    let seqs: Vec<u64> = f
        .repo
        .audit_records(&filter)
        .await
        .unwrap()
        .0
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, vec![3, 4, 5]);
}

#[tokio::test]
async fn concurrent_appenders_get_distinct_sequence_numbers() {
    let f = Fixture::new(0).await;
    let mut tasks = Vec::new();
    for w in 0..4 {
        // separate handles (separate witnesses) racing on the same storage
        let repo = f.elsewhere().await;
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..5 {
                let h = repo
                    .audit_append(&rec(w * 10 + i, "backup exchange", "a"))
                    .await
                    .unwrap();
                seqs.push(h.seq);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=20).collect::<Vec<_>>());
    let rep = f.repo.audit_verify(None).await.unwrap();
    assert!(rep.ok(), "{rep:#?}");
    assert_eq!(rep.records, 20);
}

#[tokio::test]
async fn automatic_checkpoint_every_hundred_records() {
    let f = Fixture::new(0).await;
    for i in 0..(CHECKPOINT_EVERY as i64 + 3) {
        f.repo.audit_append(&rec(i, "gc", "x")).await.unwrap();
    }
    let rep = f.repo.audit_verify(None).await.unwrap();
    assert!(rep.ok(), "{rep:#?}");
    assert_eq!(rep.last_checkpoint, Some(CHECKPOINT_EVERY));
    assert_eq!(rep.unsealed_tail, 3);
}

#[tokio::test]
async fn altered_record_is_detected_where_it_is() {
    let f = Fixture::new(7).await;
    // flip one character inside the ciphertext
    replace(&f.record(3), |b| {
        let s = String::from_utf8(b.clone()).unwrap();
        let at = s.find("\"sealed\":\"").unwrap() + 20;
        b[at] = if b[at] == b'A' { b'B' } else { b'A' };
    });
    let rep = f.repo.audit_verify(None).await.unwrap();
    let p = first(&rep);
    assert_eq!(p.kind, AuditProblemKind::Altered);
    assert_eq!((p.seq, p.key.as_str()), (Some(3), key(3).as_str()));
    assert_eq!(rep.problems.len(), 1, "{rep:#?}");
    // the checkpoint alone (another machine) still pins the chain
    let rep = f.elsewhere().await.audit_verify(None).await.unwrap();
    assert_eq!(first(&rep).seq, Some(3));
    // the damaged record is not shown, and is counted as unreadable
    let (entries, unreadable) = f.repo.audit_records(&AuditFilter::default()).await.unwrap();
    assert_eq!((entries.len(), unreadable), (6, 1));
}

#[tokio::test]
async fn edited_metadata_field_is_detected() {
    let f = Fixture::new(5).await;
    // a valid JSON edit of the plaintext `prev` field breaks authentication
    replace(&f.record(2), |b| {
        let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
        v["prev"] = serde_json::json!("1".repeat(64));
        *b = serde_json::to_vec(&v).unwrap();
    });
    let rep = f.repo.audit_verify(None).await.unwrap();
    assert_eq!(first(&rep).kind, AuditProblemKind::Altered);
    assert_eq!(first(&rep).seq, Some(2));
}

#[tokio::test]
async fn removed_record_is_detected() {
    let f = Fixture::new(7).await;
    std::fs::remove_file(f.record(4)).unwrap();
    let rep = f.elsewhere().await.audit_verify(None).await.unwrap();
    let p = first(&rep);
    assert_eq!(p.kind, AuditProblemKind::Removed);
    assert_eq!((p.seq, p.key.as_str()), (Some(4), key(4).as_str()));
    assert!(p.detail.contains("record 4 is missing"), "{}", p.detail);
}

#[tokio::test]
async fn inserted_records_are_detected() {
    let f = Fixture::new(6).await;
    // a forged record (sealed with another repository's key) shifted into place 4
    let forger = Fixture::new(1).await;
    for seq in (4..=6).rev() {
        std::fs::rename(f.record(seq), f.record(seq + 1)).unwrap();
    }
    std::fs::copy(forger.record(1), f.record(4)).unwrap();
    let rep = f.elsewhere().await.audit_verify(None).await.unwrap();
    let p = first(&rep);
    assert_eq!(p.kind, AuditProblemKind::Altered);
    assert_eq!(p.seq, Some(4));
    assert!(
        rep.problems
            .iter()
            .any(|p| p.kind == AuditProblemKind::Reordered && p.seq == Some(5)),
        "{rep:#?}"
    );
    // a stray object under audit/
    let f2 = Fixture::new(2).await;
    std::fs::write(f2.root.join("audit/r/note"), b"hello").unwrap();
    let rep = f2.repo.audit_verify(None).await.unwrap();
    assert_eq!(first(&rep).kind, AuditProblemKind::Unexpected);
    assert_eq!(first(&rep).key, "audit/r/note");
}

#[tokio::test]
async fn reordered_records_are_detected() {
    let f = Fixture::new(7).await;
    let tmp = f.root.join("audit/swap");
    std::fs::rename(f.record(3), &tmp).unwrap();
    std::fs::rename(f.record(4), f.record(3)).unwrap();
    std::fs::rename(&tmp, f.record(4)).unwrap();
    let rep = f.repo.audit_verify(None).await.unwrap();
    let kinds: Vec<_> = rep.problems.iter().map(|p| (p.kind, p.seq)).collect();
    assert!(
        kinds.contains(&(AuditProblemKind::Reordered, Some(3))),
        "{rep:#?}"
    );
    assert!(
        kinds.contains(&(AuditProblemKind::Reordered, Some(4))),
        "{rep:#?}"
    );
}

#[tokio::test]
async fn truncated_tail_is_caught_by_the_checkpoint() {
    let f = Fixture::new(7).await;
    std::fs::remove_file(f.record(7)).unwrap();
    std::fs::remove_file(f.record(6)).unwrap();
    // another machine has no witness: the signed checkpoint at 7 is what catches it
    let rep = f.elsewhere().await.audit_verify(None).await.unwrap();
    let p = first(&rep);
    assert_eq!(p.kind, AuditProblemKind::Truncated);
    assert_eq!((p.seq, p.key.as_str()), (Some(6), key(6).as_str()));
    assert!(p.detail.contains("records 6..7"), "{}", p.detail);
}

#[tokio::test]
async fn truncated_tail_with_its_checkpoints_is_caught_by_the_witness_or_expected_head() {
    let f = Fixture::new(7).await;
    let head = f.repo.audit_verify(None).await.unwrap().head.unwrap();
    for seq in [7, 6] {
        std::fs::remove_file(f.record(seq)).unwrap();
    }
    std::fs::remove_file(f.checkpoint(7)).unwrap();
    // this machine remembers head 7
    let rep = f.repo.audit_verify(None).await.unwrap();
    assert_eq!(first(&rep).kind, AuditProblemKind::Truncated, "{rep:#?}");
    assert_eq!(first(&rep).seq, Some(6));
    // elsewhere, a head kept outside the repository (SIEM) catches it
    let rep = f.elsewhere().await.audit_verify(Some(&head)).await.unwrap();
    assert_eq!(first(&rep).kind, AuditProblemKind::Truncated, "{rep:#?}");
}

#[tokio::test]
async fn spliced_history_breaks_the_chain() {
    let f = Fixture::new(5).await;
    // an attacker removes record 5 and later puts it back after a new record 5 was written
    let old5 = std::fs::read(f.record(5)).unwrap();
    std::fs::remove_file(f.record(5)).unwrap();
    std::fs::remove_file(f.checkpoint(5)).unwrap();
    let other = f.elsewhere().await;
    let h = other.audit_append(&rec(50, "erase", "a")).await.unwrap();
    assert_eq!(h.seq, 5);
    std::fs::write(f.record(6), &old5).unwrap(); // reordered: old 5 stored as 6
    let rep = other.audit_verify(None).await.unwrap();
    assert!(
        rep.problems
            .iter()
            .any(|p| p.kind == AuditProblemKind::Reordered && p.seq == Some(6)),
        "{rep:#?}"
    );
    // and the first machine's witness sees that record 5 is not the one it wrote
    let rep = f.repo.audit_verify(None).await.unwrap();
    assert!(
        rep.problems
            .iter()
            .any(|p| p.kind == AuditProblemKind::Altered && p.seq == Some(5)),
        "{rep:#?}"
    );
}

#[tokio::test]
async fn forged_or_altered_checkpoint_is_detected() {
    let f = Fixture::new(4).await;
    replace(&f.checkpoint(4), |b| {
        let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
        v["seq"] = serde_json::json!(9);
        *b = serde_json::to_vec(&v).unwrap();
    });
    let rep = f.repo.audit_verify(None).await.unwrap();
    assert_eq!(first(&rep).kind, AuditProblemKind::BadCheckpoint);
    assert_eq!(first(&rep).seq, Some(4));
}
