//! `slipway templates list|prune`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use slipway_engine::templates::Templates;

use crate::setup;

#[derive(Subcommand)]
pub enum TemplatesCommand {
    /// Show the cached template databases, most recently used first.
    List,
    /// Drop every template database that no build is using.
    Prune,
}

pub async fn run(command: TemplatesCommand) -> Result<ExitCode> {
    let layout = setup::layout()?;
    let templates = Templates::new(&layout)?;
    match command {
        TemplatesCommand::List => {
            let list = templates.list();
            if list.is_empty() {
                println!("no template databases");
            }
            for (meta, _) in list {
                println!(
                    "{}  {:<32} {:>3} modules  built in {:.0} s",
                    meta.hash,
                    meta.image,
                    meta.modules.len(),
                    meta.seconds_to_build
                );
            }
        }
        TemplatesCommand::Prune => {
            let cluster = setup::cluster(&layout).await?;
            let evicted = templates.evict(0, &cluster).await?;
            println!("dropped {} template database(s)", evicted.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
