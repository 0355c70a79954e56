//! Backups of production, restores, test instances and imports:
//! `slipway backup create|list|restore|download|verify|settings`,
//! `slipway testinstance create|refresh|list|remove`, `slipway import`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Subcommand;
use slipway_api::{
    Backup, BackupSettings, BackupState, Build, ByteSize, RestoreTarget, TestInstance,
    TestInstanceRequest, Verification,
};

use super::table;
use crate::client::{encode, print_json, Client, ServerArgs};

/// How long `backup create` and `import` wait for the worker.
const WAIT_LIMIT: Duration = Duration::from_secs(6 * 3600);
const POLL: Duration = Duration::from_millis(500);

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Take a backup of production now, and wait until it is on disk.
    Create {
        project: String,
        /// Do not wait: print the requested backup's id.
        #[arg(long)]
        no_wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// The project's backups, newest first.
    List {
        project: String,
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup into production (current state backed up first;
    /// rolled back if anything fails), a staging branch or a test instance.
    Restore {
        project: String,
        id: i64,
        /// Into this staging branch instead of production.
        #[arg(long, conflicts_with = "testinstance")]
        branch: Option<String>,
        /// Into this test instance (made if it does not exist).
        #[arg(long)]
        testinstance: Option<String>,
        /// Do not ask before replacing production (for scripts).
        #[arg(long)]
        yes: bool,
    },
    /// Download a backup as Odoo's database manager zip.
    Download {
        project: String,
        id: i64,
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
    },
    /// Restore-test a backup again.
    Verify { project: String, id: i64 },
    /// When the daily backup runs (UTC) and how many backups are kept.
    Settings {
        project: String,
        /// `HH:MM`, UTC.
        #[arg(long)]
        daily_at: Option<String>,
        #[arg(long)]
        keep_daily: Option<u32>,
        #[arg(long)]
        keep_weekly: Option<u32>,
        #[arg(long)]
        keep_monthly: Option<u32>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum TestInstanceCommand {
    /// A new test instance: a neutralized copy of production from the newest
    /// verified backup (or `--backup ID`), served as its own build.
    Create {
        project: String,
        name: String,
        #[arg(long)]
        backup: Option<i64>,
    },
    /// Restore it again from the newest verified backup (or `--backup ID`).
    Refresh {
        project: String,
        name: String,
        #[arg(long)]
        backup: Option<i64>,
    },
    List {
        project: String,
        #[arg(long)]
        json: bool,
    },
    Remove {
        project: String,
        name: String,
    },
}

pub fn run(command: BackupCommand, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    match command {
        BackupCommand::Create {
            project,
            no_wait,
            json,
        } => {
            let requested: Backup =
                client.post_empty(&format!("/api/v1/projects/{}/backups", encode(&project)))?;
            if no_wait {
                return show(&requested, json);
            }
            eprintln!(
                "backup #{} requested; the worker serving production takes it",
                requested.id
            );
            let done = wait_for_backup(&client, &project, requested.id)?;
            show(&done, json)
        }
        BackupCommand::List { project, json } => {
            let backups: Vec<Backup> =
                client.get_json(&format!("/api/v1/projects/{}/backups", encode(&project)))?;
            if json {
                print_json(&backups);
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = backups.iter().map(row).collect();
            table::print(
                &["id", "kind", "created", "size", "verified", "state"],
                &rows,
            );
            let failed: Vec<String> = backups
                .iter()
                .filter(|b| b.verified == Verification::Failed)
                .map(|b| format!("#{}: {}", b.id, b.reason.as_deref().unwrap_or("failed")))
                .collect();
            if !failed.is_empty() {
                eprintln!(
                    "WARNING: these backups cannot be restored:\n  {}",
                    failed.join("\n  ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Restore {
            project,
            id,
            branch,
            testinstance,
            yes,
        } => {
            let target = target(branch, testinstance);
            if target == RestoreTarget::Production && !yes {
                confirm(&format!(
                    "Restore backup #{id} into the production of {project}? Production's current state is backed up first, and it serves again if the restore fails."
                ))?;
            }
            let build: Build = client.post_json(
                &format!("/api/v1/projects/{}/backups/{id}/restore", encode(&project)),
                &target,
            )?;
            println!(
                "build #{} queued: restores backup #{id} ({})",
                build.id,
                describe(&target)
            );
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Download {
            project,
            id,
            output,
        } => {
            let out = crate::absolute(output);
            let bytes = client.download(
                &format!(
                    "/api/v1/projects/{}/backups/{id}/download",
                    encode(&project)
                ),
                &out,
            )?;
            eprintln!(
                "backup #{id} written to {} ({})",
                out.display(),
                ByteSize(bytes)
            );
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Verify { project, id } => {
            let backup: Backup = client.post_empty(&format!(
                "/api/v1/projects/{}/backups/{id}/verify",
                encode(&project)
            ))?;
            println!("backup #{} will be restore-tested again", backup.id);
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Settings {
            project,
            daily_at,
            keep_daily,
            keep_weekly,
            keep_monthly,
            json,
        } => {
            let path = format!("/api/v1/projects/{}/backup-settings", encode(&project));
            let mut settings: BackupSettings = client.get_json(&path)?;
            let changed = daily_at.is_some()
                || keep_daily.is_some()
                || keep_weekly.is_some()
                || keep_monthly.is_some();
            if let Some(text) = daily_at {
                settings.daily_at_minute =
                    BackupSettings::parse_daily_at(&text).ok_or_else(|| {
                        anyhow::anyhow!(
                            "--daily-at '{text}' is not a time: give HH:MM, in UTC (e.g. 03:00)"
                        )
                    })?;
            }
            settings.daily = keep_daily.unwrap_or(settings.daily);
            settings.weekly = keep_weekly.unwrap_or(settings.weekly);
            settings.monthly = keep_monthly.unwrap_or(settings.monthly);
            if changed {
                settings = client.put_json(&path, &settings)?;
            }
            if json {
                print_json(&settings);
            } else {
                println!(
                    "daily backup at {} UTC; kept: {} daily, {} weekly, {} monthly; manual {} days, pre-update {} days, imports {} days",
                    settings.daily_at(),
                    settings.daily,
                    settings.weekly,
                    settings.monthly,
                    settings.manual_days,
                    settings.pre_update_days,
                    settings.import_days
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn run_test_instance(command: TestInstanceCommand, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    match command {
        TestInstanceCommand::Create {
            project,
            name,
            backup,
        } => {
            let build: Build = client.post_json(
                &format!("/api/v1/projects/{}/testinstances", encode(&project)),
                &TestInstanceRequest {
                    name: name.clone(),
                    backup,
                },
            )?;
            println!("test instance '{name}': build #{} queued", build.id);
            Ok(ExitCode::SUCCESS)
        }
        TestInstanceCommand::Refresh {
            project,
            name,
            backup,
        } => {
            let build: Build = client.post_json(
                &format!(
                    "/api/v1/projects/{}/testinstances/{}/refresh",
                    encode(&project),
                    encode(&name)
                ),
                &serde_json::json!({ "backup": backup }),
            )?;
            println!(
                "test instance '{name}': build #{} queued to refresh it",
                build.id
            );
            Ok(ExitCode::SUCCESS)
        }
        TestInstanceCommand::List { project, json } => {
            let instances: Vec<TestInstance> = client.get_json(&format!(
                "/api/v1/projects/{}/testinstances",
                encode(&project)
            ))?;
            if json {
                print_json(&instances);
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = instances
                .iter()
                .map(|instance| {
                    vec![
                        instance.name.clone(),
                        table::optional(instance.build.map(|id| format!("#{id}"))),
                        table::optional(instance.state),
                        table::optional(instance.backup.map(|id| format!("#{id}"))),
                        table::optional(instance.url.as_deref()),
                    ]
                })
                .collect();
            table::print(&["name", "build", "state", "backup", "url"], &rows);
            Ok(ExitCode::SUCCESS)
        }
        TestInstanceCommand::Remove { project, name } => {
            client.delete(&format!(
                "/api/v1/projects/{}/testinstances/{}",
                encode(&project),
                encode(&name)
            ))?;
            println!("test instance '{name}' removed");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `slipway import PROJECT FILE.zip [--branch B | --testinstance NAME] [--yes]`:
/// uploads the zip, waits until a worker checked and loaded it, then
/// restores it where it goes (production by default).
pub fn import(
    project: &str,
    file: &Path,
    branch: Option<String>,
    testinstance: Option<String>,
    yes: bool,
    server: &ServerArgs,
) -> Result<ExitCode> {
    let name = file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "upload.zip".into());
    if !file.is_file() {
        bail!(
            "{} is not a file: give the path of a zip made by Odoo's database manager",
            file.display()
        );
    }
    let target = target(branch, testinstance);
    if target == RestoreTarget::Production && !yes {
        confirm(&format!(
            "Import {name} as the production database of {project}?"
        ))?;
    }
    let client = Client::connect(server)?;
    let uploaded: Backup = client.upload(
        &format!(
            "/api/v1/projects/{}/imports?file={}",
            encode(project),
            encode(&name)
        ),
        file,
    )?;
    eprintln!(
        "{name} uploaded; checking and loading it (backup #{})",
        uploaded.id
    );
    let backup = wait_for_backup(&client, project, uploaded.id)?;
    let build: Build = client.post_json(
        &format!(
            "/api/v1/projects/{}/backups/{}/restore",
            encode(project),
            backup.id
        ),
        &target,
    )?;
    println!(
        "{name} imported as backup #{}; build #{} queued ({})",
        backup.id,
        build.id,
        describe(&target)
    );
    Ok(ExitCode::SUCCESS)
}

/// Follows backup `id` until it is made (or refused).
fn wait_for_backup(client: &Client, project: &str, id: i64) -> Result<Backup> {
    let started = Instant::now();
    loop {
        let backup: Backup = client.get_json(&format!(
            "/api/v1/projects/{}/backups/{id}",
            encode(project)
        ))?;
        match backup.state {
            BackupState::Done => return Ok(backup),
            BackupState::Failed | BackupState::Deleted => bail!(
                "backup #{id} was not made: {}",
                backup.reason.as_deref().unwrap_or("no reason recorded")
            ),
            BackupState::Requested | BackupState::Running => {}
        }
        if started.elapsed() > WAIT_LIMIT {
            bail!(
                "backup #{id} is still {} after {} hours; see `slipway backup list {project}`",
                backup.state,
                WAIT_LIMIT.as_secs() / 3600
            );
        }
        std::thread::sleep(POLL);
    }
}

fn show(backup: &Backup, json: bool) -> Result<ExitCode> {
    if json {
        print_json(backup);
    } else {
        table::print(
            &["id", "kind", "created", "size", "verified", "state"],
            &[row(backup)],
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn row(backup: &Backup) -> Vec<String> {
    vec![
        backup.id.to_string(),
        backup.kind.to_string(),
        slipway_api::timestamp::format(backup.created_at),
        table::optional(backup.size_bytes.map(ByteSize)),
        backup.verified.to_string(),
        backup.state.to_string(),
    ]
}

/// Where `--branch` or `--testinstance` say; production without either.
fn target(branch: Option<String>, testinstance: Option<String>) -> RestoreTarget {
    match (branch, testinstance) {
        (Some(branch), _) => RestoreTarget::Branch { branch },
        (None, Some(name)) => RestoreTarget::TestInstance { name },
        (None, None) => RestoreTarget::Production,
    }
}

fn describe(target: &RestoreTarget) -> String {
    match target {
        RestoreTarget::Production => "into production".into(),
        RestoreTarget::Branch { branch } => format!("into staging branch '{branch}'"),
        RestoreTarget::TestInstance { name } => format!("into test instance '{name}'"),
    }
}

/// Asks on the terminal; without one, refuses and says to pass `--yes`.
fn confirm(question: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("{question}\nNot asked: no terminal. Pass --yes to confirm from a script.");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        bail!("not confirmed: nothing was done")
    }
}
