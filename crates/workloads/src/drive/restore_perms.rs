//! Re-creating stored sharing permissions on restored items (best effort): a permission
//! granted to a user becomes `POST /drives/{d}/items/{i}/invite` (roles kept, no e-mail sent,
//! sign-in required), a sharing link becomes `POST …/createLink` with its type and scope.
//! Inherited permissions and the owner's are left alone (the destination has its own); every
//! permission that cannot be re-created is reported with the reason.

use serde_json::{Value, json};
use tenantvault_graph::GraphClient;

/// What one item's permissions came to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PermOutcome {
    /// Permissions re-created.
    pub restored: u64,
    /// Permissions not re-created, with the reason.
    pub failed: Vec<String>,
}

/// One grant to re-create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// `invite` of a user (object id and/or e-mail) with these roles.
    User {
        /// Entra object id.
        object_id: Option<String>,
        /// E-mail or UPN.
        email: Option<String>,
        /// `read` / `write`.
        roles: Vec<String>,
        /// Name for reports.
        label: String,
    },
    /// `createLink` of this type and scope.
    Link {
        /// `view`, `edit`, `embed`.
        kind: String,
        /// `anonymous`, `organization`, `users`.
        scope: String,
    },
}

/// The grants to re-create from a stored driveItem JSON (`permissions` array), and the
/// permissions that cannot be re-created (with why).
pub fn grants(meta: &Value) -> (Vec<Grant>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for p in meta["permissions"].as_array().into_iter().flatten() {
        if p.get("inheritedFrom").is_some_and(|v| !v.is_null()) {
            continue;
        }
        let roles: Vec<String> = p["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect();
        if roles.iter().any(|r| r == "owner") {
            continue;
        }
        let pid = p["id"].as_str().unwrap_or("?");
        if let Some(link) = p.get("link").filter(|l| !l.is_null()) {
            match (link["type"].as_str(), link["scope"].as_str()) {
                (Some(t), Some(s)) => out.push(Grant::Link {
                    kind: t.to_string(),
                    scope: s.to_string(),
                }),
                _ => skipped.push(format!("permission {pid}: link without type or scope")),
            }
            continue;
        }
        let user = p
            .pointer("/grantedToV2/user")
            .or_else(|| p.pointer("/grantedTo/user"))
            .filter(|u| !u.is_null());
        match user {
            Some(u) if !roles.is_empty() => {
                let object_id = u["id"].as_str().map(str::to_string);
                let email = u["email"].as_str().map(str::to_string);
                if object_id.is_none() && email.is_none() {
                    skipped.push(format!("permission {pid}: user without id or e-mail"));
                    continue;
                }
                let label = u["displayName"]
                    .as_str()
                    .or(email.as_deref())
                    .or(object_id.as_deref())
                    .unwrap_or_default()
                    .to_string();
                out.push(Grant::User {
                    object_id,
                    email,
                    roles,
                    label,
                });
            }
            _ => skipped.push(format!(
                "permission {pid}: granted to a group, site group or application (not re-created)"
            )),
        }
    }
    (out, skipped)
}

/// Re-creates the grants of `meta` on item `item_id` of drive `drive`.
pub async fn apply(graph: &GraphClient, drive: &str, item_id: &str, meta: &Value) -> PermOutcome {
    let (grants, mut failed) = grants(meta);
    let mut restored = 0;
    for g in grants {
        let (url, body, what) = match &g {
            Grant::User {
                object_id,
                email,
                roles,
                label,
            } => {
                let mut rcpt = serde_json::Map::new();
                if let Some(id) = object_id {
                    rcpt.insert("objectId".into(), json!(id));
                }
                if let Some(e) = email {
                    rcpt.insert("email".into(), json!(e));
                }
                (
                    format!("drives/{drive}/items/{item_id}/invite"),
                    json!({"recipients": [rcpt], "roles": roles, "requireSignIn": true, "sendInvitation": false}),
                    format!("{} for {label}", roles.join("+")),
                )
            }
            Grant::Link { kind, scope } => (
                format!("drives/{drive}/items/{item_id}/createLink"),
                json!({"type": kind, "scope": scope}),
                format!("{kind} link ({scope})"),
            ),
        };
        match graph.post_json::<Value>(&url, &body).await {
            Ok(_) => restored += 1,
            Err(e) => failed.push(format!("{what}: {e}")),
        }
    }
    PermOutcome { restored, failed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_from_stored_permissions() {
        let meta = json!({"permissions": [
            {"id": "o", "roles": ["owner"], "grantedToV2": {"user": {"id": "u0"}}},
            {"id": "i", "roles": ["read"], "inheritedFrom": {"id": "root"}, "grantedToV2": {"user": {"id": "u9"}}},
            {"id": "a", "roles": ["write"], "grantedToV2": {"user": {"id": "u1", "displayName": "Ann"}}},
            {"id": "l", "roles": ["read"], "link": {"type": "view", "scope": "organization"}},
            {"id": "g", "roles": ["read"], "grantedToV2": {"siteGroup": {"id": "3"}}}
        ]});
        let (g, skipped) = grants(&meta);
        assert_eq!(
            g,
            vec![
                Grant::User {
                    object_id: Some("u1".into()),
                    email: None,
                    roles: vec!["write".into()],
                    label: "Ann".into()
                },
                Grant::Link {
                    kind: "view".into(),
                    scope: "organization".into()
                }
            ]
        );
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(skipped[0].contains("permission g"));
    }
}
