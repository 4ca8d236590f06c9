//! Request counters per endpoint class, app and owner, served at `GET /_emulator/stats`.

use crate::EndpointClass;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::HashMap;

/// Counters of one (class, app, owner) cell.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counter {
    /// Requests answered (including throttled and faulted ones).
    pub requests: u64,
    /// 429 answers.
    pub throttled: u64,
    /// Injected faults.
    pub faults: u64,
    /// Response body bytes sent.
    pub bytes: u64,
    /// Request body bytes received.
    pub bytes_in: u64,
}

/// All counters.
#[derive(Debug, Default)]
pub struct Stats {
    cells: Mutex<HashMap<(EndpointClass, String, String), Counter>>,
}

/// One row of `/_emulator/stats`.
#[derive(Debug, Clone, Serialize)]
pub struct StatRow {
    /// Endpoint class.
    pub class: EndpointClass,
    /// App (client id) or `-` for unauthenticated requests.
    pub app: String,
    /// Owner (user id, drive id, …) or `-`.
    pub owner: String,
    /// The counters.
    #[serde(flatten)]
    pub counter: Counter,
}

impl Stats {
    /// Apply `f` to the cell of (class, app, owner).
    pub fn record(
        &self,
        class: EndpointClass,
        app: &str,
        owner: &str,
        f: impl FnOnce(&mut Counter),
    ) {
        let mut cells = self.cells.lock();
        f(cells
            .entry((class, app.to_string(), owner.to_string()))
            .or_default());
    }

    /// Snapshot of all rows, sorted.
    pub fn rows(&self) -> Vec<StatRow> {
        let cells = self.cells.lock();
        let mut rows: Vec<StatRow> = cells
            .iter()
            .map(|((class, app, owner), c)| StatRow {
                class: *class,
                app: app.clone(),
                owner: owner.clone(),
                counter: c.clone(),
            })
            .collect();
        rows.sort_by(|a, b| (a.class, &a.app, &a.owner).cmp(&(b.class, &b.app, &b.owner)));
        rows
    }

    /// Totals per class.
    pub fn totals(&self) -> HashMap<EndpointClass, Counter> {
        let mut out: HashMap<EndpointClass, Counter> = HashMap::new();
        for ((class, _, _), c) in self.cells.lock().iter() {
            let t = out.entry(*class).or_default();
            t.requests += c.requests;
            t.throttled += c.throttled;
            t.faults += c.faults;
            t.bytes += c.bytes;
            t.bytes_in += c.bytes_in;
        }
        out
    }

    /// Forget everything.
    pub fn reset(&self) {
        self.cells.lock().clear();
    }
}
