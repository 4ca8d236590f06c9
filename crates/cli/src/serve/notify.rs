//! Sending notifications: a JSON POST to each webhook and an e-mail through SMTP (lettre, with
//! STARTTLS, implicit TLS, or plain for a local relay). Sending never fails a job: errors are
//! logged and counted.

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;

use super::settings::{NotificationsSection, SmtpSettings};

/// Kinds of notification (the `event` field of a webhook body).
pub const EVENTS: &[&str] = &["failed", "partial", "anomaly", "rpo", "digest"];

/// One notification.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    /// `failed`, `partial`, `anomaly`, `rpo` or `digest`.
    pub event: String,
    /// One line (the e-mail subject).
    pub subject: String,
    /// Human-readable body.
    pub text: String,
    /// Machine-readable details (the job record, the owner …).
    pub data: serde_json::Value,
}

/// Where notifications go.
pub struct Notifier {
    settings: NotificationsSection,
    http: reqwest::Client,
}

impl Notifier {
    /// Checks the settings (event names, addresses, TLS mode) before the service starts.
    pub fn new(settings: NotificationsSection) -> Result<Notifier, String> {
        if let Some(ev) = &settings.events {
            for e in ev {
                if !EVENTS.contains(&e.as_str()) {
                    return Err(format!(
                        "[notifications] events: unknown event {e:?} (known: {})",
                        EVENTS.join(", ")
                    ));
                }
            }
        }
        for w in &settings.webhooks {
            let u = reqwest::Url::parse(w)
                .map_err(|e| format!("[notifications] webhook {w:?}: {e}"))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(format!("[notifications] webhook {w:?} must be http(s)"));
            }
        }
        if let Some(s) = &settings.smtp {
            transport(s)?;
            message(s, "check", "check")?;
            if s.to.is_empty() {
                return Err("[notifications.smtp] to: at least one recipient".into());
            }
        }
        if let Some(t) = &settings.digest_at {
            super::schedule::Schedule::parse(&format!("daily at {t}"))
                .map_err(|e| format!("[notifications] digest_at: {e}"))?;
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Notifier { settings, http })
    }

    /// Whether `event` is wanted (all but `digest` by default; `digest` when `digest_at` is set).
    pub fn wants(&self, event: &str) -> bool {
        match &self.settings.events {
            Some(list) => list.iter().any(|e| e == event),
            None => event != "digest" || self.settings.digest_at.is_some(),
        }
    }

    pub fn digest_at(&self) -> Option<&str> {
        self.settings.digest_at.as_deref()
    }

    /// Sends to every configured destination; returns the errors (already logged).
    pub async fn send(&self, n: &Notification) -> Vec<String> {
        if !self.wants(&n.event) {
            return Vec::new();
        }
        let mut errors = Vec::new();
        for url in &self.settings.webhooks {
            let r = self.http.post(url).json(n).send().await;
            match r {
                Ok(resp) if resp.status().is_success() => {}
                Ok(resp) => errors.push(format!("webhook {url}: HTTP {}", resp.status())),
                Err(e) => errors.push(format!("webhook {url}: {e}")),
            }
        }
        if let Some(s) = &self.settings.smtp
            && let Err(e) = send_mail(s, &n.subject, &n.text).await
        {
            errors.push(format!("e-mail via {}:{}: {e}", s.host, s.port));
        }
        for e in &errors {
            tracing::warn!(event = %n.event, error = %e, "notification not delivered");
        }
        errors
    }
}

fn transport(s: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let builder = match s.security.as_str() {
        "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
        "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
            .map_err(|e| format!("SMTP {}: {e}", s.host))?,
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)
            .map_err(|e| format!("SMTP {}: {e}", s.host))?,
        other => {
            return Err(format!(
                "[notifications.smtp] security {other:?}: use starttls, tls or none"
            ));
        }
    };
    let mut builder = builder
        .port(s.port)
        .timeout(Some(std::time::Duration::from_secs(30)));
    if let Some(user) = &s.username {
        let var = s.password_env.as_deref().ok_or(
            "[notifications.smtp] username needs password_env (the variable holding the password)",
        )?;
        let pass = std::env::var(var).unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), pass));
    }
    Ok(builder.build())
}

fn message(s: &SmtpSettings, subject: &str, text: &str) -> Result<Message, String> {
    let mut b = Message::builder()
        .from(
            s.from
                .parse()
                .map_err(|e| format!("[notifications.smtp] from {:?}: {e}", s.from))?,
        )
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for to in &s.to {
        b = b.to(to
            .parse()
            .map_err(|e| format!("[notifications.smtp] to {to:?}: {e}"))?);
    }
    b.body(text.to_string()).map_err(|e| e.to_string())
}

async fn send_mail(s: &SmtpSettings, subject: &str, text: &str) -> Result<(), String> {
    let t = transport(s)?;
    let m = message(s, subject, text)?;
    t.send(m).await.map(|_| ()).map_err(|e| e.to_string())
}
