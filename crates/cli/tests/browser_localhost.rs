//! The README's claim that builds can be reached at `http://<build>.localhost:<port>/`
//! with no DNS set up: browsers resolve `localhost` and every `*.localhost` name to
//! the loopback themselves (RFC 6761; Chromium does it without asking the system
//! resolver, which on this machine knows only `localhost`). And since each build
//! address is a host of its own, a host-only cookie set by one build is never sent
//! to another, nor to the bare `localhost` of slipway's UI: the UI's session
//! security relies on it.
//!
//! A tiny HTTP server on 127.0.0.1 answers a page echoing the `Host` and `Cookie`
//! headers it received; headless Chromium loads it under several names.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::browser::Browser;

#[test]
fn any_name_under_localhost_reaches_the_loopback_without_dns() {
    let port = echo_server();
    let browser = Browser::start();
    for host in ["42.localhost", "acme.localhost"] {
        let url = format!("http://{host}:{port}/");
        browser.goto(&url);
        assert_eq!(browser.current_url(), url);
        assert_eq!(browser.title(), "echo");
        assert_eq!(browser.find("#host").text(), format!("{host}:{port}"));
        assert_eq!(browser.find("#peer").text(), "127.0.0.1");
    }
}

#[test]
fn a_host_only_cookie_stays_with_its_build_address() {
    let port = echo_server();
    let browser = Browser::start();
    let page = |host: &str, path: &str| {
        browser.goto(&format!("http://{host}:{port}{path}"));
        assert_eq!(browser.find("#host").text(), format!("{host}:{port}"));
        browser.find("#cookie").text()
    };

    assert_eq!(page("acme.localhost", "/set"), "(none)");
    assert_eq!(page("acme.localhost", "/"), "probe=1");
    let cookies = browser.cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert_eq!(cookies[0]["name"], "probe");
    // Host-only: no leading dot, no parent domain.
    assert_eq!(cookies[0]["domain"], "acme.localhost");
    assert_eq!(cookies[0]["httpOnly"], true);
    assert_eq!(browser.execute("return document.cookie", &[]), "");

    for other in ["42.localhost", "localhost", "other.acme.localhost"] {
        assert_eq!(
            page(other, "/"),
            "(none)",
            "a cookie of acme.localhost was sent to {other}"
        );
        assert!(browser.cookies().is_empty(), "cookies on {other}");
    }
    // Still there: it was kept to its own host, not lost.
    assert_eq!(page("acme.localhost", "/"), "probe=1");
}

/// Serves on 127.0.0.1 (only), one thread per connection, until the test ends:
/// `/` answers a page echoing the request's `Host` and `Cookie` headers and the
/// peer's address; `/set` does too, and sets the cookie `probe=1`.
fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    port
}

fn answer(mut stream: TcpStream) {
    // Chromium opens spare connections it may never use.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut chunk = [0; 4096];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
        if head.len() > 65536 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head
        .lines()
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or_default()
        .to_string();
    let header = |name: &str| {
        head.lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().to_string())
    };
    let (status, set_cookie) = match path.as_str() {
        "/" => ("200 OK", ""),
        "/set" => ("200 OK", "Set-Cookie: probe=1; Path=/; HttpOnly\r\n"),
        _ => ("404 Not Found", ""),
    };
    let peer = stream
        .peer_addr()
        .map(|address| address.ip().to_string())
        .unwrap_or_default();
    let body = format!(
        "<!doctype html><html><head><meta charset=utf-8><title>echo</title></head><body>\n\
         <p>Host: <span id=host>{}</span></p>\n\
         <p>Cookie: <span id=cookie>{}</span></p>\n\
         <p>Peer: <span id=peer>{}</span></p>\n</body></html>\n",
        escape(&header("host").unwrap_or_default()),
        escape(&header("cookie").unwrap_or_else(|| "(none)".into())),
        escape(&peer),
    );
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\
         {set_cookie}\r\n{body}",
        body.len()
    );
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
