//! What can go wrong, said so that the reader knows what to do next.

use tokio_postgres::error::SqlState;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "project '{0}' already exists: pick another name, or remove the existing project first"
    )]
    ProjectExists(String),

    #[error(
        "invalid project name '{0}': use 1 to 63 characters among lowercase letters, digits, \
         '-' and '_', starting with a letter or a digit"
    )]
    InvalidProjectName(String),

    #[error("no project named '{0}': check the name against the list of projects")]
    UnknownProject(String),

    #[error("no project with id {0}: it was removed")]
    UnknownProjectId(i64),

    #[error("invalid project setting: {0}")]
    InvalidSetting(&'static str),

    #[error(
        "project '{project}' has no branch '{branch}' (or it was deleted from the repository): \
         push it first, or check the name against the project's branches"
    )]
    UnknownBranch { project: String, branch: String },

    #[error("no live branch with id {branch_id} in project {project_id}: it was deleted")]
    UnknownBranchId { project_id: i64, branch_id: i64 },

    #[error(
        "project '{project}' already has a production branch, '{current}', and a project has \
         exactly one: promote '{branch}' to production to replace it ('{current}' then becomes \
         a staging branch)"
    )]
    SecondProduction {
        project: String,
        branch: String,
        current: String,
    },

    #[error(
        "branch '{branch}' of project '{project}' is a development branch and cannot go straight \
         to production: move it to staging first, check it there, then promote it"
    )]
    DevelopmentToProduction { project: String, branch: String },

    #[error(
        "branch '{branch}' is the production branch of project '{project}', and a project needs \
         one: promote another (staging) branch to production first; '{branch}' then becomes a \
         staging branch"
    )]
    ProductionDemotion { project: String, branch: String },

    #[error(
        "branch '{branch}' already has build #{build_id} queued or running: wait for it to \
         finish (a new push also updates a queued build)"
    )]
    BuildInProgress { branch: String, build_id: i64 },

    #[error(
        "branch '{branch}' of project '{project}' has no known commit yet: wait for the next \
         poll of the repository, or push to it"
    )]
    NothingToBuild { project: String, branch: String },

    #[error("no build #{0}")]
    UnknownBuild(i64),

    #[error("build #{build_id} has no mail #{mail_id}: list its mails first")]
    UnknownMail { build_id: i64, mail_id: i64 },

    #[error(
        "project '{0}' has no production database yet: its production branch must build \
         successfully first"
    )]
    NoProduction(String),

    #[error(
        "build #{build_id} is no longer held by worker '{worker}': its lease expired and the \
         build was taken back; stop working on it"
    )]
    LeaseLost { build_id: i64, worker: String },

    #[error("build #{build_id} is {state}, not serving: only a serving build can be stopped")]
    NotServing { build_id: i64, state: String },

    #[error("build #{build_id} is {state}, not stopped: stop it before dropping its database")]
    NotStopped { build_id: i64, state: String },

    #[error(
        "build #{build_id} cannot be served again by worker '{worker}': it is {state}, and only \
         a build this worker served until it shut down can be"
    )]
    NotResumable {
        build_id: i64,
        worker: String,
        state: String,
    },

    #[error(
        "the control database is at schema version {found}, newer than this slipway knows \
         (up to {known}): a newer slipway migrated it; upgrade this one"
    )]
    SchemaTooNew { found: u32, known: u32 },

    #[error("a user with login '{0}' already exists: pick another login")]
    UserExists(String),

    #[error(
        "invalid login '{0}': use 1 to 128 characters among letters, digits and '.', '_', '@', \
         '+', '-', starting with a letter or a digit"
    )]
    InvalidLogin(String),

    #[error("no user with login '{0}': check it against `slipway user list`")]
    UnknownUser(String),

    #[error("no API token #{0} of yours: list your tokens first")]
    UnknownToken(i64),

    #[error("build #{build_id} cannot serve again: {why}")]
    NotRestartable { build_id: i64, why: &'static str },

    #[error("project '{project}' has no backup #{id}: list its backups with `slipway backup list {project}`")]
    UnknownBackup { project: String, id: i64 },

    #[error("backup #{id} cannot be restored: {why}")]
    BackupNotRestorable { id: i64, why: String },

    #[error(
        "project '{0}' has no verified backup to restore: take one with `slipway backup create \
         {0}` and let it be verified, or name a backup"
    )]
    NoVerifiedBackup(String),

    #[error("project '{project}' has no test instance '{name}': list them with `slipway testinstance list {project}`")]
    UnknownTestInstance { project: String, name: String },

    #[error("project '{project}' already has a test instance '{name}': refresh it, or pick another name")]
    TestInstanceExists { project: String, name: String },

    #[error(
        "invalid test instance name '{0}': use 1 to 40 characters among lowercase letters, \
         digits and '-', starting with a letter or a digit"
    )]
    InvalidTestInstanceName(String),

    #[error(transparent)]
    Invalid(#[from] slipway_api::InvalidValue),

    /// Anything else PostgreSQL said, in a short text without the statement.
    #[error("control database: {0}")]
    Database(String),
}

impl From<tokio_postgres::Error> for ControlError {
    fn from(error: tokio_postgres::Error) -> ControlError {
        ControlError::Database(describe(&error))
    }
}

/// A short text for a database error: the server's message and SQLSTATE, or why
/// the connection failed.
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) if db.code() == &SqlState::UNDEFINED_TABLE => format!(
            "{} ({}): the schema is missing or incomplete; run the migrations first",
            db.message(),
            db.code().code()
        ),
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(error) {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        },
    }
}

/// The constraint a unique or check violation names, if that is what `error` is.
pub(crate) fn violated_constraint<'a>(
    error: &'a tokio_postgres::Error,
    code: &SqlState,
) -> Option<&'a str> {
    error
        .as_db_error()
        .filter(|db| db.code() == code)
        .and_then(|db| db.constraint())
}

/// Whether `error` is a unique violation of `index`.
pub(crate) fn is_unique_violation(error: &tokio_postgres::Error, index: &str) -> bool {
    violated_constraint(error, &SqlState::UNIQUE_VIOLATION) == Some(index)
}
