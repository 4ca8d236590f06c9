//! API tokens and roles. Tokens are random strings given to clients; the configuration holds
//! only their SHA-256. Each route needs one permission; each role grants a fixed set:
//!
//! | role | read (jobs, runs, owners, snapshots, holds, policies, alerts, metrics) | browse items | operate (start, cancel, restore, export) | audit logs | create/release holds |
//! |---|---|---|---|---|---|
//! | `read-only` | yes | – | – | – | – |
//! | `auditor` | yes | – | – | yes | – |
//! | `operator` | yes | yes | yes | – | – |
//! | `admin` | yes | yes | yes | yes | yes |

use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::serve::settings::TokenDef;

/// A token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Admin,
    Operator,
    Auditor,
    ReadOnly,
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// No token needed (`/health`).
    Public,
    Read,
    Browse,
    Operate,
    Audit,
    /// Legal holds: admins only.
    Admin,
}

impl Role {
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        matches!(
            (self, p),
            (_, Public | Read)
                | (Role::Admin, _)
                | (Role::Operator, Browse | Operate)
                | (Role::Auditor, Audit)
        )
    }
}

/// SHA-256 of a token, lower-case hex (what the configuration stores).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token (32 bytes, hex) and its hash.
pub fn new_token() -> (String, String) {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let t = format!("tv_{}", hex::encode(b));
    let h = hash_token(&t);
    (t, h)
}

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    tokens: Vec<TokenDef>,
}

impl Tokens {
    /// Checks the hashes are 64 hex digits and names unique.
    pub fn new(tokens: Vec<TokenDef>) -> Result<Tokens, String> {
        let mut names = std::collections::HashSet::new();
        for t in &tokens {
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "[[api.tokens]] {:?}: sha256 must be 64 hex digits (`tenantvault serve hash-token`)",
                    t.name
                ));
            }
            if !names.insert(t.name.clone()) {
                return Err(format!("[[api.tokens]] name {:?} used twice", t.name));
            }
        }
        Ok(Tokens { tokens })
    }

    /// The token definition a bearer token matches.
    pub fn find(&self, bearer: &str) -> Option<&TokenDef> {
        let h = hash_token(bearer);
        self.tokens
            .iter()
            .find(|t| subtle_eq(t.sha256.to_ascii_lowercase().as_bytes(), h.as_bytes()))
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_least_privilege() {
        use Permission::*;
        assert!(Role::ReadOnly.allows(Read));
        assert!(!Role::ReadOnly.allows(Operate));
        assert!(!Role::ReadOnly.allows(Browse));
        assert!(!Role::ReadOnly.allows(Audit));
        assert!(Role::Auditor.allows(Audit));
        assert!(!Role::Auditor.allows(Operate));
        assert!(Role::Operator.allows(Operate));
        assert!(!Role::Operator.allows(Audit));
        assert!(!Role::Operator.allows(Admin));
        assert!(!Role::Auditor.allows(Admin));
        for p in [Public, Read, Browse, Operate, Audit, Admin] {
            assert!(Role::Admin.allows(p));
        }
    }

    #[test]
    fn tokens_match_by_hash_only() {
        let (tok, hash) = new_token();
        let tokens = Tokens::new(vec![TokenDef {
            name: "console".into(),
            role: Role::Operator,
            sha256: hash.to_uppercase(),
        }])
        .unwrap();
        assert_eq!(tokens.find(&tok).unwrap().name, "console");
        assert!(tokens.find("tv_guess").is_none());
        assert!(
            tokens.find(&hash).is_none(),
            "the hash itself is not a token"
        );
        assert!(
            Tokens::new(vec![TokenDef {
                name: "x".into(),
                role: Role::Admin,
                sha256: "abc".into()
            }])
            .is_err()
        );
    }
}
