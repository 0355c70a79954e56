//! One SMTP connection.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit};

use crate::command::{parse_path, split_verb};
use crate::line::{read_line, trim_eol, LineRead};
use crate::{summarize, CaughtMail, MailboxId, Shared, MAX_COMMAND_LINE};

/// Read buffer of a connection.
const READ_BUFFER: usize = 16 * 1024;

/// Why a session ended without a `QUIT` (or a close decided by the server).
#[derive(Debug)]
enum End {
    /// No line (or no reply taken) within the idle timeout.
    Timeout,
    /// The client closed the connection.
    Eof {
        during: &'static str,
    },
    Io(io::Error),
}

/// Whether to go on reading commands.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

struct Conn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    idle: std::time::Duration,
}

impl Conn {
    /// Sends one reply; `text` holds its lines separated by `\n`, each
    /// starting with the code (the `-` continuation marks are added here).
    async fn reply(&mut self, text: &str) -> Result<(), End> {
        let lines: Vec<&str> = text.split('\n').collect();
        let mut wire = String::with_capacity(text.len() + 2 * lines.len());
        for (i, line) in lines.iter().enumerate() {
            if i + 1 < lines.len() && line.len() >= 3 {
                wire.push_str(&line[..3]);
                wire.push('-');
                wire.push_str(line[3..].trim_start());
            } else {
                wire.push_str(line);
            }
            wire.push_str("\r\n");
        }
        match tokio::time::timeout(self.idle, self.writer.write_all(wire.as_bytes())).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(End::Io(error)),
            Err(_) => Err(End::Timeout),
        }
    }

    async fn read_line(&mut self, out: &mut Vec<u8>, max_len: usize) -> Result<LineRead, End> {
        match tokio::time::timeout(self.idle, read_line(&mut self.reader, out, max_len)).await {
            Ok(Ok(read)) => Ok(read),
            Ok(Err(error)) => Err(End::Io(error)),
            Err(_) => Err(End::Timeout),
        }
    }
}

struct Authenticated {
    mailbox: MailboxId,
    login: String,
}

/// A mail transaction: MAIL seen, maybe RCPTs.
struct Transaction {
    from: String,
    to: Vec<String>,
}

/// How DATA ended.
enum Received {
    Message(Vec<u8>),
    /// Over the size limit; the rest was read up to the final dot.
    TooBig,
    /// Over the size limit and still coming long after: give up.
    WayTooBig,
}

struct Session {
    conn: Conn,
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
    greeted: bool,
    auth: Option<Authenticated>,
    transaction: Option<Transaction>,
    auth_failures: u32,
    errors: u32,
}

/// Serves one connection to its end, logging how it ended; holds `permit`
/// (the connection's slot) until then.
pub(crate) async fn run(
    stream: TcpStream,
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
) {
    let _permit = permit;
    let (read, write) = stream.into_split();
    let idle = shared.config.idle_timeout;
    let mut session = Session {
        conn: Conn {
            reader: BufReader::with_capacity(READ_BUFFER, read),
            writer: write,
            idle,
        },
        shared,
        stopped,
        greeted: false,
        auth: None,
        transaction: None,
        auth_failures: 0,
        errors: 0,
    };
    tracing::debug!("SMTP connection opened");
    match session.serve().await {
        Ok(()) => tracing::debug!("SMTP connection closed"),
        Err(End::Timeout) => {
            tracing::info!(timeout = ?idle, "SMTP client idle too long, closing the connection");
            // Best effort, without waiting on a client that may not read.
            let text = format!(
                "421 4.4.2 {} Idle timeout, closing connection\r\n",
                session.shared.config.hostname
            );
            let _ = session.conn.writer.try_write(text.as_bytes());
        }
        Err(End::Eof { during }) => {
            if session.transaction.is_some() {
                tracing::info!(
                    during,
                    "SMTP client disconnected in the middle of a message"
                );
            } else {
                tracing::debug!(during, "SMTP client disconnected without QUIT");
            }
        }
        Err(End::Io(error)) => tracing::warn!(%error, "SMTP connection failed"),
    }
}

/// Resolves once the server shuts down (or is gone).
async fn stopping(stopped: &mut watch::Receiver<bool>) {
    loop {
        if *stopped.borrow_and_update() {
            return;
        }
        if stopped.changed().await.is_err() {
            return;
        }
    }
}

/// Text from the configuration or the client, made safe for one reply line.
pub(crate) fn sanitize_line(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c.is_whitespace() { '-' } else { c })
        .take(255)
        .collect();
    if clean.is_empty() {
        "localhost".to_owned()
    } else {
        clean
    }
}

fn auth_base64() -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// The answer to an AUTH challenge.
enum AuthLine {
    Bytes(Vec<u8>),
    /// The client sent `*`, a line too long, or bad base64: already answered.
    Aborted,
}

impl Session {
    fn host(&self) -> &str {
        &self.shared.config.hostname
    }

    async fn serve(&mut self) -> Result<(), End> {
        let greeting = format!("220 {} ESMTP slipway mail catcher", self.host());
        self.conn.reply(&greeting).await?;
        let mut line = Vec::with_capacity(256);
        loop {
            line.clear();
            let read = tokio::select! {
                biased;
                () = stopping(&mut self.stopped) => None,
                read = self.conn.read_line(&mut line, MAX_COMMAND_LINE) => Some(read?),
            };
            let Some(read) = read else {
                let text = format!("421 4.3.2 {} Service shutting down", self.host());
                self.conn.reply(&text).await?;
                return Ok(());
            };
            if !read.newline {
                return Err(End::Eof { during: "command" });
            }
            let flow = if read.overflow {
                self.refuse("500 5.5.2 Line too long").await?
            } else {
                let text = String::from_utf8_lossy(trim_eol(&line)).into_owned();
                self.command(&text).await?
            };
            if flow == Flow::Close {
                return Ok(());
            }
        }
    }

    /// Refuses a command, closing the connection after too many refusals.
    async fn refuse(&mut self, text: &str) -> Result<Flow, End> {
        self.errors += 1;
        self.conn.reply(text).await?;
        if self.errors >= self.shared.config.max_errors {
            tracing::info!(
                errors = self.errors,
                "too many refused SMTP commands, closing"
            );
            let text = format!(
                "421 4.7.0 {} Too many errors, closing connection",
                self.host()
            );
            self.conn.reply(&text).await?;
            return Ok(Flow::Close);
        }
        Ok(Flow::Continue)
    }

    async fn ok(&mut self, text: &str) -> Result<Flow, End> {
        self.conn.reply(text).await?;
        Ok(Flow::Continue)
    }

    async fn command(&mut self, text: &str) -> Result<Flow, End> {
        let (verb, args) = split_verb(text);
        match verb.as_str() {
            "EHLO" | "HELO" => self.hello(&verb, args).await,
            "AUTH" => self.auth(args).await,
            "MAIL" => self.mail(args).await,
            "RCPT" => self.rcpt(args).await,
            "DATA" => self.data(args).await,
            "RSET" => {
                if !args.is_empty() {
                    return self.refuse("501 5.5.4 RSET takes no parameters").await;
                }
                self.transaction = None;
                self.ok("250 2.0.0 OK").await
            }
            "NOOP" => self.ok("250 2.0.0 OK").await,
            "QUIT" => {
                let text = format!("221 2.0.0 {} Bye", self.host());
                self.conn.reply(&text).await?;
                Ok(Flow::Close)
            }
            "VRFY" => {
                if args.is_empty() {
                    return self.refuse("501 5.5.4 VRFY needs an argument").await;
                }
                self.ok("252 2.5.0 Cannot VRFY user, but will take mail for it")
                    .await
            }
            "HELP" => {
                self.ok("214 2.0.0 slipway mail catcher, see RFC 5321")
                    .await
            }
            "EXPN" | "TURN" | "ETRN" | "ATRN" | "BDAT" | "STARTTLS" | "SEND" | "SOML" | "SAML" => {
                self.refuse("502 5.5.1 Command not implemented").await
            }
            _ => {
                self.refuse("500 5.5.2 Syntax error, command unrecognized")
                    .await
            }
        }
    }

    async fn hello(&mut self, verb: &str, args: &str) -> Result<Flow, End> {
        if args.is_empty() {
            let text = format!("501 5.5.4 {verb} needs a domain or address literal");
            return self.refuse(&text).await;
        }
        self.greeted = true;
        self.transaction = None;
        if verb == "HELO" {
            let text = format!("250 {}", self.host());
            return self.ok(&text).await;
        }
        let text = format!(
            "250 {}\n250 PIPELINING\n250 SIZE {}\n250 8BITMIME\n250 SMTPUTF8\n\
             250 ENHANCEDSTATUSCODES\n250 AUTH PLAIN LOGIN",
            self.host(),
            self.shared.config.max_message_size
        );
        self.ok(&text).await
    }

    async fn auth(&mut self, args: &str) -> Result<Flow, End> {
        if !self.greeted {
            return self.refuse("503 5.5.1 Send EHLO first").await;
        }
        if self.auth.is_some() {
            return self.refuse("503 5.5.1 Already authenticated").await;
        }
        if self.transaction.is_some() {
            return self
                .refuse("503 5.5.1 AUTH not permitted during a mail transaction")
                .await;
        }
        let mut words = args.split_whitespace();
        let (Some(mechanism), initial, None) = (words.next(), words.next(), words.next()) else {
            return self
                .refuse("501 5.5.4 Syntax: AUTH mechanism [initial-response]")
                .await;
        };
        let (login, secret) = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let response = match self.auth_response(initial, "").await? {
                    AuthLine::Bytes(bytes) => bytes,
                    AuthLine::Aborted => return Ok(self.after_aborted_auth()),
                };
                let mut parts = response.split(|&b| b == 0);
                let (Some(authzid), Some(login), Some(secret), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return self.refuse("501 5.5.2 Malformed PLAIN response").await;
                };
                if !authzid.is_empty() && authzid != login {
                    // Acting as another identity is not a thing here.
                    return self.auth_failed(&String::from_utf8_lossy(login)).await;
                }
                (login.to_vec(), secret.to_vec())
            }
            "LOGIN" => {
                // "Username:" and "Password:", base64-encoded.
                let login = match self.auth_response(initial, "VXNlcm5hbWU6").await? {
                    AuthLine::Bytes(bytes) => bytes,
                    AuthLine::Aborted => return Ok(self.after_aborted_auth()),
                };
                let secret = match self.auth_response(None, "UGFzc3dvcmQ6").await? {
                    AuthLine::Bytes(bytes) => bytes,
                    AuthLine::Aborted => return Ok(self.after_aborted_auth()),
                };
                (login, secret)
            }
            _ => {
                return self
                    .refuse("504 5.5.4 Unrecognized authentication type")
                    .await
            }
        };
        let (Ok(login), Ok(secret)) = (String::from_utf8(login), String::from_utf8(secret)) else {
            return self.auth_failed("<not UTF-8>").await;
        };
        let mailboxes = self.shared.mailboxes.clone();
        match mailboxes.authenticate(&login, &secret).await {
            Some(mailbox) => {
                tracing::debug!(%login, mailbox, "SMTP client authenticated");
                self.auth = Some(Authenticated { mailbox, login });
                self.ok("235 2.7.0 Authentication successful").await
            }
            None => self.auth_failed(&login).await,
        }
    }

    /// An aborted AUTH counts as a refused command (it was answered
    /// already; the next refusal may close the connection).
    fn after_aborted_auth(&mut self) -> Flow {
        self.errors += 1;
        Flow::Continue
    }

    async fn auth_failed(&mut self, login: &str) -> Result<Flow, End> {
        self.auth_failures += 1;
        tracing::warn!(
            %login,
            failures = self.auth_failures,
            "SMTP authentication refused"
        );
        self.conn
            .reply("535 5.7.8 Authentication credentials invalid")
            .await?;
        if self.auth_failures >= self.shared.config.max_auth_failures {
            let text = format!(
                "421 4.7.0 {} Too many authentication failures, closing connection",
                self.host()
            );
            self.conn.reply(&text).await?;
            return Ok(Flow::Close);
        }
        Ok(Flow::Continue)
    }

    /// The client's answer to an AUTH step: `initial` if it gave one on the
    /// AUTH line (`=` meaning empty), else read after a `334 challenge`.
    async fn auth_response(
        &mut self,
        initial: Option<&str>,
        challenge: &str,
    ) -> Result<AuthLine, End> {
        let text = match initial {
            Some(text) => text.to_owned(),
            None => {
                self.conn.reply(&format!("334 {challenge}")).await?;
                let mut line = Vec::new();
                let read = self.conn.read_line(&mut line, MAX_COMMAND_LINE).await?;
                if !read.newline {
                    return Err(End::Eof { during: "AUTH" });
                }
                if read.overflow {
                    self.conn.reply("500 5.5.2 Line too long").await?;
                    return Ok(AuthLine::Aborted);
                }
                String::from_utf8_lossy(trim_eol(&line)).trim().to_owned()
            }
        };
        if text == "*" {
            self.conn
                .reply("501 5.0.0 Authentication cancelled")
                .await?;
            return Ok(AuthLine::Aborted);
        }
        if text == "=" {
            return Ok(AuthLine::Bytes(Vec::new()));
        }
        match auth_base64().decode(text.as_bytes()) {
            Ok(bytes) => Ok(AuthLine::Bytes(bytes)),
            Err(_) => {
                self.conn
                    .reply("501 5.5.2 Cannot decode base64 response")
                    .await?;
                Ok(AuthLine::Aborted)
            }
        }
    }

    async fn mail(&mut self, args: &str) -> Result<Flow, End> {
        if self.auth.is_none() {
            return self.refuse("530 5.7.0 Authentication required").await;
        }
        if self.transaction.is_some() {
            return self.refuse("503 5.5.1 Sender already specified").await;
        }
        let (from, params) = match parse_path(args, "FROM:") {
            Ok(parsed) => parsed,
            Err(why) => return self.refuse(&format!("501 5.5.4 {why}")).await,
        };
        let max = self.shared.config.max_message_size;
        for (key, value) in params {
            match (key.as_str(), value.as_deref()) {
                ("SIZE", Some(size)) => match size.parse::<u64>() {
                    Ok(size) if size > max as u64 => {
                        return self
                            .ok("552 5.3.4 Message size exceeds fixed maximum message size")
                            .await
                    }
                    Ok(_) => {}
                    Err(_) => return self.refuse("501 5.5.4 Bad SIZE parameter").await,
                },
                ("BODY", Some(body))
                    if body.eq_ignore_ascii_case("7BIT")
                        || body.eq_ignore_ascii_case("8BITMIME") => {}
                ("SMTPUTF8", None) => {}
                // RFC 4954 §5: may be given, and is not trusted.
                ("AUTH", Some(_)) => {}
                _ => {
                    let text = format!("555 5.5.4 Unsupported parameter {key}");
                    return self.refuse(&text).await;
                }
            }
        }
        self.transaction = Some(Transaction {
            from,
            to: Vec::new(),
        });
        self.ok("250 2.1.0 OK").await
    }

    async fn rcpt(&mut self, args: &str) -> Result<Flow, End> {
        let max = self.shared.config.max_recipients;
        let Some(count) = self.transaction.as_ref().map(|t| t.to.len()) else {
            return self.refuse("503 5.5.1 Need MAIL first").await;
        };
        let (to, params) = match parse_path(args, "TO:") {
            Ok(parsed) => parsed,
            Err(why) => return self.refuse(&format!("501 5.5.4 {why}")).await,
        };
        if to.is_empty() {
            return self.refuse("501 5.1.3 Bad recipient address syntax").await;
        }
        if let Some((key, _)) = params.first() {
            let text = format!("555 5.5.4 Unsupported parameter {key}");
            return self.refuse(&text).await;
        }
        if count >= max {
            return self.ok("452 4.5.3 Too many recipients").await;
        }
        if let Some(transaction) = &mut self.transaction {
            transaction.to.push(to);
        }
        self.ok("250 2.1.5 OK").await
    }

    async fn data(&mut self, args: &str) -> Result<Flow, End> {
        if !args.is_empty() {
            return self.refuse("501 5.5.4 DATA takes no parameters").await;
        }
        match &self.transaction {
            None => return self.refuse("503 5.5.1 Need MAIL first").await,
            Some(t) if t.to.is_empty() => {
                return self.refuse("554 5.5.1 No valid recipients").await
            }
            Some(_) => {}
        }
        self.conn
            .reply("354 Start mail input; end with <CRLF>.<CRLF>")
            .await?;
        let received = self.receive_data().await?;
        let Some(transaction) = self.transaction.take() else {
            return Ok(Flow::Close); // unreachable: checked above
        };
        let raw = match received {
            Received::Message(raw) => raw,
            Received::TooBig => {
                tracing::info!(
                    limit = self.shared.config.max_message_size,
                    "refused a message over the size limit"
                );
                return self
                    .ok("552 5.3.4 Message size exceeds fixed maximum message size")
                    .await;
            }
            Received::WayTooBig => {
                tracing::warn!(
                    limit = self.shared.config.max_message_size,
                    "message far over the size limit, closing the connection"
                );
                self.conn
                    .reply("552 5.3.4 Message size exceeds fixed maximum message size")
                    .await?;
                return Ok(Flow::Close);
            }
        };
        let Some(auth) = &self.auth else {
            return Ok(Flow::Close); // unreachable: MAIL needs AUTH
        };
        let (mailbox, login) = (auth.mailbox, auth.login.clone());
        let mail = CaughtMail {
            summary: summarize(&raw),
            envelope_from: transaction.from,
            envelope_to: transaction.to,
            raw,
        };
        let size = mail.raw.len();
        let recipients = mail.envelope_to.len();
        let subject = mail.summary.subject.clone();
        let mailboxes = self.shared.mailboxes.clone();
        match mailboxes.deliver(mailbox, mail).await {
            Ok(()) => {
                let number = self.shared.delivered.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::info!(
                    mailbox,
                    %login,
                    number,
                    size,
                    recipients,
                    %subject,
                    "caught a message"
                );
                self.ok(&format!("250 2.0.0 OK: caught as {number}")).await
            }
            Err(error) => {
                tracing::warn!(mailbox, %login, size, %error, "storing a caught message failed");
                self.ok("451 4.3.0 Message not stored, try again later")
                    .await
            }
        }
    }

    /// Reads the message after `354` up to the final dot, dot-unstuffing
    /// and ending every line in CRLF, within the size limit.
    async fn receive_data(&mut self) -> Result<Received, End> {
        let max = self.shared.config.max_message_size;
        let mut message = Vec::new();
        let mut too_big = false;
        let mut dropped = 0usize;
        let mut scratch = Vec::with_capacity(8);
        loop {
            if !too_big {
                let start = message.len();
                // `message.len() <= max` here, so the final ".\r\n" fits.
                let read = self
                    .conn
                    .read_line(&mut message, max.saturating_add(3))
                    .await?;
                if !read.newline {
                    return Err(End::Eof { during: "DATA" });
                }
                if read.overflow {
                    too_big = true;
                    dropped = start + read.consumed;
                    message = Vec::new();
                    if dropped > max.saturating_mul(2) {
                        return Ok(Received::WayTooBig);
                    }
                    continue;
                }
                if trim_eol(&message[start..]) == b"." {
                    message.truncate(start);
                    return Ok(Received::Message(message));
                }
                if message[start] == b'.' {
                    message.remove(start);
                }
                if !message.ends_with(b"\r\n") {
                    message.pop(); // the '\n'
                    message.extend_from_slice(b"\r\n");
                }
                if message.len() > max {
                    too_big = true;
                    dropped = message.len();
                    message = Vec::new();
                }
            } else {
                scratch.clear();
                let read = self.conn.read_line(&mut scratch, 3).await?;
                if !read.newline {
                    return Err(End::Eof { during: "DATA" });
                }
                if !read.overflow && trim_eol(&scratch) == b"." {
                    return Ok(Received::TooBig);
                }
                dropped = dropped.saturating_add(read.consumed);
                if dropped > max.saturating_mul(2) {
                    return Ok(Received::WayTooBig);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines_are_made_safe() {
        assert_eq!(sanitize_line("mail.example.com"), "mail.example.com");
        assert_eq!(sanitize_line("a b\r\nc"), "a-bc");
        assert_eq!(sanitize_line("\r\n"), "localhost");
    }
}
