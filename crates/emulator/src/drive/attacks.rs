//! Benign look-alikes of attacks, for evaluating ransomware and insider detection: they
//! produce the volumes an attack produces without being one.
//!
//! * `POST /_emulator/drive/photos`: a user uploads many photos and zip archives (new files,
//!   high-entropy content with real format headers).
//! * `POST /_emulator/drive/reorganize`: every file (or a share) moves into new folders.
//! * `POST /_emulator/drive/cleanup`: a team deletes files not modified for a long time (into
//!   the recycle bin, as users do).
//!
//! The attacks themselves live in [`super::scenarios`] (`ransomware`, `purge`: fast and slow
//! ransomware, insider deletion, a SharePoint library wipe with `purge` on its drive), except
//! the stealthy variant here:
//!
//! * `POST /_emulator/drive/encrypt-in-place`: a share of the files is overwritten with
//!   encrypted (random) content under the owner's own identity (a compromised sync client):
//!   no rename, no new extension, no ransom note. Only the content change gives it away.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rand::Rng;
use rand::seq::SliceRandom;
use serde::Deserialize;
use serde_json::{Value, json};

use super::content::{Content, Source};
use super::model::{Conflict, Drive, ItemIdx};
use super::state::drive_state;
use crate::error::GraphError;
use crate::rng::{rng_for, stable_u64};
use crate::state::AppState;

/// Which drive a scenario touches: a drive id, or a user's OneDrive.
#[derive(Debug, Default, Deserialize)]
pub struct Target {
    /// A drive id.
    pub drive: Option<String>,
    /// A user (id or UPN): their OneDrive.
    pub user: Option<String>,
}

fn target_drive(st: &AppState, t: &Target) -> Result<String, GraphError> {
    let ds = drive_state(st);
    let store = ds.store.read();
    if let Some(d) = &t.drive {
        return store.drive(d).map(|d| d.id.clone()).ok_or_else(|| {
            GraphError::bad_request("invalidRequest", format!("unknown drive {d}"))
        });
    }
    let Some(u) = &t.user else {
        return Err(GraphError::bad_request(
            "invalidRequest",
            "give \"drive\" or \"user\"",
        ));
    };
    let uid = st
        .directory
        .read()
        .user(u)
        .map(|u| u.id.clone())
        .ok_or_else(|| GraphError::bad_request("invalidRequest", format!("unknown user {u}")))?;
    store
        .user_drive_id(&uid)
        .map(str::to_string)
        .ok_or_else(|| {
            GraphError::bad_request("invalidRequest", format!("user {u} has no OneDrive"))
        })
}

fn reply(r: Result<Value, GraphError>) -> Response {
    match r {
        Ok(v) => (StatusCode::OK, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn files(d: &Drive) -> Vec<ItemIdx> {
    (1..d.items.len() as ItemIdx)
        .filter(|&i| d.item(i).deleted.is_none() && !d.item(i).is_folder())
        .collect()
}

fn rng(st: &AppState, scenario: &str, d: &Drive) -> rand_chacha::ChaCha8Rng {
    rng_for(st.seed(), scenario, &[stable_u64(0, &d.id, &[]), d.seq])
}

fn random_bytes(rng: &mut impl Rng, header: &[u8], len: usize) -> Bytes {
    let mut v = header.to_vec();
    v.resize(len.max(header.len()), 0);
    rng.fill(&mut v[header.len()..]);
    Bytes::from(v)
}

/// The acting identity and the time of a scenario's changes.
type Actor = (
    std::sync::Arc<super::model::Ident>,
    chrono::DateTime<chrono::Utc>,
);

/// Runs `f` on the drive `target` names (400 when it names none), under the store's write
/// lock, as the drive's owner, with a generator seeded by the scenario and the drive's state.
fn on_drive(
    st: &AppState,
    target: &Target,
    scenario: &str,
    f: impl FnOnce(&str, &mut Drive, &Actor, &mut rand_chacha::ChaCha8Rng) -> Result<Value, GraphError>,
) -> Result<Value, GraphError> {
    let id = target_drive(st, target)?;
    let ds = drive_state(st);
    let now = st.clock.now();
    let mut store = ds.store.write();
    let d = store
        .drive_mut(&id)
        .ok_or_else(|| GraphError::bad_request("invalidRequest", "drive gone"))?;
    let mut rng = rng(st, scenario, d);
    let actor = (d.owner.clone(), now);
    f(&id, d, &actor, &mut rng)
}

/// The top-level folder `name`, created by the actor when missing.
fn top_folder(d: &mut Drive, name: &str, (owner, now): &Actor) -> Result<ItemIdx, GraphError> {
    match d.child_by_name(Drive::ROOT, name) {
        Some(f) => Ok(f),
        None => d
            .create_folder(Drive::ROOT, name, Conflict::Fail, owner, *now)
            .map_err(|e| GraphError::bad_request("invalidRequest", format!("{e:?}"))),
    }
}

/// Body of `POST /_emulator/drive/photos`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Photos {
    #[serde(flatten)]
    target: Target,
    /// Files to upload.
    #[serde(default = "hundred")]
    count: u32,
    /// Share of them that are zip archives, 0–1.
    #[serde(default)]
    zip_share: f64,
    /// Folder (below the root) created for them.
    #[serde(default = "camera")]
    folder: String,
    /// Size of each file in bytes.
    #[serde(default = "size")]
    size: u32,
}
fn hundred() -> u32 {
    100
}
fn camera() -> String {
    "Camera Roll".into()
}
fn size() -> u32 {
    8192
}

/// `POST /_emulator/drive/photos`: uploads `count` JPEG photos and zip archives (random
/// payload behind real headers) into a new folder, as the owner.
pub(crate) async fn photos(State(st): State<AppState>, Json(p): Json<Photos>) -> Response {
    if !(0.0..=1.0).contains(&p.zip_share)
        || p.count > 200_000
        || p.folder.is_empty()
        || p.folder.contains('/')
        || !(64..=16 << 20).contains(&p.size)
    {
        return reply(Err(GraphError::bad_request(
            "invalidRequest",
            "zipShare within 0..1, count ≤ 200000, folder a plain name, size 64 B..16 MiB",
        )));
    }
    reply(on_drive(
        &st,
        &p.target,
        "drive.photos",
        |id, d, actor, rng| {
            let folder = top_folder(d, &p.folder, actor)?;
            let &(ref owner, now) = actor;
            let (mut jpg, mut zip) = (0u32, 0u32);
            for k in 0..p.count {
                let is_zip = rng.gen_bool(p.zip_share);
                let (name, header): (String, &[u8]) = if is_zip {
                    (
                        format!("Archive {k:05}.zip"),
                        b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
                    )
                } else {
                    (
                        format!("IMG_{k:05}.jpg"),
                        b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00",
                    )
                };
                let len = rng.gen_range(p.size / 2..=p.size) as usize;
                let c = Content::stored(random_bytes(rng, header, len));
                if d.put_file(folder, &name, c, Conflict::Rename, owner, now, None)
                    .is_ok()
                {
                    if is_zip { zip += 1 } else { jpg += 1 }
                }
            }
            Ok(json!({"drive": id, "photos": jpg, "zips": zip}))
        },
    ))
}

/// Body of `POST /_emulator/drive/reorganize`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reorganize {
    #[serde(flatten)]
    target: Target,
    /// New top-level folders the files are spread over.
    #[serde(default = "four")]
    folders: u32,
    /// Share of the files moved, 0–1.
    #[serde(default = "everything")]
    share: f64,
}
fn four() -> u32 {
    4
}
fn everything() -> f64 {
    1.0
}

/// `POST /_emulator/drive/reorganize`: the owner moves files into new folders
/// (`Reorganised 1`…`Reorganised N`); names and content stay.
pub(crate) async fn reorganize(State(st): State<AppState>, Json(r): Json<Reorganize>) -> Response {
    if !(0.0..=1.0).contains(&r.share) || r.folders == 0 || r.folders > 1000 {
        return reply(Err(GraphError::bad_request(
            "invalidRequest",
            "share within 0..1 and folders 1..1000",
        )));
    }
    reply(on_drive(
        &st,
        &r.target,
        "drive.reorganize",
        |id, d, actor, rng| {
            let targets = (1..=r.folders)
                .map(|k| top_folder(d, &format!("Reorganised {k}"), actor))
                .collect::<Result<Vec<_>, _>>()?;
            let &(ref owner, now) = actor;
            let mut all = files(d);
            all.shuffle(rng);
            let n = ((all.len() as f64) * r.share).ceil() as usize;
            let mut moved = 0;
            for &f in all.iter().take(n) {
                let t = targets[rng.gen_range(0..targets.len())];
                if d.item(f).parent != Some(t)
                    && d.update(f, None, Some(t), None, None, owner, now).is_ok()
                {
                    moved += 1;
                }
            }
            Ok(json!({"drive": id, "moved": moved}))
        },
    ))
}

/// Body of `POST /_emulator/drive/cleanup`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cleanup {
    #[serde(flatten)]
    target: Target,
    /// Files last modified more than this many days ago are deleted.
    #[serde(default = "year")]
    older_than_days: u32,
}
fn year() -> u32 {
    365
}

/// `POST /_emulator/drive/cleanup`: the owner deletes every file not modified within
/// `olderThanDays` (into the recycle bin).
pub(crate) async fn cleanup(State(st): State<AppState>, Json(c): Json<Cleanup>) -> Response {
    reply(on_drive(
        &st,
        &c.target,
        "drive.cleanup",
        |id, d, &(_, now), _| {
            let cutoff = now - chrono::Duration::days(i64::from(c.older_than_days));
            let old: Vec<ItemIdx> = files(d)
                .into_iter()
                .filter(|&f| d.item(f).fs_modified < cutoff)
                .collect();
            let total = files(d).len();
            let mut deleted = 0;
            for f in old {
                deleted += d.delete(f, now).unwrap_or(0);
            }
            Ok(json!({"drive": id, "deleted": deleted, "filesBefore": total}))
        },
    ))
}

/// Body of `POST /_emulator/drive/encrypt-in-place`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncryptInPlace {
    #[serde(flatten)]
    target: Target,
    /// Share of the files encrypted, 0–1.
    share: f64,
}

/// `POST /_emulator/drive/encrypt-in-place`: overwrites `share` of the drive's files with
/// random bytes of about the same length (+16, an authentication tag), keeping names, folders
/// and the modifying identity (the owner's); writes no note. Files whose content is already
/// random are not picked, so repeated calls (a slow attack) encrypt new files each time.
pub(crate) async fn encrypt_in_place(
    State(st): State<AppState>,
    Json(e): Json<EncryptInPlace>,
) -> Response {
    if !(0.0..=1.0).contains(&e.share) {
        return reply(Err(GraphError::bad_request(
            "invalidRequest",
            "share must be within 0..1",
        )));
    }
    reply(on_drive(
        &st,
        &e.target,
        "drive.encrypt-in-place",
        |id, d, &(ref owner, now), rng| {
            let every = files(d);
            let n = ((every.len() as f64) * e.share).ceil() as usize;
            // An attacker encrypts each file once: files already random (encrypted by an earlier
            // call of a slow attack) are not picked again.
            let mut all: Vec<_> = every
                .into_iter()
                .filter(|&f| {
                    !matches!(
                        d.item(f).content().map(|c| &c.source),
                        Some(Source::Noise { .. })
                    )
                })
                .collect();
            all.shuffle(rng);
            let mut encrypted = Vec::new();
            for &f in all.iter().take(n) {
                let len = d.item(f).content().map_or(0, |c| c.len()) + 16;
                let c = Content::new(Source::Noise {
                    seed: rng.r#gen(),
                    len,
                });
                if d.replace_content(f, c, owner, now, None).is_ok() {
                    encrypted.push(d.path_of(f).trim_start_matches('/').to_string());
                }
            }
            encrypted.sort();
            Ok(json!({"drive": id, "encrypted": encrypted.len(), "paths": encrypted}))
        },
    ))
}
