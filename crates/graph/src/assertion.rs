//! Certificate credentials: loading a PEM key + certificate and signing the JWT client
//! assertion (`private_key_jwt`) the identity platform accepts instead of a secret.

use crate::config::AssertionAlgorithm;
use crate::error::AuthError;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use serde_json::json;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// How long a client assertion is valid.
const ASSERTION_LIFETIME_SECS: u64 = 600;

/// A loaded client certificate: RSA private key and the DER of the X.509 certificate.
#[derive(Clone)]
pub struct ClientCertificate {
    key: RsaPrivateKey,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t#S256", &self.thumbprint_sha256())
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl ClientCertificate {
    /// Reads the key (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`) from `pem_path` and
    /// the first `CERTIFICATE` from `cert_path`, or from `pem_path` when that is `None`.
    pub fn from_files(pem_path: &Path, cert_path: Option<&Path>) -> Result<Self, AuthError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map_err(|e| AuthError::Certificate(format!("cannot read {}: {e}", p.display())))
        };
        let key_pem = read(pem_path)?;
        let cert_pem = match cert_path {
            Some(p) => read(p)?,
            None => key_pem.clone(),
        };
        Self::from_pem(&key_pem, &cert_pem)
    }

    /// Parses PEM text holding the key and PEM text holding the certificate (may be the same).
    pub fn from_pem(key_pem: &str, cert_pem: &str) -> Result<Self, AuthError> {
        let blocks = pem_blocks(key_pem)?;
        let key =
            blocks
                .iter()
                .find_map(|(label, der)| match label.as_str() {
                    "PRIVATE KEY" => Some(RsaPrivateKey::from_pkcs8_der(der).map_err(|e| {
                        AuthError::Certificate(format!("invalid PKCS#8 RSA key: {e}"))
                    })),
                    "RSA PRIVATE KEY" => Some(RsaPrivateKey::from_pkcs1_der(der).map_err(|e| {
                        AuthError::Certificate(format!("invalid PKCS#1 RSA key: {e}"))
                    })),
                    "ENCRYPTED PRIVATE KEY" => Some(Err(AuthError::Certificate(
                        "the private key is encrypted; provide an unencrypted PEM".into(),
                    ))),
                    _ => None,
                })
                .unwrap_or_else(|| {
                    Err(AuthError::Certificate("no RSA private key in PEM".into()))
                })?;
        let cert_der = pem_blocks(cert_pem)?
            .into_iter()
            .find(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| der)
            .ok_or_else(|| AuthError::Certificate("no CERTIFICATE block in PEM".into()))?;
        Ok(Self { key, cert_der })
    }

    /// base64url SHA-256 thumbprint of the certificate (`x5t#S256`).
    pub fn thumbprint_sha256(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(&self.cert_der))
    }

    /// base64url SHA-1 thumbprint of the certificate (`x5t`).
    pub fn thumbprint_sha1(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha1::digest(&self.cert_der))
    }

    /// A signed client assertion for `client_id` at the token endpoint `audience`.
    pub fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        now: SystemTime,
        algorithm: AssertionAlgorithm,
    ) -> Result<String, AuthError> {
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| AuthError::Certificate("system clock before 1970".into()))?
            .as_secs();
        let header = match algorithm {
            AssertionAlgorithm::Ps256 => {
                json!({"alg":"PS256","typ":"JWT","x5t#S256": self.thumbprint_sha256()})
            }
            AssertionAlgorithm::Rs256 => {
                json!({"alg":"RS256","typ":"JWT","x5t": self.thumbprint_sha1()})
            }
        };
        let claims = json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": iat,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match algorithm {
            AssertionAlgorithm::Ps256 => {
                let signer = rsa::pss::BlindedSigningKey::<Sha256>::new(self.key.clone());
                signer
                    .sign_with_rng(&mut rand::thread_rng(), signing_input.as_bytes())
                    .to_vec()
            }
            AssertionAlgorithm::Rs256 => {
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(self.key.clone());
                signer.sign(signing_input.as_bytes()).to_vec()
            }
        };
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// Splits PEM text into (label, DER) blocks.
fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, AuthError> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut b64 = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            let l = l.trim();
            if l == end {
                closed = true;
                break;
            }
            if l.contains(':') {
                // RFC 1421 headers (Proc-Type, DEK-Info): an encrypted legacy key.
                return Err(AuthError::Certificate(
                    "the private key is encrypted; provide an unencrypted PEM".into(),
                ));
            }
            b64.push_str(l);
        }
        if !closed {
            return Err(AuthError::Certificate(format!(
                "unterminated PEM block {label}"
            )));
        }
        let der = STANDARD.decode(b64.as_bytes()).map_err(|e| {
            AuthError::Certificate(format!("invalid base64 in PEM block {label}: {e}"))
        })?;
        out.push((label.to_string(), der));
    }
    if out.is_empty() {
        return Err(AuthError::Certificate("no PEM blocks found".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;

    const KEY: &str = include_str!("../tests/fixtures/test-key.pem");
    const CERT: &str = include_str!("../tests/fixtures/test-cert.pem");
    const PUB: &str = include_str!("../tests/fixtures/test-pub.pem");
    const CERT_SHA256_B64URL: &str = include_str!("../tests/fixtures/test-cert.x5t-s256");

    fn split(jwt: &str) -> (serde_json::Value, serde_json::Value, Vec<u8>, String) {
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let h = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let c = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let s = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        (h, c, s, format!("{}.{}", parts[0], parts[1]))
    }

    #[test]
    fn ps256_assertion_has_required_claims_and_verifies() {
        let cert = ClientCertificate::from_pem(KEY, CERT).unwrap();
        assert_eq!(cert.thumbprint_sha256(), CERT_SHA256_B64URL.trim());
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let aud = "https://login.microsoftonline.com/tid/oauth2/v2.0/token";
        let jwt = cert
            .assertion("cid", aud, now, AssertionAlgorithm::Ps256)
            .unwrap();
        let (h, c, sig, input) = split(&jwt);
        assert_eq!(h["alg"], "PS256");
        assert_eq!(h["typ"], "JWT");
        assert_eq!(h["x5t#S256"], CERT_SHA256_B64URL.trim());
        assert_eq!(c["aud"], aud);
        assert_eq!(c["iss"], "cid");
        assert_eq!(c["sub"], "cid");
        assert_eq!(c["nbf"], 1_700_000_000u64);
        assert_eq!(c["exp"], 1_700_000_600u64);
        assert!(uuid::Uuid::parse_str(c["jti"].as_str().unwrap()).is_ok());
        let public = rsa::RsaPublicKey::from_public_key_pem(PUB).unwrap();
        let verifier = rsa::pss::VerifyingKey::<Sha256>::new(public);
        let sig = rsa::pss::Signature::try_from(sig.as_slice()).unwrap();
        verifier.verify(input.as_bytes(), &sig).unwrap();
        // A tampered payload does not verify.
        assert!(
            verifier
                .verify(format!("{input}x").as_bytes(), &sig)
                .is_err()
        );
        // Two assertions differ in jti.
        let jwt2 = cert
            .assertion("cid", aud, now, AssertionAlgorithm::Ps256)
            .unwrap();
        assert_ne!(split(&jwt2).1["jti"], c["jti"]);
    }

    #[test]
    fn rs256_assertion_uses_sha1_thumbprint_and_verifies() {
        let cert = ClientCertificate::from_pem(KEY, CERT).unwrap();
        let jwt = cert
            .assertion("cid", "aud", SystemTime::now(), AssertionAlgorithm::Rs256)
            .unwrap();
        let (h, _, sig, input) = split(&jwt);
        assert_eq!(h["alg"], "RS256");
        assert_eq!(h["x5t"], cert.thumbprint_sha1());
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(cert.thumbprint_sha1())
                .unwrap()
                .len(),
            20
        );
        let public = rsa::RsaPublicKey::from_public_key_pem(PUB).unwrap();
        let verifier = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public);
        let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).unwrap();
        verifier.verify(input.as_bytes(), &sig).unwrap();
    }

    #[test]
    fn bad_pem_gives_clear_errors() {
        let err = ClientCertificate::from_pem("nothing here", CERT).unwrap_err();
        assert!(err.to_string().contains("no PEM blocks"), "{err}");
        let err = ClientCertificate::from_pem(CERT, CERT).unwrap_err();
        assert!(err.to_string().contains("no RSA private key"), "{err}");
        let err = ClientCertificate::from_pem(KEY, KEY).unwrap_err();
        assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
        let debug = format!("{:?}", ClientCertificate::from_pem(KEY, CERT).unwrap());
        assert!(debug.contains("REDACTED") && !debug.contains("MII"));
    }
}
