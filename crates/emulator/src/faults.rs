//! Deterministic fault injection per endpoint class.

use crate::EndpointClass;
use crate::config::FaultConfig;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// A fault the emulator can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FaultKind {
    /// 500 `generalException`.
    Status500,
    /// 502 Bad Gateway.
    Status502,
    /// 503 `serviceNotAvailable` with `Retry-After`.
    Status503,
    /// 504 Gateway Timeout.
    Status504,
    /// The connection is closed without a response.
    Reset,
    /// The response is delayed by the stall duration (default 30 s).
    Stall,
    /// Headers and half the body are sent, then the connection is closed.
    Truncate,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 7] = [
        Self::Status500,
        Self::Status502,
        Self::Status503,
        Self::Status504,
        Self::Reset,
        Self::Stall,
        Self::Truncate,
    ];
}

/// Decides, per request, whether and which fault to inject. The decision for the n-th eligible
/// request is a pure function of (seed, n), so the same request order gives the same faults.
#[derive(Debug)]
pub struct FaultInjector {
    seed: u64,
    config: RwLock<FaultConfig>,
    seq: AtomicU64,
    /// How long a stalled response waits.
    pub stall: RwLock<std::time::Duration>,
    /// Extra service latency added to every Graph request after it is admitted by throttling
    /// (simulates Graph's own response time; holds the concurrency slot meanwhile).
    pub latency: RwLock<std::time::Duration>,
}

impl FaultInjector {
    /// New injector.
    pub fn new(seed: u64, config: FaultConfig) -> Self {
        Self {
            seed,
            config: RwLock::new(config),
            seq: AtomicU64::new(0),
            stall: RwLock::new(std::time::Duration::from_secs(30)),
            latency: RwLock::new(std::time::Duration::ZERO),
        }
    }

    /// Replace settings and restart the sequence (so a test can reproduce a run).
    pub fn set(&self, config: FaultConfig) {
        *self.config.write() = config;
        self.seq.store(0, Ordering::SeqCst);
    }

    /// Current settings.
    pub fn config(&self) -> FaultConfig {
        self.config.read().clone()
    }

    /// Decide for one request of `class`.
    pub fn decide(&self, class: EndpointClass) -> Option<FaultKind> {
        if matches!(class, EndpointClass::Admin | EndpointClass::Auth) {
            return None;
        }
        let c = self.config.read();
        if c.rate <= 0.0 || (!c.classes.is_empty() && !c.classes.contains(&class)) {
            return None;
        }
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        if crate::rng::stable_unit(self.seed, "fault", &[n]) >= c.rate {
            return None;
        }
        let kinds: &[FaultKind] = if c.kinds.is_empty() {
            &FaultKind::ALL
        } else {
            &c.kinds
        };
        let pick = crate::rng::stable_u64(self.seed, "fault.kind", &[n]) as usize % kinds.len();
        Some(kinds[pick])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_fault_sequence_and_rate_roughly_honoured() {
        let cfg = FaultConfig {
            rate: 0.1,
            classes: vec![],
            kinds: vec![],
        };
        let a = FaultInjector::new(9, cfg.clone());
        let b = FaultInjector::new(9, cfg.clone());
        let sa: Vec<_> = (0..2000).map(|_| a.decide(EndpointClass::Mail)).collect();
        let sb: Vec<_> = (0..2000).map(|_| b.decide(EndpointClass::Mail)).collect();
        assert_eq!(sa, sb);
        let hits = sa.iter().filter(|x| x.is_some()).count();
        assert!((120..=280).contains(&hits), "{hits} faults in 2000 at 10%");
        let c = FaultInjector::new(10, cfg);
        let sc: Vec<_> = (0..2000).map(|_| c.decide(EndpointClass::Mail)).collect();
        assert_ne!(sa, sc);
        assert_eq!(a.decide(EndpointClass::Admin), None);
    }

    #[test]
    fn class_filter_applies() {
        let a = FaultInjector::new(
            1,
            FaultConfig {
                rate: 1.0,
                classes: vec![EndpointClass::Drive],
                kinds: vec![FaultKind::Status503],
            },
        );
        assert_eq!(a.decide(EndpointClass::Mail), None);
        assert_eq!(a.decide(EndpointClass::Drive), Some(FaultKind::Status503));
    }
}
