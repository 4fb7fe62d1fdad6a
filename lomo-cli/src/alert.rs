//! Telling the owner: email over SMTP (lettre) and a webhook (HTTP POST of
//! JSON), each kind of event once per UTC day (claimed in the catalog).

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::context::Context;
use crate::error::{Error, Result};

/// Who hears about problems (the config's `[alert]`). Its `Debug` shows
/// the URLs redacted (`scheme://host/…`): they carry passwords and tokens.
#[derive(Default, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// `smtp://[user:password@]host[:port]` (STARTTLS required: a server
    /// that does not offer it gets nothing, not even the password),
    /// `smtps://…` (TLS), `smtp+plain://…` (no TLS: only to a relay on this
    /// machine — 127.0.0.1, ::1, localhost).
    pub smtp_url: Option<String>,
    /// Recipient address.
    pub email_to: Option<String>,
    /// Sender address (default: `lomob@HOSTNAME`).
    pub email_from: Option<String>,
    /// URL that gets an HTTP POST with a JSON body.
    pub webhook_url: Option<String>,
}

impl std::fmt::Debug for AlertSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertSettings")
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("email_to", &self.email_to)
            .field("email_from", &self.email_from)
            .field("webhook_url", &self.webhook_url.as_deref().map(redact_url))
            .finish()
    }
}

/// What a secret-bearing URL may show in messages and logs:
/// `scheme://host[:port]/…` (no user, password, path or query: a webhook's
/// path or query is often its token).
pub(crate) fn redact_url(url: &str) -> String {
    let scheme = url.split_once("://").map_or("", |(s, _)| s);
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let more = rest.len() > authority.len() || authority.contains('@');
    format!("{scheme}://{host}{}", if more { "/…" } else { "" })
}

impl AlertSettings {
    /// Whether any channel is configured.
    pub fn any(&self) -> bool {
        self.smtp_url.is_some() || self.webhook_url.is_some()
    }
}

/// One thing to tell.
#[derive(Debug, Clone)]
pub struct Alert {
    /// What kind of event (the once-a-day key), e.g. `check-staging`.
    pub kind: &'static str,
    /// One line.
    pub subject: String,
    /// Plain text for the email.
    pub text: String,
    /// Structured details for the webhook.
    pub details: Value,
}

impl Context {
    /// Sends `alert` on every configured channel, at most once per kind per
    /// UTC day. Returns the channels it went out on; failures are warnings
    /// (an alert must not turn a finished job into a failed one).
    pub fn notify(&mut self, alert: &Alert) -> Vec<&'static str> {
        let cfg = self.opts.alert.clone();
        if !cfg.any() {
            return Vec::new();
        }
        let day = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
        match self.catalog.claim_alert(alert.kind, &day, &alert.subject) {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(kind = alert.kind, "alert already sent today");
                return Vec::new();
            }
            Err(e) => tracing::warn!("cannot record the alert: {e}"),
        }
        let sent = match send_with(self, &cfg, alert) {
            Ok(s) => s,
            Err(e) => {
                self.warn(format!("alert not sent: {e}"));
                Vec::new()
            }
        };
        if sent.is_empty() {
            let _ = self.catalog.release_alert(alert.kind, &day);
        }
        sent
    }
}

fn send_with(ctx: &Context, cfg: &AlertSettings, alert: &Alert) -> Result<Vec<&'static str>> {
    let (sent, errors) = ctx.rt().block_on(send_all(cfg, alert));
    if sent.is_empty() && !errors.is_empty() {
        return Err(Error::failed(errors.join("; ")));
    }
    for e in errors {
        ctx.warn(format!("alert: {e}"));
    }
    Ok(sent)
}

/// Sends `alert` on every channel of `cfg` now (no once-a-day rule): the
/// channels it went out on and why the others failed, or an error when
/// none worked.
pub fn send(
    rt: &tokio::runtime::Runtime,
    cfg: &AlertSettings,
    alert: &Alert,
) -> Result<(Vec<&'static str>, Vec<String>)> {
    let (sent, errors) = rt.block_on(send_all(cfg, alert));
    if sent.is_empty() && !errors.is_empty() {
        return Err(Error::failed(errors.join("; ")));
    }
    Ok((sent, errors))
}

async fn send_all(cfg: &AlertSettings, alert: &Alert) -> (Vec<&'static str>, Vec<String>) {
    let mut sent = Vec::new();
    let mut errors = Vec::new();
    if let Some(url) = &cfg.smtp_url {
        match email(cfg, url, alert).await {
            Ok(()) => sent.push("email"),
            Err(e) => errors.push(format!("email: {e}")),
        }
    }
    if let Some(url) = &cfg.webhook_url {
        match webhook(url, alert).await {
            Ok(()) => sent.push("webhook"),
            Err(e) => errors.push(format!("webhook: {e}")),
        }
    }
    (sent, errors)
}

/// lettre's URL form: `smtp://` with STARTTLS required, `smtps://` TLS,
/// `smtp+plain://` none, and only to this machine.
fn transport_url(url: &str) -> Result<String> {
    if let Some(rest) = url.strip_prefix("smtp+plain://") {
        let host = smtp_host(rest);
        if !is_loopback(host) {
            return Err(Error::invalid(format!(
                "alert smtp_url {}: smtp+plain:// sends the password and the mail in clear, so only to a relay on this machine (127.0.0.1, ::1, localhost); for {host} use smtp:// (STARTTLS) or smtps:// (TLS)",
                redact_url(url)
            )));
        }
        return Ok(format!("smtp://{rest}"));
    }
    if url.starts_with("smtps://") {
        return Ok(url.to_owned());
    }
    if url.starts_with("smtp://") {
        if url.contains("tls=") && !url.contains("tls=required") {
            return Err(Error::invalid(format!(
                "alert smtp_url {}: smtp:// always requires STARTTLS; for a relay on this machine without TLS use smtp+plain://",
                redact_url(url)
            )));
        }
        return Ok(if url.contains("tls=") {
            url.to_owned()
        } else if url.contains('?') {
            format!("{url}&tls=required")
        } else {
            format!("{url}?tls=required")
        });
    }
    Err(Error::invalid(
        "alert smtp_url must start with smtp://, smtps:// or smtp+plain://",
    ))
}

/// The host of `user:pass@host:port/…`.
fn smtp_host(rest: &str) -> &str {
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    host_port.split(':').next().unwrap_or("")
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn mailbox(v: &str, what: &str) -> Result<Mailbox> {
    v.parse()
        .map_err(|e| Error::invalid(format!("{what} is not an email address: {e}")))
}

async fn email(cfg: &AlertSettings, url: &str, alert: &Alert) -> Result<()> {
    let to = mailbox(
        cfg.email_to
            .as_deref()
            .ok_or_else(|| Error::invalid("email_to (LOMOB_ALERT_EMAIL_TO) is not set"))?,
        "email_to",
    )?;
    let from = match &cfg.email_from {
        Some(f) => mailbox(f, "email_from")?,
        None => mailbox(
            &format!("lomob <lomob@{}>", hostname()),
            "no usable sender address: set email_from; the default",
        )?,
    };
    let msg = Message::builder()
        .from(from)
        .to(to)
        .subject(&alert.subject)
        .body(alert.text.clone())
        .map_err(|e| Error::failed(format!("building the email: {e}")))?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&transport_url(url)?)
        .map_err(|e| Error::invalid(format!("alert smtp_url {}: {e}", redact_url(url))))?
        .timeout(Some(Duration::from_secs(30)))
        .build();
    transport.send(msg).await.map_err(|e| {
        Error::failed(format!(
            "sending the email through {}: {e}",
            redact_url(url)
        ))
    })?;
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
        .build()
        .map_err(|e| Error::failed(format!("webhook client: {e}")))?
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| {
            Error::failed(format!(
                "posting to the webhook {}: {}",
                redact_url(url),
                e.without_url()
            ))
        })?;
    if !r.status().is_success() {
        return Err(Error::failed(format!(
            "the webhook {} answered {}",
            redact_url(url),
            r.status()
        )));
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

impl Context {
    /// Alerts (once a day) about configured sites that have failed every
    /// attempt for longer than the schedule's `site_offline_alert`, warning
    /// about each. Returns their names.
    pub fn alert_offline(&mut self) -> Result<Vec<String>> {
        let Some(limit) = self.opts.schedule.site_offline_alert else {
            return Ok(Vec::new());
        };
        let now = lomo_catalog::unix_now();
        let limit_s = i64::try_from(limit.as_secs()).unwrap_or(i64::MAX);
        let long: Vec<lomo_catalog::SiteContact> = self
            .catalog
            .site_contacts()?
            .into_iter()
            .filter(|c| self.opts.sites.iter().any(|s| s.name == c.site))
            .filter(|c| c.failing_since.is_some_and(|t| now - t >= limit_s))
            .collect();
        if long.is_empty() {
            return Ok(Vec::new());
        }
        let lines: Vec<String> = long.iter().map(offline_line).collect();
        for l in &lines {
            self.warn(l.clone());
        }
        let names: Vec<String> = long.iter().map(|c| c.site.clone()).collect();
        let who = if names.len() == 1 {
            format!("site {}", names[0])
        } else {
            format!("{} sites", names.len())
        };
        let alert = Alert {
            kind: "site-offline",
            subject: format!(
                "lomob: {who} unreachable for more than {}",
                crate::units::human_duration(limit)
            ),
            text: format!(
                "{}\n\nNew files are not reaching {}. Mount the disk, fix the \
                 credentials or the network; the next backup catches up.",
                lines.join("\n"),
                if names.len() == 1 { "it" } else { "them" }
            ),
            details: json!(
                long.iter()
                    .map(|c| json!({
                        "site": c.site,
                        "failing_since": c.failing_since,
                        "last_ok": c.last_ok,
                        "error": c.last_error,
                    }))
                    .collect::<Vec<_>>()
            ),
        };
        self.notify(&alert);
        Ok(names)
    }
}

/// `site X: failing since … (last reached: …): why`.
fn offline_line(c: &lomo_catalog::SiteContact) -> String {
    let when = |t: Option<i64>| {
        t.and_then(|t| jiff::Timestamp::from_second(t).ok())
            .map_or_else(
                || "never".to_owned(),
                |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
            )
    };
    format!(
        "site {}: failing since {} (last reached: {}): {}",
        c.site,
        when(c.failing_since),
        when(c.last_ok),
        c.last_error.as_deref().unwrap_or("?")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        assert_eq!(
            transport_url("smtp://h:25").unwrap(),
            "smtp://h:25?tls=required"
        );
        assert!(transport_url("smtp://h:25?tls=opportunistic").is_err());
        for far in [
            "smtp+plain://u:p@mail.example.com:25",
            "smtp+plain://10.0.0.2",
            "smtp+plain://[2001:db8::1]:25",
        ] {
            let e = transport_url(far).unwrap_err().to_string();
            assert!(
                e.contains("only to a relay on this machine") && !e.contains("u:p"),
                "{e}"
            );
        }
        assert!(transport_url("smtp+plain://localhost:25").is_ok());
        assert!(transport_url("smtp+plain://[::1]:25").is_ok());
        assert_eq!(
            transport_url("smtp+plain://u:p@127.0.0.1:1025").unwrap(),
            "smtp://u:p@127.0.0.1:1025"
        );
        assert_eq!(transport_url("smtps://h").unwrap(), "smtps://h");
        assert!(transport_url("http://h").is_err());
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact_url("https://h.example/hook?token=s3cret"),
            "https://h.example/…"
        );
        assert_eq!(
            redact_url("smtp://me:pw@smtp.example.com:587"),
            "smtp://smtp.example.com:587/…"
        );
        assert_eq!(
            redact_url("smtps://smtp.example.com"),
            "smtps://smtp.example.com"
        );
        let cfg = AlertSettings {
            webhook_url: Some("https://h/hook/s3cret".into()),
            smtp_url: Some("smtp://me:pw@h".into()),
            ..AlertSettings::default()
        };
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("pw"),
            "{shown}"
        );
    }
}
