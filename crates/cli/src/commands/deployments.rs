//! Production and what comes out of builds: `slipway production`,
//! `duplicate`, `mails`, `mail`, `dump`, `psql`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use slipway_api::{Build, BuildDetail, MailSummary, Production};

use super::table;
use crate::client::{encode, print_json, Client, ServerArgs};

/// `slipway production NAME [--json]`.
pub fn production(project: &str, json: bool, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    let production: Production =
        client.get_json(&format!("/api/v1/projects/{}/production", encode(project)))?;
    if json {
        print_json(&production);
    } else {
        println!(
            "production of {project}: build #{} at {} ({}), {}",
            production.build,
            production.commit,
            table::optional(production.status),
            production.url
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `slipway duplicate NAME`: queues a test duplicate of production.
pub fn duplicate(project: &str, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    let build: Build =
        client.post_empty(&format!("/api/v1/projects/{}/duplicate", encode(project)))?;
    println!(
        "build #{} queued: a neutralized duplicate of {project}'s production at {}",
        build.id, build.commit
    );
    Ok(ExitCode::SUCCESS)
}

/// `slipway mails BUILD [--json]`.
pub fn mails(build: i64, json: bool, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    let mails: Vec<MailSummary> = client.get_json(&format!("/api/v1/builds/{build}/mails"))?;
    if json {
        print_json(&mails);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = mails
        .iter()
        .map(|mail| {
            vec![
                mail.id.to_string(),
                table::optional(mail.date.as_deref()),
                mail.from.clone(),
                mail.to.join(", "),
                mail.subject.clone(),
            ]
        })
        .collect();
    table::print(&["id", "date", "from", "to", "subject"], &rows);
    Ok(ExitCode::SUCCESS)
}

/// `slipway mail BUILD ID`: the raw message on stdout.
pub fn mail(build: i64, id: i64, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    let raw = client.get_bytes(&format!("/api/v1/builds/{build}/mails/{id}"))?;
    std::io::stdout().write_all(&raw)?;
    Ok(ExitCode::SUCCESS)
}

/// `slipway dump BUILD -o FILE [--format zip|dump]`.
pub fn dump(build: i64, out: &Path, format: &str, server: &ServerArgs) -> Result<ExitCode> {
    if !matches!(format, "zip" | "dump") {
        bail!("unknown dump format '{format}': use 'zip' (restorable by Odoo's database manager) or 'dump' (pg_dump -Fc)");
    }
    let client = Client::connect(server)?;
    let bytes = client.download(&format!("/api/v1/builds/{build}/dump?format={format}"), out)?;
    eprintln!(
        "dump of build #{build} written to {} ({bytes} bytes)",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `slipway psql BUILD [ARGS...]`: psql on the build's database as its own
/// role. Runs on the host of the build (it reads the build's Odoo
/// configuration for the role's password, which never crosses the API).
pub fn psql(build: i64, args: &[String], server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    let detail: BuildDetail = client.get_json(&format!("/api/v1/builds/{build}"))?;
    let database = detail.database.as_deref().ok_or_else(|| {
        anyhow!("build #{build} has no database (it was never kept, or it was collected after being stopped)")
    })?;
    let engine_id = slipway_engine::build_of_database(database).ok_or_else(|| {
        anyhow!("build #{build}'s database '{database}' is not a slipway build database")
    })?;
    let layout = slipway_engine::Layout::from_env();
    let config = layout.build(engine_id).config();
    let text = std::fs::read_to_string(&config).with_context(|| {
        format!(
            "build #{build} does not run on this host ({} is missing): run `slipway psql` on the worker's host",
            config.display()
        )
    })?;
    let option = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(" = "))
            .map(str::to_string)
            .ok_or_else(|| anyhow!("{} has no {key}", config.display()))
    };
    let (user, password, mut host, port) = (
        option("db_user")?,
        option("db_password")?,
        option("db_host")?,
        option("db_port")?,
    );
    if host.starts_with('/') {
        // The sandbox's mount of the embedded cluster's socket directory.
        host = crate::setup::embedded_cluster(&layout)?
            .socket_dir()
            .display()
            .to_string();
    }
    let psql = crate::setup::pg_binaries()?.program("psql");
    let status = std::process::Command::new(&psql)
        .args(args)
        .env("PGHOST", host)
        .env("PGPORT", port)
        .env("PGUSER", user)
        .env("PGDATABASE", database)
        // Never on the command line, where `ps` would show it.
        .env("PGPASSWORD", password)
        .status()
        .with_context(|| format!("running {}", psql.display()))?;
    Ok(ExitCode::from(
        status.code().unwrap_or(2).clamp(0, 255) as u8
    ))
}
