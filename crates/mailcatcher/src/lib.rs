//! The SMTP server every non-production Odoo build sends its mail to.
//!
//! Nothing is ever relayed: each accepted message is handed to
//! [`Mailboxes::deliver`] for the mailbox (build) whose SMTP login the
//! client authenticated with.  A build's `odoo.conf` points at the catcher:
//!
//! ```ini
//! smtp_server = 127.0.0.1
//! smtp_port = <catcher port>
//! smtp_user = <per-build login>
//! smtp_password = <per-build secret>
//! ; smtp_ssl must stay unset/False: with it Odoo 14–19 send STARTTLS,
//! ; which the catcher does not offer, and every mail fails.
//! ```
//!
//! Odoo (14.0 to 19.0, `ir.mail_server.connect`/`send_email`) opens
//! `smtplib.SMTP(host, port, timeout=60)`, calls `login()` (EHLO, then
//! `AUTH PLAIN` with an initial response, falling back to `AUTH LOGIN`),
//! then `send_message()` (`MAIL FROM:<…> SIZE=n`, one `RCPT TO` per
//! recipient, `DATA`) and `quit()`; its "Test Connection" button stops after
//! the `354` of `DATA` and closes the socket.  All of this is supported.
//!
//! # SMTP subset (RFC 5321, 4954, 1870, 6152, 6531, 2920, 2034)
//!
//! * `EHLO` advertises `PIPELINING`, `SIZE <limit>`, `8BITMIME`, `SMTPUTF8`,
//!   `ENHANCEDSTATUSCODES` and `AUTH PLAIN LOGIN`; `HELO` works too.
//!   `STARTTLS` is not offered (`502`).
//! * `AUTH PLAIN` (initial response or `334` continuation) and `AUTH LOGIN`
//!   (with or without initial response); `*` cancels.  Wrong credentials:
//!   `535`; after [`Config::max_auth_failures`] the connection is closed.
//! * `MAIL` before a successful `AUTH`: `530` — every mail must be
//!   attributable to a build.  Parameters `SIZE=`, `BODY=7BIT|8BITMIME`,
//!   `SMTPUTF8` and `AUTH=` are accepted, others get `555`.
//! * `RCPT` up to [`Config::max_recipients`] (then `452`), `DATA` with
//!   dot-unstuffing, several messages per connection, `RSET`, `NOOP`,
//!   `QUIT`, `HELP`, `VRFY` (`252`); `EXPN`, `TURN`, `ETRN`, `BDAT`,
//!   `STARTTLS`: `502`; anything else: `500`.
//! * Message size over [`Config::max_message_size`]: `552` (announced
//!   `SIZE=` too big: at `MAIL`; otherwise after the final dot, the excess
//!   being read and dropped, up to as much again before the connection is
//!   closed).
//! * Command lines longer than [`MAX_COMMAND_LINE`]: `500`.  Lines of the
//!   message itself are bounded only by the message size, because Odoo does
//!   not fold `Message-Id`/`References` headers.
//! * Each line must arrive within [`Config::idle_timeout`], each reply be
//!   taken within it, or the connection is closed (`421`).
//! * At most [`Config::max_connections`] connections at once; more get
//!   `421` and are closed.  After [`Config::max_errors`] refused commands the
//!   connection is closed too.
//!
//! Memory: an unauthenticated connection holds at most its 16 KiB read
//! buffer and one command line; only an authenticated one (a build with its
//! secret) can make the server hold a message, up to the size limit.
//!
//! Stored messages keep the client's bytes, dot-unstuffed, with every line
//! ending normalised to CRLF, and without any added trace header.

mod bytes;
mod command;
mod headers;
mod line;
mod session;
mod summary;
mod view;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument as _;

pub use summary::{summarize, Summary};
pub use view::{Attachment, MailView};

/// A boxed, sendable future, as [`Mailboxes`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an SMTP login opens: for slipway, the id of the build whose
/// `odoo.conf` holds that login (any `i64` key the implementation likes).
pub type MailboxId = i64;

/// Why a mailbox could not store a message (for the logs only).
pub type DeliveryError = Box<dyn std::error::Error + Send + Sync>;

/// Longest command line accepted, CRLF included: RFC 4954 §4 asks for
/// 12288 octets so that `AUTH` responses fit.
pub const MAX_COMMAND_LINE: usize = 12288;

/// Where caught mail goes.  Implemented by the caller (slipway's control
/// plane); the catcher only calls it.
pub trait Mailboxes: Send + Sync + 'static {
    /// Which mailbox a login/secret pair opens; `None` refuses the login
    /// (`535`).  The secret is never logged by the catcher.
    fn authenticate<'a>(
        &'a self,
        login: &'a str,
        secret: &'a str,
    ) -> BoxFuture<'a, Option<MailboxId>>;

    /// Stores one accepted message.  `Err` (a message for the logs) gives
    /// the client a `451` temporary failure, so it may retry.
    fn deliver(
        &self,
        mailbox: MailboxId,
        mail: CaughtMail,
    ) -> BoxFuture<'_, Result<(), DeliveryError>>;
}

/// One message as the catcher received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaughtMail {
    /// The `MAIL FROM` address, without angle brackets; empty for the null
    /// sender `<>`.
    pub envelope_from: String,
    /// The `RCPT TO` addresses, in order, without angle brackets.
    pub envelope_to: Vec<String>,
    /// The message (RFC 5322 headers and body) as sent, dot-unstuffed,
    /// lines ending in CRLF, without the final `.` line.
    pub raw: Vec<u8>,
    /// [`summarize`] of `raw`.
    pub summary: Summary,
}

/// Limits and names of a catcher.  [`Config::default`] is what [`serve`]
/// uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// The name the server gives in its greeting and EHLO reply.
    pub hostname: String,
    /// Largest message accepted, in bytes (advertised as `SIZE`).
    /// Default: 25 MiB.
    pub max_message_size: usize,
    /// Most `RCPT TO` per message (RFC 5321 asks servers to take at least
    /// 100).  Default: 100.
    pub max_recipients: usize,
    /// Most connections served at once.  Default: 64.
    pub max_connections: usize,
    /// How long the server waits for each line from the client (and for the
    /// client to take each reply).  Default: 60 s.
    pub idle_timeout: Duration,
    /// Failed `AUTH` attempts before the connection is closed.  Default: 3
    /// (smtplib's `login()` tries PLAIN then LOGIN: 2 attempts).
    pub max_auth_failures: u32,
    /// Refused commands (`5xx` syntax/sequence errors) before the connection
    /// is closed.  Default: 20.
    pub max_errors: u32,
    /// After shutdown, how long connections in the middle of a message may
    /// take to finish before they are cut.  Default: 10 s.
    pub shutdown_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hostname: "slipway-mailcatcher".to_owned(),
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 64,
            idle_timeout: Duration::from_secs(60),
            max_auth_failures: 3,
            max_errors: 20,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// [`serve_with`] the default [`Config`].
pub async fn serve(
    listener: TcpListener,
    mailboxes: Arc<dyn Mailboxes>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    serve_with(listener, mailboxes, Config::default(), shutdown).await
}

/// State shared by all connections of one server.
pub(crate) struct Shared {
    pub mailboxes: Arc<dyn Mailboxes>,
    pub config: Config,
    /// Numbers the delivered messages, for the logs and the `250` reply.
    pub delivered: AtomicU64,
}

/// Serves SMTP on `listener` until `shutdown` completes, each connection in
/// its own task.
///
/// On shutdown the listener is closed, connections waiting for a command get
/// `421` and are closed, and those in the middle of a message get
/// [`Config::shutdown_grace`] to finish it before they are cut; then this
/// returns `Ok(())`.  Accept errors (e.g. out of file descriptors) are
/// logged and retried, so no error is returned today; the `Result` leaves
/// room for fatal ones.
pub async fn serve_with(
    listener: TcpListener,
    mailboxes: Arc<dyn Mailboxes>,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let shared = Arc::new(Shared {
        mailboxes,
        config: Config {
            hostname: session::sanitize_line(&config.hostname),
            ..config
        },
        delivered: AtomicU64::new(0),
    });
    let permits = Arc::new(Semaphore::new(
        shared.config.max_connections.min(Semaphore::MAX_PERMITS),
    ));
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "mail catcher listening");
    }
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => log_join(joined),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let span = tracing::info_span!("smtp", %peer);
                        let connection =
                            session::run(stream, shared.clone(), stopped.clone(), permit);
                        tasks.spawn(connection.instrument(span));
                    }
                    Err(_) => {
                        tracing::warn!(
                            %peer,
                            limit = shared.config.max_connections,
                            "too many SMTP connections, refusing one"
                        );
                        // A fresh socket's send buffer is empty: this does
                        // not block, and a failure only loses a courtesy.
                        let _ = stream
                            .try_write(b"421 4.7.0 Too many connections, try again later\r\n");
                    }
                },
                Err(error) => {
                    tracing::warn!(%error, "accepting an SMTP connection failed");
                    // Likely out of file descriptors: let some close.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let grace = shared.config.shutdown_grace;
    let drained = tokio::time::timeout(grace, async {
        while let Some(joined) = tasks.join_next().await {
            log_join(joined);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "SMTP connections still busy after the shutdown grace period, cutting them"
        );
        tasks.shutdown().await;
    }
    tracing::info!("mail catcher stopped");
    Ok(())
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(error) = joined {
        if error.is_panic() {
            tracing::error!(%error, "an SMTP connection task panicked");
        }
    }
}
