//! Raw SMTP dialogues with the catcher.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use slipway_mailcatcher::Config;

#[tokio::test]
async fn ehlo_advertises_what_is_supported_and_nothing_else() {
    let server = start_default().await;
    let mut client = Client::connect(server.addr).await;
    let ehlo = client.cmd_expect("EHLO client.example", 250).await;
    let keywords: Vec<&str> = ehlo.lines[1..].iter().map(String::as_str).collect();
    assert_eq!(
        keywords,
        [
            "PIPELINING",
            &format!("SIZE {}", 25 * 1024 * 1024),
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "AUTH PLAIN LOGIN"
        ]
    );
    client.cmd_expect("STARTTLS", 502).await;
    client.cmd_expect("HELO client.example", 250).await;
    client.cmd_expect("EHLO", 501).await;
    client.cmd_expect("NOOP", 250).await;
    client.cmd_expect("HELP", 214).await;
    client.cmd_expect("VRFY someone", 252).await;
    client.cmd_expect("EXPN list", 502).await;
    client.cmd_expect("FROB", 500).await;
    client.cmd_expect("", 500).await;
    client.cmd_expect("quit", 221).await;
    assert!(client.is_closed().await);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn mail_needs_a_successful_auth_and_auth_needs_ehlo() {
    let server = start_default().await;
    let mut client = Client::connect(server.addr).await;
    client
        .cmd_expect(&format!("AUTH PLAIN {}", plain(LOGIN, SECRET)), 503)
        .await;
    client.cmd_expect("EHLO client.example", 250).await;
    client.cmd_expect("MAIL FROM:<a@example.com>", 530).await;
    client.cmd_expect("RCPT TO:<b@example.com>", 503).await;
    client.cmd_expect("DATA", 503).await;
    client
        .cmd_expect(&format!("AUTH PLAIN {}", plain(LOGIN, "wrong")), 535)
        .await;
    client.cmd_expect("MAIL FROM:<a@example.com>", 530).await;
    client.cmd_expect("QUIT", 221).await;
    assert_eq!(server.memory.count(), 0);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn auth_plain_and_login_in_all_their_forms() {
    let server = start_default().await;

    // PLAIN with a continuation, after a failure.
    let mut client = Client::connect(server.addr).await;
    client.cmd_expect("EHLO client.example", 250).await;
    client
        .cmd_expect(&format!("AUTH PLAIN {}", plain(LOGIN, "nope")), 535)
        .await;
    let challenge = client.cmd_expect("AUTH PLAIN", 334).await;
    assert_eq!(challenge.lines, [""]);
    client.cmd_expect(&plain(LOGIN, SECRET), 235).await;
    client
        .cmd_expect(&format!("AUTH PLAIN {}", plain(LOGIN, SECRET)), 503)
        .await;
    client.cmd_expect("QUIT", 221).await;

    // LOGIN with challenges, then with an initial response; cancel; bad
    // base64; unknown mechanism; an authzid that is someone else.
    let mut client = Client::connect(server.addr).await;
    client.cmd_expect("EHLO client.example", 250).await;
    assert_eq!(
        client.cmd_expect("AUTH LOGIN", 334).await.lines,
        ["VXNlcm5hbWU6"]
    );
    client.cmd_expect("*", 501).await;
    client.cmd_expect("AUTH PLAIN !!!notbase64", 501).await;
    client.cmd_expect("AUTH CRAM-MD5", 504).await;
    let other_identity = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(format!("{OTHER_LOGIN}\0{LOGIN}\0{SECRET}"))
    };
    client
        .cmd_expect(&format!("AUTH PLAIN {other_identity}"), 535)
        .await;
    client
        .cmd_expect(&format!("AUTH LOGIN {}", b64(OTHER_LOGIN)), 334)
        .await;
    client.cmd_expect(&b64(OTHER_SECRET), 235).await;
    client.cmd_expect("MAIL FROM:<a@example.com>", 250).await;
    client.cmd_expect("RCPT TO:<b@example.com>", 250).await;
    client.cmd_expect("DATA", 354).await;
    client.send(b"Subject: other\r\n\r\nhi\r\n.\r\n").await;
    client.expect(250).await;
    client.cmd_expect("QUIT", 221).await;

    let mails = server.memory.taken();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, OTHER_MAILBOX, "the login decides the mailbox");
    assert_eq!(mails[0].1.summary.subject, "other");

    // LOGIN step by step with the main account.
    let mut client = Client::connect(server.addr).await;
    client.cmd_expect("EHLO client.example", 250).await;
    client.cmd_expect("AUTH LOGIN", 334).await;
    let password = client.cmd_expect(&b64(LOGIN), 334).await;
    assert_eq!(password.lines, ["UGFzc3dvcmQ6"]);
    client.cmd_expect(&b64(SECRET), 235).await;
    client.cmd_expect("QUIT", 221).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn repeated_auth_failures_close_the_connection() {
    let server = start_default().await;
    let mut client = Client::connect(server.addr).await;
    client.cmd_expect("EHLO client.example", 250).await;
    for _ in 0..2 {
        client
            .cmd_expect(&format!("AUTH PLAIN {}", plain(LOGIN, "bad")), 535)
            .await;
    }
    client
        .cmd_expect(&format!("AUTH PLAIN {}", plain(LOGIN, "bad")), 535)
        .await;
    client.expect(421).await;
    assert!(client.is_closed().await);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn dot_stuffing_is_undone_and_several_messages_share_a_connection() {
    let server = start_default().await;
    let mut client = Client::login(server.addr).await;

    client
        .cmd_expect("MAIL FROM:<sender@example.com>", 250)
        .await;
    client.cmd_expect("RCPT TO:<one@example.com>", 250).await;
    client.cmd_expect("RCPT TO:<Two@Example.com>", 250).await;
    client.cmd_expect("DATA", 354).await;
    client
        .send(
            b"From: Sender <sender@example.com>\r\n\
              To: one@example.com, Two@Example.com\r\n\
              Subject: =?utf-8?q?dots_=C3=A0_gogo?=\r\n\
              \r\n\
              ..leading dot\r\n\
              ...two dots\r\n\
              ..\r\n\
              . not the end\r\n\
              \r\n\
              last line\r\n\
              .\r\n",
        )
        .await;
    let queued = client.expect(250).await;
    assert!(queued.lines[0].contains("OK"), "{queued:?}");

    // RSET drops a half-made transaction; the next message is independent.
    client
        .cmd_expect("MAIL FROM:<dropped@example.com>", 250)
        .await;
    client
        .cmd_expect("RCPT TO:<dropped@example.com>", 250)
        .await;
    client.cmd_expect("RSET", 250).await;
    client.cmd_expect("RCPT TO:<x@example.com>", 503).await;

    client.cmd_expect("MAIL FROM:<>", 250).await;
    client.cmd_expect("RCPT TO:<three@example.com>", 250).await;
    client.cmd_expect("DATA", 354).await;
    client.send(b"Subject: second\r\n\r\nbody\r\n.\r\n").await;
    client.expect(250).await;
    client.cmd_expect("QUIT", 221).await;

    let mails = server.memory.taken();
    assert_eq!(mails.len(), 2);
    let (mailbox, first) = &mails[0];
    assert_eq!(*mailbox, MAILBOX);
    assert_eq!(first.envelope_from, "sender@example.com");
    assert_eq!(first.envelope_to, ["one@example.com", "Two@Example.com"]);
    assert_eq!(
        String::from_utf8(first.raw.clone()).unwrap(),
        "From: Sender <sender@example.com>\r\n\
         To: one@example.com, Two@Example.com\r\n\
         Subject: =?utf-8?q?dots_=C3=A0_gogo?=\r\n\
         \r\n\
         .leading dot\r\n\
         ..two dots\r\n\
         .\r\n\
         \x20not the end\r\n\
         \r\n\
         last line\r\n"
    );
    assert_eq!(first.summary.subject, "dots à gogo");
    assert_eq!(first.summary.from, "Sender <sender@example.com>");
    assert_eq!(first.summary.to, ["one@example.com", "Two@Example.com"]);

    let (_, second) = &mails[1];
    assert_eq!(second.envelope_from, "");
    assert_eq!(second.envelope_to, ["three@example.com"]);
    assert_eq!(second.raw, b"Subject: second\r\n\r\nbody\r\n");
    assert_eq!(second.summary.subject, "second");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bare_lf_lines_are_stored_with_crlf() {
    let server = start_default().await;
    let mut client = Client::login(server.addr).await;
    client.cmd_expect("MAIL FROM:<a@example.com>", 250).await;
    client.cmd_expect("RCPT TO:<b@example.com>", 250).await;
    client.cmd_expect("DATA", 354).await;
    client.send(b"Subject: lf\n\n..x\r\nmixed\n.\n").await;
    client.expect(250).await;
    let mails = server.memory.taken();
    assert_eq!(mails[0].1.raw, b"Subject: lf\r\n\r\n.x\r\nmixed\r\n");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn parameters_and_sequence_errors() {
    let server = start_default().await;
    let mut client = Client::login(server.addr).await;
    client
        .cmd_expect("MAIL FROM:<a@example.com> FOO=bar", 555)
        .await;
    client
        .cmd_expect("MAIL FROM:<a@example.com> BODY=BINARYMIME", 555)
        .await;
    client
        .cmd_expect("MAIL FROM:<a@example.com> SIZE=abc", 501)
        .await;
    client.cmd_expect("MAIL TO:<a@example.com>", 501).await;
    client.cmd_expect("MAIL FROM:<a@example.com", 501).await;
    client
        .cmd_expect(
            "mail from:<zoé@exämple.com> size=100 body=8BITMIME SMTPUTF8 AUTH=<>",
            250,
        )
        .await;
    client
        .cmd_expect("MAIL FROM:<again@example.com>", 503)
        .await;
    client.cmd_expect("DATA", 554).await;
    client.cmd_expect("RCPT TO:<>", 501).await;
    client
        .cmd_expect("RCPT TO:<b@example.com> NOTIFY=NEVER", 555)
        .await;
    client.cmd_expect("rcpt to:<josé@exämple.com>", 250).await;
    client.cmd_expect("DATA now", 501).await;
    client
        .cmd_expect(&format!("AUTH PLAIN {}", plain(LOGIN, SECRET)), 503)
        .await;
    client.cmd_expect("DATA", 354).await;
    client
        .send(
            "Subject: =?utf-8?b?w6l0w6k=?=\r\nTo: josé@exämple.com\r\n\r\nbody\r\n.\r\n".as_bytes(),
        )
        .await;
    client.expect(250).await;
    let mails = server.memory.taken();
    assert_eq!(mails[0].1.envelope_from, "zoé@exämple.com");
    assert_eq!(mails[0].1.envelope_to, ["josé@exämple.com"]);
    assert_eq!(mails[0].1.summary.subject, "été");
    assert_eq!(mails[0].1.summary.to, ["josé@exämple.com"]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn messages_over_the_size_limit_are_refused_and_the_session_goes_on() {
    let config = Config {
        max_message_size: 1000,
        ..Config::default()
    };
    let server = start(config).await;
    let mut client = Client::login(server.addr).await;
    let ehlo = client.cmd_expect("EHLO again", 250).await;
    assert!(ehlo.lines.contains(&"SIZE 1000".to_owned()), "{ehlo:?}");

    // Announced too big.
    client
        .cmd_expect("MAIL FROM:<a@example.com> SIZE=1001", 552)
        .await;

    // Many short lines, over the limit in total (but not twice over).
    client.cmd_expect("MAIL FROM:<a@example.com>", 250).await;
    client.cmd_expect("RCPT TO:<b@example.com>", 250).await;
    client.cmd_expect("DATA", 354).await;
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    for _ in 0..60 {
        big.extend_from_slice(b"0123456789012345678\r\n");
    }
    big.extend_from_slice(b".\r\n");
    client.send(&big).await;
    client.expect(552).await;

    // One line longer than the whole limit.
    client.cmd_expect("MAIL FROM:<a@example.com>", 250).await;
    client.cmd_expect("RCPT TO:<b@example.com>", 250).await;
    client.cmd_expect("DATA", 354).await;
    let mut long = vec![b'x'; 1500];
    long.extend_from_slice(b"\r\n.\r\n");
    client.send(&long).await;
    client.expect(552).await;

    // Exactly at the limit is fine, and the transaction state was reset.
    client.cmd_expect("RCPT TO:<b@example.com>", 503).await;
    client.cmd_expect("MAIL FROM:<a@example.com>", 250).await;
    client.cmd_expect("RCPT TO:<b@example.com>", 250).await;
    client.cmd_expect("DATA", 354).await;
    let mut exact = b"Subject: exact\r\n\r\n".to_vec();
    while exact.len() < 1000 - 2 {
        exact.push(b'y');
    }
    exact.extend_from_slice(b"\r\n");
    assert_eq!(exact.len(), 1000);
    let mut wire = exact.clone();
    wire.extend_from_slice(b".\r\n");
    client.send(&wire).await;
    client.expect(250).await;
    client.cmd_expect("QUIT", 221).await;

    let mails = server.memory.taken();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].1.raw, exact);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_message_far_over_the_limit_ends_the_connection() {
    let config = Config {
        max_message_size: 1000,
        ..Config::default()
    };
    let server = start(config).await;
    let mut client = Client::login(server.addr).await;
    client.cmd_expect("MAIL FROM:<a@example.com>", 250).await;
    client.cmd_expect("RCPT TO:<b@example.com>", 250).await;
    client.cmd_expect("DATA", 354).await;
    // 3000+ bytes and no end in sight: the server gives up.
    let flood = b"0123456789012345678\r\n".repeat(200);
    client.send(&flood).await;
    client.expect(552).await;
    assert!(client.is_closed().await);

    // The same with one huge line.
    let mut client = Client::login(server.addr).await;
    client.cmd_expect("MAIL FROM:<a@example.com>", 250).await;
    client.cmd_expect("RCPT TO:<b@example.com>", 250).await;
    client.cmd_expect("DATA", 354).await;
    let mut line = vec![b'x'; 3000];
    line.extend_from_slice(b"\r\n");
    client.send(&line).await;
    client.expect(552).await;
    assert!(client.is_closed().await);
    assert_eq!(server.memory.count(), 0);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn pipelined_commands_get_their_replies_in_order() {
    let server = start_default().await;
    let mut client = Client::connect(server.addr).await;
    client
        .send(
            format!(
                "EHLO client.example\r\nAUTH PLAIN {}\r\nMAIL FROM:<a@example.com>\r\n\
                 RCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n",
                plain(LOGIN, SECRET)
            )
            .as_bytes(),
        )
        .await;
    for code in [250, 235, 250, 250, 250, 354] {
        client.expect(code).await;
    }
    // The end of one message, a whole second transaction and QUIT at once.
    client
        .send(
            b"Subject: one\r\n\r\nfirst\r\n.\r\nMAIL FROM:<d@example.com>\r\n\
              RCPT TO:<>\r\nRCPT TO:<e@example.com>\r\nDATA\r\n",
        )
        .await;
    for code in [250, 250, 501, 250, 354] {
        client.expect(code).await;
    }
    client
        .send(b"Subject: two\r\n\r\nsecond\r\n.\r\nQUIT\r\n")
        .await;
    client.expect(250).await;
    client.expect(221).await;
    assert!(client.is_closed().await);

    let mails = server.memory.taken();
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[0].1.envelope_to, ["b@example.com", "c@example.com"]);
    assert_eq!(mails[0].1.raw, b"Subject: one\r\n\r\nfirst\r\n");
    assert_eq!(mails[1].1.envelope_from, "d@example.com");
    assert_eq!(mails[1].1.envelope_to, ["e@example.com"]);
    assert_eq!(mails[1].1.raw, b"Subject: two\r\n\r\nsecond\r\n");

    // All recipients refused in a pipelined group: DATA gets 554.
    let mut client = Client::login(server.addr).await;
    client
        .send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<>\r\nDATA\r\nNOOP\r\n")
        .await;
    for code in [250, 501, 554, 250] {
        client.expect(code).await;
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn recipients_are_capped() {
    let config = Config {
        max_recipients: 2,
        ..Config::default()
    };
    let server = start(config).await;
    let mut client = Client::login(server.addr).await;
    client.cmd_expect("MAIL FROM:<a@example.com>", 250).await;
    client.cmd_expect("RCPT TO:<b@example.com>", 250).await;
    client.cmd_expect("RCPT TO:<c@example.com>", 250).await;
    client.cmd_expect("RCPT TO:<d@example.com>", 452).await;
    client.cmd_expect("DATA", 354).await;
    client.send(b"Subject: capped\r\n\r\n.\r\n").await;
    client.expect(250).await;
    let mails = server.memory.taken();
    assert_eq!(mails[0].1.envelope_to, ["b@example.com", "c@example.com"]);
    assert_eq!(mails[0].1.raw, b"Subject: capped\r\n\r\n");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_failing_store_gives_a_temporary_failure() {
    let server = start_default().await;
    let mut client = Client::login(server.addr).await;
    server.memory.failing.store(true, Ordering::SeqCst);
    client.cmd_expect("MAIL FROM:<a@example.com>", 250).await;
    client.cmd_expect("RCPT TO:<b@example.com>", 250).await;
    client.cmd_expect("DATA", 354).await;
    client.send(b"Subject: lost\r\n\r\n.\r\n").await;
    client.expect(451).await;
    server.memory.failing.store(false, Ordering::SeqCst);
    client.cmd_expect("MAIL FROM:<a@example.com>", 250).await;
    client.cmd_expect("RCPT TO:<b@example.com>", 250).await;
    client.cmd_expect("DATA", 354).await;
    client.send(b"Subject: retried\r\n\r\n.\r\n").await;
    client.expect(250).await;
    let mails = server.memory.taken();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].1.summary.subject, "retried");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn over_long_command_lines_are_refused_without_ending_the_session() {
    let server = start_default().await;
    let mut client = Client::connect(server.addr).await;
    let long = format!("NOOP {}", "x".repeat(20_000));
    client.cmd_expect(&long, 500).await;
    client.cmd_expect("NOOP", 250).await;
    // Just under the limit (12288 with CRLF) is a line like any other.
    let fits = format!("NOOP {}", "x".repeat(12288 - 2 - 5));
    client.cmd_expect(&fits, 250).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn too_many_refused_commands_close_the_connection() {
    let config = Config {
        max_errors: 3,
        ..Config::default()
    };
    let server = start(config).await;
    let mut client = Client::connect(server.addr).await;
    client.cmd_expect("FROB", 500).await;
    client.cmd_expect("NOOP", 250).await;
    client.cmd_expect("FROB", 500).await;
    client.cmd_expect("FROB", 500).await;
    client.expect(421).await;
    assert!(client.is_closed().await);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn idle_clients_are_disconnected() {
    let config = Config {
        idle_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let server = start(config).await;
    let mut client = Client::login(server.addr).await;
    let started = std::time::Instant::now();
    let reply = client.reply().await;
    assert_eq!(reply.code, 421, "{reply:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(client.is_closed().await);

    // Also in the middle of a message; nothing is stored.
    let mut client = Client::login(server.addr).await;
    client.cmd_expect("MAIL FROM:<a@example.com>", 250).await;
    client.cmd_expect("RCPT TO:<b@example.com>", 250).await;
    client.cmd_expect("DATA", 354).await;
    client.send(b"Subject: slow\r\n").await;
    client.expect(421).await;
    assert!(client.is_closed().await);
    assert_eq!(server.memory.count(), 0);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn connections_over_the_cap_are_turned_away() {
    let config = Config {
        max_connections: 1,
        ..Config::default()
    };
    let server = start(config).await;
    let mut first = Client::connect(server.addr).await;
    let mut second = Client::connect_raw(server.addr).await;
    second.expect(421).await;
    assert!(second.is_closed().await);
    first.cmd_expect("NOOP", 250).await;
    first.cmd_expect("QUIT", 221).await;
    assert!(first.is_closed().await);
    // The slot is freed once the first connection's task ends.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mut third = Client::connect_raw(server.addr).await;
        let reply = third.reply().await;
        if reply.code == 220 {
            third.cmd_expect("QUIT", 221).await;
            break;
        }
        assert_eq!(reply.code, 421);
        assert!(
            std::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_leaving_in_the_middle_of_data_stores_nothing() {
    let server = start_default().await;
    let mut client = Client::login(server.addr).await;
    client.cmd_expect("MAIL FROM:<a@example.com>", 250).await;
    client.cmd_expect("RCPT TO:<b@example.com>", 250).await;
    client.cmd_expect("DATA", 354).await;
    client.send(b"Subject: half\r\n\r\nhalf a mess").await;
    drop(client);
    // The server is still fine.
    let mut client = Client::login(server.addr).await;
    client.cmd_expect("QUIT", 221).await;
    assert_eq!(server.memory.count(), 0);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_tells_idle_clients_and_lets_a_message_in_flight_finish() {
    let server = start_default().await;
    let addr = server.addr;
    let mut idle = Client::login(addr).await;
    let mut busy = Client::login(addr).await;
    busy.cmd_expect("MAIL FROM:<a@example.com>", 250).await;
    busy.cmd_expect("RCPT TO:<b@example.com>", 250).await;
    busy.cmd_expect("DATA", 354).await;
    busy.send(b"Subject: in flight\r\n\r\n").await;

    let memory = server.memory.clone();
    let stopping = tokio::spawn(server.stop());
    idle.expect(421).await;
    assert!(idle.is_closed().await);
    assert!(
        !stopping.is_finished(),
        "serve waits for the message in flight"
    );

    busy.send(b"done\r\n.\r\n").await;
    busy.expect(250).await;
    busy.expect(421).await;
    assert!(busy.is_closed().await);
    tokio::time::timeout(WAIT, stopping)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(memory.count(), 1);
    // Nobody listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_cuts_connections_after_the_grace_period() {
    let config = Config {
        shutdown_grace: Duration::from_millis(200),
        ..Config::default()
    };
    let server = start(config).await;
    let mut busy = Client::login(server.addr).await;
    busy.cmd_expect("MAIL FROM:<a@example.com>", 250).await;
    busy.cmd_expect("RCPT TO:<b@example.com>", 250).await;
    busy.cmd_expect("DATA", 354).await;
    let started = std::time::Instant::now();
    server.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(busy.is_closed().await);
}
