//! A catcher on 127.0.0.1:0 with an in-memory mailbox store, and a raw SMTP
//! client to talk to it.
#![allow(dead_code)] // each test file uses its own part

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slipway_mailcatcher::{BoxFuture, CaughtMail, Config, DeliveryError, MailboxId, Mailboxes};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const LOGIN: &str = "build-42";
// ASCII: smtplib encodes AUTH responses as ASCII.
pub const SECRET: &str = "s3cret-42";
pub const MAILBOX: MailboxId = 42;
pub const OTHER_LOGIN: &str = "build-7";
pub const OTHER_SECRET: &str = "other";
pub const OTHER_MAILBOX: MailboxId = 7;

/// How long a test waits for any one reply.
pub const WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Memory {
    pub mails: Mutex<Vec<(MailboxId, CaughtMail)>>,
    /// While set, `deliver` fails.
    pub failing: AtomicBool,
}

impl Memory {
    pub fn taken(&self) -> Vec<(MailboxId, CaughtMail)> {
        std::mem::take(&mut *self.mails.lock().unwrap())
    }

    pub fn count(&self) -> usize {
        self.mails.lock().unwrap().len()
    }
}

impl Mailboxes for Memory {
    fn authenticate<'a>(
        &'a self,
        login: &'a str,
        secret: &'a str,
    ) -> BoxFuture<'a, Option<MailboxId>> {
        Box::pin(async move {
            match (login, secret) {
                (LOGIN, SECRET) => Some(MAILBOX),
                (OTHER_LOGIN, OTHER_SECRET) => Some(OTHER_MAILBOX),
                _ => None,
            }
        })
    }

    fn deliver(
        &self,
        mailbox: MailboxId,
        mail: CaughtMail,
    ) -> BoxFuture<'_, Result<(), DeliveryError>> {
        Box::pin(async move {
            if self.failing.load(Ordering::SeqCst) {
                return Err("disk full".into());
            }
            self.mails.lock().unwrap().push((mailbox, mail));
            Ok(())
        })
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub memory: Arc<Memory>,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<std::io::Result<()>>,
}

pub async fn start(config: Config) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let memory = Arc::new(Memory::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let mailboxes: Arc<dyn Mailboxes> = memory.clone();
    let handle = tokio::spawn(slipway_mailcatcher::serve_with(
        listener,
        mailboxes,
        config,
        async move {
            let _ = stopped.await;
        },
    ));
    Server {
        addr,
        memory,
        stop: Some(stop),
        handle,
    }
}

pub async fn start_default() -> Server {
    start(Config::default()).await
}

impl Server {
    /// Shuts the server down and waits for `serve` to return.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(WAIT, &mut self.handle)
            .await
            .expect("serve returns after shutdown")
            .expect("serve does not panic")
    }
}

pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

/// A reply: its code and the text of each line.
#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Client {
    /// Connects without reading the greeting.
    pub async fn connect_raw(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (read, write) = stream.into_split();
        Client {
            reader: BufReader::new(read),
            writer: write,
        }
    }

    /// Connects and checks the 220 greeting.
    pub async fn connect(addr: SocketAddr) -> Client {
        let mut client = Client::connect_raw(addr).await;
        client.expect(220).await;
        client
    }

    /// EHLO then AUTH PLAIN with the main test account.
    pub async fn login(addr: SocketAddr) -> Client {
        let mut client = Client::connect(addr).await;
        client.cmd_expect("EHLO client.example", 250).await;
        client
            .cmd_expect(&format!("AUTH PLAIN {}", plain(LOGIN, SECRET)), 235)
            .await;
        client
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    /// Reads one whole (possibly multi-line) reply; `None` at EOF.
    pub async fn try_reply(&mut self) -> Option<Reply> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(WAIT, self.reader.read_line(&mut line))
                .await
                .expect("a reply within the wait")
                .ok()?;
            if n == 0 {
                assert!(lines.is_empty(), "EOF in the middle of a reply: {lines:?}");
                return None;
            }
            assert!(
                line.ends_with("\r\n"),
                "reply line not ended by CRLF: {line:?}"
            );
            let line = line.trim_end_matches("\r\n");
            assert!(line.len() >= 3, "short reply line {line:?}");
            let code: u16 = line[..3].parse().expect("a numeric reply code");
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_owned());
            if !more {
                return Some(Reply { code, lines });
            }
        }
    }

    pub async fn reply(&mut self) -> Reply {
        self.try_reply().await.expect("a reply, not EOF")
    }

    pub async fn expect(&mut self, code: u16) -> Reply {
        let reply = self.reply().await;
        assert_eq!(reply.code, code, "unexpected reply {reply:?}");
        reply
    }

    pub async fn cmd(&mut self, line: &str) -> Reply {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    pub async fn cmd_expect(&mut self, line: &str, code: u16) -> Reply {
        let reply = self.cmd(line).await;
        assert_eq!(reply.code, code, "{line:?} got {reply:?}");
        reply
    }

    /// Whether the server closed the connection (EOF, or reset).
    pub async fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(WAIT, self.reader.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) => false,
            Err(_) => false,
        }
    }
}

/// The base64 AUTH PLAIN initial response for `login`/`secret`.
pub fn plain(login: &str, secret: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{login}\0{secret}"))
}

pub fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
