//! `slipway postgres start|stop|status`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use crate::setup;

#[derive(Subcommand)]
pub enum PostgresCommand {
    /// Create (if needed) and start the embedded cluster.
    Start,
    /// Stop the embedded cluster (fast shutdown; data is safe).
    Stop,
    /// Exit 0 when the embedded cluster runs, 3 when it does not.
    Status,
}

pub async fn run(command: PostgresCommand) -> Result<ExitCode> {
    let layout = setup::layout()?;
    let embedded = setup::embedded_cluster(&layout)?;
    match command {
        PostgresCommand::Start => {
            embedded.ensure_running().await?;
            println!("running: socket in {}", embedded.socket_dir().display());
            Ok(ExitCode::SUCCESS)
        }
        PostgresCommand::Stop => {
            if embedded.stop()? {
                println!("stopped");
            } else {
                println!("not running");
            }
            Ok(ExitCode::SUCCESS)
        }
        PostgresCommand::Status => {
            if embedded.is_running()? {
                println!("running: socket in {}", embedded.socket_dir().display());
                Ok(ExitCode::SUCCESS)
            } else {
                println!("not running");
                Ok(ExitCode::from(3))
            }
        }
    }
}
