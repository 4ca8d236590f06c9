//! Client configuration: from code, a TOML section, or the usual `AZURE_*` environment variables.

use crate::error::GraphError;
use crate::retry::RetryPolicy;
use crate::secret::SecretString;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Default identity platform host.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// Default Graph base URL.
pub const DEFAULT_GRAPH_BASE: &str = "https://graph.microsoft.com/v1.0";
/// The scope requested for app-only Graph tokens.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// How the application proves its identity.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A client secret.
    Secret(SecretString),
    /// A certificate: private key and X.509 certificate, both PEM. `pem_path` may hold both
    /// (as `AZURE_CLIENT_CERTIFICATE_PATH` does); `cert_path` names a separate certificate file.
    Certificate {
        /// PEM file with the private key (and usually the certificate too).
        pem_path: PathBuf,
        /// Separate certificate PEM, when it is not in `pem_path`.
        cert_path: Option<PathBuf>,
        /// Signature algorithm of the client assertion.
        algorithm: AssertionAlgorithm,
    },
}

/// Client-assertion signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum AssertionAlgorithm {
    /// PS256 with the `x5t#S256` header; falls back to RS256 once if the platform rejects it.
    #[default]
    #[serde(alias = "ps256", alias = "PS256")]
    Ps256,
    /// RS256 with the `x5t` (SHA-1) header.
    #[serde(alias = "rs256", alias = "RS256")]
    Rs256,
}

/// Client-side budgets that keep many parallel requests under Graph's limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Requests in flight across the whole tenant.
    pub tenant_concurrency: usize,
    /// Requests in flight per mailbox (Exchange: 4).
    pub mailbox_concurrency: usize,
    /// Requests per mailbox per `mailbox_window` (Exchange: 10,000 per 10 minutes).
    pub mailbox_requests_per_window: u32,
    /// The mailbox sliding window.
    pub mailbox_window: Duration,
    /// SharePoint/OneDrive resource units per `resource_unit_window` (1,200 per minute for
    /// the smallest tenants).
    pub resource_units_per_window: u32,
    /// The resource-unit window.
    pub resource_unit_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            tenant_concurrency: 64,
            mailbox_concurrency: 4,
            mailbox_requests_per_window: 10_000,
            mailbox_window: Duration::from_secs(600),
            resource_units_per_window: 1_200,
            resource_unit_window: Duration::from_secs(60),
        }
    }
}

/// Everything the client needs.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// Tenant GUID or domain.
    pub tenant_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// Secret or certificate.
    pub credential: Credential,
    /// Identity platform host, without a trailing slash.
    pub authority_host: String,
    /// Graph base URL including the version, without a trailing slash.
    pub graph_base: String,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Longest silence while reading a response.
    pub read_timeout: Duration,
    /// Retry limits.
    pub retry: RetryPolicy,
    /// Client-side budgets.
    pub limits: Limits,
    /// Renew the token this long before it expires.
    pub token_refresh_margin: Duration,
    /// `User-Agent` (Microsoft asks for `ISV|Company|App/Version` or `NONISV|…`).
    pub user_agent: String,
}

impl GraphConfig {
    /// A configuration with defaults for everything but identity.
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        credential: Credential,
    ) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            credential,
            authority_host: DEFAULT_AUTHORITY_HOST.into(),
            graph_base: DEFAULT_GRAPH_BASE.into(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            limits: Limits::default(),
            token_refresh_margin: Duration::from_secs(300),
            user_agent: format!(
                "NONISV|tenantvault|tenantvault/{}",
                env!("CARGO_PKG_VERSION")
            ),
        }
    }

    /// Reads the `[section]` table of a TOML document (or the whole document when
    /// `section` is `None`). Keys: `tenant_id`, `client_id`, `client_secret` or
    /// `certificate_path` (+ `certificate_cert_path`, `certificate_algorithm`),
    /// `authority_host`, `graph_base`, `connect_timeout_secs`, `read_timeout_secs`,
    /// `max_attempts`, `max_retry_secs`, `tenant_concurrency`, `mailbox_concurrency`,
    /// `mailbox_requests_per_window`, `mailbox_window_secs`, `resource_units_per_minute`.
    pub fn from_toml_str(text: &str, section: Option<&str>) -> Result<Self, GraphError> {
        let doc: toml::Table =
            toml::from_str(text).map_err(|e| GraphError::Config(format!("invalid TOML: {e}")))?;
        let table = match section {
            None => doc,
            Some(name) => match doc.get(name) {
                Some(toml::Value::Table(t)) => t.clone(),
                Some(_) => return Err(GraphError::Config(format!("[{name}] is not a table"))),
                None => return Err(GraphError::Config(format!("no [{name}] section"))),
            },
        };
        let raw: RawConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e| GraphError::Config(format!("invalid graph settings: {e}")))?;
        raw.into_config()
    }

    /// Builds the configuration from `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_CLIENT_SECRET` or `AZURE_CLIENT_CERTIFICATE_PATH`, and optional
    /// `AZURE_AUTHORITY_HOST` and `TENANTVAULT_GRAPH_BASE`.
    pub fn from_env() -> Result<Self, GraphError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`GraphConfig::from_env`] with an explicit variable lookup (testable).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, GraphError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let raw = RawConfig {
            tenant_id: get("AZURE_TENANT_ID"),
            client_id: get("AZURE_CLIENT_ID"),
            client_secret: get("AZURE_CLIENT_SECRET").map(SecretString::new),
            certificate_path: get("AZURE_CLIENT_CERTIFICATE_PATH").map(PathBuf::from),
            authority_host: get("AZURE_AUTHORITY_HOST"),
            graph_base: get("TENANTVAULT_GRAPH_BASE"),
            ..RawConfig::default()
        };
        raw.into_config()
    }

    /// Overrides fields of `self` with whichever `AZURE_*` variables are set.
    pub fn with_env_overrides(mut self, get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("AZURE_TENANT_ID") {
            self.tenant_id = v;
        }
        if let Some(v) = get("AZURE_CLIENT_ID") {
            self.client_id = v;
        }
        if let Some(v) = get("AZURE_CLIENT_SECRET") {
            self.credential = Credential::Secret(SecretString::new(v));
        } else if let Some(v) = get("AZURE_CLIENT_CERTIFICATE_PATH") {
            self.credential = Credential::Certificate {
                pem_path: v.into(),
                cert_path: None,
                algorithm: AssertionAlgorithm::default(),
            };
        }
        if let Some(v) = get("AZURE_AUTHORITY_HOST") {
            self.authority_host = normalize_host(&v);
        }
        self
    }

    /// Checks the configuration is usable.
    pub fn validate(&self) -> Result<(), GraphError> {
        if self.tenant_id.trim().is_empty() {
            return Err(GraphError::Config("tenant_id is empty".into()));
        }
        if self.client_id.trim().is_empty() {
            return Err(GraphError::Config("client_id is empty".into()));
        }
        if let Credential::Secret(s) = &self.credential
            && s.is_empty()
        {
            return Err(GraphError::Config("client secret is empty".into()));
        }
        for (name, value) in [
            ("authority_host", &self.authority_host),
            ("graph_base", &self.graph_base),
        ] {
            let url = url::Url::parse(value)
                .map_err(|e| GraphError::Config(format!("{name} {value:?} is not a URL: {e}")))?;
            if url.scheme() != "https" && url.scheme() != "http" {
                return Err(GraphError::Config(format!("{name} must be http(s)")));
            }
            if url.scheme() == "http" && !is_loopback(&url) {
                return Err(GraphError::Config(format!(
                    "{name} uses plain http on a non-loopback host; only https is allowed there"
                )));
            }
        }
        if self.limits.mailbox_concurrency == 0 || self.limits.tenant_concurrency == 0 {
            return Err(GraphError::Config(
                "concurrency limits must be at least 1".into(),
            ));
        }
        if self.retry.max_attempts == 0 {
            return Err(GraphError::Config("max_attempts must be at least 1".into()));
        }
        Ok(())
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn normalize_host(v: &str) -> String {
    let v = v.trim().trim_end_matches('/');
    if v.contains("://") {
        v.to_string()
    } else {
        format!("https://{v}")
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    certificate_path: Option<PathBuf>,
    certificate_cert_path: Option<PathBuf>,
    certificate_algorithm: Option<AssertionAlgorithm>,
    authority_host: Option<String>,
    graph_base: Option<String>,
    connect_timeout_secs: Option<u64>,
    read_timeout_secs: Option<u64>,
    max_attempts: Option<u32>,
    max_retry_secs: Option<u64>,
    tenant_concurrency: Option<usize>,
    mailbox_concurrency: Option<usize>,
    mailbox_requests_per_window: Option<u32>,
    mailbox_window_secs: Option<u64>,
    resource_units_per_minute: Option<u32>,
    user_agent: Option<String>,
}

impl RawConfig {
    fn into_config(self) -> Result<GraphConfig, GraphError> {
        let tenant_id = self
            .tenant_id
            .ok_or_else(|| GraphError::Config("tenant_id (AZURE_TENANT_ID) is missing".into()))?;
        let client_id = self
            .client_id
            .ok_or_else(|| GraphError::Config("client_id (AZURE_CLIENT_ID) is missing".into()))?;
        let credential = match (self.client_secret, self.certificate_path) {
            (Some(_), Some(_)) => {
                return Err(GraphError::Config(
                    "both a client secret and a certificate are configured; choose one".into(),
                ));
            }
            (Some(secret), None) => Credential::Secret(secret),
            (None, Some(pem_path)) => Credential::Certificate {
                pem_path,
                cert_path: self.certificate_cert_path,
                algorithm: self.certificate_algorithm.unwrap_or_default(),
            },
            (None, None) => {
                return Err(GraphError::Config(
                    "no credential: set client_secret (AZURE_CLIENT_SECRET) or certificate_path \
                     (AZURE_CLIENT_CERTIFICATE_PATH)"
                        .into(),
                ));
            }
        };
        let mut c = GraphConfig::new(tenant_id, client_id, credential);
        if let Some(v) = self.authority_host {
            c.authority_host = normalize_host(&v);
        }
        if let Some(v) = self.graph_base {
            c.graph_base = v.trim().trim_end_matches('/').to_string();
        }
        if let Some(v) = self.connect_timeout_secs {
            c.connect_timeout = Duration::from_secs(v);
        }
        if let Some(v) = self.read_timeout_secs {
            c.read_timeout = Duration::from_secs(v);
        }
        if let Some(v) = self.max_attempts {
            c.retry.max_attempts = v;
        }
        if let Some(v) = self.max_retry_secs {
            c.retry.max_elapsed = Duration::from_secs(v);
        }
        if let Some(v) = self.tenant_concurrency {
            c.limits.tenant_concurrency = v;
        }
        if let Some(v) = self.mailbox_concurrency {
            c.limits.mailbox_concurrency = v;
        }
        if let Some(v) = self.mailbox_requests_per_window {
            c.limits.mailbox_requests_per_window = v;
        }
        if let Some(v) = self.mailbox_window_secs {
            c.limits.mailbox_window = Duration::from_secs(v);
        }
        if let Some(v) = self.resource_units_per_minute {
            c.limits.resource_units_per_window = v;
        }
        if let Some(v) = self.user_agent {
            c.user_agent = v;
        }
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn toml_section_with_secret() {
        let text = r#"
            [graph]
            tenant_id = "contoso.onmicrosoft.com"
            client_id = "11111111-2222-3333-4444-555555555555"
            client_secret = "s3cr3t-value"
            graph_base = "http://127.0.0.1:8080/v1.0/"
            mailbox_concurrency = 2
        "#;
        let c = GraphConfig::from_toml_str(text, Some("graph")).unwrap();
        assert_eq!(c.tenant_id, "contoso.onmicrosoft.com");
        assert_eq!(c.graph_base, "http://127.0.0.1:8080/v1.0");
        assert_eq!(c.authority_host, DEFAULT_AUTHORITY_HOST);
        assert_eq!(c.limits.mailbox_concurrency, 2);
        match &c.credential {
            Credential::Secret(s) => assert_eq!(s.expose_secret(), "s3cr3t-value"),
            other => panic!("{other:?}"),
        }
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
    }

    #[test]
    fn toml_errors_are_clear() {
        let err = GraphConfig::from_toml_str("tenant_id='t'\nclient_id='c'", None).unwrap_err();
        assert!(err.to_string().contains("no credential"), "{err}");
        let err = GraphConfig::from_toml_str("[x]\na=1", Some("graph")).unwrap_err();
        assert!(err.to_string().contains("no [graph] section"), "{err}");
        let err = GraphConfig::from_toml_str(
            "tenant_id='t'\nclient_id='c'\nclient_secret='s'\ntypo_key=1",
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("typo_key"), "{err}");
        let err = GraphConfig::from_toml_str(
            "tenant_id='t'\nclient_id='c'\nclient_secret='s'\ngraph_base='http://example.com/v1.0'",
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("plain http"), "{err}");
    }

    #[test]
    fn environment_variables() {
        let vars: HashMap<&str, &str> = [
            ("AZURE_TENANT_ID", "tid"),
            ("AZURE_CLIENT_ID", "cid"),
            ("AZURE_CLIENT_CERTIFICATE_PATH", "/etc/tv/cert.pem"),
            ("AZURE_AUTHORITY_HOST", "login.microsoftonline.us"),
        ]
        .into_iter()
        .collect();
        let c = GraphConfig::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.authority_host, "https://login.microsoftonline.us");
        assert!(
            matches!(&c.credential, Credential::Certificate { pem_path, .. } if pem_path.to_str() == Some("/etc/tv/cert.pem"))
        );
        let missing = GraphConfig::from_lookup(|_| None).unwrap_err();
        assert!(missing.to_string().contains("AZURE_TENANT_ID"));
    }
}
