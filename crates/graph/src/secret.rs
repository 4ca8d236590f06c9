//! A string that never shows itself in `Debug`, `Display`, logs or error messages.

use serde::{Deserialize, Deserializer};
use std::fmt;
use zeroize::Zeroizing;

/// A secret (client secret, access token, private-key material). Its `Debug` and `Display`
/// print `[REDACTED]`; the value is only reachable through [`SecretString::expose_secret`]
/// and is wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret itself: call this only where the value is sent over the wire.
    pub fn expose_secret(&self) -> &str {
        self.0.as_str()
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([REDACTED])")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString::new)
    }
}

/// Removes secrets from a URL before it goes into an error or a log line: the whole query of
/// pre-authenticated download/upload URLs (`tempauth`, `authtoken`, signatures) and the value
/// of any query parameter whose name looks like a credential.
pub(crate) fn redact_url(url: &str) -> String {
    const SENSITIVE: &[&str] = &[
        "tempauth",
        "authtoken",
        "access_token",
        "sig",
        "signature",
        "client_secret",
        "code",
        "token_hash",
    ];
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(base);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let (name, _) = pair.split_once('=').unwrap_or((pair, ""));
        let lname = name.to_ascii_lowercase();
        if SENSITIVE.iter().any(|s| lname == *s) {
            out.push_str(name);
            out.push_str("=[REDACTED]");
        } else {
            out.push_str(pair);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = SecretString::new("hunter2-very-secret");
        assert_eq!(format!("{s}"), "[REDACTED]");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{:#?}", Some(&s)).contains("hunter2"));
        assert_eq!(s.expose_secret(), "hunter2-very-secret");
    }

    #[test]
    fn deserializes_from_a_plain_string() {
        let s: SecretString = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(s.expose_secret(), "abc");
    }

    #[test]
    fn redact_url_hides_credentials_in_queries() {
        let u = "https://x.sharepoint.com/_layouts/download.aspx?UniqueId=1&tempauth=eyJsecret&x=2";
        let r = redact_url(u);
        assert!(!r.contains("eyJsecret"), "{r}");
        assert!(r.contains("UniqueId=1") && r.contains("x=2") && r.contains("tempauth=[REDACTED]"));
        let plain = "https://graph.microsoft.com/v1.0/users?$top=5";
        assert_eq!(redact_url(plain), plain);
    }
}
