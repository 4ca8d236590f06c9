//! Verification of `client_assertion` JWTs (RS256 / PS256) against a registered certificate.

use super::App;
use super::endpoint::AadError;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::signature::Verifier;
use serde::Deserialize;
use sha2::Sha256;

#[derive(Deserialize)]
struct Header {
    alg: String,
    x5t: Option<String>,
    #[serde(rename = "x5t#S256")]
    x5t_s256: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    aud: Option<serde_json::Value>,
    iss: Option<String>,
    sub: Option<String>,
    jti: Option<String>,
    exp: Option<i64>,
    nbf: Option<i64>,
}

const SKEW: i64 = 300;

fn invalid(code: u32, msg: &str) -> AadError {
    AadError::new(StatusCode::UNAUTHORIZED, "invalid_client", code, msg)
}

/// Check signature, thumbprint and claims; `fresh_jti` records the assertion id (replay check).
pub(super) fn verify_assertion(
    jwt: &str,
    app: &App,
    audiences: &[String],
    now: i64,
    fresh_jti: impl FnOnce(&str) -> bool,
) -> Result<(), AadError> {
    let malformed = || {
        AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.",
        )
    };
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err(malformed());
    }
    let header: Header = URL_SAFE_NO_PAD
        .decode(parts[0])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(malformed)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(parts[1])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(malformed)?;
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).map_err(|_| malformed())?;
    let cert = app
        .certs
        .iter()
        .find(|c| {
            header.x5t_s256.as_deref().map(|t| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')).ok() == Some(c.sha256.to_vec())) == Some(true)
                || header.x5t.as_deref().map(|t| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')).ok() == Some(c.sha1.to_vec())) == Some(true)
        })
        .ok_or_else(|| {
            invalid(
                700027,
                "The certificate with identifier used to sign the client assertion is not registered on application.",
            )
        })?;
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    let ok = match header.alg.as_str() {
        "RS256" => {
            let key = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(cert.public_key.clone());
            rsa::pkcs1v15::Signature::try_from(sig.as_slice())
                .map(|s| key.verify(signing_input.as_bytes(), &s).is_ok())
                .unwrap_or(false)
        }
        "PS256" => {
            let key = rsa::pss::VerifyingKey::<Sha256>::new(cert.public_key.clone());
            rsa::pss::Signature::try_from(sig.as_slice())
                .map(|s| key.verify(signing_input.as_bytes(), &s).is_ok())
                .unwrap_or(false)
        }
        _ => {
            return Err(invalid(
                5002730,
                "Invalid JWT token. Unsupported signing algorithm; use RS256 or PS256.",
            ));
        }
    };
    if !ok {
        return Err(invalid(
            700027,
            "Client assertion failed signature validation.",
        ));
    }
    if claims.iss.as_deref() != Some(app.client_id.as_str())
        || claims.sub.as_deref() != Some(app.client_id.as_str())
    {
        return Err(invalid(
            700023,
            "Client assertion audience claim does not match or the iss/sub claims are not the client id.",
        ));
    }
    let aud_ok = match &claims.aud {
        Some(serde_json::Value::String(a)) => audiences.iter().any(|x| x.eq_ignore_ascii_case(a)),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_str())
            .any(|a| audiences.iter().any(|x| x.eq_ignore_ascii_case(a))),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid(
            700212,
            "No matching federated identity record found for presented assertion audience.",
        ));
    }
    let exp = claims.exp.ok_or_else(malformed)?;
    if now > exp + SKEW || claims.nbf.is_some_and(|nbf| now + SKEW < nbf) {
        return Err(invalid(
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    let jti = claims
        .jti
        .ok_or_else(|| invalid(700023, "Client assertion contains no jti claim."))?;
    if !fresh_jti(&jti) {
        return Err(invalid(
            700025,
            "Client assertion has already been used (jti replay).",
        ));
    }
    Ok(())
}
