//! `slipway builds NAME [--branch B]`, `slipway rebuild NAME BRANCH`,
//! `slipway logs BUILD [--follow]`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use super::table;
use crate::client::{encode, Client, ServerArgs};

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
    let builds = client.get(&path)?;
    if json {
        println!("{builds}");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = builds
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            let commit = b["commit"]
                .as_str()
                .map(|c| c[..c.len().min(12)].to_string())
                .unwrap_or_default();
            vec![
                table::cell(&b["id"]),
                table::cell(&b["branch"]),
                if b["duplicate"] == true {
                    "duplicate".to_string()
                } else {
                    table::cell(&b["stage"])
                },
                commit,
                table::cell(&b["state"]),
                table::cell(&b["status"]),
                table::cell(&b["created_at"]),
                table::cell(&b["url"]),
            ]
        })
        .collect();
    table::print(
        &[
            "id", "branch", "stage", "commit", "state", "status", "created", "url",
        ],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

pub fn rebuild(project: &str, branch: &str, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    let build = client.post(
        &format!("/api/v1/projects/{}/rebuild", encode(project)),
        json!({"branch": branch}),
    )?;
    println!("build #{} of {project}/{branch} queued", build["id"]);
    Ok(ExitCode::SUCCESS)
}

pub fn start(build: i64, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    client.post(&format!("/api/v1/builds/{build}/start"), json!({}))?;
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
        let state = client.get(&format!("/api/v1/builds/{build}"))?;
        let finished = !matches!(state["state"].as_str(), Some("pending" | "running"));
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
