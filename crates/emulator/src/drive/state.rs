//! The drive module's share of the emulator state (stored via `Shared::ext`).

use parking_lot::{Mutex, RwLock};
use std::sync::Arc;

use super::config::DriveConfig;
use super::delta::Cursors;
use super::generate::{GroupSpec, generate};
use super::model::Ident;
use super::store::DriveStore;
use super::upload::Uploads;
use crate::state::{AppState, Shared};

/// Drives, sites, delta cursors and upload sessions.
#[derive(Debug)]
pub struct DriveState {
    /// All drives and sites.
    pub store: RwLock<DriveStore>,
    /// Running delta rounds.
    pub cursors: Mutex<Cursors>,
    /// Open upload sessions.
    pub uploads: Mutex<Uploads>,
    /// Knobs (copied from the emulator config at start).
    pub cfg: RwLock<DriveConfig>,
}

/// The directory's users that own a OneDrive (licensed, not deleted), as identities.
pub(crate) fn drive_owners(s: &Shared) -> (Vec<Ident>, Vec<GroupSpec>, String) {
    let dir = s.directory.read();
    let users = dir
        .users
        .iter()
        .filter(|u| u.licensed() && u.deleted.is_none())
        .map(|u| Ident {
            id: u.id.clone(),
            display_name: u.display_name.clone(),
            email: u.mail.clone().unwrap_or_else(|| u.upn.clone()),
        })
        .collect();
    let groups = dir
        .groups
        .iter()
        .filter(|g| g.unified)
        .map(|g| GroupSpec {
            id: g.id.clone(),
            display_name: g.display_name.clone(),
            nickname: g.mail_nickname.clone(),
            description: g.description.clone(),
            members: g.members.clone(),
        })
        .collect();
    (users, groups, dir.domain.clone())
}

impl DriveState {
    fn build(s: &Shared) -> Self {
        let cfg = s.config.drive.clone();
        let (users, groups, domain) = drive_owners(s);
        let anchor = crate::model::tenant::content_anchor();
        let mut store = generate(s.seed(), &cfg, &domain, &users, &groups, anchor);
        if let Some(dir) = &s.config.from_dir {
            match super::loader::load_dir(&mut store, dir, &users, anchor) {
                Ok(n) => tracing::info!(files = n, dir = %dir.display(), "loaded drive trees"),
                Err(e) => {
                    tracing::warn!(error = %e, dir = %dir.display(), "could not load drive trees")
                }
            }
        }
        Self {
            store: RwLock::new(store),
            cursors: Mutex::new(Cursors::default()),
            uploads: Mutex::new(Uploads::default()),
            cfg: RwLock::new(cfg),
        }
    }
}

/// The drive state of an emulator (generated on first use).
pub fn drive_state(s: &AppState) -> Arc<DriveState> {
    s.ext(DriveState::build)
}
