//! `lomob alert test`: one test message on every configured channel.

use anyhow::{Result, bail};
use clap::Subcommand;
use serde_json::json;

use lomob::Alert;

use super::{Ctx, Outcome};
use crate::cli::config::alert_settings;

#[derive(Debug, Subcommand)]
pub(crate) enum AlertCommand {
    /// Send a test message by email and webhook, as configured in `[alert]`
    /// or LOMOB_ALERT_SMTP_URL, LOMOB_ALERT_EMAIL_TO, LOMOB_ALERT_EMAIL_FROM, LOMOB_ALERT_WEBHOOK_URL.
    Test,
}

pub(crate) fn run(ctx: &Ctx, cmd: &AlertCommand) -> Result<Outcome> {
    match cmd {
        AlertCommand::Test => {
            let cfg = alert_settings(&ctx.config.alert);
            if !cfg.any() {
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
            let rt = lomob::sites::runtime()?;
            let (sent, failed) = lomob::send_alert(&rt, &cfg, &alert)?;
            for e in failed {
                eprintln!("lomob: warning: alert: {e}");
            }
            println!("test alert sent by {}", sent.join(" and "));
            Ok(Outcome::Clean)
        }
    }
}
