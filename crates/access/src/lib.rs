//! Who may do what on slipway: Odoo.sh's project roles applied to slipway's
//! actions, and the hashing of passwords.
//!
//! The rules are one pure function, [`allows`], so that the UI, the API and
//! the proxy ask the same question and get the same answer, and so that the
//! whole matrix is tested here, cell by cell.

mod password;

pub use password::{hash_password, verify_password, AccessError, MIN_PASSWORD_CHARS};
pub use slipway_control::{Role, Stage};

/// Something a person can do to a branch or a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See it: the branch in the branches view, the build's page, its logs.
    View,
    /// Open the build's address, and land in its Odoo as its administrator.
    Connect,
    /// Land in the build's Odoo as another of its users.
    ConnectAs,
    /// A terminal inside the build's sandbox (Odoo shell, psql).
    Shell,
    /// The mail the build sent, caught.
    Mails,
    /// Queue a new build of the branch.
    Rebuild,
    /// Download the build's database.
    Dump,
    /// Serve a stopped build again.
    Restart,
    /// Queue a neutralized test duplicate of production.
    Duplicate,
    /// Stages, promotion, the project's settings and members.
    ManageProject,
}

impl Action {
    /// The action in words, for "your role does not allow … production builds".
    pub fn describe(self) -> &'static str {
        match self {
            Action::View => "seeing",
            Action::Connect => "connecting to",
            Action::ConnectAs => "connecting as another user to",
            Action::Shell => "opening a shell on",
            Action::Mails => "reading the mail of",
            Action::Rebuild => "rebuilding",
            Action::Dump => "downloading the database of",
            Action::Restart => "starting again",
            Action::Duplicate => "making test duplicates of",
            Action::ManageProject => "changing the settings of",
        }
    }

    pub const ALL: [Action; 10] = [
        Action::View,
        Action::Connect,
        Action::ConnectAs,
        Action::Shell,
        Action::Mails,
        Action::Rebuild,
        Action::Dump,
        Action::Restart,
        Action::Duplicate,
        Action::ManageProject,
    ];
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The token `slipway serve` writes in its data dir for the CLI of the
    /// same host: whoever can read it is root there, and may do everything.
    Host,
    /// A person, with their role in the project concerned (none: they do not
    /// see it at all).
    User { is_admin: bool, role: Option<Role> },
}

impl Principal {
    /// The role that applies in the project: administrators of slipway (and
    /// the host) are administrators of every project.
    pub fn effective_role(&self) -> Option<Role> {
        match self {
            Principal::Host | Principal::User { is_admin: true, .. } => Some(Role::Admin),
            Principal::User { role, .. } => *role,
        }
    }

    /// Whether the project exists for them at all. Someone without a role is
    /// answered as if it did not exist (404), not refused (403): names of
    /// other customers' projects do not leak.
    pub fn sees_project(&self) -> bool {
        self.effective_role().is_some()
    }
}

/// Whether `who` may do `action` on something of `stage`: the stage of the
/// build acted on (a test duplicate of production is a neutralized copy, of
/// stage staging), or of the branch.
///
/// | action        | admin | developer          | tester             |
/// |---------------|-------|--------------------|--------------------|
/// | View, Mails   | all   | all                | staging, development |
/// | Connect, ConnectAs, Restart | all | staging, development | staging, development |
/// | Shell, Rebuild, Dump | all | staging, development | —            |
/// | Duplicate, ManageProject | all | —         | —                  |
pub fn allows(who: &Principal, action: Action, stage: Stage) -> bool {
    let not_production = stage != Stage::Production;
    match who.effective_role() {
        None => false,
        Some(Role::Admin) => true,
        Some(Role::Developer) => match action {
            // Production is read-only for developers.
            Action::View | Action::Mails => true,
            Action::Connect
            | Action::ConnectAs
            | Action::Shell
            | Action::Rebuild
            | Action::Dump
            | Action::Restart => not_production,
            Action::Duplicate | Action::ManageProject => false,
        },
        Some(Role::Tester) => match action {
            Action::View
            | Action::Mails
            | Action::Connect
            | Action::ConnectAs
            | Action::Restart => not_production,
            Action::Shell
            | Action::Rebuild
            | Action::Dump
            | Action::Duplicate
            | Action::ManageProject => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAGES: [Stage; 3] = [Stage::Production, Stage::Staging, Stage::Development];

    fn user(role: Option<Role>) -> Principal {
        Principal::User {
            is_admin: false,
            role,
        }
    }

    #[test]
    fn the_host_and_slipway_administrators_may_do_everything_everywhere() {
        let slipway_admin = Principal::User {
            is_admin: true,
            role: None,
        };
        for who in [Principal::Host, slipway_admin, user(Some(Role::Admin))] {
            assert!(who.sees_project());
            for action in Action::ALL {
                for stage in STAGES {
                    assert!(allows(&who, action, stage), "{who:?} {action:?} {stage:?}");
                }
            }
        }
    }

    #[test]
    fn without_a_role_nothing_is_allowed_and_the_project_is_not_seen() {
        let stranger = user(None);
        assert!(!stranger.sees_project());
        for action in Action::ALL {
            for stage in STAGES {
                assert!(!allows(&stranger, action, stage), "{action:?} {stage:?}");
            }
        }
    }

    #[test]
    fn developers_only_read_production() {
        let developer = user(Some(Role::Developer));
        for action in Action::ALL {
            let on_production = allows(&developer, action, Stage::Production);
            assert_eq!(
                on_production,
                matches!(action, Action::View | Action::Mails),
                "{action:?} on production"
            );
            for stage in [Stage::Staging, Stage::Development] {
                let expected = !matches!(action, Action::Duplicate | Action::ManageProject);
                assert_eq!(
                    allows(&developer, action, stage),
                    expected,
                    "{action:?} {stage:?}"
                );
            }
        }
        assert!(!allows(&developer, Action::Connect, Stage::Production));
    }

    #[test]
    fn testers_connect_to_staging_and_development_only() {
        let tester = user(Some(Role::Tester));
        for action in Action::ALL {
            assert!(
                !allows(&tester, action, Stage::Production),
                "{action:?} on production"
            );
            for stage in [Stage::Staging, Stage::Development] {
                let expected = matches!(
                    action,
                    Action::View
                        | Action::Mails
                        | Action::Connect
                        | Action::ConnectAs
                        | Action::Restart
                );
                assert_eq!(
                    allows(&tester, action, stage),
                    expected,
                    "{action:?} {stage:?}"
                );
            }
        }
    }
}
