//! `slipway kept list|remove`: builds left in place by `slipway ci --keep`.

use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Subcommand;

use crate::setup;

#[derive(Subcommand)]
pub enum KeptCommand {
    /// Show the kept builds.
    List,
    /// Drop a kept build's database, role and files.
    Remove {
        /// The build id printed by `slipway ci --keep`.
        id: String,
    },
}

pub async fn run(command: KeptCommand) -> Result<ExitCode> {
    let layout = setup::layout()?;
    match command {
        KeptCommand::List => {
            let mut found = false;
            for entry in std::fs::read_dir(layout.builds())
                .into_iter()
                .flatten()
                .flatten()
            {
                let script = entry.path().join("start-odoo.sh");
                if script.is_file() {
                    found = true;
                    println!(
                        "{}  start: {}",
                        entry.file_name().to_string_lossy(),
                        script.display()
                    );
                }
            }
            if !found {
                println!("no kept builds");
            }
            Ok(ExitCode::SUCCESS)
        }
        KeptCommand::Remove { id } => {
            let dir = layout.build(&id);
            let valid = !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
            if !valid || !dir.start_script().is_file() {
                bail!("no kept build '{id}' (see `slipway kept list`)");
            }
            let engine = setup::engine().await?;
            engine.drop_kept(&id).await?;
            println!("removed kept build {id}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
