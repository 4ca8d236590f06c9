//! Identity: registered apps, the OAuth2 token endpoint, bearer-token checks on Graph calls and
//! per-role authorization.

mod assertion;
mod endpoint;

pub(crate) use endpoint::{openid_configuration, token};

use crate::error::GraphError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rsa::RsaPublicKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Test certificate (PEM) of the certificate-credential app.
pub const TEST_CERT_PEM: &str = include_str!("../../assets/test-app-cert.pem");
/// Private key (PKCS#8 PEM) matching [`TEST_CERT_PEM`]; clients sign their assertions with it.
pub const TEST_KEY_PEM: &str = include_str!("../../assets/test-app-key.pem");

/// Every application permission the emulator knows (a full backup-and-restore app gets all).
pub const ALL_ROLES: &[&str] = &[
    "User.Read.All",
    "Group.Read.All",
    "GroupMember.Read.All",
    "Directory.Read.All",
    "Mail.ReadWrite",
    "Mail.Read",
    "Calendars.ReadWrite",
    "Calendars.Read",
    "Contacts.ReadWrite",
    "Contacts.Read",
    "MailboxSettings.Read",
    "Files.ReadWrite.All",
    "Files.Read.All",
    "Sites.ReadWrite.All",
    "Sites.Read.All",
    "Team.ReadBasic.All",
    "Channel.ReadBasic.All",
    "ChannelMessage.Read.All",
    "Chat.Read.All",
];

/// Roles of the read-only (backup without restore) app.
pub const READ_ONLY_ROLES: &[&str] = &[
    "User.Read.All",
    "Group.Read.All",
    "GroupMember.Read.All",
    "Mail.Read",
    "Calendars.Read",
    "Contacts.Read",
    "Files.Read.All",
    "Sites.Read.All",
    "Team.ReadBasic.All",
    "Channel.ReadBasic.All",
    "ChannelMessage.Read.All",
    "Chat.Read.All",
];

/// A registered certificate credential.
#[derive(Clone, Debug)]
pub struct RegisteredCert {
    /// SHA-1 thumbprint of the DER certificate (`x5t`).
    pub sha1: [u8; 20],
    /// SHA-256 thumbprint (`x5t#S256`).
    pub sha256: [u8; 32],
    /// The certificate's RSA public key.
    pub public_key: RsaPublicKey,
}

impl RegisteredCert {
    /// Parse a PEM certificate with an RSA key.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        use x509_cert::der::{Decode, DecodePem, Encode};
        let cert = x509_cert::Certificate::from_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
        let der = cert.to_der().map_err(|e| e.to_string())?;
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| e.to_string())?;
        let spki =
            x509_cert::spki::SubjectPublicKeyInfoRef::from_der(&spki).map_err(|e| e.to_string())?;
        let public_key = RsaPublicKey::try_from(spki).map_err(|e| e.to_string())?;
        use sha1::Sha1;
        Ok(Self {
            sha1: Sha1::digest(&der).into(),
            sha256: Sha256::digest(&der).into(),
            public_key,
        })
    }
}

/// An app registration with application permissions.
#[derive(Clone, Debug)]
pub struct App {
    /// Application (client) id.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Valid client secrets.
    pub secrets: Vec<String>,
    /// Registered certificates.
    pub certs: Vec<RegisteredCert>,
    /// Granted application permissions (`roles` claim).
    pub roles: Vec<String>,
}

/// All apps of the tenant plus the key the emulator signs access tokens with.
#[derive(Debug)]
pub struct AuthRegistry {
    /// Registered apps.
    pub apps: parking_lot::RwLock<Vec<App>>,
    signing_key: Vec<u8>,
    used_jti: parking_lot::Mutex<std::collections::HashSet<String>>,
}

/// Claims of the emulator's access tokens (shaped like real v1 Graph app tokens).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// `https://graph.microsoft.com`.
    pub aud: String,
    /// Issuer `https://sts.windows.net/{tid}/`.
    pub iss: String,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expiry.
    pub exp: i64,
    /// Client id.
    pub appid: String,
    /// Tenant id.
    pub tid: String,
    /// Granted roles.
    pub roles: Vec<String>,
    /// Always `app`.
    pub idtyp: String,
    /// Unique token id.
    pub uti: String,
}

impl AuthRegistry {
    /// Registry with the three default apps derived from `seed`.
    pub fn new(seed: u64) -> Self {
        let id = |n: u64| crate::rng::stable_uuid(seed, "app.id", &[n]).to_string();
        let secret = |n: u64| {
            let v = crate::rng::stable_u64(seed, "app.secret", &[n]);
            let w = crate::rng::stable_u64(seed, "app.secret2", &[n]);
            format!("tvE~{v:016x}{w:016x}")
        };
        let cert =
            RegisteredCert::from_pem(TEST_CERT_PEM).expect("bundled test certificate parses");
        let apps = vec![
            App {
                client_id: id(0),
                name: "tenantvault backup".into(),
                secrets: vec![secret(0)],
                certs: vec![],
                roles: ALL_ROLES.iter().map(|s| s.to_string()).collect(),
            },
            App {
                client_id: id(1),
                name: "tenantvault backup (certificate)".into(),
                secrets: vec![],
                certs: vec![cert],
                roles: ALL_ROLES.iter().map(|s| s.to_string()).collect(),
            },
            App {
                client_id: id(2),
                name: "tenantvault read-only".into(),
                secrets: vec![secret(2)],
                certs: vec![],
                roles: READ_ONLY_ROLES.iter().map(|s| s.to_string()).collect(),
            },
        ];
        let key = crate::rng::stable_u64(seed, "token.key", &[])
            .to_le_bytes()
            .repeat(4);
        Self {
            apps: parking_lot::RwLock::new(apps),
            signing_key: key,
            used_jti: Default::default(),
        }
    }

    /// Look up an app.
    pub fn app(&self, client_id: &str) -> Option<App> {
        self.apps
            .read()
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
            .cloned()
    }

    /// Remember an assertion id; false if it was seen before (replay).
    pub(crate) fn fresh_jti(&self, jti: &str) -> bool {
        self.used_jti.lock().insert(jti.to_string())
    }

    /// Mint an access token (HS256 JWT).
    pub fn mint(
        &self,
        app: &App,
        tenant_id: &str,
        now: DateTime<Utc>,
        lifetime_secs: i64,
    ) -> String {
        let iat = now.timestamp();
        let claims = AccessClaims {
            aud: "https://graph.microsoft.com".into(),
            iss: format!("https://sts.windows.net/{tenant_id}/"),
            iat,
            nbf: iat - 300,
            exp: iat + lifetime_secs,
            appid: app.client_id.clone(),
            tid: tenant_id.into(),
            roles: app.roles.clone(),
            idtyp: "app".into(),
            uti: uuid::Uuid::new_v4().simple().to_string(),
        };
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialize"));
        let signing_input = format!("{header}.{payload}");
        let sig = self.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    fn sign(&self, data: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.signing_key).expect("hmac key");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// Check a bearer token; returns the claims or the 401 Graph sends.
    pub fn verify(
        &self,
        token: &str,
        tenant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<AccessClaims, GraphError> {
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 {
            return Err(unauthenticated(
                "CompactToken parsing failed with error code: 80049217",
            ));
        }
        let signing_input = format!("{}.{}", parts[0], parts[1]);
        let sig = URL_SAFE_NO_PAD
            .decode(parts[2])
            .map_err(|_| unauthenticated("Access token validation failure. Invalid signature."))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.signing_key).expect("hmac key");
        mac.update(signing_input.as_bytes());
        if mac.verify_slice(&sig).is_err() {
            return Err(unauthenticated(
                "Access token validation failure. Invalid signature.",
            ));
        }
        let claims: AccessClaims = URL_SAFE_NO_PAD
            .decode(parts[1])
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| unauthenticated("Access token validation failure."))?;
        let t = now.timestamp();
        if t >= claims.exp || t < claims.nbf {
            return Err(unauthenticated(
                "Access token has expired or is not yet valid.",
            ));
        }
        if claims.tid != tenant_id || claims.aud != "https://graph.microsoft.com" {
            return Err(unauthenticated(
                "Access token validation failure. Invalid audience.",
            ));
        }
        if self.app(&claims.appid).is_none() {
            return Err(unauthenticated("Access token validation failure."));
        }
        Ok(claims)
    }
}

/// Graph's 401 with the `WWW-Authenticate` challenge.
pub fn unauthenticated(message: &str) -> GraphError {
    GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message).with_header(
        HeaderName::from_static("www-authenticate"),
        r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000""#,
    )
}

/// Which workload's 403 to answer when a role is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Directory: `Authorization_RequestDenied`.
    Directory,
    /// Exchange: `ErrorAccessDenied`.
    Exchange,
    /// OneDrive/SharePoint: `accessDenied`.
    Files,
    /// Teams: `Forbidden`.
    Teams,
}

/// The authenticated caller of a Graph request (inserted by the auth middleware; extract it in
/// handlers as an argument `caller: Caller`).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Client id of the app.
    pub app_id: String,
    /// Granted roles.
    pub roles: Vec<String>,
}

impl Caller {
    /// Whether the token carries `role`.
    pub fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    /// Require any one of `roles`, else the workload's 403.
    pub fn require_any(&self, roles: &[&str], workload: Workload) -> Result<(), GraphError> {
        if roles.iter().any(|r| self.has(r)) {
            return Ok(());
        }
        Err(match workload {
            Workload::Directory => GraphError::new(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            ),
            Workload::Exchange => GraphError::new(
                StatusCode::FORBIDDEN,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            ),
            Workload::Files => {
                GraphError::new(StatusCode::FORBIDDEN, "accessDenied", "Access denied")
            }
            Workload::Teams => GraphError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "Missing role permissions on the request. API requires one of the following roles.",
            ),
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| unauthenticated("Access token is empty."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_expire_and_forgeries_fail() {
        let reg = AuthRegistry::new(1);
        let app = reg.apps.read()[0].clone();
        let now = Utc::now();
        let t = reg.mint(&app, "tid", now, 60);
        assert_eq!(
            reg.verify(&t, "tid", now).expect("valid").appid,
            app.client_id
        );
        let late = now + chrono::Duration::seconds(61);
        assert_eq!(
            reg.verify(&t, "tid", late).expect_err("expired").code,
            "InvalidAuthenticationToken"
        );
        let mut forged = t.clone();
        forged.push('x');
        assert!(reg.verify(&forged, "tid", now).is_err());
        assert!(reg.verify(&t, "other-tenant", now).is_err());
        assert!(reg.verify("garbage", "tid", now).is_err());
    }
}
