//! Dumps of a build's database: Odoo's zip (what its database manager
//! restores) or `pg_dump -Fc`.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use slipway_access::Action;
use slipway_control::Build;
use slipway_dump::{DumpError, DumpFormat, DumpSource};

use crate::auth::{authorize_build, Caller};
use crate::{ApiError, SharedState};

#[derive(Deserialize)]
pub struct DumpQuery {
    /// `zip` (default) or `dump`.
    pub format: Option<String>,
}

/// `GET /api/v1/builds/{id}/dump[?format=zip|dump]`: streamed as an attachment.
pub async fn dump(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Query(query): Query<DumpQuery>,
) -> Result<Response, ApiError> {
    let session = state.control.session().await?;
    let (build, _) = authorize_build(&session, &caller, id, Action::Dump).await?;
    drop(session);
    stream_dump(&state, &build, query.format.as_deref().unwrap_or("zip")).await
}

/// The build's database as an attachment, in `format` (`zip` or `dump`); the
/// caller checked the rules.
pub async fn stream_dump(
    state: &SharedState,
    build: &Build,
    format: &str,
) -> Result<Response, ApiError> {
    let id = build.id;
    let format = match format {
        "zip" => DumpFormat::Zip,
        "dump" => DumpFormat::PgCustom,
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown dump format '{other}': use 'zip' (Odoo's database manager) or 'dump' (pg_dump -Fc)"
            )))
        }
    };
    let gone = || {
        ApiError::new(
            StatusCode::GONE,
            format!(
                "build #{id} has no database any more (it was never kept, or it was collected after \
                 being stopped); rebuild the branch to get one"
            ),
        )
    };
    let Some(database) = build.live_database().map(str::to_string) else {
        return Err(gone());
    };
    let engine_id = build.attempt().to_string();
    let filestore = state.engine.layout().build(&engine_id).filestore(&database);
    let dir = state.engine.layout().dumps();
    std::fs::create_dir_all(&dir)
        .map_err(|error| ApiError::internal("creating the dumps dir", error))?;
    let out = dir.join(format!(
        "{engine_id}-{}.{}",
        slipway_postgres::random_secret(6),
        format.extension()
    ));
    let pg_dump = state.pg_binaries.program("pg_dump");
    let source = DumpSource {
        pg_dump: &pg_dump,
        connection: state.engine.cluster().libpq_env(),
        database: &database,
        filestore: Some(&filestore),
    };
    match slipway_dump::write_dump(&source, format, &out).await {
        Ok(_) => {}
        Err(DumpError::DatabaseGone { .. }) => return Err(gone()),
        Err(error) => return Err(ApiError::internal("dumping a build's database", error)),
    }
    let file = tokio::fs::File::open(&out)
        .await
        .map_err(|error| ApiError::internal("opening a dump", error))?;
    // Unlinked now, streamed from the open file: nothing is left behind.
    let _ = std::fs::remove_file(&out);
    let name = format!(
        "{}-build{id}.{}",
        build.branch.replace(['"', '/', '\\'], "_"),
        format.extension()
    );
    let content_type = match format {
        DumpFormat::Zip => "application/zip",
        DumpFormat::PgCustom => "application/octet-stream",
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(tokio_util::io::ReaderStream::new(file)),
    )
        .into_response())
}
