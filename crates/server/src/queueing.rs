//! From "branch X of project P is at commit C" to a queued build: which heads
//! build, as what, and when. The watcher (after a poll or a webhook), adding
//! a project and changing a branch's stage all ask this module.
//!
//! As on Odoo.sh: a push builds after the project's quiet period; a new
//! project builds its production branch at once (that creates the production
//! database) and its staging branches after it; a branch made staging (or
//! production) builds at once; development branches wait for a push or a
//! rebuild. Staging copies production, so the queue starts a staging build
//! only once no production build of its project is pending or running.

use std::time::Duration;

use slipway_control::{Branch, BranchChanges, ControlError, Project, Stage};
use tokio_postgres::Client;

/// Queues the heads a poll found new or moved, after the quiet period, and
/// the heads an interrupted earlier poll recorded without queuing.
pub async fn queue_pushed(
    client: &Client,
    project: &Project,
    changes: &BranchChanges,
) -> Result<(), ControlError> {
    let quiet = quiet_period(project);
    for branch in changes.to_build() {
        queue_head(client, project, branch, quiet, "build queued after a push").await?;
    }
    for branch in slipway_control::unbuilt_heads(client, project.id).await? {
        queue_head(
            client,
            project,
            &branch,
            quiet,
            "catching up an unbuilt head",
        )
        .await?;
    }
    Ok(())
}

/// Queues a new project's first builds: production's head, then each
/// staging branch's head (they copy production).
pub async fn queue_new_project(
    client: &Client,
    project: &Project,
    branches: &[Branch],
) -> Result<(), ControlError> {
    for stage in [Stage::Production, Stage::Staging] {
        for branch in branches.iter().filter(|branch| branch.stage == stage) {
            queue_head(
                client,
                project,
                branch,
                Duration::ZERO,
                "first build of a new project",
            )
            .await?;
        }
    }
    Ok(())
}

/// Queues a branch that was just made staging or production, at once; a
/// branch made development waits for its next push.
pub async fn queue_restaged(
    client: &Client,
    project: &Project,
    branch: &Branch,
) -> Result<(), ControlError> {
    if branch.stage == Stage::Development {
        return Ok(());
    }
    queue_head(
        client,
        project,
        branch,
        Duration::ZERO,
        "build queued for a new stage",
    )
    .await
}

async fn queue_head(
    client: &Client,
    project: &Project,
    branch: &Branch,
    delay: Duration,
    why: &'static str,
) -> Result<(), ControlError> {
    let Some(head) = &branch.head else {
        return Ok(());
    };
    let build =
        slipway_control::enqueue(client, project.id, branch.id, head, branch.stage, delay).await?;
    tracing::info!(
        project = %project.name,
        branch = %branch.name,
        stage = branch.stage.as_str(),
        build = build.id,
        commit = %head,
        "{why}"
    );
    Ok(())
}

fn quiet_period(project: &Project) -> Duration {
    Duration::from_secs(u64::try_from(project.settings.quiet_period_s.max(0)).unwrap_or(10))
}
