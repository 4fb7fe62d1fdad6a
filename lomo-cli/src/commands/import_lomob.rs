//! `lomob import-lomob PATH/lomob.db --site NAME`: records what the Go
//! lomo-backup uploaded (see [`lomob::Context::import_go`]), so `lomob
//! restore` can bring those files back, decrypting its AES-CTR objects with
//! the Go master key (`LOMOB_MASTER_KEY`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use lomob::ImportOptions;
use serde_json::json;

use super::{Ctx, Open, Outcome};
use crate::cli::output::Out;

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The Go lomo-backup catalog (its lomob.db)
    #[arg(value_name = "LOMOB_DB")]
    go_db: PathBuf,
    /// The site already added for the bucket the Go tool uploaded its ISOs to
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
    /// The site added for the Google Drive folder the Go tool uploaded files to
    #[arg(long, value_name = "NAME")]
    drive_site: Option<String>,
}

pub(crate) fn run(ctx: &Ctx, args: &ImportArgs) -> Result<Outcome> {
    for name in [&args.site, &args.drive_site].into_iter().flatten() {
        lomob::sites::find(&ctx.config.sites, name)?;
    }
    let mut engine = ctx.engine(Open::CREATE)?;
    let mut opts = ImportOptions::new(&args.go_db);
    opts.site.clone_from(&args.site);
    opts.drive_site.clone_from(&args.drive_site);
    let r = engine.import_go(&opts)?;
    let mut out = Out::new(ctx.global.json);
    out.record_or_line(
        &json!({"imported": r.imported, "in_isos": r.in_isos, "on_drive": r.on_drive,
                "not_uploaded": r.not_uploaded}),
        &format!(
            "imported {} files from {}: {} in uploaded ISOs, {} on Google Drive, {} not uploaded by the Go tool",
            r.imported,
            args.go_db.display(),
            r.in_isos,
            r.on_drive,
            r.not_uploaded
        ),
    )?;
    out.flush()?;
    Ok(Outcome::Clean)
}
