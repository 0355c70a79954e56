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

use std::collections::HashMap;

use slipway_control::{
    Branch, BranchChanges, Build, BuildSource, BuildState, ControlError, OdooFollow, Project, Stage,
};
use time::OffsetDateTime;

use axum::http::StatusCode;

use crate::odoo_revisions::{self, RevisionError, Revisions};
use crate::ApiError;
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

/// Queues the production branch's head on the newest commits of the
/// project's Odoo sources: production's Odoo changes only this way, as an
/// update with its snapshot and rollback.
pub async fn queue_odoo_update(client: &Client, project: &Project) -> Result<Build, ApiError> {
    let branch = slipway_control::get_branch(client, project, None).await?;
    let build = queue(
        client,
        project,
        &branch,
        Duration::ZERO,
        Revisions::Newest,
        "Odoo update queued",
    )
    .await?
    .ok_or_else(|| ControlError::NothingToBuild {
        project: project.name.clone(),
        branch: branch.name.clone(),
    })?;
    Ok(build)
}

/// Queues a rebuild of the branch's head: on the Odoo commits of its newest
/// build, or (`newest_odoo`, or when that build recorded none while the
/// project has sources: a first rebuild, a build failed when queued) on
/// commits resolved now.
pub async fn queue_rebuild(
    client: &Client,
    project: &Project,
    branch: &str,
    newest_odoo: bool,
) -> Result<Build, ApiError> {
    let last_sources = slipway_control::list_branches(client, &project.name)
        .await?
        .into_iter()
        .find(|summary| summary.name == branch)
        .and_then(|summary| summary.last_build)
        .map(|build| build.sources)
        .unwrap_or_default();
    let resolve =
        newest_odoo || (!project.settings.odoo_sources.is_empty() && last_sources.is_empty());
    let sources = if resolve {
        let found = slipway_control::get_branch(client, project, Some(branch)).await?;
        let revisions = if newest_odoo {
            Revisions::Newest
        } else {
            Revisions::Usual
        };
        match odoo_revisions::for_branch(client, project, &found, revisions).await {
            Ok(sources) => Some(sources),
            Err(RevisionError::Control(error)) => return Err(error.into()),
            Err(error @ RevisionError::Source(_)) => {
                return Err(ApiError::new(StatusCode::BAD_GATEWAY, error.to_string()))
            }
        }
    } else {
        None
    };
    Ok(slipway_control::rebuild(client, &project.name, branch, sources.as_deref()).await?)
}

async fn queue_head(
    client: &Client,
    project: &Project,
    branch: &Branch,
    delay: Duration,
    why: &'static str,
) -> Result<(), ControlError> {
    queue(client, project, branch, delay, Revisions::Usual, why).await?;
    Ok(())
}

/// Queues the branch's head with the Odoo commits `revisions` asks for; a
/// source that cannot be resolved fails the queued build, saying why.
async fn queue(
    client: &Client,
    project: &Project,
    branch: &Branch,
    delay: Duration,
    revisions: Revisions,
    why: &'static str,
) -> Result<Option<Build>, ControlError> {
    let Some(head) = &branch.head else {
        return Ok(None);
    };
    let (sources, unresolved) =
        match odoo_revisions::for_branch(client, project, branch, revisions).await {
            Ok(sources) => (sources, None),
            Err(RevisionError::Control(error)) => return Err(error),
            Err(error @ RevisionError::Source(_)) => (Vec::new(), Some(error.to_string())),
        };
    let build = slipway_control::enqueue(
        client,
        project.id,
        branch.id,
        head,
        branch.stage,
        delay,
        &sources,
    )
    .await?;
    if let Some(reason) = unresolved {
        tracing::warn!(project = %project.name, branch = %branch.name, build = build.id, %reason, "build failed when queued");
        slipway_control::fail_pending(client, build.id, &reason).await?;
        return Ok(Some(build));
    }
    tracing::info!(
        project = %project.name,
        branch = %branch.name,
        stage = branch.stage.as_str(),
        build = build.id,
        commit = %head,
        "{why}"
    );
    Ok(Some(build))
}

/// Development and staging branches whose newest build ran on other commits
/// than their followed Odoo sources have now build again, as the project's
/// follow policy says (at once, or at most once a day). Production never
/// does: its Odoo changes by an explicit update only.
pub async fn queue_moved_sources(client: &Client, project: &Project) -> Result<(), ControlError> {
    let follow = project.settings.odoo_follow;
    if project.settings.odoo_sources.is_empty() || follow == OdooFollow::Never {
        return Ok(());
    }
    // Branches that pin the same revision move together: one resolution each.
    let mut resolved: HashMap<Option<String>, Vec<BuildSource>> = HashMap::new();
    for summary in slipway_control::list_branches(client, &project.name).await? {
        let Some(last) = summary
            .last_build
            .filter(|_| summary.stage != Stage::Production)
        else {
            continue;
        };
        let waiting = matches!(last.state, BuildState::Pending | BuildState::Running);
        let recent = OffsetDateTime::now_utc() - last.created_at < time::Duration::DAY;
        if waiting || (follow == OdooFollow::Daily && recent) {
            continue;
        }
        let branch = slipway_control::get_branch(client, project, Some(&summary.name)).await?;
        let fresh = match resolved.get(&branch.odoo_rev) {
            Some(fresh) => fresh.clone(),
            None => {
                match odoo_revisions::for_branch(client, project, &branch, Revisions::Usual).await {
                    Ok(fresh) => resolved
                        .entry(branch.odoo_rev.clone())
                        .or_insert(fresh)
                        .clone(),
                    Err(RevisionError::Control(error)) => return Err(error),
                    // Said when a push queues a build; a poll keeps quiet.
                    Err(RevisionError::Source(_)) => continue,
                }
            }
        };
        let commits = |sources: &[BuildSource]| -> Vec<(String, String)> {
            sources
                .iter()
                .map(|s| (s.name.clone(), s.commit.clone()))
                .collect()
        };
        if commits(&fresh) != commits(&last.sources) {
            queue(
                client,
                project,
                &branch,
                quiet_period(project),
                Revisions::Usual,
                "build queued: a followed Odoo source moved",
            )
            .await?;
        }
    }
    Ok(())
}

fn quiet_period(project: &Project) -> Duration {
    Duration::from_secs(u64::try_from(project.settings.quiet_period_s.max(0)).unwrap_or(10))
}
