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
    /// Accounts of the web UI and the API, and their project roles.
    #[command(subcommand)]
    User(commands::users::UserCommand),
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
    /// Serve a stopped build again (its database must still be there); its
    /// worker starts it.
    Start { build: i64 },
    /// Build a branch's head again (refused while it has a build in progress)
    /// on the Odoo commits of its last build. A staging rebuild takes a new
    /// copy of production.
    Rebuild {
        project: String,
        branch: String,
        /// On the newest commits of the project's Odoo sources (and the
        /// branch's own Odoo revision) instead.
        #[arg(long)]
        newest_odoo: bool,
    },
    /// Odoo from source: production's update onto the newest commits.
    #[command(subcommand)]
    Odoo(commands::odoo::OdooCommand),
    /// The build serving a project's production database.
    Production {
        project: String,
        #[arg(long)]
        json: bool,
    },
    /// Make a test duplicate of production: a neutralized copy at production's
    /// revision, served as its own build.
    Duplicate { project: String },
    /// Mail a build sent (caught by slipway; it never left the machine).
    Mails {
        build: i64,
        #[arg(long)]
        json: bool,
    },
    /// One caught mail, raw (RFC 5322), on stdout.
    Mail { build: i64, id: i64 },
    /// Dump a build's database: Odoo's zip (dump.sql, filestore, manifest.json),
    /// restorable by Odoo's database manager, or `--format dump` (pg_dump -Fc).
    Dump {
        build: i64,
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        #[arg(long, default_value = "zip", value_parser = ["zip", "dump"])]
        format: String,
    },
    /// Backups of production: create, list, restore, download, verify, settings.
    #[command(subcommand)]
    Backup(commands::backups::BackupCommand),
    /// Test instances: long-lived neutralized copies of production restored
    /// from a backup.
    #[command(subcommand)]
    Testinstance(commands::backups::TestInstanceCommand),
    /// Import an Odoo database-manager zip (Odoo Online, on-premise, Odoo.sh)
    /// as production, or into a staging branch or a test instance.
    Import {
        project: String,
        /// The zip (`dump.sql`, `manifest.json`, `filestore/`).
        file: PathBuf,
        /// Into this staging branch, neutralized.
        #[arg(long, conflicts_with = "testinstance")]
        branch: Option<String>,
        /// Into this test instance (made if it does not exist), neutralized.
        #[arg(long)]
        testinstance: Option<String>,
        /// Do not ask before replacing production (for scripts).
        #[arg(long)]
        yes: bool,
    },
    /// psql on a build's database as its owner (on the build's host); the
    /// arguments go to psql (`-c SQL`, `-tA`, ...).
    Psql {
        build: i64,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
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
        Command::User(command) => commands::users::run(command, server),
        Command::Branches { project, json } => commands::branches::list(&project, json, server),
        Command::Branch(command) => commands::branches::run(command, server),
        Command::Builds {
            project,
            branch,
            json,
        } => commands::builds::list(&project, branch.as_deref(), json, server),
        Command::Logs { build, follow } => commands::builds::logs(build, follow, server),
        Command::Start { build } => commands::builds::start(build, server),
        Command::Rebuild {
            project,
            branch,
            newest_odoo,
        } => commands::builds::rebuild(&project, &branch, newest_odoo, server),
        Command::Odoo(command) => commands::odoo::run(command, server),
        Command::Production { project, json } => {
            commands::deployments::production(&project, json, server)
        }
        Command::Duplicate { project } => commands::deployments::duplicate(&project, server),
        Command::Mails { build, json } => commands::deployments::mails(build, json, server),
        Command::Mail { build, id } => commands::deployments::mail(build, id, server),
        Command::Dump {
            build,
            output,
            format,
        } => commands::deployments::dump(build, &absolute(output), &format, server),
        Command::Psql { build, args } => commands::deployments::psql(build, &args, server),
        Command::Backup(command) => commands::backups::run(command, server),
        Command::Testinstance(command) => commands::backups::run_test_instance(command, server),
        Command::Import {
            project,
            file,
            branch,
            testinstance,
            yes,
        } => {
            commands::backups::import(&project, &absolute(file), branch, testinstance, yes, server)
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
