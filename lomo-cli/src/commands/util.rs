//! `lomob util gcloud-auth|gcloud-auth-refresh`: Google sign-in for Drive sites.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use lomob::lomo_remote::gdrive::{
    OAuthClient, SCOPE, SCOPE_FULL, SCOPE_READONLY, loopback_flow, refresh_file,
};

use super::{Global, Outcome};

#[derive(Debug, Subcommand)]
pub(crate) enum UtilCommand {
    /// Sign in to Google Drive: opens the consent page, waits for Google's
    /// redirect on 127.0.0.1 and saves the token (mode 0600).
    GcloudAuth(AuthArgs),
    /// Refresh the saved Google token now (lomob also does it by itself).
    GcloudAuthRefresh(FilesArgs),
}

#[derive(Debug, Args)]
pub(crate) struct FilesArgs {
    /// The OAuth client file from Google Cloud console (Desktop app)
    /// [default: gdrive-credentials.json beside the config file]
    #[arg(long, value_name = "FILE")]
    cred: Option<PathBuf>,
    /// Where the token is kept [default: gdrive-token.json beside the config file]
    #[arg(long, value_name = "FILE")]
    token: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct AuthArgs {
    #[command(flatten)]
    files: FilesArgs,
    /// Port on 127.0.0.1 for Google's redirect (0 = any free port)
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Only print the consent URL; do not try to open a browser
    #[arg(long)]
    no_browser: bool,
    /// What lomob may see: drive.file (only what lomob made: its own
    /// staging), drive.readonly (everything, read only: enough to import
    /// what the Go lomo-backup put on Drive) or drive (everything)
    #[arg(long, value_enum, default_value = "drive.file")]
    scope: Scope,
}

/// The Drive scopes lomob asks for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Scope {
    #[value(name = "drive.file")]
    File,
    #[value(name = "drive.readonly")]
    Readonly,
    #[value(name = "drive")]
    Full,
}

impl Scope {
    fn url(self) -> &'static str {
        match self {
            Scope::File => SCOPE,
            Scope::Readonly => SCOPE_READONLY,
            Scope::Full => SCOPE_FULL,
        }
    }
}

fn paths(global: &Global, f: &FilesArgs) -> Result<(PathBuf, PathBuf)> {
    let (cred, token) = super::gdrive_files(global.config.as_deref())?;
    Ok((
        f.cred.clone().unwrap_or(cred),
        f.token.clone().unwrap_or(token),
    ))
}

fn client(cred: &Path) -> Result<OAuthClient> {
    OAuthClient::from_file(cred).map_err(|e| {
        anyhow::anyhow!(
            "{e}\nGet one at https://console.cloud.google.com/apis/credentials: create an OAuth client \
             ID of type \"Desktop app\", download its JSON and save it as {}",
            cred.display()
        )
    })
}

pub(crate) fn run(global: &Global, cmd: &UtilCommand) -> Result<Outcome> {
    let rt = lomob::sites::runtime()?;
    match cmd {
        UtilCommand::GcloudAuth(a) => {
            let (cred, token_path) = paths(global, &a.files)?;
            let client = client(&cred)?;
            let no_browser = a.no_browser;
            let token = rt.block_on(loopback_flow(&client, a.port, a.scope.url(), |url| {
                eprintln!(
                    "Open this URL in a browser and allow lomob to use Google Drive:\n\n{url}\n"
                );
                if !no_browser {
                    let _ = std::process::Command::new("xdg-open")
                        .arg(url)
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .spawn();
                }
                eprintln!("Waiting for Google to send you back here…");
            }))?;
            if let Some(dir) = token_path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            token.save(&token_path)?;
            println!("signed in; token saved to {}", token_path.display());
            Ok(Outcome::Clean)
        }
        UtilCommand::GcloudAuthRefresh(f) => {
            let (cred, token_path) = paths(global, f)?;
            let client = client(&cred)?;
            let t = rt.block_on(refresh_file(&client, &token_path))?;
            println!(
                "token refreshed{}; saved to {}",
                t.expiry
                    .as_deref()
                    .map(|e| format!(" (valid until {e})"))
                    .unwrap_or_default(),
                token_path.display()
            );
            Ok(Outcome::Clean)
        }
    }
}
