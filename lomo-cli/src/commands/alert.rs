//! `lomob alert test`: one test message on every configured channel.

use anyhow::{Result, bail};
use clap::Subcommand;
use serde_json::json;

use super::{Ctx, Outcome};
use crate::alerts::{Alert, send};

#[derive(Debug, Subcommand)]
pub(crate) enum AlertCommand {
    /// Send a test message by email and webhook, as configured in `[alert]`
    /// or LOMOB_ALERT_SMTP_URL, LOMOB_ALERT_EMAIL_TO, LOMOB_ALERT_EMAIL_FROM, LOMOB_ALERT_WEBHOOK_URL.
    Test,
}

pub(crate) fn run(ctx: &Ctx, cmd: &AlertCommand) -> Result<Outcome> {
    match cmd {
        AlertCommand::Test => {
            let cfg = ctx.config.alert.resolved();
            if cfg.smtp_url.is_none() && cfg.webhook_url.is_none() {
                bail!(
                    "no alert channel configured: set [alert] smtp_url/email_to or webhook_url in the config, or LOMOB_ALERT_SMTP_URL and LOMOB_ALERT_EMAIL_TO, or LOMOB_ALERT_WEBHOOK_URL"
                );
            }
            let alert = Alert {
                kind: "test",
                subject: "lomob: test alert".into(),
                text: "This is a test message from lomob. Alerts arrive like this one when a check finds differences or a backup has problems.\n".into(),
                details: json!({"test": true}),
            };
            let sent = send(&cfg, &alert)?;
            println!("test alert sent by {}", sent.join(" and "));
            Ok(Outcome::Clean)
        }
    }
}
