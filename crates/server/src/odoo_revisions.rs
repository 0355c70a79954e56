//! Which commits of a project's Odoo sources a queued build runs, resolved
//! when it is queued (the remote asked, nothing fetched) and recorded with it.
//!
//! As on Odoo.sh: a branch follows its sources (their branch heads) or pins
//! a commit — a branch's own pin of Odoo first, else the project's revision.
//! Production never changes its Odoo by itself: its builds keep the commits
//! of the serving production build until an explicit Odoo update.

use slipway_control::{Branch, BuildSource, ControlError, Project, SourceKind, Stage};
use slipway_sources::{resolve_remote, SourceSpec};
use tokio_postgres::Client;

/// Which commits a build takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revisions {
    /// The usual: production keeps its Odoo, other stages follow.
    Usual,
    /// Every source resolved anew, production too (an explicit update).
    Newest,
}

/// Why a build's sources could not be resolved, as its reason says it.
#[derive(Debug, thiserror::Error)]
pub enum RevisionError {
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("the Odoo sources could not be resolved: {0}")]
    Source(String),
}

/// The sources at exact commits for a build of `branch`.
pub async fn for_branch(
    client: &Client,
    project: &Project,
    branch: &Branch,
    revisions: Revisions,
) -> Result<Vec<BuildSource>, RevisionError> {
    let configured = &project.settings.odoo_sources;
    if configured.is_empty() {
        return Ok(Vec::new());
    }
    if branch.stage == Stage::Production && revisions == Revisions::Usual {
        if let Some(serving) = slipway_control::production_build(client, project.id).await? {
            if same_sources(&serving.sources, project) {
                return Ok(serving.sources);
            }
        }
    }
    let specs = specs(project, branch).map_err(RevisionError::Source)?;
    tokio::task::spawn_blocking(move || {
        specs
            .into_iter()
            .map(|spec| {
                let resolved = resolve_remote(&spec.remote, &spec.rev)
                    .map_err(|error| RevisionError::Source(error.to_string()))?;
                Ok(BuildSource {
                    kind: spec.kind,
                    name: spec.name,
                    url: spec.remote.plain().to_string(),
                    commit: resolved.commit,
                    branch: resolved.branch,
                })
            })
            .collect()
    })
    .await
    .map_err(|error| RevisionError::Source(error.to_string()))?
}

/// The project's sources at the revisions `branch` asks for.
fn specs(project: &Project, branch: &Branch) -> Result<Vec<SourceSpec>, String> {
    project
        .settings
        .odoo_sources
        .iter()
        .map(|source| {
            let rev = match source.kind {
                SourceKind::Odoo => branch.odoo_rev.as_deref().or(source.rev.as_deref()),
                _ => source.rev.as_deref(),
            };
            SourceSpec::new(source.kind, &source.url, rev, &project.odoo)
                .map_err(|error| error.to_string())
        })
        .collect()
}

/// Whether `sources` are the project's current repositories (a change of the
/// project's repositories is an explicit change of production's Odoo).
fn same_sources(sources: &[BuildSource], project: &Project) -> bool {
    let configured: Vec<String> = project
        .settings
        .odoo_sources
        .iter()
        .filter_map(|source| slipway_sources::Remote::parse(&source.url).ok())
        .map(|remote| remote.plain().to_string())
        .collect();
    let recorded: Vec<&str> = sources.iter().map(|source| source.url.as_str()).collect();
    configured.len() == recorded.len() && configured.iter().zip(&recorded).all(|(a, b)| a == b)
}
