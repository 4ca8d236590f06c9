//! `policy show` and the `[retention]` section of the configuration file.
//!
//! ```toml
//! [retention]
//! minimum = "1y"            # nothing younger is removed, whatever runs (recorded in the repository)
//! departed = "departed"     # policy for owners gone from the tenant
//!
//! [retention.policies.standard]
//! daily = 7
//! weekly = 4
//! monthly = 12
//! yearly = 7
//! item_max_age = "7y"       # mail received / files modified longer ago leave every snapshot
//!
//! [retention.policies.departed]
//! keep_after_departure = "7y"
//!
//! [[retention.assign]]      # first match wins
//! policy = "standard"
//! workloads = ["exchange", "drive"]   # optional; default all
//! owners = "all"            # or a list of owners, or `group = "Legal"` (Graph group members)
//! ```

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use tenantvault_graph::GraphClient;
use tenantvault_repo::retention::{Age, Assignment, GfsRule, OwnerSet, PolicySet, RetentionPolicy};

use crate::config::Config;
use crate::{GlobalArgs, exit, output};

/// One policy as written in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub keep_last: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
    pub within: Option<Age>,
    pub item_max_age: Option<Age>,
    pub keep_after_departure: Option<Age>,
}

/// `owners = "all"` or `owners = ["a@x", …]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OwnersConfig {
    Keyword(String),
    List(Vec<String>),
}

/// One `[[retention.assign]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignConfig {
    pub policy: String,
    #[serde(default)]
    pub workloads: Vec<String>,
    pub owners: Option<OwnersConfig>,
    /// A Graph group (display name or id) whose members get the policy.
    pub group: Option<String>,
}

/// The `[retention]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    pub minimum: Option<Age>,
    pub departed: Option<String>,
    #[serde(default)]
    pub policies: BTreeMap<String, PolicyConfig>,
    #[serde(default)]
    pub assign: Vec<AssignConfig>,
}

impl RetentionSection {
    /// Loads and checks the section (usage error on anything wrong).
    pub fn load(g: &GlobalArgs) -> Result<Self> {
        let cfg = Config::load(g.config.as_deref())?;
        let s: RetentionSection = cfg.section("retention")?;
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<()> {
        for (name, p) in &self.policies {
            for (k, v) in [
                ("keep_last", p.keep_last),
                ("daily", p.daily),
                ("weekly", p.weekly),
                ("monthly", p.monthly),
                ("yearly", p.yearly),
            ] {
                if v == Some(0) {
                    return Err(exit::usage(format!(
                        "[retention.policies.{name}]: {k} = 0 would keep nothing; remove the key or give at least 1"
                    )));
                }
            }
        }
        for (i, a) in self.assign.iter().enumerate() {
            let n = i + 1;
            if !self.policies.contains_key(&a.policy) {
                return Err(exit::usage(format!(
                    "[[retention.assign]] #{n}: policy {:?} is not defined under [retention.policies]",
                    a.policy
                )));
            }
            match (&a.owners, &a.group) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(exit::usage(format!(
                        "[[retention.assign]] #{n}: give either owners (\"all\" or a list) or group"
                    )));
                }
                (Some(OwnersConfig::Keyword(k)), None) if k != "all" => {
                    return Err(exit::usage(format!(
                        "[[retention.assign]] #{n}: owners = {k:?}: use \"all\" or a list of owners"
                    )));
                }
                _ => {}
            }
        }
        if let Some(d) = &self.departed
            && !self.policies.contains_key(d)
        {
            return Err(exit::usage(format!(
                "[retention] departed = {d:?}: no such policy under [retention.policies]"
            )));
        }
        let set = self.to_set(&BTreeMap::new());
        set.validate()
            .map_err(|e| exit::usage(format!("[retention]: {e}")))?;
        Ok(())
    }

    /// Groups named by assignments.
    pub fn groups(&self) -> BTreeSet<&str> {
        self.assign
            .iter()
            .filter_map(|a| a.group.as_deref())
            .collect()
    }

    /// The library's policy set; `groups` maps group names to their members.
    pub fn to_set(&self, groups: &BTreeMap<String, BTreeSet<String>>) -> PolicySet {
        PolicySet {
            policies: self
                .policies
                .iter()
                .map(|(k, p)| {
                    (
                        k.clone(),
                        RetentionPolicy {
                            snapshots: GfsRule {
                                keep_last: p.keep_last,
                                daily: p.daily,
                                weekly: p.weekly,
                                monthly: p.monthly,
                                yearly: p.yearly,
                                within: p.within,
                            },
                            item_max_age: p.item_max_age,
                            keep_after_departure: p.keep_after_departure,
                        },
                    )
                })
                .collect(),
            assignments: self
                .assign
                .iter()
                .map(|a| Assignment {
                    policy: a.policy.clone(),
                    workloads: a.workloads.clone(),
                    owners: match (&a.owners, &a.group) {
                        (Some(OwnersConfig::List(l)), _) => {
                            OwnerSet::List(l.iter().cloned().collect())
                        }
                        (_, Some(g)) => OwnerSet::List(groups.get(g).cloned().unwrap_or_default()),
                        _ => OwnerSet::All,
                    },
                })
                .collect(),
            departed: self.departed.clone(),
            minimum: self.minimum,
        }
    }

    /// Resolves groups through Graph (the `[graph]` section or `AZURE_*` variables) and
    /// returns the policy set. Without group assignments Graph is not contacted.
    pub async fn resolve(&self, g: &GlobalArgs) -> Result<PolicySet> {
        let groups = self.groups();
        if groups.is_empty() {
            return Ok(self.to_set(&BTreeMap::new()));
        }
        let cfg = crate::exchange::graph_config(g.config.as_deref()).map_err(|e| {
            exit::usage(format!(
                "retention assigns policies to Graph groups ({}): resolving their members needs Graph — {e:#}",
                groups.iter().copied().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let graph = GraphClient::new(cfg).context("cannot set up the Graph client")?;
        let mut resolved = BTreeMap::new();
        for name in groups {
            let members = group_members(&graph, name)
                .await?
                .ok_or_else(|| exit::usage(format!("retention: no Graph group {name:?}")))?;
            resolved.insert(name.to_string(), members);
        }
        Ok(self.to_set(&resolved))
    }
}

fn page_items(v: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    v.get("value")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
}

fn next_link(v: &serde_json::Value) -> Option<String> {
    v.get("@odata.nextLink")
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// Members of a group (display name or id): their ids, user principal names and addresses,
/// so an assignment matches owners named any of these ways.
async fn group_members(graph: &GraphClient, name: &str) -> Result<Option<BTreeSet<String>>> {
    let mut gid = None;
    let mut url = Some("groups?$select=id,displayName&$top=999".to_string());
    while let Some(u) = url.take() {
        let page: serde_json::Value = graph.get(&u).await.context("listing Graph groups")?;
        for g in page_items(&page) {
            let id = g.get("id").and_then(|v| v.as_str()).unwrap_or_default();
            let dn = g
                .get("displayName")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            if id.eq_ignore_ascii_case(name) || dn.eq_ignore_ascii_case(name) {
                gid = Some(id.to_string());
            }
        }
        url = if gid.is_some() {
            None
        } else {
            next_link(&page)
        };
    }
    let Some(gid) = gid else { return Ok(None) };
    let mut out = BTreeSet::new();
    let mut url = Some(format!(
        "groups/{gid}/members?$select=id,userPrincipalName,mail&$top=999"
    ));
    while let Some(u) = url.take() {
        let page: serde_json::Value = graph.get(&u).await.context("listing group members")?;
        for m in page_items(&page) {
            for k in ["id", "userPrincipalName", "mail"] {
                if let Some(v) = m.get(k).and_then(|v| v.as_str()) {
                    out.insert(v.to_string());
                    out.insert(v.to_lowercase());
                }
            }
        }
        url = next_link(&page);
    }
    Ok(Some(out))
}

/// `policy` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Show the retention policies of the configuration file and who they apply to.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {}

pub async fn run(g: &GlobalArgs, cmd: PolicyCommand) -> Result<u8> {
    let PolicyCommand::Show(_) = cmd;
    let s = RetentionSection::load(g)?;
    if g.json {
        output::print_json(&s)?;
        return Ok(exit::OK);
    }
    if s.policies.is_empty() {
        println!("no retention policies configured: everything is kept");
        return Ok(exit::OK);
    }
    let set = s.to_set(&BTreeMap::new());
    match s.minimum {
        Some(m) => println!("minimum retention: {m} (nothing younger is removed)"),
        None => println!("minimum retention: none"),
    }
    for (name, p) in &set.policies {
        let mut parts = vec![format!("snapshots: {}", p.snapshots)];
        if let Some(a) = p.item_max_age {
            parts.push(format!("items older than {a} removed"));
        }
        if let Some(a) = p.keep_after_departure {
            parts.push(format!("kept {a} after departure"));
        }
        println!("policy {name}: {}", parts.join("; "));
    }
    for (i, a) in s.assign.iter().enumerate() {
        let who = match (&a.owners, &a.group) {
            (Some(OwnersConfig::List(l)), _) => l.join(", "),
            (_, Some(gr)) => format!("members of group {gr} (resolved through Graph)"),
            _ => "all owners".into(),
        };
        let wl = if a.workloads.is_empty() {
            "all workloads".to_string()
        } else {
            a.workloads.join(", ")
        };
        println!("assign #{}: {} → {who} ({wl})", i + 1, a.policy);
    }
    match &s.departed {
        Some(d) => println!("departed owners: policy {d}"),
        None => println!("departed owners: their normal policy"),
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RetentionSection> {
        let c = Config::parse(text, None)?;
        let s: RetentionSection = c.section("retention")?;
        s.check()?;
        Ok(s)
    }

    #[test]
    fn section_parses_and_rejects_mistakes() {
        let s = parse(
            "[retention]\nminimum = \"1y\"\ndeparted = \"gone\"\n[retention.policies.std]\ndaily = 7\nitem_max_age = \"7y\"\n[retention.policies.gone]\nkeep_after_departure = \"7y\"\n[[retention.assign]]\npolicy = \"std\"\nowners = \"all\"\n",
        )
        .unwrap();
        assert_eq!(s.policies["std"].daily, Some(7));
        let set = s.to_set(&BTreeMap::new());
        assert_eq!(set.assignments[0].owners, OwnerSet::All);
        for bad in [
            "[retention.policies.a]\ndayly = 7\n",
            "[retention.policies.a]\ndaily = 0\n",
            "[retention.policies.a]\nitem_max_age = \"7 years\"\n",
            "[[retention.assign]]\npolicy = \"nope\"\nowners = \"all\"\n",
            "[retention.policies.a]\n[[retention.assign]]\npolicy = \"a\"\nowners = \"everyone\"\n",
            "[retention.policies.a]\n[[retention.assign]]\npolicy = \"a\"\n",
            "[retention]\ndeparted = \"x\"\n",
            "[retention]\nminimum = \"2y\"\n[retention.policies.a]\nitem_max_age = \"1y\"\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
