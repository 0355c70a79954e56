//! Backups of production, restores, test instances and imports.
//!
//! Who may do what, in the roles' words: seeing the backups is seeing
//! production; taking one, restoring, importing is rebuilding production
//! (admins); downloading one is downloading production's database; test
//! instances are test duplicates of production, and everyone who sees
//! staging sees them.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::StreamExt;
use serde::Deserialize;
use slipway_access::Action;
use slipway_api::{
    BackupKind, BackupSettings, Build, RestoreTarget, TestInstance, TestInstanceRequest,
};
use slipway_control::{BackupRecord, ControlError, InstanceMode, Project, RestoreInto, Stage};
use tokio::io::AsyncWriteExt;

use super::{body, build_answer};
use crate::auth::{authorize_project, Caller};
use crate::odoo_revisions::{self, RevisionError, Revisions};
use crate::{ApiError, SharedState};

/// The largest upload `POST /imports` takes (Odoo.sh's own limit is far
/// lower; a production of 64 GiB is rare).
const MAX_UPLOAD: u64 = 64 << 30;

/// `GET /api/v1/projects/{name}/backups`: newest first.
pub async fn list(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Vec<slipway_api::Backup>>, ApiError> {
    let session = state.control.session().await?;
    let (project, _) =
        authorize_project(&session, &caller, &name, Action::View, Stage::Production).await?;
    let backups = slipway_control::list_backups(&session, project.id).await?;
    Ok(Json(backups.iter().map(BackupRecord::to_api).collect()))
}

/// `GET /api/v1/projects/{name}/backups/{id}`.
pub async fn get(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path((name, id)): Path<(String, i64)>,
) -> Result<Json<slipway_api::Backup>, ApiError> {
    let session = state.control.session().await?;
    authorize_project(&session, &caller, &name, Action::View, Stage::Production).await?;
    Ok(Json(
        slipway_control::get_backup(&session, &name, id)
            .await?
            .to_api(),
    ))
}

/// `POST /api/v1/projects/{name}/backups`: a manual backup, taken by the
/// worker serving production (the answer is the requested backup; follow it
/// with `GET …/backups/{id}`).
pub async fn create(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<slipway_api::Backup>), ApiError> {
    let backup = request_manual(&state, &caller, &name).await?;
    Ok((StatusCode::CREATED, Json(backup.to_api())))
}

/// A manual backup of production, if the caller may ask for one.
pub(crate) async fn request_manual(
    state: &SharedState,
    caller: &Caller,
    name: &str,
) -> Result<BackupRecord, ApiError> {
    let session = state.control.session().await?;
    let (project, _) =
        authorize_project(&session, caller, name, Action::Rebuild, Stage::Production).await?;
    if slipway_control::production_build(&session, project.id)
        .await?
        .is_none()
    {
        return Err(ControlError::NoProduction(name.to_string()).into());
    }
    let backup =
        slipway_control::request_backup(&session, project.id, BackupKind::Manual, None).await?;
    tracing::info!(project = %name, backup = backup.id, by = caller.login(), "backup requested");
    Ok(backup)
}

/// `POST /api/v1/projects/{name}/backups/{id}/verify`: restore-tested again.
pub async fn verify(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path((name, id)): Path<(String, i64)>,
) -> Result<Json<slipway_api::Backup>, ApiError> {
    let session = state.control.session().await?;
    authorize_project(&session, &caller, &name, Action::Rebuild, Stage::Production).await?;
    Ok(Json(
        slipway_control::request_verification(&session, &name, id)
            .await?
            .to_api(),
    ))
}

/// `POST /api/v1/projects/{name}/backups/{id}/restore`: queues the build that
/// restores it into production (its state backed up first, rolled back if
/// anything fails), a staging branch or a test instance (neutralized).
pub async fn restore(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path((name, id)): Path<(String, i64)>,
    request: Result<Json<RestoreTarget>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Build>), ApiError> {
    let target = body(request)?;
    let session = state.control.session().await?;
    let action = match target {
        RestoreTarget::Production => Action::Rebuild,
        _ => Action::Duplicate,
    };
    let (project, _) =
        authorize_project(&session, &caller, &name, action, Stage::Production).await?;
    let backup = slipway_control::get_backup(&session, &name, id).await?;
    let into = match &target {
        RestoreTarget::Production => RestoreInto::Production,
        RestoreTarget::Branch { branch } => RestoreInto::Branch(branch),
        RestoreTarget::TestInstance { name: instance } => RestoreInto::TestInstance {
            name: instance,
            mode: InstanceMode::Either,
        },
    };
    let branch = match &target {
        RestoreTarget::Branch { branch } => Some(branch.as_str()),
        _ => None,
    };
    let sources = restore_sources(&session, &project, branch).await?;
    let build = slipway_control::enqueue_restore(&session, &name, &backup, into, &sources).await?;
    tracing::warn!(project = %name, backup = id, build = build.id, ?target, by = caller.login(), "restore requested");
    Ok((
        StatusCode::CREATED,
        Json(build_answer(&build, &state.proxy.addresses)),
    ))
}

/// The Odoo commits a restore runs: those of any build of the branch
/// (production keeps its own).
async fn restore_sources(
    session: &tokio_postgres::Client,
    project: &Project,
    branch: Option<&str>,
) -> Result<Vec<slipway_api::BuildSource>, ApiError> {
    let branch = slipway_control::get_branch(session, project, branch).await?;
    match odoo_revisions::for_branch(session, project, &branch, Revisions::Usual).await {
        Ok(sources) => Ok(sources),
        Err(RevisionError::Control(error)) => Err(error.into()),
        Err(error @ RevisionError::Source(_)) => {
            Err(ApiError::new(StatusCode::BAD_GATEWAY, error.to_string()))
        }
    }
}

/// `GET /api/v1/projects/{name}/backups/{id}/download`: as Odoo's database
/// manager restores it (zip: dump.sql, manifest.json, filestore/).
pub async fn download(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path((name, id)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    backup_zip(&state, &caller, &name, id).await
}

/// Backup `id` of `name` as Odoo's zip, streamed as an attachment, if the
/// caller may download production's database.
pub(crate) async fn backup_zip(
    state: &SharedState,
    caller: &Caller,
    name: &str,
    id: i64,
) -> Result<Response, ApiError> {
    let session = state.control.session().await?;
    authorize_project(&session, caller, name, Action::Dump, Stage::Production).await?;
    let record = slipway_control::get_backup(&session, name, id).await?;
    drop(session);
    if let Some(why) = record.unrestorable() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("backup #{id} cannot be downloaded: {why}"),
        ));
    }
    let backup = slipway_backup::BackupStore::new(&state.engine.layout().backups)
        .project(name)
        .open(&record.dir_name())
        .map_err(|error| match error {
            slipway_backup::BackupError::NotFound { .. } => ApiError::new(
                StatusCode::GONE,
                format!("backup #{id}'s files are not on this host (they are where the worker serving production keeps them)"),
            ),
            other => ApiError::internal("opening a backup", other),
        })?;
    let dir = state.engine.layout().dumps();
    std::fs::create_dir_all(&dir)
        .map_err(|error| ApiError::internal("creating the dumps dir", error))?;
    let out = dir.join(format!(
        "backup-{id}-{}.zip",
        slipway_postgres::random_secret(6)
    ));
    let pg_restore = state.pg_binaries.program("pg_restore");
    slipway_backup::export_zip(&backup, &pg_restore, &out)
        .await
        .map_err(|error| ApiError::internal("exporting a backup", error))?;
    let file = tokio::fs::File::open(&out)
        .await
        .map_err(|error| ApiError::internal("opening an exported backup", error))?;
    // Unlinked now, streamed from the open file: nothing is left behind.
    let _ = std::fs::remove_file(&out);
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}-backup{id}.zip\""),
            ),
        ],
        Body::from_stream(tokio_util::io::ReaderStream::new(file)),
    )
        .into_response())
}

/// `GET /api/v1/projects/{name}/backup-settings`.
pub async fn settings(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<BackupSettings>, ApiError> {
    let session = state.control.session().await?;
    let (project, _) =
        authorize_project(&session, &caller, &name, Action::View, Stage::Production).await?;
    Ok(Json(
        slipway_control::backup_settings(&session, project.id).await?,
    ))
}

/// `PUT /api/v1/projects/{name}/backup-settings`.
pub async fn set_settings(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    request: Result<Json<BackupSettings>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<BackupSettings>, ApiError> {
    let settings = body(request)?;
    if settings.daily_at_minute >= 24 * 60 {
        return Err(ApiError::bad_request(
            "daily_at_minute is minutes after midnight UTC: 0 to 1439",
        ));
    }
    if settings.daily == 0 && settings.weekly == 0 && settings.monthly == 0 {
        return Err(ApiError::bad_request(
            "keeping no daily, weekly nor monthly backup leaves production without backups: keep at least one",
        ));
    }
    let session = state.control.session().await?;
    authorize_project(
        &session,
        &caller,
        &name,
        Action::ManageProject,
        Stage::Production,
    )
    .await?;
    slipway_control::set_backup_settings(&session, &name, &settings).await?;
    Ok(Json(settings))
}

/// `GET /api/v1/projects/{name}/testinstances`, by name.
pub async fn test_instances(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Vec<TestInstance>>, ApiError> {
    let session = state.control.session().await?;
    let (project, _) =
        authorize_project(&session, &caller, &name, Action::View, Stage::Staging).await?;
    Ok(Json(
        test_instance_answers(&state, &session, &project).await?,
    ))
}

pub(crate) async fn test_instance_answers(
    state: &SharedState,
    session: &tokio_postgres::Client,
    project: &Project,
) -> Result<Vec<TestInstance>, ApiError> {
    Ok(slipway_control::list_test_instances(session, project.id)
        .await?
        .into_iter()
        .map(|instance| {
            let build = instance.build.as_ref();
            TestInstance {
                name: instance.name,
                build: build.map(|b| b.id),
                state: build.map(|b| b.state),
                backup: build.and_then(|b| b.restore_backup),
                created_at: instance.created_at,
                url: build
                    .filter(|b| b.state == slipway_api::BuildState::Serving)
                    .map(|b| state.proxy.addresses.build_url(b.id)),
            }
        })
        .collect())
}

/// `POST /api/v1/projects/{name}/testinstances`: a new test instance from
/// backup `backup` or the newest verified one.
pub async fn create_test_instance(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    request: Result<Json<TestInstanceRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Build>), ApiError> {
    let request = body(request)?;
    queue_test_instance(
        &state,
        &caller,
        &name,
        &request.name,
        request.backup,
        InstanceMode::New,
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct RefreshRequest {
    #[serde(default)]
    pub backup: Option<i64>,
}

/// `POST /api/v1/projects/{name}/testinstances/{instance}/refresh`: restored
/// again from the newest verified backup (or `backup`).
pub async fn refresh_test_instance(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path((name, instance)): Path<(String, String)>,
    request: Option<Json<RefreshRequest>>,
) -> Result<(StatusCode, Json<Build>), ApiError> {
    let backup = request.and_then(|Json(request)| request.backup);
    queue_test_instance(
        &state,
        &caller,
        &name,
        &instance,
        backup,
        InstanceMode::Existing,
    )
    .await
}

pub(crate) async fn queue_test_instance(
    state: &SharedState,
    caller: &Caller,
    project: &str,
    instance: &str,
    backup: Option<i64>,
    mode: InstanceMode,
) -> Result<(StatusCode, Json<Build>), ApiError> {
    let session = state.control.session().await?;
    let (found, _) = authorize_project(
        &session,
        caller,
        project,
        Action::Duplicate,
        Stage::Production,
    )
    .await?;
    let backup = slipway_control::restorable_backup(&session, project, backup).await?;
    let into = RestoreInto::TestInstance {
        name: instance,
        mode,
    };
    let sources = restore_sources(&session, &found, None).await?;
    let build =
        slipway_control::enqueue_restore(&session, project, &backup, into, &sources).await?;
    tracing::info!(
        project,
        instance,
        backup = backup.id,
        build = build.id,
        by = caller.login(),
        "test instance queued"
    );
    Ok((
        StatusCode::CREATED,
        Json(build_answer(&build, &state.proxy.addresses)),
    ))
}

/// `DELETE /api/v1/projects/{name}/testinstances/{instance}`.
pub async fn remove_test_instance(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path((name, instance)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let session = state.control.session().await?;
    authorize_project(
        &session,
        &caller,
        &name,
        Action::Duplicate,
        Stage::Production,
    )
    .await?;
    slipway_control::remove_test_instance(&session, &name, &instance).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct ImportQuery {
    /// The file's name, as the user gave it (for messages).
    pub file: Option<String>,
}

/// `POST /api/v1/projects/{name}/imports?file=NAME`, the zip as the body:
/// stored next to the backups (streamed, bounded), then checked and loaded
/// by a worker as a backup of kind import; restore it where it goes.
pub async fn import(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(query): Query<ImportQuery>,
    upload: Body,
) -> Result<(StatusCode, Json<slipway_api::Backup>), ApiError> {
    let session = state.control.session().await?;
    let (project, _) =
        authorize_project(&session, &caller, &name, Action::Rebuild, Stage::Production).await?;
    let file_name: String = query
        .file
        .unwrap_or_else(|| "upload.zip".into())
        .chars()
        .filter(|c| !c.is_control() && *c != '/' && *c != '\\')
        .take(120)
        .collect();
    let dir = state.engine.layout().backups.join(".uploads");
    std::fs::create_dir_all(&dir)
        .map_err(|error| ApiError::internal("creating the uploads dir", error))?;
    let path = dir.join(format!(
        "{}-{}.zip",
        project.name,
        slipway_postgres::random_secret(9)
    ));
    if let Err(error) = receive(upload, &path).await {
        let _ = std::fs::remove_file(&path);
        return Err(error);
    }
    let path_text = path.to_string_lossy().into_owned();
    let backup = slipway_control::request_backup(
        &session,
        project.id,
        BackupKind::Import,
        Some((&path_text, &file_name)),
    )
    .await
    .inspect_err(|_| {
        let _ = std::fs::remove_file(&path);
    })?;
    tracing::info!(project = %name, backup = backup.id, file = %file_name, by = caller.login(), "database uploaded for import");
    Ok((StatusCode::CREATED, Json(backup.to_api())))
}

/// The request body into `path` (0600), at most [`MAX_UPLOAD`] bytes.
async fn receive(upload: Body, path: &std::path::Path) -> Result<(), ApiError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|error| ApiError::internal("storing an upload", error))?;
    let mut file = tokio::fs::File::from_std(file);
    let mut stream = upload.into_data_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::bad_request(format!("the upload was interrupted: {error}"))
        })?;
        received += chunk.len() as u64;
        if received > MAX_UPLOAD {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the upload is larger than {}",
                    slipway_api::ByteSize(MAX_UPLOAD)
                ),
            ));
        }
        file.write_all(&chunk).await.map_err(|error| {
            if error.raw_os_error() == Some(libc::ENOSPC) {
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "the backup disk is full: free some space and upload again",
                )
            } else {
                ApiError::internal("storing an upload", error)
            }
        })?;
    }
    file.sync_all()
        .await
        .map_err(|error| ApiError::internal("storing an upload", error))?;
    if received == 0 {
        return Err(ApiError::bad_request(
            "the upload is empty: send the zip as the request body",
        ));
    }
    Ok(())
}
