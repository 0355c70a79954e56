//! What templates show, computed in Rust: templates only print (and escape).

use slipway_access::{allows, Action, Principal};
use slipway_control::{BoardBranch, BuildCell, BuildState, BuildStatus, Project, Stage};

use crate::auth::Viewer;

/// The frame of every page: title, who is signed in, the CSRF token of the
/// logout form.
pub struct Chrome {
    pub title: String,
    pub login: Option<String>,
    pub csrf: String,
    pub is_admin: bool,
}

impl Chrome {
    pub fn anonymous(title: &str) -> Chrome {
        Chrome {
            title: title.to_string(),
            login: None,
            csrf: String::new(),
            is_admin: false,
        }
    }

    pub fn for_viewer(viewer: &Viewer, title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            login: Some(viewer.login().to_string()),
            csrf: viewer.csrf().to_string(),
            is_admin: viewer.session.user.is_admin,
        }
    }
}

/// The CSS class of a build's cell: its result, or where it is.
pub fn build_class(state: BuildState, status: Option<BuildStatus>) -> &'static str {
    match (state, status) {
        (BuildState::Pending, _) => "pending",
        (BuildState::Running, _) => "running",
        (BuildState::Stopped, Some(BuildStatus::Success)) => "success stopped",
        (BuildState::Stopped, Some(BuildStatus::Warning)) => "warning stopped",
        (BuildState::Stopped, _) => "killed stopped",
        (_, Some(BuildStatus::Success)) => "success",
        (_, Some(BuildStatus::Warning)) => "warning",
        (_, Some(BuildStatus::Failed)) => "failed",
        (_, Some(BuildStatus::Killed)) | (_, None) => "killed",
    }
}

/// The build's state in words, as a cell's tooltip and the build page say it.
pub fn build_label(state: BuildState, status: Option<BuildStatus>) -> String {
    match (state, status) {
        (BuildState::Pending, _) => "queued".to_string(),
        (BuildState::Running, _) => "running".to_string(),
        (BuildState::Serving, Some(status)) => format!("{status}, serving"),
        (BuildState::Stopped, Some(status)) => format!("{status}, stopped"),
        (_, Some(status)) => status.to_string(),
        (state, None) => state.to_string(),
    }
}

pub fn short_commit(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}

/// Where a commit's changes are shown: the project's commit URL, else one
/// derived from a GitHub or GitLab repository address.
pub fn commit_link(project: &Project, commit: &str) -> Option<String> {
    if let Some(template) = &project.settings.commit_url {
        return Some(template.replace("{commit}", commit));
    }
    let repo = project.repo_url.trim_end_matches('/');
    let repo = repo.strip_suffix(".git").unwrap_or(repo);
    let path_on = |host: &str| -> Option<String> {
        let https = repo
            .strip_prefix("https://")
            .map(|rest| {
                rest.rsplit_once('@')
                    .map_or(rest, |(_, host_path)| host_path)
            })
            .and_then(|rest| rest.strip_prefix(host))
            .and_then(|rest| rest.strip_prefix('/'));
        let ssh = repo
            .strip_prefix("git@")
            .and_then(|rest| rest.strip_prefix(host))
            .and_then(|rest| rest.strip_prefix(':'));
        https.or(ssh).map(str::to_string)
    };
    let safe = |path: &str| {
        !path.is_empty()
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
    };
    if let Some(path) = path_on("github.com").filter(|path| safe(path)) {
        return Some(format!("https://github.com/{path}/commit/{commit}"));
    }
    if let Some(path) = path_on("gitlab.com").filter(|path| safe(path)) {
        return Some(format!("https://gitlab.com/{path}/-/commit/{commit}"));
    }
    None
}

/// A build's cell in a branch's strip.
pub struct CellView {
    pub id: i64,
    pub class: &'static str,
    pub title: String,
}

impl CellView {
    fn new(build: &BuildCell) -> CellView {
        let mut title = format!(
            "#{} · {} · {}",
            build.id,
            short_commit(&build.commit),
            build_label(build.state, build.status)
        );
        if build.duplicate {
            title.push_str(" · test duplicate");
        }
        title.push_str(&format!(" · {}", super::time::display(build.created_at)));
        CellView {
            id: build.id,
            class: build_class(build.state, build.status),
            title,
        }
    }
}

/// A row of the branches view.
pub struct RowView {
    pub id: i64,
    pub name: String,
    pub stage: &'static str,
    pub head_short: String,
    pub code_url: Option<String>,
    pub cells: Vec<CellView>,
    /// The serving build a Connect opens, if the viewer may connect to it.
    pub connect_build: Option<i64>,
    pub can_rebuild: bool,
    pub busy: bool,
    /// Rows sort by this, highest first: production, then newest build.
    pub order: i64,
}

impl RowView {
    pub fn new(project: &Project, principal: &Principal, branch: &BoardBranch) -> RowView {
        let head = branch.head.as_deref().unwrap_or_default();
        let connect_build = branch
            .serving()
            .filter(|build| allows(principal, Action::Connect, build.stage))
            .map(|build| build.id);
        let last_build = branch.builds.first().map(|build| build.id).unwrap_or(0);
        RowView {
            id: branch.id,
            name: branch.name.clone(),
            stage: branch.stage.as_str(),
            head_short: short_commit(head).to_string(),
            code_url: (!head.is_empty())
                .then(|| commit_link(project, head))
                .flatten(),
            cells: branch.builds.iter().map(CellView::new).collect(),
            connect_build,
            can_rebuild: allows(principal, Action::Rebuild, branch.stage) && branch.head.is_some(),
            busy: branch.busy(),
            order: if branch.stage == Stage::Production {
                i64::MAX
            } else {
                last_build
            },
        }
    }
}

/// A test instance as the board and the Backups tab show it: its newest
/// build, coloured as a build's cell.
pub struct TestInstanceView {
    pub name: String,
    pub build: Option<i64>,
    pub class: &'static str,
    pub label: String,
    /// The backup it restores (`#42`), or a dash.
    pub backup: String,
}

impl TestInstanceView {
    /// The project's test instances, by name.
    pub async fn list(
        session: &tokio_postgres::Client,
        project_id: i64,
    ) -> Result<Vec<TestInstanceView>, slipway_control::ControlError> {
        Ok(slipway_control::list_test_instances(session, project_id)
            .await?
            .iter()
            .map(TestInstanceView::of)
            .collect())
    }

    fn of(instance: &slipway_control::TestInstanceRecord) -> TestInstanceView {
        let build = instance.build.as_ref();
        TestInstanceView {
            name: instance.name.clone(),
            build: build.map(|b| b.id),
            class: build.map_or("pending", |b| build_class(b.state, b.status)),
            label: build.map_or_else(|| "—".to_string(), |b| build_label(b.state, b.status)),
            backup: build
                .and_then(|b| b.restore_backup)
                .map_or_else(|| "—".to_string(), |id| format!("#{id}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_control::ProjectSettings;

    fn project(repo: &str, commit_url: Option<&str>) -> Project {
        Project {
            id: 1,
            name: "acme".into(),
            repo_url: repo.into(),
            odoo: "14.0".into(),
            production_branch: "main".into(),
            webhook_secret: String::new(),
            settings: ProjectSettings {
                commit_url: commit_url.map(str::to_string),
                ..ProjectSettings::default()
            },
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn commit_links_come_from_the_project_or_from_github_and_gitlab_addresses() {
        let c = "0123456789abcdef";
        assert_eq!(
            commit_link(
                &project("/srv/repo", Some("https://code.example/x/commit/{commit}")),
                c
            )
            .unwrap(),
            "https://code.example/x/commit/0123456789abcdef"
        );
        assert_eq!(
            commit_link(&project("git@github.com:acme/addons.git", None), c).unwrap(),
            "https://github.com/acme/addons/commit/0123456789abcdef"
        );
        assert_eq!(
            commit_link(
                &project("https://user:token@github.com/acme/addons", None),
                c
            )
            .unwrap(),
            "https://github.com/acme/addons/commit/0123456789abcdef"
        );
        assert_eq!(
            commit_link(&project("https://gitlab.com/group/sub/addons.git", None), c).unwrap(),
            "https://gitlab.com/group/sub/addons/-/commit/0123456789abcdef"
        );
        assert_eq!(commit_link(&project("/srv/repo", None), c), None);
        assert_eq!(
            commit_link(&project("https://github.com/a/b\"onload", None), c),
            None
        );
    }

    #[test]
    fn cells_tell_results_and_states_apart() {
        use BuildState::*;
        use BuildStatus::*;
        assert_eq!(build_class(Serving, Some(Success)), "success");
        assert_eq!(build_class(Done, Some(Warning)), "warning");
        assert_eq!(build_class(Done, Some(Failed)), "failed");
        assert_eq!(build_class(Done, Some(Killed)), "killed");
        assert_eq!(build_class(Pending, None), "pending");
        assert_eq!(build_class(Running, None), "running");
        assert_eq!(build_class(Stopped, Some(Success)), "success stopped");
        assert_eq!(build_label(Serving, Some(Success)), "success, serving");
        assert_eq!(build_label(Pending, None), "queued");
    }
}
