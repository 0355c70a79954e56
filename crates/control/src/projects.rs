//! Projects: a repository, the Odoo it runs on, and how it is built.

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Row};

use crate::builds::{build_columns, build_from_row};
use crate::error::violated_constraint;
use crate::parse_column;
use crate::{Build, ControlError};
use slipway_api::{OdooFollow, OdooSource, ProjectLimits};

/// A project as stored. Its `Debug` hides the webhook secret.
#[derive(Clone, PartialEq)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub repo_url: String,
    /// The Odoo version (or image) the project builds on, e.g. `17.0`.
    pub odoo: String,
    pub production_branch: String,
    pub webhook_secret: String,
    pub settings: ProjectSettings,
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Project")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("repo_url", &self.repo_url)
            .field("odoo", &self.odoo)
            .field("production_branch", &self.production_branch)
            .field("webhook_secret", &"<hidden>")
            .field("settings", &self.settings)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// How a project is polled, built and kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectSettings {
    /// Seconds between two polls of the repository.
    pub poll_interval_s: i32,
    /// Seconds a push waits before its build may start; a newer push in that
    /// time replaces it.
    pub quiet_period_s: i32,
    /// Serving development builds kept per branch.
    pub dev_builds_kept: i32,
    /// Modules to install; `None`: every module of the repository.
    pub modules: Option<Vec<String>>,
    /// Odoo's `--test-tags`; `None`: Odoo's default.
    pub test_tags: Option<String>,
    /// Patterns of changed paths that do not trigger a build.
    pub ignore_rules: Vec<String>,
    /// Production and staging updates run `-u all`, not only changed modules.
    pub update_all: bool,
    /// Where staging databases come from.
    pub staging_source: StagingSource,
    /// Where a commit's changes are shown, `{commit}` standing for its hash.
    pub commit_url: Option<String>,
    /// The repositories Odoo comes from, Odoo's own first; empty: Debian's
    /// packaged Odoo of the project's series.
    pub odoo_sources: Vec<OdooSource>,
    /// What development and staging branches do when a followed source moves.
    pub odoo_follow: OdooFollow,
    /// Its builds' memory per stage and egress allow-list, beyond the
    /// worker's defaults.
    pub limits: ProjectLimits,
}

/// Where a staging build's database comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StagingSource {
    /// A fresh copy of production for every build (Odoo.sh's default).
    Production,
    /// The branch's previous staging build, updated.
    Previous,
}

impl StagingSource {
    pub fn as_str(self) -> &'static str {
        match self {
            StagingSource::Production => "production",
            StagingSource::Previous => "previous",
        }
    }
}

impl std::str::FromStr for StagingSource {
    type Err = ControlError;

    fn from_str(text: &str) -> Result<StagingSource, ControlError> {
        match text {
            "production" => Ok(StagingSource::Production),
            "previous" => Ok(StagingSource::Previous),
            other => Err(ControlError::Invalid(slipway_api::InvalidValue {
                what: "staging source",
                value: other.to_string(),
                expected: "'production' 'previous'",
            })),
        }
    }
}

impl Default for ProjectSettings {
    /// The schema's defaults.
    fn default() -> ProjectSettings {
        ProjectSettings {
            poll_interval_s: 60,
            quiet_period_s: 10,
            dev_builds_kept: 2,
            modules: None,
            test_tags: None,
            ignore_rules: Vec::new(),
            update_all: false,
            staging_source: StagingSource::Production,
            commit_url: None,
            odoo_sources: Vec::new(),
            odoo_follow: OdooFollow::OnChange,
            limits: ProjectLimits::default(),
        }
    }
}

/// What [`add_project`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProject {
    pub name: String,
    pub repo_url: String,
    pub odoo: String,
    pub production_branch: String,
    pub webhook_secret: String,
    pub settings: ProjectSettings,
}

/// A change to a project: `None` leaves a field as it is. For nullable fields,
/// `Some(None)` clears them. The production branch is changed through
/// [`crate::promote_to_production`], not here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectUpdate {
    pub repo_url: Option<String>,
    pub odoo: Option<String>,
    pub webhook_secret: Option<String>,
    pub poll_interval_s: Option<i32>,
    pub quiet_period_s: Option<i32>,
    pub dev_builds_kept: Option<i32>,
    pub modules: Option<Option<Vec<String>>>,
    pub test_tags: Option<Option<String>>,
    pub ignore_rules: Option<Vec<String>>,
    pub update_all: Option<bool>,
    pub staging_source: Option<StagingSource>,
    pub commit_url: Option<Option<String>>,
    pub odoo_sources: Option<Vec<OdooSource>>,
    pub odoo_follow: Option<OdooFollow>,
    pub limits: Option<ProjectLimits>,
}

/// A removed project and the builds that had an instance (running or serving)
/// when it was removed: their sandboxes and databases are the caller's to clean.
#[derive(Debug, Clone, PartialEq)]
pub struct RemovedProject {
    pub project: Project,
    pub live_builds: Vec<Build>,
}

macro_rules! project_columns {
    () => {
        concat!(
            "id, name, repo_url, odoo, production_branch, webhook_secret, poll_interval_s, ",
            "quiet_period_s, dev_builds_kept, modules, test_tags, ignore_rules, update_all, staging_source, ",
            "commit_url, odoo_sources::text AS odoo_sources, odoo_follow, limits::text AS limits, ",
            "created_at"
        )
    };
}

fn project_from_row(row: &Row) -> Result<Project, ControlError> {
    Ok(Project {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        repo_url: row.try_get("repo_url")?,
        odoo: row.try_get("odoo")?,
        production_branch: row.try_get("production_branch")?,
        webhook_secret: row.try_get("webhook_secret")?,
        settings: ProjectSettings {
            poll_interval_s: row.try_get("poll_interval_s")?,
            quiet_period_s: row.try_get("quiet_period_s")?,
            dev_builds_kept: row.try_get("dev_builds_kept")?,
            modules: row.try_get("modules")?,
            test_tags: row.try_get("test_tags")?,
            ignore_rules: row.try_get("ignore_rules")?,
            update_all: row.try_get("update_all")?,
            staging_source: crate::parse_column(row, "staging_source")?,
            commit_url: row.try_get("commit_url")?,
            odoo_sources: crate::json_column(row, "odoo_sources")?,
            odoo_follow: parse_column(row, "odoo_follow")?,
            limits: crate::json_column(row, "limits")?,
        },
        created_at: row.try_get("created_at")?,
    })
}

/// Maps the violations of the projects table's named constraints.
fn project_error(name: &str, error: tokio_postgres::Error) -> ControlError {
    if violated_constraint(&error, &SqlState::UNIQUE_VIOLATION) == Some("projects_name_unique") {
        return ControlError::ProjectExists(name.to_string());
    }
    match violated_constraint(&error, &SqlState::CHECK_VIOLATION) {
        Some("projects_name_valid") => ControlError::InvalidProjectName(name.to_string()),
        Some("projects_poll_interval_positive") => {
            ControlError::InvalidSetting("the poll interval must be at least 1 second")
        }
        Some("projects_quiet_period_not_negative") => {
            ControlError::InvalidSetting("the quiet period cannot be negative")
        }
        Some("projects_dev_builds_kept_not_negative") => {
            ControlError::InvalidSetting("the number of development builds kept cannot be negative")
        }
        Some("projects_commit_url_valid") => ControlError::InvalidSetting(
            "the commit URL must be an http(s) address containing {commit}, e.g. \
             https://github.com/acme/addons/commit/{commit}",
        ),
        _ => error.into(),
    }
}

pub async fn add_project(client: &Client, new: &NewProject) -> Result<Project, ControlError> {
    let settings = &new.settings;
    let row = client
        .query_one(
            concat!(
                "INSERT INTO projects (name, repo_url, odoo, production_branch, webhook_secret, ",
                "poll_interval_s, quiet_period_s, dev_builds_kept, modules, test_tags, ignore_rules, ",
                "update_all, staging_source, commit_url, odoo_sources, odoo_follow, limits) ",
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, ",
                "$15::text::jsonb, $16, $17::text::jsonb) RETURNING ",
                project_columns!()
            ),
            &[
                &new.name,
                &new.repo_url,
                &new.odoo,
                &new.production_branch,
                &new.webhook_secret,
                &settings.poll_interval_s,
                &settings.quiet_period_s,
                &settings.dev_builds_kept,
                &settings.modules,
                &settings.test_tags,
                &settings.ignore_rules,
                &settings.update_all,
                &settings.staging_source.as_str(),
                &settings.commit_url,
                &crate::json_text(&settings.odoo_sources),
                &settings.odoo_follow.as_str(),
                &crate::json_text(&settings.limits),
            ],
        )
        .await
        .map_err(|error| project_error(&new.name, error))?;
    project_from_row(&row)
}

pub async fn get_project(client: &Client, name: &str) -> Result<Project, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "SELECT ",
                project_columns!(),
                " FROM projects WHERE name = $1"
            ),
            &[&name],
        )
        .await?
        .ok_or_else(|| ControlError::UnknownProject(name.to_string()))?;
    project_from_row(&row)
}

pub async fn get_project_by_id(client: &Client, id: i64) -> Result<Project, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "SELECT ",
                project_columns!(),
                " FROM projects WHERE id = $1"
            ),
            &[&id],
        )
        .await?
        .ok_or(ControlError::UnknownProjectId(id))?;
    project_from_row(&row)
}

/// Every project, by name.
pub async fn list_projects(client: &Client) -> Result<Vec<Project>, ControlError> {
    client
        .query(
            concat!(
                "SELECT ",
                project_columns!(),
                " FROM projects ORDER BY name"
            ),
            &[],
        )
        .await?
        .iter()
        .map(project_from_row)
        .collect()
}

pub async fn update_project(
    client: &Client,
    name: &str,
    update: &ProjectUpdate,
) -> Result<Project, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "UPDATE projects SET ",
                "repo_url = coalesce($2, repo_url), ",
                "odoo = coalesce($3, odoo), ",
                "webhook_secret = coalesce($4, webhook_secret), ",
                "poll_interval_s = coalesce($5, poll_interval_s), ",
                "quiet_period_s = coalesce($6, quiet_period_s), ",
                "dev_builds_kept = coalesce($7, dev_builds_kept), ",
                "modules = CASE WHEN $8 THEN $9 ELSE modules END, ",
                "test_tags = CASE WHEN $10 THEN $11 ELSE test_tags END, ",
                "ignore_rules = coalesce($12, ignore_rules), ",
                "update_all = coalesce($13, update_all), ",
                "staging_source = coalesce($14, staging_source), ",
                "commit_url = CASE WHEN $15 THEN $16 ELSE commit_url END, ",
                "odoo_sources = coalesce($17::text::jsonb, odoo_sources), ",
                "odoo_follow = coalesce($18, odoo_follow), ",
                "limits = coalesce($19::text::jsonb, limits) ",
                "WHERE name = $1 RETURNING ",
                project_columns!()
            ),
            &[
                &name,
                &update.repo_url,
                &update.odoo,
                &update.webhook_secret,
                &update.poll_interval_s,
                &update.quiet_period_s,
                &update.dev_builds_kept,
                &update.modules.is_some(),
                &update.modules.clone().flatten(),
                &update.test_tags.is_some(),
                &update.test_tags.clone().flatten(),
                &update.ignore_rules,
                &update.update_all,
                &update.staging_source.map(StagingSource::as_str),
                &update.commit_url.is_some(),
                &update.commit_url.clone().flatten(),
                &update.odoo_sources.as_ref().map(crate::json_text),
                &update.odoo_follow.map(OdooFollow::as_str),
                &update.limits.as_ref().map(crate::json_text),
            ],
        )
        .await
        .map_err(|error| project_error(name, error))?
        .ok_or_else(|| ControlError::UnknownProject(name.to_string()))?;
    project_from_row(&row)
}

/// Removes the project with its branches and builds.
pub async fn remove_project(
    client: &mut Client,
    name: &str,
) -> Result<RemovedProject, ControlError> {
    let transaction = client.transaction().await?;
    // Builds that started after this point would reference a deleted project:
    // their inserts wait for this lock, then fail on the foreign key.
    let row = transaction
        .query_opt(
            concat!(
                "SELECT ",
                project_columns!(),
                " FROM projects WHERE name = $1 FOR UPDATE"
            ),
            &[&name],
        )
        .await?
        .ok_or_else(|| ControlError::UnknownProject(name.to_string()))?;
    let project = project_from_row(&row)?;
    let live_builds = transaction
        .query(
            concat!(
                "SELECT ",
                build_columns!(),
                " FROM builds b JOIN branches br ON br.id = b.branch_id ",
                "WHERE b.project_id = $1 AND b.state IN ('running', 'serving') ORDER BY b.id"
            ),
            &[&project.id],
        )
        .await?
        .iter()
        .map(build_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    transaction
        .execute("DELETE FROM projects WHERE id = $1", &[&project.id])
        .await?;
    transaction.commit().await?;
    Ok(RemovedProject {
        project,
        live_builds,
    })
}
