//! Under injected faults (10%: 5xx, resets, stalls, truncated bodies) and Exchange throttling,
//! a full mail pass yields exactly what a fault-free pass yields.

mod emulator_common;

use emulator_common::*;
use std::time::Duration;
use tenantvault_emulator::{EmulatorConfig, FaultConfig, FaultKind};

#[tokio::test]
async fn faults_lose_nothing_and_change_nothing() {
    let base = EmulatorConfig {
        seed: 21,
        users: 2,
        ..Default::default()
    };
    let (clean_emu, clean) = start(base.clone()).await;
    let user = mailbox_users(&clean).await.remove(0).id;
    let (want, _) = full_mail_pass(&clean, &user).await;
    let m = clean.metrics();
    assert_eq!(
        m.throttled, 0,
        "the client-side mailbox budget avoids 429s: {m:?}"
    );
    clean_emu.shutdown().await;

    let faulty_cfg = EmulatorConfig {
        faults: FaultConfig {
            rate: 0.1,
            classes: vec![],
            kinds: vec![
                FaultKind::Status500,
                FaultKind::Status502,
                FaultKind::Status503,
                FaultKind::Status504,
                FaultKind::Reset,
                FaultKind::Truncate,
                FaultKind::Stall,
            ],
        },
        ..base
    };
    let (emu, _) = start(faulty_cfg).await;
    *emu.state().faults.stall.write() = Duration::from_millis(1500);
    let mut cfg = config_for(&emu);
    cfg.read_timeout = Duration::from_millis(500);
    let faulty = tenantvault_graph::GraphClient::new(cfg).unwrap();
    let (got, _) = full_mail_pass(&faulty, &user).await;
    let m = faulty.metrics();
    assert!(
        m.retries > 0 && (m.server_errors + m.transport_errors) > 0,
        "faults happened: {m:?}"
    );
    let count: usize = want.values().map(|f| f.len()).sum();
    assert!(count > 10, "a real mailbox: {count} messages");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "same folders"
    );
    for (folder, msgs) in &want {
        let g = &got[folder];
        assert_eq!(
            g.keys().collect::<Vec<_>>(),
            msgs.keys().collect::<Vec<_>>(),
            "same messages in {folder}"
        );
        for (id, mime) in msgs {
            assert!(g[id] == *mime, "MIME of {id} differs under faults");
        }
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn server_side_throttling_is_honoured_and_client_budgets_prevent_it() {
    // The emulator allows 12 requests per mailbox per (time-scaled) 1-second window.
    let base = EmulatorConfig {
        seed: 22,
        users: 2,
        ..Default::default()
    };
    let (clean_emu, clean) = start(base.clone()).await;
    let user = mailbox_users(&clean).await.remove(0).id;
    let (want, _) = full_mail_pass(&clean, &user).await;
    clean_emu.shutdown().await;

    let mut cfg = base;
    cfg.throttling.mailbox_requests_per_window = 12;
    cfg.throttling.window_secs = 600;
    cfg.throttling.time_scale = 600.0;
    cfg.throttling.http_date_share = 0.5;

    // A client that does not know the limit is throttled (429 ApplicationThrottled, half of
    // them with an HTTP-date Retry-After), waits as told, and still gets everything.
    let (emu, throttled) = start(cfg.clone()).await;
    let (got, _) = full_mail_pass(&throttled, &user).await;
    let m = throttled.metrics();
    assert!(m.throttled > 0, "the emulator throttled: {m:?}");
    assert!(got == want, "identical content under throttling");
    emu.shutdown().await;

    // A client whose mailbox budget matches the limit is never throttled.
    let emu = tenantvault_emulator::Emulator::start(cfg).await.unwrap();
    let mut gc = config_for(&emu);
    gc.limits.mailbox_requests_per_window = 12;
    gc.limits.mailbox_window = Duration::from_millis(1100);
    let polite = tenantvault_graph::GraphClient::new(gc).unwrap();
    // Directory calls are not mailbox requests; use the user id from the clean run.
    let (got, _) = full_mail_pass(&polite, &user).await;
    let m = polite.metrics();
    assert_eq!(
        m.throttled, 0,
        "client-side budget kept under the limit: {m:?}"
    );
    assert!(got == want);
    emu.shutdown().await;
}
