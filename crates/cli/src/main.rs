//! `slipway`: CI/CD and staging for Odoo.

mod client;
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
    #[command(flatten)]
    server: client::ServerArgs,
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
    /// Run the platform on this machine: PostgreSQL, API, watcher, one worker.
    Serve(commands::serve::ServeArgs),
    /// Run one more worker against a server's control database.
    Worker(commands::serve::StandaloneWorkerArgs),
    /// Exit 0 when the server answers.
    Status,
    /// Projects: repositories whose branches get builds.
    #[command(subcommand)]
    Project(commands::project::ProjectCommand),
    /// A project's branches: production first, then by last build.
    Branches {
        project: String,
        #[arg(long)]
        json: bool,
    },
    /// A branch's settings.
    #[command(subcommand)]
    Branch(commands::branches::BranchCommand),
    /// A project's builds, newest first.
    Builds {
        project: String,
        #[arg(long)]
        branch: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// A build's log.
    Logs {
        build: i64,
        /// Keep printing as the log grows, until the build ends.
        #[arg(long)]
        follow: bool,
    },
    /// Build a branch's head again (refused while it has a build in progress).
    Rebuild { project: String, branch: String },
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
            Command::Serve(args) => commands::serve::serve(args).await,
            Command::Worker(args) => commands::serve::worker(args).await,
            // The HTTP client is blocking: off the async threads.
            client_command => {
                let server = cli.server.clone();
                tokio::task::spawn_blocking(move || run_client_command(client_command, &server))
                    .await
                    .expect("client commands do not panic")
            }
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

fn run_client_command(command: Command, server: &client::ServerArgs) -> anyhow::Result<ExitCode> {
    match command {
        Command::Status => commands::status::run(server),
        Command::Project(command) => commands::project::run(command, server),
        Command::Branches { project, json } => commands::branches::list(&project, json, server),
        Command::Branch(command) => commands::branches::run(command, server),
        Command::Builds {
            project,
            branch,
            json,
        } => commands::builds::list(&project, branch.as_deref(), json, server),
        Command::Logs { build, follow } => commands::builds::logs(build, follow, server),
        Command::Rebuild { project, branch } => {
            commands::builds::rebuild(&project, &branch, server)
        }
        _ => unreachable!("server-side commands are dispatched before"),
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
