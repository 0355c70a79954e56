//! Branches: following the repository's heads, and their stages with Odoo.sh's
//! rules (one production branch; development goes through staging; production is
//! replaced, never just demoted).

use std::collections::{BTreeMap, HashMap};

use time::OffsetDateTime;
use tokio_postgres::{Client, Row, Transaction};

use crate::builds::{build_columns, build_from_row};
use crate::{parse_column, Build, ControlError, Stage};

/// A branch as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub stage: Stage,
    /// The last commit seen on it.
    pub head: Option<String>,
    /// When it disappeared from the repository; `None` while it exists.
    pub deleted_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    /// Its own revision of Odoo's source (a pinned commit) instead of the
    /// project's; `None`: the project's.
    pub odoo_rev: Option<String>,
}

/// What [`sync_branches`] changed, each list by name. Builds are the caller's
/// to queue: for [`BranchChanges::to_build`], with the project's quiet period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BranchChanges {
    /// New branches.
    pub created: Vec<Branch>,
    /// Existing branches with a new head.
    pub updated: Vec<Branch>,
    /// Branches deleted earlier that exist again (with the stage a new branch gets).
    pub revived: Vec<Branch>,
    /// Branches gone from the repository: their serving builds are the caller's
    /// to stop.
    pub deleted: Vec<Branch>,
    /// Queued builds of deleted branches, now done with status `killed`.
    pub cancelled_builds: Vec<i64>,
}

impl BranchChanges {
    pub fn is_empty(&self) -> bool {
        self.created.is_empty()
            && self.updated.is_empty()
            && self.revived.is_empty()
            && self.deleted.is_empty()
    }

    /// Branches with a head that has not been built yet: created, updated, revived.
    pub fn to_build(&self) -> impl Iterator<Item = &Branch> {
        self.created
            .iter()
            .chain(&self.updated)
            .chain(&self.revived)
    }
}

/// A row of [`list_branches`].
#[derive(Debug, Clone, PartialEq)]
pub struct BranchSummary {
    pub name: String,
    pub stage: Stage,
    pub head: Option<String>,
    pub last_build: Option<Build>,
    /// Its own revision of Odoo's source; `None`: the project's.
    pub odoo_rev: Option<String>,
}

/// The production branch that replaced another, and the one it replaced (now
/// staging).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    pub promoted: Branch,
    pub demoted: Option<Branch>,
}

macro_rules! branch_columns {
    () => {
        "br.id, br.project_id, br.name, br.stage, br.head, br.deleted_at, br.created_at, br.odoo_rev"
    };
}

fn branch_from_row(row: &Row) -> Result<Branch, ControlError> {
    Ok(Branch {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        stage: parse_column(row, "stage")?,
        head: row.try_get("head")?,
        deleted_at: row.try_get("deleted_at")?,
        created_at: row.try_get("created_at")?,
        odoo_rev: row.try_get("odoo_rev")?,
    })
}

fn branches_from_rows(rows: Vec<Row>) -> Result<Vec<Branch>, ControlError> {
    let mut branches = rows
        .iter()
        .map(branch_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    branches.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(branches)
}

struct Known {
    id: i64,
    stage: Stage,
    head: Option<String>,
    deleted: bool,
}

/// Records the repository's branches and their heads (name → commit), as seen by
/// a poll or a webhook: new branches are created as development branches (the
/// project's production branch as production, when the project has none),
/// changed heads are updated, missing branches are marked deleted, and a deleted
/// branch that reappears is revived as a new branch would be.
///
/// One transaction, serialized per project (the project's row is locked), so
/// two hosts polling the same repository do not interleave.
pub async fn sync_branches(
    client: &mut Client,
    project_id: i64,
    heads: &BTreeMap<String, String>,
) -> Result<BranchChanges, ControlError> {
    let transaction = client.transaction().await?;
    let production_branch: String = transaction
        .query_opt(
            "SELECT production_branch FROM projects WHERE id = $1 FOR NO KEY UPDATE",
            &[&project_id],
        )
        .await?
        .ok_or(ControlError::UnknownProjectId(project_id))?
        .try_get(0)?;
    let mut known = HashMap::new();
    for row in transaction
        .query(
            "SELECT id, name, stage, head, deleted_at IS NOT NULL AS deleted \
             FROM branches WHERE project_id = $1",
            &[&project_id],
        )
        .await?
    {
        known.insert(
            row.try_get::<_, String>("name")?,
            Known {
                id: row.try_get("id")?,
                stage: parse_column(&row, "stage")?,
                head: row.try_get("head")?,
                deleted: row.try_get("deleted")?,
            },
        );
    }

    let gone: Vec<i64> = known
        .iter()
        .filter(|(name, branch)| !branch.deleted && !heads.contains_key(*name))
        .map(|(_, branch)| branch.id)
        .collect();
    let has_production = known.iter().any(|(name, branch)| {
        !branch.deleted && branch.stage == Stage::Production && heads.contains_key(name)
    });
    let new_stage = |name: &str| {
        if name == production_branch && !has_production {
            Stage::Production
        } else {
            Stage::Development
        }
    };
    let (mut moved_ids, mut moved_heads) = (Vec::new(), Vec::new());
    let (mut revived_ids, mut revived_heads, mut revived_stages) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut new_names, mut new_heads, mut new_stages) = (Vec::new(), Vec::new(), Vec::new());
    for (name, head) in heads {
        match known.get(name) {
            Some(branch) if branch.deleted => {
                revived_ids.push(branch.id);
                revived_heads.push(head.as_str());
                revived_stages.push(new_stage(name).as_str());
            }
            Some(branch) if branch.head.as_deref() != Some(head.as_str()) => {
                moved_ids.push(branch.id);
                moved_heads.push(head.as_str());
            }
            Some(_) => {}
            None => {
                new_names.push(name.as_str());
                new_heads.push(head.as_str());
                new_stages.push(new_stage(name).as_str());
            }
        }
    }

    let mut changes = BranchChanges::default();
    if !gone.is_empty() {
        let rows = transaction
            .query(
                concat!(
                    "UPDATE branches br SET deleted_at = now() WHERE br.id = ANY($1) RETURNING ",
                    branch_columns!()
                ),
                &[&gone],
            )
            .await?;
        changes.deleted = branches_from_rows(rows)?;
        changes.cancelled_builds = transaction
            .query(
                "UPDATE builds SET state = 'done', status = 'killed', finished_at = now(), \
                        reason = 'the branch was deleted before the build started' \
                  WHERE branch_id = ANY($1) AND state = 'pending' RETURNING id",
                &[&gone],
            )
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
    }
    if !moved_ids.is_empty() {
        let rows = transaction
            .query(
                concat!(
                    "UPDATE branches br SET head = u.head ",
                    "FROM unnest($1::bigint[], $2::text[]) AS u(id, head) ",
                    "WHERE br.id = u.id RETURNING ",
                    branch_columns!()
                ),
                &[&moved_ids, &moved_heads],
            )
            .await?;
        changes.updated = branches_from_rows(rows)?;
    }
    if !revived_ids.is_empty() {
        let rows = transaction
            .query(
                concat!(
                    "UPDATE branches br SET head = u.head, stage = u.stage, deleted_at = NULL ",
                    "FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, head, stage) ",
                    "WHERE br.id = u.id RETURNING ",
                    branch_columns!()
                ),
                &[&revived_ids, &revived_heads, &revived_stages],
            )
            .await?;
        changes.revived = branches_from_rows(rows)?;
    }
    if !new_names.is_empty() {
        let rows = transaction
            .query(
                concat!(
                    "INSERT INTO branches AS br (project_id, name, stage, head) ",
                    "SELECT $1, u.name, u.stage, u.head ",
                    "FROM unnest($2::text[], $3::text[], $4::text[]) AS u(name, stage, head) ",
                    "RETURNING ",
                    branch_columns!()
                ),
                &[&project_id, &new_names, &new_stages, &new_heads],
            )
            .await?;
        changes.created = branches_from_rows(rows)?;
    }
    transaction.commit().await?;
    Ok(changes)
}

/// The project's row, locked against concurrent stage changes and syncs.
async fn lock_project(transaction: &Transaction<'_>, project: &str) -> Result<i64, ControlError> {
    transaction
        .query_opt(
            "SELECT id FROM projects WHERE name = $1 FOR NO KEY UPDATE",
            &[&project],
        )
        .await?
        .ok_or_else(|| ControlError::UnknownProject(project.to_string()))?
        .try_get(0)
        .map_err(Into::into)
}

/// The live branch `name` and the project's live production branch if another.
async fn branch_and_production(
    transaction: &Transaction<'_>,
    project: &str,
    project_id: i64,
    name: &str,
) -> Result<(Branch, Option<Branch>), ControlError> {
    let rows = transaction
        .query(
            concat!(
                "SELECT ",
                branch_columns!(),
                " FROM branches br WHERE br.project_id = $1 AND br.deleted_at IS NULL",
                " AND (br.name = $2 OR br.stage = 'production')"
            ),
            &[&project_id, &name],
        )
        .await?;
    let mut branch = None;
    let mut production = None;
    for row in &rows {
        let found = branch_from_row(row)?;
        if found.name == name {
            branch = Some(found);
        } else {
            production = Some(found);
        }
    }
    let branch = branch.ok_or_else(|| ControlError::UnknownBranch {
        project: project.to_string(),
        branch: name.to_string(),
    })?;
    Ok((branch, production))
}

/// Sets the branch's stage, and that of its queued build.
async fn write_stage(
    transaction: &Transaction<'_>,
    branch_id: i64,
    stage: Stage,
) -> Result<Branch, ControlError> {
    let row = transaction
        .query_one(
            concat!(
                "UPDATE branches br SET stage = $2 WHERE br.id = $1 RETURNING ",
                branch_columns!()
            ),
            &[&branch_id, &stage.as_str()],
        )
        .await?;
    transaction
        .execute(
            "UPDATE builds SET stage = $2 WHERE branch_id = $1 AND state = 'pending'",
            &[&branch_id, &stage.as_str()],
        )
        .await?;
    branch_from_row(&row)
}

async fn record_production(
    transaction: &Transaction<'_>,
    project_id: i64,
    branch: &str,
) -> Result<(), ControlError> {
    transaction
        .execute(
            "UPDATE projects SET production_branch = $2 WHERE id = $1",
            &[&project_id, &branch],
        )
        .await?;
    Ok(())
}

/// Moves a branch to another stage, with Odoo.sh's rules:
/// - a project has one production branch: promoting a second one is refused
///   ([`ControlError::SecondProduction`]; [`promote_to_production`] replaces it);
/// - a development branch goes to staging before production
///   ([`ControlError::DevelopmentToProduction`]);
/// - the production branch is not demoted, it is replaced
///   ([`ControlError::ProductionDemotion`]).
///
/// Setting the stage a branch already has changes nothing. The branch's queued
/// build, if any, takes the new stage.
pub async fn set_stage(
    client: &mut Client,
    project: &str,
    branch: &str,
    stage: Stage,
) -> Result<Branch, ControlError> {
    let transaction = client.transaction().await?;
    let project_id = lock_project(&transaction, project).await?;
    let (current, production) =
        branch_and_production(&transaction, project, project_id, branch).await?;
    if current.stage == stage {
        return Ok(current);
    }
    match (current.stage, stage) {
        (Stage::Production, _) => {
            return Err(ControlError::ProductionDemotion {
                project: project.to_string(),
                branch: branch.to_string(),
            })
        }
        (Stage::Development, Stage::Production) => {
            return Err(ControlError::DevelopmentToProduction {
                project: project.to_string(),
                branch: branch.to_string(),
            })
        }
        (_, Stage::Production) => {
            if let Some(production) = production {
                return Err(ControlError::SecondProduction {
                    project: project.to_string(),
                    branch: branch.to_string(),
                    current: production.name,
                });
            }
        }
        _ => {}
    }
    let updated = write_stage(&transaction, current.id, stage).await?;
    if stage == Stage::Production {
        record_production(&transaction, project_id, branch).await?;
    }
    transaction.commit().await?;
    Ok(updated)
}

/// Makes a staging branch the project's production branch; the previous
/// production branch, if any, becomes a staging branch. A development branch is
/// refused ([`ControlError::DevelopmentToProduction`]); promoting the production
/// branch changes nothing.
pub async fn promote_to_production(
    client: &mut Client,
    project: &str,
    branch: &str,
) -> Result<Promotion, ControlError> {
    let transaction = client.transaction().await?;
    let project_id = lock_project(&transaction, project).await?;
    let (current, production) =
        branch_and_production(&transaction, project, project_id, branch).await?;
    match current.stage {
        Stage::Production => {
            return Ok(Promotion {
                promoted: current,
                demoted: None,
            })
        }
        Stage::Development => {
            return Err(ControlError::DevelopmentToProduction {
                project: project.to_string(),
                branch: branch.to_string(),
            })
        }
        Stage::Staging => {}
    }
    // The old one first: one production branch at any time (a unique index).
    let demoted = match production {
        Some(production) => Some(write_stage(&transaction, production.id, Stage::Staging).await?),
        None => None,
    };
    let promoted = write_stage(&transaction, current.id, Stage::Production).await?;
    record_production(&transaction, project_id, branch).await?;
    transaction.commit().await?;
    Ok(Promotion { promoted, demoted })
}

/// The project's live branches with their last build: the production branch
/// first, then by most recent build, then branches never built, by name.
pub async fn list_branches(
    client: &Client,
    project: &str,
) -> Result<Vec<BranchSummary>, ControlError> {
    let project_id: i64 = client
        .query_opt("SELECT id FROM projects WHERE name = $1", &[&project])
        .await?
        .ok_or_else(|| ControlError::UnknownProject(project.to_string()))?
        .try_get(0)?;
    let rows = client
        .query(
            concat!(
                "SELECT br.name AS branch_name, br.stage AS branch_stage, br.head AS branch_head, ",
                "br.odoo_rev AS branch_odoo_rev, ",
                build_columns!(),
                " FROM branches br",
                " LEFT JOIN LATERAL (SELECT * FROM builds x WHERE x.branch_id = br.id",
                "  ORDER BY x.id DESC LIMIT 1) b ON true",
                " WHERE br.project_id = $1 AND br.deleted_at IS NULL",
                " ORDER BY br.stage = 'production' DESC, b.id DESC NULLS LAST, br.name"
            ),
            &[&project_id],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let last_build = match row.try_get::<_, Option<i64>>("id")? {
                Some(_) => Some(build_from_row(row)?),
                None => None,
            };
            Ok(BranchSummary {
                name: row.try_get("branch_name")?,
                stage: parse_column(row, "branch_stage")?,
                head: row.try_get("branch_head")?,
                last_build,
                odoo_rev: row.try_get("branch_odoo_rev")?,
            })
        })
        .collect()
}

/// Branches of the project whose head was never queued: they have
/// been built before, their head differs from their newest build's commit, and
/// nothing is queued or running for them. That happens when a process stopped
/// between recording a new head ([`sync_branches`]) and queuing its build; the
/// watcher queues them on its next poll so that no pushed commit goes unbuilt.
pub async fn unbuilt_heads(client: &Client, project_id: i64) -> Result<Vec<Branch>, ControlError> {
    let rows = client
        .query(
            concat!(
                "SELECT ",
                branch_columns!(),
                " FROM branches br",
                " WHERE br.project_id = $1 AND br.deleted_at IS NULL",
                " AND br.head IS NOT NULL",
                " AND NOT EXISTS (SELECT 1 FROM builds b WHERE b.branch_id = br.id AND b.state IN ('pending', 'running'))",
                " AND br.head <> (SELECT b.commit FROM builds b WHERE b.branch_id = br.id ORDER BY b.id DESC LIMIT 1)",
                " ORDER BY br.name"
            ),
            &[&project_id],
        )
        .await?;
    rows.iter().map(branch_from_row).collect()
}

/// The live branch `name` of the project; `None`: its production branch.
pub async fn get_branch(
    client: &Client,
    project: &crate::Project,
    name: Option<&str>,
) -> Result<Branch, ControlError> {
    let row = client
        .query_opt(
            concat!(
                "SELECT ",
                branch_columns!(),
                " FROM branches br",
                " WHERE br.project_id = $1 AND br.deleted_at IS NULL",
                " AND (br.name = $2 OR ($2 IS NULL AND br.stage = 'production'))"
            ),
            &[&project.id, &name],
        )
        .await?;
    match row {
        Some(row) => branch_from_row(&row),
        None => match name {
            Some(name) => Err(ControlError::UnknownBranch {
                project: project.name.clone(),
                branch: name.to_string(),
            }),
            None => Err(ControlError::NoProduction(project.name.clone())),
        },
    }
}
