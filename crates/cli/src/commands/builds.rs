//! `slipway builds NAME [--branch B]`, `slipway rebuild NAME BRANCH
//! [--newest-odoo]`, `slipway logs BUILD [--follow]`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use slipway_api::{Build, BuildDetail, BuildState, ByteSize, RebuildRequest};

use super::table;
use crate::client::{encode, print_json, Client, ServerArgs};

const FOLLOW_PAUSE: Duration = Duration::from_millis(500);

pub fn list(
    project: &str,
    branch: Option<&str>,
    json: bool,
    server: &ServerArgs,
) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    let mut path = format!("/api/v1/projects/{}/builds", encode(project));
    if let Some(branch) = branch {
        path.push_str(&format!("?branch={}", encode(branch)));
    }
    let builds: Vec<Build> = client.get_json(&path)?;
    if json {
        print_json(&builds);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = builds
        .iter()
        .map(|b| {
            vec![
                b.id.to_string(),
                b.branch.clone(),
                if b.duplicate {
                    "duplicate".to_string()
                } else {
                    b.stage.to_string()
                },
                table::short_commit(&b.commit).to_string(),
                b.state.to_string(),
                table::optional(b.status),
                slipway_api::timestamp::format(b.created_at),
                table::optional(b.url.as_deref()),
                table::optional(b.disk.map(|disk| ByteSize(disk.total_bytes()))),
            ]
        })
        .collect();
    table::print(
        &[
            "id", "branch", "stage", "commit", "state", "status", "created", "url", "disk",
        ],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

pub fn rebuild(
    project: &str,
    branch: &str,
    newest_odoo: bool,
    server: &ServerArgs,
) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    let build: Build = client.post_json(
        &format!("/api/v1/projects/{}/rebuild", encode(project)),
        &RebuildRequest {
            branch: branch.to_string(),
            newest_odoo,
        },
    )?;
    println!("build #{} of {project}/{branch} queued", build.id);
    if newest_odoo && !build.sources.is_empty() {
        println!("on the newest Odoo:");
        super::odoo::print_sources(&build);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn start(build: i64, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    client.post_empty::<Build>(&format!("/api/v1/builds/{build}/start"))?;
    println!("build #{build}: start requested; its worker serves it again in a moment");
    Ok(ExitCode::SUCCESS)
}

pub fn logs(build: i64, follow: bool, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    let mut offset: u64 = 0;
    loop {
        let (text, next) =
            client.get_text(&format!("/api/v1/builds/{build}/log?offset={offset}"))?;
        print!("{text}");
        let _ = std::io::stdout().flush();
        offset = next
            .and_then(|n| n.parse().ok())
            .unwrap_or(offset + text.len() as u64);
        if !follow {
            return Ok(ExitCode::SUCCESS);
        }
        let detail: BuildDetail = client.get_json(&format!("/api/v1/builds/{build}"))?;
        let finished = !matches!(
            detail.build.state,
            BuildState::Pending | BuildState::Running
        );
        // Once finished, read until nothing is left: the last lines may have come
        // after the previous read.
        if finished && text.is_empty() {
            let (rest, _) =
                client.get_text(&format!("/api/v1/builds/{build}/log?offset={offset}"))?;
            print!("{rest}");
            return Ok(ExitCode::SUCCESS);
        }
        if text.is_empty() {
            std::thread::sleep(FOLLOW_PAUSE);
        }
    }
}
