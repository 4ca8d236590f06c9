//! Exchange backup under adverse conditions: injected faults and throttling give the same
//! snapshot content as a clean run; an interrupted run resumes from its checkpoint without
//! downloading committed messages again; a collection that keeps failing is recorded as a
//! failure while the snapshot is still committed.

mod exchange_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use exchange_support::*;
use tenantvault_emulator::{EndpointClass, FaultConfig, FaultKind};
use tenantvault_repo::SnapshotFilter;
use tenantvault_workloads::exchange::{self, MailboxReport, Progress, Selection};

async fn reference(
    seed: u64,
    users: usize,
    messages: u32,
) -> BTreeMap<String, BTreeMap<String, ItemDump>> {
    let emu = start(small_tenant(seed, users, messages)).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let report = backup(&repo, &graph, &fast_config()).await;
    assert_eq!(report.failures(), 0);
    let mut out = BTreeMap::new();
    for (owner, snap) in snapshots(&repo, &report).await {
        out.insert(owner, dump(&repo, &snap).await);
    }
    emu.shutdown().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_throttling_give_the_same_snapshot() {
    let expected = reference(31, 4, 30).await;

    let mut cfg = small_tenant(31, 4, 30);
    cfg.faults = FaultConfig {
        rate: 0.10,
        classes: vec![
            EndpointClass::Mail,
            EndpointClass::Calendar,
            EndpointClass::Contacts,
            EndpointClass::Directory,
        ],
        kinds: vec![
            FaultKind::Status500,
            FaultKind::Status502,
            FaultKind::Status503,
            FaultKind::Status504,
            FaultKind::Reset,
            FaultKind::Truncate,
        ],
    };
    // Throttling on, tighter than Microsoft's limits so that 429s surely happen and must be
    // honoured: 1 concurrent request and 25 requests per (1 s real) window per mailbox.
    cfg.throttling.enabled = true;
    cfg.throttling.mailbox_concurrency = 1;
    cfg.throttling.mailbox_requests_per_window = 25;
    cfg.throttling.window_secs = 600;
    cfg.throttling.time_scale = 600.0;
    let emu = start(cfg).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let report = backup(&repo, &graph, &fast_config()).await;
    assert_eq!(report.failures(), 0, "{:#?}", report.mailboxes);
    let totals = emu.state().stats.totals();
    let faults: u64 = totals.values().map(|c| c.faults).sum();
    assert!(faults > 10, "faults were injected: {faults}");
    // Every mailbox needs more requests than one throttle window allows, so the run must have
    // waited for windows: by honouring 429s or by slowing down on the RateLimit-* headers.
    let throttled = outlook_throttled(&emu);
    eprintln!("429s served: {throttled}; run took {:?}", report.elapsed);
    assert!(
        report.elapsed >= std::time::Duration::from_millis(900),
        "the per-mailbox windows were respected ({throttled} 429s, {:?})",
        report.elapsed
    );
    let snaps = snapshots(&repo, &report).await;
    assert_eq!(
        snaps.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (owner, snap) in snaps {
        assert_same(
            &dump(&repo, &snap).await,
            &expected[&owner],
            &format!("{owner} under faults"),
        );
    }
    emu.shutdown().await;
}

/// Signals after `after` stored items.
struct StopAfter {
    seen: AtomicU64,
    after: u64,
    stop: Arc<tokio::sync::Notify>,
}

impl Progress for StopAfter {
    fn items(&self, count: u64, _bytes: u64) {
        if self.seen.fetch_add(count, Ordering::SeqCst) + count >= self.after {
            self.stop.notify_one();
        }
    }
    fn mailbox_finished(&self, _r: &MailboxReport) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_run_resumes_from_its_checkpoint() {
    let expected = reference(41, 2, 120).await;
    let emu = start(small_tenant(41, 2, 120)).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let mut cfg = fast_config();
    cfg.parallel_mailboxes = 1;
    cfg.checkpoint_items = 20;

    let stop = Arc::new(tokio::sync::Notify::new());
    let progress = StopAfter {
        seen: AtomicU64::new(0),
        after: 70,
        stop: stop.clone(),
    };
    let all = Selection::default();
    tokio::select! {
        r = exchange::backup(&repo, &graph, &cfg, &all, Some(&progress)) => {
            panic!("the run should have been interrupted: {:?}", r.map(|r| r.messages_downloaded()));
        }
        _ = stop.notified() => {}
    }
    // The interrupted run left checkpoints only.
    let partial = repo
        .list_snapshots(SnapshotFilter {
            workload: Some("exchange".into()),
            owner: None,
            include_partial: true,
        })
        .await
        .unwrap();
    assert!(!partial.is_empty(), "checkpoints were committed");
    assert!(partial.iter().all(|s| !s.complete));
    let mut checkpointed = 0u64;
    for s in &partial {
        let snap = repo.snapshot(&s.id.0).await.unwrap();
        checkpointed = checkpointed.max(
            dump(&repo, &snap)
                .await
                .values()
                .filter(|i| i.kind == "message")
                .count() as u64,
        );
    }
    assert!(checkpointed >= 20);

    let total: u64 = expected
        .values()
        .map(|d| d.values().filter(|i| i.kind == "message").count() as u64)
        .sum();
    let report = backup(&repo, &graph, &fast_config()).await;
    assert_eq!(report.failures(), 0);
    assert!(report.mailboxes.iter().any(|m| m.resumed));
    assert!(
        report.messages_downloaded() <= total - checkpointed,
        "committed messages are not downloaded again: {} downloaded, {total} total, {checkpointed} checkpointed",
        report.messages_downloaded()
    );
    for (owner, snap) in snapshots(&repo, &report).await {
        assert_same(
            &dump(&repo, &snap).await,
            &expected[&owner],
            &format!("{owner} after resume"),
        );
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_collection_is_recorded_and_the_snapshot_committed() {
    let mut cfg = small_tenant(51, 2, 20);
    cfg.faults = FaultConfig {
        rate: 1.0,
        classes: vec![EndpointClass::Calendar],
        kinds: vec![FaultKind::Status500],
    };
    let emu = start(cfg).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let report = backup(&repo, &graph, &fast_config()).await;
    assert!(report.failures() > 0);
    for m in &report.mailboxes {
        assert!(m.error.is_none(), "mailbox itself succeeded");
        let snap_id = m
            .snapshot
            .as_ref()
            .expect("snapshot committed despite failures");
        assert!(
            m.failures
                .iter()
                .any(|f| f.item_id == "calendar" && f.reason.contains("500")),
            "{:?}",
            m.failures
        );
        assert!(m.messages_downloaded > 0);
        let snap = repo.snapshot(snap_id).await.unwrap();
        assert!(snap.summary().complete);
        assert!(snap.failures().iter().any(|f| f.item_id == "calendar"));
    }
    emu.shutdown().await;
}
