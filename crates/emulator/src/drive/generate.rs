//! Deterministic generation of OneDrives, SharePoint sites, libraries and lists.
//!
//! Everything is drawn from RNG streams keyed by `(seed, domain, keys)` (see `crate::rng`),
//! so the same seed always yields the same drives, ids, names and bytes.

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Map, Value, json};
use std::sync::Arc;

use super::config::DriveConfig;
use super::content::{ASSETS, Content, Source, TextKind};
use super::model::{
    Conflict, Drive, DriveType, FsTimes, Ident, ItemIdx, Kind, Permission, Version,
};
use super::store::{DriveStore, ListItem, Site, SpList};
use crate::rng::{rng_for, stable_u64, stable_uuid};

/// A group that gets a team site.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    /// Group id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Mail nickname (site URL name).
    pub nickname: String,
    /// Description.
    pub description: String,
    /// Member user ids.
    pub members: Vec<String>,
}

const FOLDERS: &[&str] = &[
    "Projects",
    "Finance",
    "Reports",
    "Photos",
    "Contracts",
    "Meeting notes",
    "Archive",
    "Presentations",
    "Shared with team",
    "Invoices",
    "2025",
    "2026",
    "Drafts",
    "Templates",
    "Customers",
    "HR",
    "Résumés",
    "Q1",
    "Q2",
    "Q3",
    "Q4",
    "Travel",
    "Recordings",
];
const STEMS: &[&str] = &[
    "Quarterly review",
    "Budget",
    "Project plan",
    "Customer list",
    "Minutes",
    "Proposal",
    "Roadmap",
    "Invoice",
    "Contract draft",
    "Status report",
    "Sales figures",
    "Notes",
    "Forecast",
    "Onboarding",
    "Policy",
    "Überblick",
    "Présentation",
    "Inventory",
    "Timesheet",
];

/// Deterministic GUID string.
fn guid(seed: u64, domain: &str, keys: &[u64]) -> String {
    stable_uuid(seed, domain, keys).to_string()
}

/// A `b!…` drive id.
pub fn drive_id(seed: u64, key: u64) -> String {
    let mut bytes = [0u8; 48];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&stable_u64(seed, "drive.id", &[key, i as u64]).to_le_bytes());
    }
    format!(
        "b!{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Builds the store for a directory's licensed users and team groups.
pub fn generate(
    seed: u64,
    cfg: &DriveConfig,
    domain: &str,
    users: &[Ident],
    groups: &[GroupSpec],
    anchor: DateTime<Utc>,
) -> DriveStore {
    let prefix = domain
        .split('.')
        .next()
        .unwrap_or("contoso")
        .to_ascii_lowercase();
    let host = format!("{prefix}.sharepoint.com");
    let my_host = format!("{prefix}-my.sharepoint.com");
    let mut store = DriveStore::new(host.clone());
    let users: Vec<Arc<Ident>> = users.iter().cloned().map(Arc::new).collect();
    let admin = users.first().cloned().unwrap_or_else(|| {
        Arc::new(Ident {
            id: guid(seed, "drive.admin", &[]),
            display_name: "SharePoint App".into(),
            email: format!("admin@{domain}"),
        })
    });
    let mut drive_key = 0u64;
    let mut large_left = cfg.large_files;

    // The root communication site.
    let root_site = new_site(
        seed,
        &host,
        "",
        "Communication site",
        "The tenant's root site",
        true,
        false,
        None,
        anchor,
        0,
    );
    let si = store.add_site(root_site);
    add_library_sites(
        &mut store,
        seed,
        cfg,
        si,
        &admin,
        &users,
        anchor,
        &mut drive_key,
        &mut 0,
    );

    // Team sites for groups, then standalone sites.
    for (gi, g) in groups.iter().enumerate() {
        let site = new_site(
            seed,
            &host,
            &format!("sites/{}", g.nickname),
            &g.display_name,
            &g.description,
            false,
            false,
            Some(g.id.clone()),
            anchor,
            100 + gi as u64,
        );
        let si = store.add_site(site);
        let owner = g
            .members
            .first()
            .and_then(|m| users.iter().find(|u| &u.id == m))
            .cloned()
            .unwrap_or_else(|| admin.clone());
        add_library_sites(
            &mut store,
            seed,
            cfg,
            si,
            &owner,
            &users,
            anchor,
            &mut drive_key,
            &mut 0,
        );
        let did = store.sites[si].drive_ids[0].clone();
        store.group_drive.insert(g.id.clone(), did);
    }
    const STANDALONE: &[(&str, &str)] = &[
        ("intranet", "Intranet"),
        ("projects", "Projects"),
        ("hr", "Human Resources"),
        ("legal", "Legal"),
        ("marketing", "Marketing"),
    ];
    for k in 0..cfg.sites as usize {
        let (name, title) = STANDALONE[k % STANDALONE.len()];
        let name = if k < STANDALONE.len() {
            name.to_string()
        } else {
            format!("{name}{k}")
        };
        let site = new_site(
            seed,
            &host,
            &format!("sites/{name}"),
            title,
            &format!("{title} site"),
            false,
            false,
            None,
            anchor,
            200 + k as u64,
        );
        let si = store.add_site(site);
        add_library_sites(
            &mut store,
            seed,
            cfg,
            si,
            &admin,
            &users,
            anchor,
            &mut drive_key,
            &mut 0,
        );
    }

    // One OneDrive (personal site) per licensed user.
    for (ui, u) in users.iter().enumerate() {
        let upn_path = u.email.replace(['@', '.'], "_");
        let site = new_site(
            seed,
            &my_host,
            &format!("personal/{upn_path}"),
            &u.display_name,
            "",
            false,
            true,
            None,
            anchor,
            1000 + ui as u64,
        );
        let si = store.add_site(site);
        let web = format!("{}/Documents", store.sites[si].web_url);
        let id = drive_id(seed, drive_key);
        let key = drive_key;
        drive_key += 1;
        let created = store.sites[si].created;
        let mut d = Drive::new(
            id.clone(),
            "OneDrive".into(),
            DriveType::Business,
            u.clone(),
            si,
            created,
            web.clone(),
            stable_u64(seed, "drive.items", &[key]),
        );
        populate(&mut d, seed, cfg, key, u, &users, anchor, &mut large_left);
        let list = library_list(&d, "Documents", "Documents", &web, u);
        store.sites[si].lists.push(list);
        store.add_drive(d);
        store.user_drive.insert(u.id.clone(), id);
    }
    store
}

#[allow(clippy::too_many_arguments)]
fn new_site(
    seed: u64,
    host: &str,
    path: &str,
    title: &str,
    description: &str,
    is_root: bool,
    personal: bool,
    group_id: Option<String>,
    anchor: DateTime<Utc>,
    key: u64,
) -> Site {
    let collection_guid = guid(seed, "site.collection", &[key]);
    let web_guid = guid(seed, "site.web", &[key]);
    let mut rng = rng_for(seed, "site", &[key]);
    let created = anchor - Duration::days(rng.gen_range(200..2000));
    let name = path.rsplit('/').next().unwrap_or("").to_string();
    Site {
        id: format!("{host},{collection_guid},{web_guid}"),
        hostname: host.to_string(),
        collection_guid,
        web_guid,
        name: if name.is_empty() {
            title.to_string()
        } else {
            name
        },
        display_name: title.to_string(),
        description: description.to_string(),
        web_url: if path.is_empty() {
            format!("https://{host}")
        } else {
            format!("https://{host}/{path}")
        },
        created,
        modified: anchor - Duration::days(rng.gen_range(0..30)),
        personal,
        is_root,
        drive_ids: Vec::new(),
        lists: Vec::new(),
        group_id,
        removed: false,
    }
}

fn library_list(d: &Drive, name: &str, display: &str, web: &str, by: &Arc<Ident>) -> SpList {
    SpList {
        id: d.list_id.clone(),
        name: name.to_string(),
        display_name: display.to_string(),
        template: "documentLibrary",
        drive_id: Some(d.id.clone()),
        items: Vec::new(),
        created: d.created,
        modified: d.created,
        web_url: web.to_string(),
        created_by: by.clone(),
        columns: Vec::new(),
    }
}

/// Adds a site's "Documents" and "Site Pages" libraries and a generic list.
#[allow(clippy::too_many_arguments)]
fn add_library_sites(
    store: &mut DriveStore,
    seed: u64,
    cfg: &DriveConfig,
    si: usize,
    owner: &Arc<Ident>,
    users: &[Arc<Ident>],
    anchor: DateTime<Utc>,
    drive_key: &mut u64,
    large_left: &mut u32,
) {
    let site_web = store.sites[si].web_url.clone();
    let created = store.sites[si].created;
    // Documents.
    let key = *drive_key;
    *drive_key += 1;
    let web = format!("{site_web}/Shared%20Documents");
    let mut d = Drive::new(
        drive_id(seed, key),
        "Documents".into(),
        DriveType::DocumentLibrary,
        owner.clone(),
        si,
        created,
        web.clone(),
        stable_u64(seed, "drive.items", &[key]),
    );
    populate(&mut d, seed, cfg, key, owner, users, anchor, large_left);
    store.sites[si].lists.push(library_list(
        &d,
        "Shared Documents",
        "Documents",
        &web,
        owner,
    ));
    store.add_drive(d);
    // Site Pages: .aspx pages.
    let key = *drive_key;
    *drive_key += 1;
    let web = format!("{site_web}/SitePages");
    let mut p = Drive::new(
        drive_id(seed, key),
        "Site Pages".into(),
        DriveType::DocumentLibrary,
        owner.clone(),
        si,
        created,
        web.clone(),
        stable_u64(seed, "drive.items", &[key]),
    );
    for (n, page) in ["Home.aspx", "News.aspx", "About-us.aspx"]
        .iter()
        .enumerate()
    {
        let html = format!(
            "<%@ Page language=\"C#\" %><html><head><title>{}</title></head><body><div class=\"canvas\">{}</div></body></html>\n",
            page.trim_end_matches(".aspx"),
            String::from_utf8_lossy(&super::content::generate_text(
                stable_u64(seed, "page", &[key, n as u64]),
                600,
                TextKind::Prose
            ))
        );
        let when = created + Duration::days(n as i64);
        let _ = p.put_file(
            Drive::ROOT,
            page,
            Content::stored(html),
            Conflict::Fail,
            owner,
            when,
            None,
        );
    }
    store.sites[si]
        .lists
        .push(library_list(&p, "SitePages", "Site Pages", &web, owner));
    store.add_drive(p);
    // A generic list with items.
    let list = generic_list(seed, cfg, &site_web, si as u64, owner, users, anchor);
    store.sites[si].lists.push(list);
}

fn generic_list(
    seed: u64,
    cfg: &DriveConfig,
    site_web: &str,
    key: u64,
    owner: &Arc<Ident>,
    users: &[Arc<Ident>],
    anchor: DateTime<Utc>,
) -> SpList {
    let mut rng = rng_for(seed, "list", &[key]);
    let created = anchor - Duration::days(rng.gen_range(60..600));
    let statuses = ["Not started", "In progress", "Completed", "Deferred"];
    let mut items = Vec::new();
    for i in 0..cfg.list_items {
        let by = users
            .choose(&mut rng)
            .cloned()
            .unwrap_or_else(|| owner.clone());
        let c = created + Duration::hours(rng.gen_range(1..24 * 50));
        let m = c + Duration::hours(rng.gen_range(0..24 * 10));
        let mut fields = Map::new();
        let title = format!("{} {}", STEMS[rng.gen_range(0..STEMS.len())], i + 1);
        fields.insert(
            "@odata.etag".into(),
            Value::String(format!(
                "\"{},1\"",
                guid(seed, "listitem", &[key, u64::from(i)])
            )),
        );
        fields.insert("Title".into(), json!(title));
        fields.insert(
            "Status".into(),
            json!(statuses[rng.gen_range(0..statuses.len())]),
        );
        fields.insert(
            "PercentComplete".into(),
            json!(f64::from(rng.gen_range(0..=10u32)) / 10.0),
        );
        fields.insert(
            "DueDate".into(),
            json!(crate::clock::iso(m + Duration::days(14))),
        );
        fields.insert(
            "AssignedToLookupId".into(),
            json!(format!("{}", rng.gen_range(6..40))),
        );
        fields.insert("id".into(), json!((i + 1).to_string()));
        fields.insert("ContentType".into(), json!("Item"));
        fields.insert("Modified".into(), json!(crate::clock::iso(m)));
        fields.insert("Created".into(), json!(crate::clock::iso(c)));
        fields.insert("Attachments".into(), json!(false));
        items.push(ListItem {
            id: i + 1,
            fields,
            created: c,
            modified: m,
            created_by: by.clone(),
            modified_by: by,
            etag_n: 1,
            guid: guid(seed, "listitem", &[key, u64::from(i)]),
        });
    }
    SpList {
        id: guid(seed, "list.id", &[key]),
        name: "Tasks".into(),
        display_name: "Tasks".into(),
        template: "genericList",
        drive_id: None,
        items,
        created,
        modified: anchor - Duration::days(1),
        web_url: format!("{site_web}/Lists/Tasks"),
        created_by: owner.clone(),
        columns: [
            "Title",
            "Status",
            "PercentComplete",
            "DueDate",
            "AssignedToLookupId",
        ]
        .map(String::from)
        .to_vec(),
    }
}

/// Fills a drive with folders, files, versions and permissions.
#[allow(clippy::too_many_arguments)]
fn populate(
    d: &mut Drive,
    seed: u64,
    cfg: &DriveConfig,
    key: u64,
    owner: &Arc<Ident>,
    users: &[Arc<Ident>],
    anchor: DateTime<Utc>,
    large_left: &mut u32,
) {
    let mut rng = rng_for(seed, "drive.tree", &[key]);
    let mut t = d.created + Duration::hours(1);
    let step = |rng: &mut rand_chacha::ChaCha8Rng, t: DateTime<Utc>| {
        (t + Duration::minutes(rng.gen_range(5..60 * 24 * 3))).min(anchor)
    };
    let mut folders: Vec<ItemIdx> = vec![Drive::ROOT];
    // Small-file bench drives get about 200 files per folder (name lookups are linear).
    let n_folders = match cfg.small_file_bytes {
        Some(_) => cfg.folders_per_drive.max(cfg.files_per_drive / 200),
        None => cfg.folders_per_drive,
    };
    for _ in 0..n_folders {
        let parent = *folders.choose(&mut rng).expect("root exists");
        if d.depth(parent) >= 3 {
            continue;
        }
        let name = FOLDERS[rng.gen_range(0..FOLDERS.len())];
        t = step(&mut rng, t);
        if let Ok(f) = d.create_folder(parent, name, Conflict::Rename, owner, t) {
            folders.push(f);
        }
    }
    let lo = (cfg.files_per_drive / 2).max(u32::from(cfg.files_per_drive > 0));
    let hi = cfg.files_per_drive + cfg.files_per_drive / 2;
    let n_files = if cfg.files_per_drive == 0 {
        0
    } else if cfg.small_file_bytes.is_some() {
        // Bench drives hold exactly the asked count (a figure "for 100,000 files" needs it).
        cfg.files_per_drive
    } else {
        rng.gen_range(lo..=hi)
    };
    for fi in 0..n_files {
        let parent = *folders.choose(&mut rng).expect("root exists");
        let cseed = stable_u64(seed, "drive.content", &[key, u64::from(fi)]);
        let roll: f64 = rng.r#gen();
        let (name, content) = if let Some(max) = cfg.small_file_bytes {
            let len = rng.gen_range(max.div_ceil(4).max(1)..=max.max(1));
            let stem = STEMS[rng.gen_range(0..STEMS.len())];
            // Unique names: no rename search when a folder holds thousands of files.
            (
                format!("{stem} {fi}.txt"),
                Content::new(Source::Text {
                    seed: cseed,
                    len,
                    kind: TextKind::Prose,
                }),
            )
        } else if *large_left > 0 && fi == 0 && cfg.large_file_size > 0 {
            *large_left -= 1;
            (
                "Recordings-all-hands.mp4".to_string(),
                Content::new(Source::Noise {
                    seed: cseed,
                    len: cfg.large_file_size,
                }),
            )
        } else if roll < 0.5 {
            let a = rng.gen_range(0..ASSETS.len());
            let ext = ASSETS[a].name.rsplit('.').next().unwrap_or("bin");
            let stem = STEMS[rng.gen_range(0..STEMS.len())];
            (
                format!("{stem}.{ext}"),
                Content::new(Source::Asset(a as u16)),
            )
        } else if roll < 0.92 {
            let csv = rng.gen_bool(0.35);
            let len = (200.0 * (1000f64).powf(rng.r#gen::<f64>())) as u32; // 200 B – 200 KB, log-uniform
            let stem = STEMS[rng.gen_range(0..STEMS.len())];
            let (ext, kind) = if csv {
                ("csv", TextKind::Csv)
            } else if rng.gen_bool(0.3) {
                ("md", TextKind::Prose)
            } else {
                ("txt", TextKind::Prose)
            };
            (
                format!("{stem}.{ext}"),
                Content::new(Source::Text {
                    seed: cseed,
                    len,
                    kind,
                }),
            )
        } else {
            let len = rng.gen_range(512 * 1024..6 * 1024 * 1024);
            let stem = STEMS[rng.gen_range(0..STEMS.len())];
            let ext = if rng.gen_bool(0.5) { "zip" } else { "mp4" };
            (
                format!("{stem}.{ext}"),
                Content::new(Source::Noise { seed: cseed, len }),
            )
        };
        t = step(&mut rng, t);
        let by = if rng.gen_bool(0.8) {
            owner.clone()
        } else {
            users
                .choose(&mut rng)
                .cloned()
                .unwrap_or_else(|| owner.clone())
        };
        let fs_created = t - Duration::days(rng.gen_range(0..400));
        let fs = FsTimes {
            created: Some(fs_created),
            modified: Some(t),
        };
        let Ok((idx, _)) = d.put_file(parent, &name, content, Conflict::Rename, &by, t, Some(fs))
        else {
            continue;
        };
        if rng.gen_bool(cfg.versioned_rate.clamp(0.0, 1.0)) {
            add_history(d, idx, seed, key, fi, &mut rng, &by);
        }
        let share: f64 = rng.r#gen();
        if share < 0.1 {
            if let Some(other) = users.choose(&mut rng) {
                let pid = guid(seed, "perm", &[key, u64::from(fi)]);
                let roles = if rng.gen_bool(0.5) {
                    vec!["write"]
                } else {
                    vec!["read"]
                };
                d.add_permission(
                    idx,
                    Permission {
                        id: pid,
                        roles,
                        granted_to: Some(other.clone()),
                        link: None,
                    },
                );
            }
        } else if share < 0.15 {
            let pid = guid(seed, "perm.link", &[key, u64::from(fi)]);
            let (ty, scope) = if rng.gen_bool(0.5) {
                ("view", "organization")
            } else {
                ("edit", "anonymous")
            };
            let roles = if ty == "view" {
                vec!["read"]
            } else {
                vec!["write"]
            };
            d.add_permission(
                idx,
                Permission {
                    id: pid,
                    roles,
                    granted_to: None,
                    link: Some((ty, scope)),
                },
            );
        }
    }
}

/// Gives a file 1–3 earlier versions (generated text) dated before its current version.
fn add_history(
    d: &mut Drive,
    idx: ItemIdx,
    seed: u64,
    key: u64,
    fi: u32,
    rng: &mut rand_chacha::ChaCha8Rng,
    by: &Arc<Ident>,
) {
    let n = rng.gen_range(1..=3u32);
    let it = &mut d.items[idx as usize];
    let base = it.created;
    let Kind::File {
        version, history, ..
    } = &mut it.kind
    else {
        return;
    };
    for v in 0..n {
        let len = rng.gen_range(100..20_000);
        let vseed = stable_u64(seed, "drive.version", &[key, u64::from(fi), u64::from(v)]);
        history.push(Version {
            label: v + 1,
            content: Content::new(Source::Text {
                seed: vseed,
                len,
                kind: TextKind::Prose,
            }),
            modified: base - Duration::hours(i64::from(n - v) * 7),
            by: by.clone(),
        });
    }
    *version = n + 1;
    it.etag_n += n;
    it.ctag_n += n;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(n: usize) -> Vec<Ident> {
        (0..n)
            .map(|i| Ident {
                id: format!("u{i}"),
                display_name: format!("User {i}"),
                email: format!("user{i}@m365x1.onmicrosoft.com"),
            })
            .collect()
    }

    fn cfg() -> DriveConfig {
        DriveConfig {
            large_file_size: 1 << 20,
            ..Default::default()
        }
    }

    #[test]
    fn same_seed_same_drives() {
        let anchor = crate::model::tenant::content_anchor();
        let g = [GroupSpec {
            id: "g1".into(),
            display_name: "Sales".into(),
            nickname: "sales".into(),
            description: "d".into(),
            members: vec!["u1".into()],
        }];
        let a = generate(7, &cfg(), "m365x1.onmicrosoft.com", &users(4), &g, anchor);
        let b = generate(7, &cfg(), "m365x1.onmicrosoft.com", &users(4), &g, anchor);
        let c = generate(8, &cfg(), "m365x1.onmicrosoft.com", &users(4), &g, anchor);
        let summary = |s: &DriveStore| {
            #[allow(clippy::type_complexity)]
            let mut v: Vec<(String, Vec<(String, String, u64, String)>)> = s
                .drives()
                .map(|d| {
                    let items = d
                        .items
                        .iter()
                        .map(|i| {
                            (
                                i.id.clone(),
                                d.path_of(d.find_any(&i.id).unwrap()),
                                i.content().map_or(0, |c| c.len()),
                                i.content()
                                    .map(|c| c.quick_xor_hash().to_string())
                                    .unwrap_or_default(),
                            )
                        })
                        .collect();
                    (d.id.clone(), items)
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(summary(&a), summary(&b));
        assert_ne!(summary(&a), summary(&c));
        assert_eq!(a.user_drive.len(), 4);
        // root site + team site + 2 standalone + 4 personal
        assert_eq!(a.sites.len(), 8);
        assert!(a.group_drive.contains_key("g1"));
        let big = a
            .drives()
            .flat_map(|d| d.items.iter())
            .filter(|i| i.content().is_some_and(|c| c.len() == 1 << 20))
            .count();
        assert_eq!(big, 1);
    }
}
