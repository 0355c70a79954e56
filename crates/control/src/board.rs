//! The branches view: every live branch of a project with its latest builds,
//! in one statement (production first, then by last build).

use time::OffsetDateTime;
use tokio_postgres::{Client, Row};

use crate::{parse_column, parse_optional_column, BuildState, BuildStatus, ControlError, Stage};

/// A branch and its newest builds, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardBranch {
    pub id: i64,
    pub name: String,
    pub stage: Stage,
    pub head: Option<String>,
    pub builds: Vec<BuildCell>,
}

/// What a build's cell shows.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildCell {
    pub id: i64,
    pub commit: String,
    pub stage: Stage,
    pub duplicate: bool,
    pub state: BuildState,
    pub status: Option<BuildStatus>,
    pub created_at: OffsetDateTime,
}

impl BoardBranch {
    /// The build a "Connect" on the branch opens: its newest serving build.
    pub fn serving(&self) -> Option<&BuildCell> {
        self.builds
            .iter()
            .find(|build| build.state == BuildState::Serving)
    }

    /// Whether a build of the branch is queued or running (no rebuild then).
    pub fn busy(&self) -> bool {
        self.builds
            .iter()
            .any(|build| matches!(build.state, BuildState::Pending | BuildState::Running))
    }
}

fn cell_from_row(row: &Row) -> Result<BuildCell, ControlError> {
    Ok(BuildCell {
        id: row.try_get("id")?,
        commit: row.try_get("commit")?,
        stage: parse_column(row, "stage")?,
        duplicate: row.try_get("duplicate")?,
        state: parse_column(row, "state")?,
        status: parse_optional_column(row, "status")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The project's live branches, each with its `per_branch` newest builds;
/// only `branch_id` when given. Production first, then the branch with the
/// newest build, then by name.
pub async fn branch_board(
    client: &Client,
    project_id: i64,
    per_branch: i64,
    branch_id: Option<i64>,
) -> Result<Vec<BoardBranch>, ControlError> {
    let rows = client
        .query(
            concat!(
                "SELECT br.id AS branch_id, br.name AS branch_name, br.stage AS branch_stage,",
                " br.head AS branch_head, b.id, b.commit, b.stage, b.duplicate, b.state, b.status,",
                " b.created_at,",
                " max(b.id) OVER (PARTITION BY br.id) AS last_build",
                " FROM branches br",
                // Reads `per_branch` entries of builds_by_branch per branch, in order.
                " LEFT JOIN LATERAL (SELECT * FROM builds x WHERE x.branch_id = br.id",
                "  ORDER BY x.id DESC LIMIT $2) b ON true",
                " WHERE br.project_id = $1 AND br.deleted_at IS NULL",
                " AND ($3::bigint IS NULL OR br.id = $3)",
                " ORDER BY br.stage = 'production' DESC, last_build DESC NULLS LAST, br.name, b.id DESC"
            ),
            &[&project_id, &per_branch, &branch_id],
        )
        .await?;
    let mut board: Vec<BoardBranch> = Vec::new();
    for row in &rows {
        let id: i64 = row.try_get("branch_id")?;
        if board.last().is_none_or(|branch| branch.id != id) {
            board.push(BoardBranch {
                id,
                name: row.try_get("branch_name")?,
                stage: parse_column(row, "branch_stage")?,
                head: row.try_get("branch_head")?,
                builds: Vec::new(),
            });
        }
        if row.try_get::<_, Option<i64>>("id")?.is_some() {
            let cell = cell_from_row(row)?;
            board.last_mut().expect("pushed above").builds.push(cell);
        }
    }
    Ok(board)
}
