//! Telling the owner: email over SMTP (lettre) and a webhook (HTTP POST of
//! JSON), each kind of event once per UTC day, as `[alert]` configures.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};

use crate::commands::Ctx;
use crate::config::AlertConfig;

/// One thing to tell.
pub(crate) struct Alert {
    /// What kind of event (the once-a-day key), e.g. `check-staging`.
    pub(crate) kind: &'static str,
    /// One line.
    pub(crate) subject: String,
    /// Plain text for the email.
    pub(crate) text: String,
    /// Structured details for the webhook.
    pub(crate) details: Value,
}

/// Sends `alert` on every configured channel, at most once per kind per
/// UTC day (as recorded in the catalog, when there is one). Returns the
/// channels it went out on; failures are warnings (an alert must not turn
/// a finished job into a failed one), except when every channel failed.
pub(crate) fn notify(ctx: &Ctx, alert: &Alert) -> Vec<&'static str> {
    let cfg = ctx.config.alert.resolved();
    if cfg.smtp_url.is_none() && cfg.webhook_url.is_none() {
        return Vec::new();
    }
    let day = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let db = ctx.db_path();
    let mut catalog = if db.exists() {
        lomo_catalog::Catalog::open(&db).ok()
    } else {
        None
    };
    if let Some(c) = catalog.as_mut() {
        match c.claim_alert(alert.kind, &day, &alert.subject) {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(kind = alert.kind, "alert already sent today");
                return Vec::new();
            }
            Err(e) => tracing::warn!("cannot record the alert: {e}"),
        }
    }
    let sent = match send(&cfg, alert) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lomob: warning: alert not sent: {e:#}");
            Vec::new()
        }
    };
    if sent.is_empty()
        && let Some(c) = catalog.as_mut()
    {
        let _ = c.release_alert(alert.kind, &day);
    }
    sent
}

/// Sends on every configured channel now; an error if none worked.
pub(crate) fn send(cfg: &AlertConfig, alert: &Alert) -> Result<Vec<&'static str>> {
    let rt = crate::sites::runtime()?;
    let mut sent = Vec::new();
    let mut errors = Vec::new();
    if let Some(url) = &cfg.smtp_url {
        match rt.block_on(email(cfg, url, alert)) {
            Ok(()) => sent.push("email"),
            Err(e) => errors.push(format!("email: {e:#}")),
        }
    }
    if let Some(url) = &cfg.webhook_url {
        match rt.block_on(webhook(url, alert)) {
            Ok(()) => sent.push("webhook"),
            Err(e) => errors.push(format!("webhook: {e:#}")),
        }
    }
    if sent.is_empty() && !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    for e in errors {
        eprintln!("lomob: warning: alert: {e}");
    }
    Ok(sent)
}

/// lettre's URL form: `smtp://` STARTTLS when offered, `smtps://` TLS,
/// `smtp+plain://` none.
fn transport_url(url: &str) -> Result<String> {
    if let Some(rest) = url.strip_prefix("smtp+plain://") {
        return Ok(format!("smtp://{rest}"));
    }
    if url.starts_with("smtps://") {
        return Ok(url.to_owned());
    }
    if url.starts_with("smtp://") {
        return Ok(if url.contains("tls=") {
            url.to_owned()
        } else if url.contains('?') {
            format!("{url}&tls=opportunistic")
        } else {
            format!("{url}?tls=opportunistic")
        });
    }
    bail!("alert smtp_url must start with smtp://, smtps:// or smtp+plain://")
}

async fn email(cfg: &AlertConfig, url: &str, alert: &Alert) -> Result<()> {
    let to: Mailbox = cfg
        .email_to
        .as_deref()
        .context("email_to (LOMOB_ALERT_EMAIL_TO) is not set")?
        .parse()
        .context("email_to is not an email address")?;
    let from: Mailbox = match &cfg.email_from {
        Some(f) => f.parse().context("email_from is not an email address")?,
        None => {
            let host = hostname();
            format!("lomob <lomob@{host}>")
                .parse()
                .context("no usable sender address: set email_from")?
        }
    };
    let msg = Message::builder()
        .from(from)
        .to(to)
        .subject(&alert.subject)
        .body(alert.text.clone())
        .context("building the email")?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&transport_url(url)?)
        .context("alert smtp_url")?
        .timeout(Some(Duration::from_secs(30)))
        .build();
    transport.send(msg).await.context("sending the email")?;
    Ok(())
}

async fn webhook(url: &str, alert: &Alert) -> Result<()> {
    let body = json!({
        "source": "lomob",
        "kind": alert.kind,
        "subject": alert.subject,
        "host": hostname(),
        "time": jiff::Timestamp::now().to_string(),
        "details": alert.details,
    });
    let r = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?
        .post(url)
        .json(&body)
        .send()
        .await
        .context("posting to the webhook")?;
    if !r.status().is_success() {
        bail!("the webhook answered {}", r.status());
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        assert_eq!(
            transport_url("smtp://h:25").unwrap(),
            "smtp://h:25?tls=opportunistic"
        );
        assert_eq!(
            transport_url("smtp+plain://u:p@h:1025").unwrap(),
            "smtp://u:p@h:1025"
        );
        assert_eq!(transport_url("smtps://h").unwrap(), "smtps://h");
        assert!(transport_url("http://h").is_err());
    }
}
