use std::io::{Read, Seek, SeekFrom};

use axum::extract::{Path, Query, State};
use axum::http::header::{HeaderName, CONTENT_TYPE};
use axum::response::IntoResponse;
use serde::Deserialize;

use crate::{ApiError, SharedState};

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
    Path(id): Path<i64>,
    Query(query): Query<LogQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let session = state.control.session().await?;
    let build = slipway_control::get_build(&session, id).await?;
    drop(session);
    let dir = state.layout.logs(&format!("s{}", build.id));
    // Before Odoo runs, the build may be installing its requirements.
    let path = ["odoo.log", "pip.log"]
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.exists());
    let (text, next) = match path {
        None => (String::new(), query.offset),
        Some(path) => {
            let read = tokio::task::spawn_blocking(move || -> std::io::Result<(Vec<u8>, u64)> {
                let mut file = std::fs::File::open(&path)?;
                let length = file.metadata()?.len();
                let start = query.offset.min(length);
                file.seek(SeekFrom::Start(start))?;
                let mut buffer = Vec::new();
                file.take(CHUNK).read_to_end(&mut buffer)?;
                let next = start + buffer.len() as u64;
                Ok((buffer, next))
            })
            .await
            .map_err(|error| ApiError::internal("reading a build log", error))?
            .map_err(|error| ApiError::internal("reading a build log", error))?;
            (String::from_utf8_lossy(&read.0).into_owned(), read.1)
        }
    };
    Ok((
        [
            (CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
            (HeaderName::from_static("x-next-offset"), next.to_string()),
        ],
        text,
    ))
}
