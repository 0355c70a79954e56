//! Server-sent events of the live pages: a stream fed by a task that ends
//! when the browser goes away.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::Event;
use futures_util::stream::Stream;

/// A comment line this often keeps proxies from closing a quiet stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A JSON string: one SSE data line whatever the text holds.
pub fn json_line(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// A stream fed by a task. When the client goes away the stream is dropped
/// and the task's sender closes: the task must end then (waiting on
/// `Sender::closed` beside whatever else it waits on), which also drops its
/// subscription to the live events.
pub fn async_stream<F, Fut>(produce: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(produce(sender));
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    })
}
