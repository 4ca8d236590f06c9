//! `POST /{tenant}/oauth2/v2.0/token` (client credentials) and the OpenID discovery document.

use super::assertion::verify_assertion;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use std::collections::HashMap;

/// An AADSTS-style token endpoint error.
#[derive(Debug)]
pub(crate) struct AadError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl AadError {
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            code,
            description: description.into(),
        }
    }
}

impl IntoResponse for AadError {
    fn into_response(self) -> Response {
        let trace = uuid::Uuid::new_v4().to_string();
        let corr = uuid::Uuid::new_v4().to_string();
        let now = chrono::Utc::now();
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace} Correlation ID: {corr} Timestamp: {}",
                self.code, self.description, now.format("%Y-%m-%d %H:%M:%SZ")
            ),
            "error_codes": [self.code],
            "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        (
            self.status,
            [("content-type", "application/json; charset=utf-8")],
            body.to_string(),
        )
            .into_response()
    }
}

fn missing(param: &str) -> AadError {
    AadError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{param}'."),
    )
}

/// Whether `tenant` names this tenant (GUID or domain).
fn tenant_matches(state: &AppState, tenant: &str) -> bool {
    let dir = state.directory.read();
    tenant.eq_ignore_ascii_case(&dir.tenant_id) || tenant.eq_ignore_ascii_case(&dir.domain)
}

/// The token endpoint handler.
pub(crate) async fn token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match issue(&state, &tenant, &headers, &body) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn issue(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, AadError> {
    if !tenant_matches(state, tenant) {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        ));
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    // HTTP Basic client authentication (RFC 6749 §2.3.1) is accepted too.
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':').map(|(u, p)| {
                let dec = |x: &str| {
                    percent_encoding::percent_decode_str(x)
                        .decode_utf8_lossy()
                        .into_owned()
                };
                (dec(u), dec(p))
            })
        });
    let grant = form
        .get("grant_type")
        .ok_or_else(|| missing("grant_type"))?;
    if grant != "client_credentials" {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        ));
    }
    let client_id = form
        .get("client_id")
        .cloned()
        .or_else(|| basic.as_ref().map(|b| b.0.clone()))
        .ok_or_else(|| missing("client_id"))?;
    let scope = form.get("scope").ok_or_else(|| missing("scope"))?;
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    if scopes.len() != 1 || !scopes[0].eq_ignore_ascii_case("https://graph.microsoft.com/.default")
    {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    }
    let dir_tenant = state.directory.read().tenant_id.clone();
    let app = state.auth.app(&client_id).ok_or_else(|| {
        AadError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!("Application with identifier '{client_id}' was not found in the directory '{dir_tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."),
        )
    })?;
    let secret = form
        .get("client_secret")
        .cloned()
        .or_else(|| basic.map(|b| b.1));
    let assertion = form.get("client_assertion");
    match (secret, assertion) {
        (Some(_), Some(_)) => {
            return Err(AadError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                90015,
                "Requested query string is too long. Only one client credential may be given.",
            ));
        }
        (Some(s), None) => {
            if !app
                .secrets
                .iter()
                .any(|x| crate::util::ct_eq(x.as_bytes(), s.as_bytes()))
            {
                return Err(AadError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
                ));
            }
        }
        (None, Some(a)) => {
            let kind = form
                .get("client_assertion_type")
                .ok_or_else(|| missing("client_assertion_type"))?;
            if kind != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
                return Err(AadError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    50027,
                    "Invalid client_assertion_type. Expected 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
                ));
            }
            let dir = state.directory.read();
            let auds = [
                format!("{}/{}/oauth2/v2.0/token", state.base_url, dir.tenant_id),
                format!("{}/{}/oauth2/v2.0/token", state.base_url, dir.domain),
                format!(
                    "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
                    dir.tenant_id
                ),
                format!(
                    "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
                    dir.domain
                ),
            ];
            drop(dir);
            verify_assertion(a, &app, &auds, state.clock.now().timestamp(), |jti| {
                state.auth.fresh_jti(jti)
            })?;
        }
        (None, None) => {
            return Err(AadError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        }
    }
    let lifetime = state.config.token_lifetime.as_secs() as i64;
    let token = state
        .auth
        .mint(&app, &dir_tenant, state.clock.now(), lifetime);
    let body = json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    });
    Ok((
        StatusCode::OK,
        [
            ("content-type", "application/json; charset=utf-8"),
            ("cache-control", "no-store, no-cache"),
        ],
        body.to_string(),
    )
        .into_response())
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(crate) async fn openid_configuration(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Response {
    if !tenant_matches(&state, &tenant) {
        return AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            format!("Tenant '{tenant}' not found."),
        )
        .into_response();
    }
    let tid = state.directory.read().tenant_id.clone();
    let base = &state.base_url;
    let body = json!({
        "token_endpoint": format!("{base}/{tid}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{tid}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/{tid}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": format!("{base}/{tid}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{tid}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{tid}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "roles"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
    });
    (
        StatusCode::OK,
        [("content-type", "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}
