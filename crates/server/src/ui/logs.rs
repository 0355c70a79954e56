//! A build's logs: each file whole, or followed live over server-sent events
//! that resume where they stopped after a reconnect (the event id is the byte
//! offset; browsers send it back as `Last-Event-ID`).

use std::convert::Infallible;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;
use slipway_access::Action;
use slipway_control::{Build, BuildState};
use slipway_engine::LogFile;

use super::stream::{async_stream, KEEP_ALIVE};
use super::UiError;
use crate::auth::Viewer;
use crate::{ApiError, SharedState};

/// At most this much is sent per event.
const CHUNK: usize = 64 * 1024;
/// A first look at a long log starts this far from its end (the whole file
/// is one click away).
const INITIAL_TAIL: u64 = 512 * 1024;
/// How often a followed log is looked at for new bytes.
const POLL: Duration = Duration::from_millis(100);
/// Quiet for this long after the build ended, the stream says `end`.
const SETTLE: Duration = Duration::from_secs(2);
/// How often a quiet log asks whether its build still runs.
const STATE_CHECK: Duration = Duration::from_secs(1);

/// A log file's tab on the build page.
pub struct LogTab {
    pub name: &'static str,
    pub label: &'static str,
    pub size: String,
}

fn path_of(state: &SharedState, build: &Build, file: LogFile) -> PathBuf {
    state
        .engine
        .layout()
        .log(&build.attempt().to_string(), file)
}

/// The build's log files that exist, in the order they are written.
pub fn files_of(state: &SharedState, build: &Build) -> Vec<LogTab> {
    LogFile::ALL
        .into_iter()
        .filter_map(|file| {
            let size = std::fs::metadata(path_of(state, build, file)).ok()?.len();
            Some(LogTab {
                name: file.file_name(),
                label: file.title(),
                size: slipway_api::ByteSize(size).to_string(),
            })
        })
        .collect()
}

/// One of the known log files (never anything else: the name comes from the
/// URL).
fn log_file(name: &str) -> Result<LogFile, UiError> {
    LogFile::from_file_name(name).ok_or_else(|| {
        let known: Vec<&str> = LogFile::ALL.iter().map(|file| file.file_name()).collect();
        ApiError::not_found(format!(
            "builds have no log named '{name}'; known logs: {}",
            known.join(", ")
        ))
        .into()
    })
}

/// `GET /builds/{id}/logs/{file}`: the whole file, as text.
pub async fn raw(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path((id, file)): Path<(i64, String)>,
) -> Result<Response, UiError> {
    let build = viewer.authorized_build(&state, id, Action::View).await?.0;
    let path = path_of(&state, &build, log_file(&file)?);
    let opened = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::not_found(format!("build #{id} has no {file} (yet)")))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"build{id}-{file}\""),
            ),
        ],
        Body::from_stream(tokio_util::io::ReaderStream::new(opened)),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct TailQuery {
    /// Start here (bytes) instead of near the end.
    from: Option<u64>,
}

/// `GET /builds/{id}/logs/{file}/tail`: `chunk` events
/// (`{"offset", "text"}`, event id = the offset after it), a `skipped`
/// event when the start of a long log is left out, `end` once the build is
/// over and the file complete.
pub async fn tail(
    State(state): State<SharedState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path((id, file)): Path<(i64, String)>,
    Query(query): Query<TailQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, UiError> {
    let build = viewer.authorized_build(&state, id, Action::View).await?.0;
    let file = log_file(&file)?;
    let path = path_of(&state, &build, file);
    let resumed = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let start = resumed.or(query.from);
    let stream = async_stream(move |sender| async move {
        let mut offset = match start {
            Some(offset) => offset,
            None => {
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                let from = size.saturating_sub(INITIAL_TAIL);
                if from > 0 {
                    let skipped = Event::default()
                        .event("skipped")
                        .data(serde_json::json!({ "bytes": from }).to_string());
                    if sender.send(skipped).await.is_err() {
                        return;
                    }
                }
                from
            }
        };
        let mut quiet_since: Option<tokio::time::Instant> = None;
        let mut last_check: Option<(tokio::time::Instant, bool)> = None;
        loop {
            // Nothing else tells a quiet follower that its page closed.
            if sender.is_closed() {
                return;
            }
            let read_path = path.clone();
            let read = tokio::task::spawn_blocking(move || read_chunk(&read_path, offset)).await;
            let chunk = match read {
                Ok(Ok(chunk)) => chunk,
                // Not written yet, or unreadable right now: look again.
                _ => Chunk::default(),
            };
            if !chunk.bytes.is_empty() {
                quiet_since = None;
                let next = offset + chunk.consumed;
                let event = Event::default().event("chunk").id(next.to_string()).data(
                    serde_json::json!({
                        "offset": offset,
                        "text": String::from_utf8_lossy(&chunk.bytes),
                    })
                    .to_string(),
                );
                if sender.send(event).await.is_err() {
                    return;
                }
                offset = next;
                continue;
            }
            // Nothing new: is anything still going to write?
            let writing = match last_check {
                Some((at, writing)) if at.elapsed() < STATE_CHECK => writing,
                _ => {
                    if !viewer.still_signed_in(&state).await {
                        return;
                    }
                    let writing = still_writing(&state, id, file).await;
                    last_check = Some((tokio::time::Instant::now(), writing));
                    writing
                }
            };
            if !writing {
                let since = *quiet_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= SETTLE {
                    let _ = sender.send(Event::default().event("end").data("{}")).await;
                    return;
                }
            }
            tokio::time::sleep(POLL).await;
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// Whether the file may still grow: the build is queued or running, or (for
/// the server's log) serving.
async fn still_writing(state: &SharedState, id: i64, file: LogFile) -> bool {
    let Ok(session) = state.control.session().await else {
        return true;
    };
    match slipway_control::get_build(&session, id).await {
        Ok(build) => match build.state {
            BuildState::Pending | BuildState::Running => true,
            BuildState::Serving => file == LogFile::Server,
            BuildState::Stopped | BuildState::Done => false,
        },
        Err(_) => false,
    }
}

#[derive(Default)]
struct Chunk {
    bytes: Vec<u8>,
    /// Bytes of the file this chunk covers (the offset moves by this).
    consumed: u64,
}

/// Up to [`CHUNK`] bytes from `offset`, cut after the last complete line
/// (or, for a line longer than a chunk, at a character boundary), so that no
/// character is split between two events.
fn read_chunk(path: &std::path::Path, offset: u64) -> std::io::Result<Chunk> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::with_capacity(CHUNK);
    file.take(CHUNK as u64).read_to_end(&mut bytes)?;
    let cut = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(newline) => newline + 1,
        // A line still being written, or longer than a chunk.
        None => utf8_boundary(&bytes),
    };
    bytes.truncate(cut);
    Ok(Chunk {
        consumed: cut as u64,
        bytes,
    })
}

/// The longest prefix of `bytes` that does not end inside a UTF-8 sequence.
fn utf8_boundary(bytes: &[u8]) -> usize {
    let mut end = bytes.len();
    // A sequence is at most 4 bytes: look back at most 3 for its lead byte.
    for back in 1..=3.min(bytes.len()) {
        let byte = bytes[bytes.len() - back];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue;
        }
        let length = match byte {
            b if b & 0b1000_0000 == 0 => 1,
            b if b & 0b1110_0000 == 0b1100_0000 => 2,
            b if b & 0b1111_0000 == 0b1110_0000 => 3,
            b if b & 0b1111_1000 == 0b1111_0000 => 4,
            _ => 1,
        };
        if length > back {
            end = bytes.len() - back;
        }
        break;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_end_after_a_line_or_at_a_character_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odoo.log");
        std::fs::write(&path, "first line\nsecond line\npartial").unwrap();
        let chunk = read_chunk(&path, 0).unwrap();
        assert_eq!(chunk.bytes, b"first line\nsecond line\n");
        assert_eq!(chunk.consumed, 23);
        let rest = read_chunk(&path, 23).unwrap();
        assert_eq!(rest.bytes, b"partial");
        // A line longer than a chunk, of two-byte characters, is cut between two.
        let long = "é".repeat(CHUNK);
        std::fs::write(&path, format!("x{long}\n")).unwrap();
        let chunk = read_chunk(&path, 0).unwrap();
        assert!(chunk.bytes.len() < CHUNK);
        assert!(std::str::from_utf8(&chunk.bytes).is_ok());
    }

    #[test]
    fn utf8_boundaries_never_split_a_character() {
        assert_eq!(utf8_boundary(b"abc"), 3);
        assert_eq!(utf8_boundary("aé".as_bytes()), 3);
        assert_eq!(utf8_boundary(&"aé".as_bytes()[..2]), 1);
        assert_eq!(utf8_boundary(&"a€".as_bytes()[..3]), 1);
        assert_eq!(utf8_boundary(&"a😀".as_bytes()[..4]), 1);
        assert_eq!(utf8_boundary("a😀".as_bytes()), 5);
    }
}
