//! OAuth2 client-credentials tokens: requested with a secret or a certificate assertion,
//! cached, renewed before expiry, and mapped to clear [`AuthError`]s when refused.

use crate::assertion::ClientCertificate;
use crate::clock::Clock;
use crate::config::{AssertionAlgorithm, Credential, GRAPH_SCOPE, GraphConfig};
use crate::error::AuthError;
use crate::metrics::Metrics;
use crate::retry::{self, Decision, Failure, RetryPolicy, TransportKind};
use crate::secret::SecretString;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

#[derive(Clone)]
struct CachedToken {
    token: SecretString,
    /// Monotonic time after which the token must be renewed.
    renew_at: Duration,
}

enum Cred {
    Secret(SecretString),
    Certificate {
        cert: Box<ClientCertificate>,
        algorithm: parking_lot::Mutex<AssertionAlgorithm>,
        fell_back: std::sync::atomic::AtomicBool,
    },
}

/// Fetches and caches app-only access tokens.
pub(crate) struct TokenProvider {
    http: reqwest::Client,
    token_url: String,
    tenant_id: String,
    client_id: String,
    cred: Cred,
    margin: Duration,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    cache: Mutex<Option<CachedToken>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct TokenErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u64>,
}

impl TokenProvider {
    pub(crate) fn new(
        config: &GraphConfig,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, AuthError> {
        let cred = match &config.credential {
            Credential::Secret(s) => Cred::Secret(s.clone()),
            Credential::Certificate {
                pem_path,
                cert_path,
                algorithm,
            } => Cred::Certificate {
                cert: Box::new(ClientCertificate::from_files(
                    pem_path,
                    cert_path.as_deref(),
                )?),
                algorithm: parking_lot::Mutex::new(*algorithm),
                fell_back: Default::default(),
            },
        };
        Ok(Self {
            http,
            token_url: format!(
                "{}/{}/oauth2/v2.0/token",
                config.authority_host.trim_end_matches('/'),
                config.tenant_id
            ),
            tenant_id: config.tenant_id.clone(),
            client_id: config.client_id.clone(),
            cred,
            margin: config.token_refresh_margin,
            retry: RetryPolicy {
                max_attempts: config.retry.max_attempts.min(5),
                max_elapsed: config.retry.max_elapsed.min(Duration::from_secs(120)),
                ..config.retry.clone()
            },
            clock,
            metrics,
            cache: Mutex::new(None),
        })
    }

    /// A valid token, from the cache or freshly requested.
    pub(crate) async fn token(&self) -> Result<SecretString, AuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(t) = cache.as_ref()
            && self.clock.now() < t.renew_at
        {
            return Ok(t.token.clone());
        }
        let fresh = self.request().await?;
        let token = fresh.token.clone();
        *cache = Some(fresh);
        Ok(token)
    }

    /// Drops the cached token if it is still `stale` (Graph answered 401 with it).
    pub(crate) async fn invalidate(&self, stale: &SecretString) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|t| &t.token == stale) {
            *cache = None;
        }
    }

    async fn request(&self) -> Result<CachedToken, AuthError> {
        let started = self.clock.now();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let form = self.form()?;
            self.metrics.token_requests.inc();
            tracing::debug!(url = %self.token_url, attempt = attempts, "requesting Graph token");
            let sent = self.http.post(&self.token_url).form(&form).send().await;
            let failure = match sent {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry::parse_retry_after(v, self.clock.wall()));
                    match resp.bytes().await {
                        Ok(body) if status == 200 => return self.parse_success(&body),
                        Ok(body) => {
                            let err: TokenErrorBody =
                                serde_json::from_slice(&body).unwrap_or_default();
                            if matches!(status, 400 | 401) && self.try_algorithm_fallback(&err) {
                                continue;
                            }
                            let f = Failure::Status {
                                status,
                                retry_after,
                            };
                            if retry::classify(&f, true, true) == Decision::Fail {
                                return Err(self.map_error(status, err));
                            }
                            (f, Some((status, err)))
                        }
                        Err(_) => (Failure::Transport(TransportKind::Truncated), None),
                    }
                }
                Err(e) => (
                    Failure::Transport(if e.is_timeout() {
                        TransportKind::Timeout
                    } else {
                        TransportKind::Connect
                    }),
                    None,
                ),
            };
            let (failure, last) = failure;
            let decision = retry::classify(&failure, true, true);
            let elapsed = self.clock.now().saturating_sub(started);
            match self
                .retry
                .wait_for(decision, attempts, elapsed, attempts - 1)
            {
                Some(wait) => {
                    self.metrics.retries.inc();
                    self.clock.sleep(wait).await;
                }
                None => {
                    return Err(match last {
                        Some((status, err)) => self.map_error(status, err),
                        None => AuthError::Transport {
                            url: self.token_url.clone(),
                            detail: format!("{failure:?} after {attempts} attempt(s)"),
                        },
                    });
                }
            }
        }
    }

    fn form(&self) -> Result<Vec<(&'static str, String)>, AuthError> {
        let mut form = vec![
            ("client_id", self.client_id.clone()),
            ("scope", GRAPH_SCOPE.to_string()),
            ("grant_type", "client_credentials".to_string()),
        ];
        match &self.cred {
            Cred::Secret(s) => form.push(("client_secret", s.expose_secret().to_string())),
            Cred::Certificate {
                cert, algorithm, ..
            } => {
                let alg = *algorithm.lock();
                let jwt =
                    cert.assertion(&self.client_id, &self.token_url, self.clock.wall(), alg)?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
                ));
                form.push(("client_assertion", jwt));
            }
        }
        Ok(form)
    }

    /// PS256 rejected for a reason that may be the algorithm: switch to RS256 once.
    fn try_algorithm_fallback(&self, err: &TokenErrorBody) -> bool {
        let Cred::Certificate {
            algorithm,
            fell_back,
            ..
        } = &self.cred
        else {
            return false;
        };
        let mut alg = algorithm.lock();
        let about_assertion = err.error == "invalid_client"
            || err.error_description.contains("assertion")
            || err.error_description.contains("signature");
        if *alg == AssertionAlgorithm::Ps256
            && about_assertion
            && !fell_back.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            tracing::warn!("PS256 client assertion rejected; retrying once with RS256");
            *alg = AssertionAlgorithm::Rs256;
            return true;
        }
        false
    }

    fn parse_success(&self, body: &[u8]) -> Result<CachedToken, AuthError> {
        let malformed = |detail: String| AuthError::MalformedResponse {
            url: self.token_url.clone(),
            detail,
        };
        let t: TokenResponse = serde_json::from_slice(body)
            .map_err(|e| malformed(format!("not a token response: {e}")))?;
        if t.access_token.is_empty() {
            return Err(malformed("empty access_token".into()));
        }
        if let Some(tt) = &t.token_type
            && !tt.eq_ignore_ascii_case("bearer")
        {
            return Err(malformed(format!("token_type {tt:?} is not Bearer")));
        }
        // expires_in is a number on v2 and a string on some v1 endpoints.
        let expires_in = match &t.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| malformed("missing or invalid expires_in".into()))?;
        let lifetime = Duration::from_secs(expires_in);
        // Renew `margin` early, but never later than 90% into a short lifetime.
        let early = if self.margin * 2 < lifetime {
            self.margin
        } else {
            lifetime / 10
        };
        let renew_at = self.clock.now() + lifetime.saturating_sub(early);
        tracing::debug!(expires_in, "Graph token acquired");
        Ok(CachedToken {
            token: SecretString::new(t.access_token),
            renew_at,
        })
    }

    fn map_error(&self, status: u16, err: TokenErrorBody) -> AuthError {
        let aadsts = err
            .error_codes
            .first()
            .map(|c| format!("AADSTS{c}"))
            .or_else(|| {
                err.error_description
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .find(|w| w.starts_with("AADSTS"))
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let first_line = err
            .error_description
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        let tenant_id = self.tenant_id.clone();
        let client_id = self.client_id.clone();
        match aadsts.as_str() {
            "AADSTS7000215" => AuthError::InvalidClientSecret {
                tenant_id,
                client_id,
                aadsts,
            },
            "AADSTS7000222" => AuthError::ExpiredClientSecret { client_id, aadsts },
            "AADSTS90002" | "AADSTS90023" => AuthError::UnknownTenant { tenant_id, aadsts },
            "AADSTS700016" => AuthError::UnknownClient {
                tenant_id,
                client_id,
                aadsts,
            },
            _ if err.error == "invalid_tenant" => AuthError::UnknownTenant { tenant_id, aadsts },
            _ if matches!(self.cred, Cred::Certificate { .. })
                && (err.error == "invalid_client"
                    || aadsts.starts_with("AADSTS7000")
                    || aadsts == "AADSTS700027") =>
            {
                AuthError::CertificateRejected {
                    client_id,
                    description: first_line,
                }
            }
            _ => AuthError::Rejected {
                status,
                error: if err.error.is_empty() {
                    "unknown".into()
                } else {
                    err.error
                },
                description: first_line,
            },
        }
    }
}
