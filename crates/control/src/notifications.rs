//! LISTEN/NOTIFY: what changed, announced by the schema's triggers, for
//! workers (the queue) and servers (live pages, caches of access decisions).

use std::future::poll_fn;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, Config, Connection, NoTls};

use crate::ControlError;

/// A branch was created, deleted, moved or changed stage; payload: its project's id.
pub const BRANCHES_CHANNEL: &str = "slipway_branches";
/// A session, account, role or token went away or changed: cached access
/// decisions are stale.
pub const ACCESS_CHANNEL: &str = "slipway_access";

/// One announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notification {
    /// The build was queued or changed state (or its start was requested).
    Build(i64),
    /// A branch of the project changed.
    Branches(i64),
    /// Access rights changed somewhere.
    Access,
}

/// A dedicated session listening to every channel. Nothing is dropped (an
/// access revocation must arrive); the receiver closes when the session ends:
/// listen again, and treat everything as changed meanwhile.
pub async fn listen_all(
    config: &Config,
) -> Result<mpsc::UnboundedReceiver<Notification>, ControlError> {
    let (client, connection) = config.connect(NoTls).await?;
    let (sender, receiver) = mpsc::unbounded_channel();
    let statements = format!(
        "LISTEN {}; LISTEN {BRANCHES_CHANNEL}; LISTEN {ACCESS_CHANNEL}",
        crate::NOTIFY_CHANNEL
    );
    let watch = sender.clone();
    let receiver_gone = async move { watch.closed().await };
    subscribe(
        client,
        connection,
        &statements,
        receiver_gone,
        move |channel, payload| {
            let notification = match channel {
                crate::NOTIFY_CHANNEL => payload.parse().ok().map(Notification::Build),
                BRANCHES_CHANNEL => payload.parse().ok().map(Notification::Branches),
                ACCESS_CHANNEL => Some(Notification::Access),
                _ => None,
            };
            match notification {
                Some(notification) => sender.send(notification).is_ok(),
                None => true,
            }
        },
    )
    .await?;
    Ok(receiver)
}

/// Runs `listen` (LISTEN statements) on the session, then hands every
/// notification to `deliver(channel, payload)` from a task of its own until
/// `deliver` returns false, `receiver_gone` completes, or the session ends.
pub(crate) async fn subscribe<S, T>(
    client: Client,
    mut connection: Connection<S, T>,
    listen: &str,
    receiver_gone: impl std::future::Future<Output = ()> + Send + 'static,
    mut deliver: impl FnMut(&str, &str) -> bool + Send + 'static,
) -> Result<(), ControlError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut pass_on = move |message: AsyncMessage| match message {
        AsyncMessage::Notification(notification) => {
            deliver(notification.channel(), notification.payload())
        }
        AsyncMessage::Notice(notice) => {
            tracing::debug!(
                message = notice.message(),
                "notice on the listening session"
            );
            true
        }
        _ => true,
    };
    {
        // The connection delivers the reply to LISTEN only while it is polled.
        let subscribe = client.batch_execute(listen);
        tokio::pin!(subscribe);
        loop {
            tokio::select! {
                result = &mut subscribe => {
                    result?;
                    break;
                }
                message = poll_fn(|cx| connection.poll_message(cx)) => match message {
                    Some(Ok(message)) => {
                        pass_on(message);
                    }
                    Some(Err(error)) => return Err(error.into()),
                    None => return Err(ControlError::Database(
                        "the listening session closed before LISTEN completed".into(),
                    )),
                },
            }
        }
    }
    tokio::spawn(async move {
        // Holding the client keeps the session open.
        let _client = client;
        tokio::pin!(receiver_gone);
        loop {
            tokio::select! {
                _ = &mut receiver_gone => break,
                message = poll_fn(|cx| connection.poll_message(cx)) => match message {
                    Some(Ok(message)) => {
                        if !pass_on(message) {
                            break;
                        }
                    }
                    Some(Err(error)) => {
                        tracing::warn!(error = %crate::error::describe(&error), "the listening session failed");
                        break;
                    }
                    None => break,
                },
            }
        }
    });
    Ok(())
}
