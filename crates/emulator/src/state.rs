//! The shared state every handler receives as `State<AppState>`.

use crate::auth::AuthRegistry;
use crate::clock::SimClock;
use crate::config::EmulatorConfig;
use crate::faults::FaultInjector;
use crate::model::tenant::Directory;
use crate::odata::TokenCodec;
use crate::stats::Stats;
use crate::throttle::Throttler;
use parking_lot::RwLock;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

/// Cheap-to-clone handle on the emulator's state.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Shared>);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppState")
    }
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The state proper.
pub struct Shared {
    /// Configuration the emulator was started with.
    pub config: EmulatorConfig,
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base_url: String,
    /// Simulated clock.
    pub clock: SimClock,
    /// App registrations and token signing.
    pub auth: AuthRegistry,
    /// Users and groups.
    pub directory: RwLock<Directory>,
    /// Exchange mailboxes.
    pub mail: crate::mail::MailStore,
    /// Request counters.
    pub stats: Stats,
    /// Throttling engine.
    pub throttle: Arc<Throttler>,
    /// Fault injection.
    pub faults: FaultInjector,
    /// Opaque token codec (skip/delta tokens, upload session ids).
    pub tokens: TokenCodec,
    ext: RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Shared {
    pub(crate) fn new(
        config: EmulatorConfig,
        base_url: String,
        directory: Directory,
        mail: crate::mail::MailStore,
    ) -> Self {
        let seed = config.seed;
        Self {
            clock: SimClock::new(chrono::Utc::now()),
            auth: AuthRegistry::new(seed),
            directory: RwLock::new(directory),
            mail,
            stats: Stats::default(),
            throttle: Arc::new(Throttler::with_seed(config.throttling.clone(), seed)),
            faults: FaultInjector::new(seed, config.faults.clone()),
            tokens: TokenCodec::new(
                &crate::rng::stable_u64(seed, "token.codec", &[])
                    .to_le_bytes()
                    .repeat(4),
            ),
            ext: RwLock::new(HashMap::new()),
            base_url,
            config,
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// Tenant id (GUID).
    pub fn tenant_id(&self) -> String {
        self.directory.read().tenant_id.clone()
    }

    /// Absolute Graph URL for `path_and_query` (which starts with `/`, relative to `/v1.0`).
    pub fn graph_url(&self, path_and_query: &str) -> String {
        format!("{}/v1.0{}", self.base_url, path_and_query)
    }

    /// `@odata.context` URL for a fragment such as `users` or `users('id')/messages`.
    pub fn context(&self, fragment: &str) -> String {
        format!("{}/v1.0/$metadata#{}", self.base_url, fragment)
    }

    /// Per-module state stored by type, created on first use. E.g. E2's
    /// `state.ext(|s| DriveStore::generate(s))` returns `Arc<DriveStore>`.
    pub fn ext<T: Any + Send + Sync>(&self, init: impl FnOnce(&Shared) -> T) -> Arc<T> {
        if let Some(v) = self.ext.read().get(&TypeId::of::<T>()) {
            return v.clone().downcast::<T>().expect("type id matches");
        }
        // Build outside the lock (init may itself call ext for other types).
        let built: Arc<dyn Any + Send + Sync> = Arc::new(init(self));
        let mut w = self.ext.write();
        let v = w.entry(TypeId::of::<T>()).or_insert(built).clone();
        v.downcast::<T>().expect("type id matches")
    }
}
