//! A git server over HTTP on the loopback that asks for one user and
//! password (git's own `http-backend` behind a small CGI bridge): a stand-in
//! for a private repository host, since tests reach no other machine.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine as _;

/// Serves the repositories under a directory until dropped.
pub struct GitHttpServer {
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    port: u16,
    refused: Arc<AtomicUsize>,
}

impl GitHttpServer {
    /// Serves `root`'s repositories to `user`:`password` only.
    pub fn start(root: &Path, user: &str, password: &str) -> GitHttpServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("a loopback port"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let refused = Arc::new(AtomicUsize::new(0));
        let (root, serving, counter) = (root.to_path_buf(), server.clone(), refused.clone());
        let thread = std::thread::spawn(move || {
            for request in serving.incoming_requests() {
                let authorized = request
                    .headers()
                    .iter()
                    .any(|h| h.field.equiv("Authorization") && h.value.as_str() == expected);
                if authorized {
                    serve_cgi(&root, request);
                } else {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let challenge =
                        tiny_http::Header::from_bytes("WWW-Authenticate", "Basic realm=\"git\"")
                            .expect("a valid header");
                    let _ = request.respond(
                        tiny_http::Response::from_string("authentication required\n")
                            .with_status_code(401)
                            .with_header(challenge),
                    );
                }
            }
        });
        GitHttpServer {
            server,
            thread: Some(thread),
            port,
            refused,
        }
    }

    /// The address of repository `name` (a directory under the root), with
    /// no credentials.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    /// The address of `name` carrying `userinfo` (`TOKEN` or `user:password`).
    pub fn url_with(&self, userinfo: &str, name: &str) -> String {
        format!("http://{userinfo}@127.0.0.1:{}/{name}", self.port)
    }

    /// Requests turned away for want of the right credentials.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `git http-backend` for one request (RFC 3875's variables) and sends
/// back what it wrote.
fn serve_cgi(root: &Path, mut request: tiny_http::Request) {
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let header = |name: &'static str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.as_str().to_string())
            .unwrap_or_default()
    };
    let (content_type, encoding) = (header("Content-Type"), header("Content-Encoding"));
    let mut body = Vec::new();
    let _ = request.as_reader().read_to_end(&mut body);
    let mut child = Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", request.method().as_str())
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", content_type)
        .env("HTTP_CONTENT_ENCODING", encoding)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", "test")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "uploadpack.allowAnySHA1InWant")
        .env("GIT_CONFIG_VALUE_0", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("git http-backend starts");
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut status = 200;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("Status") {
                status = value
                    .split_whitespace()
                    .next()
                    .and_then(|code| code.parse().ok())
                    .unwrap_or(500);
            } else if let Ok(header) = tiny_http::Header::from_bytes(name, value) {
                headers.push(header);
            }
        }
    }
    let mut rest = Vec::new();
    let _ = stdout.read_to_end(&mut rest);
    let _ = writer.join();
    let _ = child.wait();
    let mut response = tiny_http::Response::from_data(rest).with_status_code(status);
    for header in headers {
        response.add_header(header);
    }
    let _ = request.respond(response);
}

/// A directory of bare repositories to serve, for [`GitHttpServer::start`].
pub fn bare_copy(of: &Path, root: &Path, name: &str) -> PathBuf {
    let target = root.join(name);
    let status = Command::new("git")
        .args(["clone", "--quiet", "--bare"])
        .arg(of)
        .arg(&target)
        .status()
        .expect("git runs");
    assert!(status.success(), "git clone --bare {}", of.display());
    target
}
