use std::io::{Read, Seek, SeekFrom};

use axum::extract::{Path, Query, State};
use axum::http::header::{HeaderName, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::Extension;
use serde::Deserialize;
use slipway_access::Action;
use slipway_engine::LogFile;

use crate::auth::{authorize_build, Caller};
use crate::{ApiError, SharedState};

/// Up to [`CHUNK`] bytes of the concatenated `files` from `offset`, and the
/// offset after them.
fn read_stream(files: &[std::path::PathBuf], offset: u64) -> std::io::Result<(Vec<u8>, u64)> {
    let mut skipped = 0u64;
    let mut buffer = Vec::new();
    for path in files {
        let mut file = std::fs::File::open(path)?;
        let length = file.metadata()?.len();
        if offset >= skipped + length {
            skipped += length;
            continue;
        }
        let start = offset.saturating_sub(skipped);
        file.seek(SeekFrom::Start(start))?;
        let room = CHUNK - buffer.len() as u64;
        file.take(room).read_to_end(&mut buffer)?;
        skipped += length;
        if buffer.len() as u64 >= CHUNK {
            break;
        }
    }
    let next = offset + buffer.len() as u64;
    Ok((buffer, next))
}

/// At most this much log per answer; the client asks again from the next offset.
const CHUNK: u64 = 1 << 20;

#[derive(Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    pub offset: u64,
}

/// `GET /api/v1/builds/{id}/log?offset=N`: the build's Odoo log from byte N
/// (empty while nothing is written yet); `X-Next-Offset` says where to go on.
pub async fn log(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Query(query): Query<LogQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let session = state.control.session().await?;
    let (build, _) = authorize_build(&session, &caller, id, Action::View).await?;
    drop(session);
    let engine_id = build.attempt().to_string();
    // One stream of the run's files, in the order they are written: each is
    // complete before the next starts, so offsets stay valid.
    let files: Vec<std::path::PathBuf> = LogFile::RUN
        .into_iter()
        .map(|file| state.engine.layout().log(&engine_id, file))
        .filter(|path| path.exists())
        .collect();
    let offset = query.offset;
    let (bytes, next) = tokio::task::spawn_blocking(move || read_stream(&files, offset))
        .await
        .map_err(|error| ApiError::internal("reading a build log", error))?
        .map_err(|error| ApiError::internal("reading a build log", error))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok((
        [
            (CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
            (HeaderName::from_static("x-next-offset"), next.to_string()),
        ],
        text,
    ))
}
