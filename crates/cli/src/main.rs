//! `slipway`: CI/CD and staging for Odoo.

mod commands;
mod progress;
mod setup;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for usage and infrastructure errors (`slipway ci` contract).
pub const EXIT_INFRASTRUCTURE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "slipway",
    version,
    about = "Self-hosted CI/CD and staging platform for Odoo"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a git repository of Odoo addons at its HEAD commit: install its
    /// modules in a new database with demo data and run their tests.
    Ci(commands::ci::CiArgs),
    /// Odoo runtime images.
    #[command(subcommand)]
    Image(commands::image::ImageCommand),
    /// slipway's embedded PostgreSQL cluster.
    #[command(subcommand)]
    Postgres(commands::postgres::PostgresCommand),
    /// Template databases (cached dependency installs).
    #[command(subcommand)]
    Templates(commands::templates::TemplatesCommand),
    /// Builds kept with `slipway ci --keep`.
    #[command(subcommand)]
    Kept(commands::kept::KeptCommand),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(EXIT_INFRASTRUCTURE),
            };
        }
    };
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Ci(args) => commands::ci::run(args).await,
            Command::Image(command) => commands::image::run(command).await,
            Command::Postgres(command) => commands::postgres::run(command).await,
            Command::Templates(command) => commands::templates::run(command).await,
            Command::Kept(command) => commands::kept::run(command).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_INFRASTRUCTURE)
        }
    }
}

/// Diagnostics go to stderr, quiet by default (`RUST_LOG=info` for more): stdout
/// is reserved for results (`--json`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// A path argument made absolute against the current directory.
pub fn absolute(path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        path
    } else {
        std::env::current_dir()
            .map(|dir| dir.join(&path))
            .unwrap_or(path)
    }
}
