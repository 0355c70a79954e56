//! Headless Chromium for end-to-end tests of the web UI, driven over WebDriver.
//!
//! ```ignore
//! use common::browser::{key, Browser};
//!
//! let browser = Browser::start(); // chromedriver + a fresh headless Chromium
//! browser.goto(&format!("{}/login", serve.url()));
//! browser.find("input[name=login]").send_keys("admin");
//! browser.find("button[type=submit]").click();
//! let title = browser.wait_for("h1", Duration::from_secs(5)).text();
//! browser.wait_until("the build to serve", Duration::from_secs(60), |b| {
//!     b.find("#state").text() == "serving"
//! });
//! // xterm.js listens on a hidden textarea: click the terminal to focus it, then
//! // type real key presses into whatever has the focus.
//! browser.find(".xterm-screen").click();
//! browser.type_keys(&format!("ls{}", key::ENTER));
//! browser.press(&[key::CONTROL, "c"]);
//! browser.find("#kill").click(); // a confirm() dialog opens
//! assert_eq!(browser.alert_text().as_deref(), Some("Kill this build?"));
//! browser.accept_alert();
//! let checked = browser.execute("return arguments[0].checked", &[element.json()]);
//! browser.screenshot_png(&dir.join("page.png"));
//! // dropped: session deleted, chromedriver and every Chromium process killed
//! ```
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/install-host-packages.sh).
//!
//! Why hand-written: a W3C WebDriver client is a few dozen HTTP calls with JSON
//! bodies; `ureq` and `serde_json` are already dependencies of this crate, while
//! fantoccini, thirtyfour or chromiumoxide would each add an async HTTP/WebSocket
//! stack to compile on every build of the tests. Spec: <https://www.w3.org/TR/webdriver2/>.
//!
//! Everything panics with a clear message on failure (test support); when a test
//! panics, the end of chromedriver's log (every command and answer) is printed.
//! Each `Browser` has its own chromedriver, on a port it picks itself, and its own
//! fresh profile in a temporary directory, so tests may run in parallel. Elements
//! are found by CSS selector only; `find` does not wait, `wait_for` polls.
//!
//! Cleanup: chromedriver runs under a small `sh` watchdog, leader of a process
//! group that chromedriver and Chromium inherit. The watchdog blocks reading a
//! pipe from the test process; when the pipe closes (the `Browser` is dropped, or
//! the test process dies in any way, even SIGKILL) it kills the whole group. This
//! matters: killing chromedriver alone leaves Chromium running, reparented to
//! init. Chromium's crashpad handlers leave the group (setsid) but exit on their
//! own within a second once Chromium is gone. Only the temporary directory
//! (~3 MB) is left behind when the test process is killed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Without the networking ones Chromium keeps calling Google services, which on a
/// closed network means a flood of failing connections and DNS queries.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,900",
];

/// How long a page load or a synchronous script may take.
const PAGE_LOAD: Duration = Duration::from_secs(30);
/// Above PAGE_LOAD, so that chromedriver's own timeout error reaches us first.
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

/// The W3C web element identifier key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// W3C special keys, for [`Browser::type_keys`], [`Browser::press`] and
/// [`Element::send_keys`].
pub mod key {
    pub const BACKSPACE: &str = "\u{E003}";
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    pub const SHIFT: &str = "\u{E008}";
    pub const CONTROL: &str = "\u{E009}";
    pub const ALT: &str = "\u{E00A}";
    pub const ESCAPE: &str = "\u{E00C}";
    pub const PAGE_UP: &str = "\u{E00E}";
    pub const PAGE_DOWN: &str = "\u{E00F}";
    pub const END: &str = "\u{E010}";
    pub const HOME: &str = "\u{E011}";
    pub const LEFT: &str = "\u{E012}";
    pub const UP: &str = "\u{E013}";
    pub const RIGHT: &str = "\u{E014}";
    pub const DOWN: &str = "\u{E015}";
    pub const DELETE: &str = "\u{E017}";
}

/// The watchdog: `$1` is chromedriver, `$2` its log file. `kill 0` signals the
/// whole process group, the shell included.
const WATCHDOG: &str = r#""$1" --port=0 --log-path="$2" & read -r _; kill -KILL 0"#;

pub struct Browser {
    session: Session,
    // Dropped after `Browser::drop` has deleted the session.
    _driver: Driver,
}

/// A handle on one element of the page (a W3C element reference).
#[derive(Clone)]
pub struct Element {
    session: Session,
    id: String,
}

/// Where commands go: `http://127.0.0.1:<port>/session/<id>`.
#[derive(Clone)]
struct Session {
    agent: ureq::Agent,
    url: String,
}

/// A W3C error (`value.error`, `value.message`), or a transport failure.
#[derive(Debug)]
struct Failure {
    error: String,
    message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let message = self.message.lines().next().unwrap_or_default();
        write!(f, "{}: {message}", self.error)
    }
}

impl Browser {
    pub fn start() -> Browser {
        for program in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing: install Debian's chromium and chromium-driver \
                 (scripts/install-host-packages.sh)"
            );
        }
        let driver = Driver::start();
        let agent = ureq::AgentBuilder::new().timeout(HTTP_TIMEOUT).build();
        let base = format!("http://127.0.0.1:{}", driver.port);

        let deadline = Instant::now() + Duration::from_secs(20);
        while send(&agent, "GET", &format!("{base}/status"), Value::Null)
            .map_or(true, |status| status["ready"] != true)
        {
            assert!(Instant::now() < deadline, "chromedriver never became ready");
            std::thread::sleep(POLL);
        }

        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|arg| arg.to_string()).collect();
        args.push(format!(
            "--user-data-dir={}",
            driver.dir.path().join("profile").display()
        ));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "timeouts": {
                "pageLoad": PAGE_LOAD.as_millis() as u64,
                "script": PAGE_LOAD.as_millis() as u64,
                "implicit": 0,
            },
        }}});
        let created = send(&agent, "POST", &format!("{base}/session"), capabilities)
            .unwrap_or_else(|failure| panic!("cannot start Chromium: {failure}"));
        let id = created["sessionId"]
            .as_str()
            .expect("a session id from chromedriver");
        Browser {
            session: Session {
                agent,
                url: format!("{base}/session/{id}"),
            },
            _driver: driver,
        }
    }

    /// Navigates and waits for the page's load event.
    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", json!({ "url": url }));
    }

    pub fn current_url(&self) -> String {
        string(self.command("GET", "/url", Value::Null))
    }

    pub fn title(&self) -> String {
        string(self.command("GET", "/title", Value::Null))
    }

    pub fn back(&self) {
        self.command("POST", "/back", json!({}));
    }

    pub fn refresh(&self) {
        self.command("POST", "/refresh", json!({}));
    }

    /// The first element matching `css`; panics if there is none.
    pub fn find(&self, css: &str) -> Element {
        self.try_find(css)
            .unwrap_or_else(|| panic!("no element matches `{css}` on {}", self.current_url()))
    }

    pub fn try_find(&self, css: &str) -> Option<Element> {
        self.session.try_find("", css)
    }

    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.session.find_all("", css)
    }

    /// Polls until an element matches `css` (present in the DOM, maybe hidden).
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let mut found = None;
        self.wait_until(
            &format!("an element matching `{css}`"),
            timeout,
            |browser| {
                found = browser.try_find(css);
                found.is_some()
            },
        );
        found.unwrap()
    }

    /// Polls `done` until it returns true; panics after `timeout`, naming `what`.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&Browser) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            if Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what} (on {})",
                    self.current_url()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Runs `script` as the body of a function (`arguments[0]`… are `args`; pass
    /// elements with [`Element::json`]) and returns what it returns (elements come
    /// back as references: see [`Browser::element`]).
    pub fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
    }

    /// The element referenced by a value `execute` returned, if it is one.
    pub fn element(&self, value: &Value) -> Option<Element> {
        self.session.element(value)
    }

    /// The current DOM, serialized.
    pub fn page_source(&self) -> String {
        string(self.command("GET", "/source", Value::Null))
    }

    /// A PNG of the viewport, written to `path`.
    pub fn screenshot_png(&self, path: &Path) {
        let png = base64_decode(&string(self.command("GET", "/screenshot", Value::Null)));
        std::fs::write(path, png)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    }

    /// Adds a cookie for the current page's host: a W3C cookie object, such as
    /// `json!({"name": "session", "value": "x", "httpOnly": true})`.
    pub fn add_cookie(&self, cookie: Value) {
        self.command("POST", "/cookie", json!({ "cookie": cookie }));
    }

    /// The cookies visible to the current page, HttpOnly ones included, as W3C
    /// cookie objects (`name`, `value`, `domain`, `path`, `httpOnly`, `secure`…).
    pub fn cookies(&self) -> Vec<Value> {
        match self.command("GET", "/cookie", Value::Null) {
            Value::Array(cookies) => cookies,
            other => panic!("cookies: expected a list, got {other}"),
        }
    }

    /// Types `text` into whatever has the focus, as real key presses (W3C
    /// actions): what xterm.js and other keydown listeners need. Characters
    /// may be [`key`] constants.
    pub fn type_keys(&self, text: &str) {
        let actions: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                [
                    json!({"type": "keyDown", "value": c.to_string()}),
                    json!({"type": "keyUp", "value": c.to_string()}),
                ]
            })
            .collect();
        self.key_actions(actions);
    }

    /// Presses a chord, such as `&[key::CONTROL, "c"]`: each key down in order,
    /// then up in reverse order.
    pub fn press(&self, chord: &[&str]) {
        let down = chord.iter().map(|k| json!({"type": "keyDown", "value": k}));
        let up = chord
            .iter()
            .rev()
            .map(|k| json!({"type": "keyUp", "value": k}));
        self.key_actions(down.chain(up).collect());
    }

    fn key_actions(&self, actions: Vec<Value>) {
        let source = json!({"type": "key", "id": "keyboard", "actions": actions});
        self.command("POST", "/actions", json!({ "actions": [source] }));
        self.command("DELETE", "/actions", Value::Null);
    }

    /// The text of the open `alert`/`confirm`/`prompt`, if one is open.
    pub fn alert_text(&self) -> Option<String> {
        match self.session.try_command("GET", "/alert/text", Value::Null) {
            Ok(text) => Some(string(text)),
            Err(failure) if failure.error == "no such alert" => None,
            Err(failure) => panic!("GET /alert/text: {failure}"),
        }
    }

    pub fn accept_alert(&self) {
        self.command("POST", "/alert/accept", json!({}));
    }

    pub fn dismiss_alert(&self) {
        self.command("POST", "/alert/dismiss", json!({}));
    }

    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        self.session.command(method, path, body)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Lets Chromium close cleanly; the watchdog then kills whatever is left.
        let request = self
            .session
            .agent
            .request("DELETE", &self.session.url)
            .timeout(Duration::from_secs(5));
        let _ = request.call();
    }
}

impl Element {
    /// The W3C reference to this element, to pass to [`Browser::execute`].
    pub fn json(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    pub fn click(&self) {
        self.command("POST", "/click", json!({}));
    }

    /// Focuses the element and types `text` into it (may hold [`key`] constants).
    pub fn send_keys(&self, text: &str) {
        self.command("POST", "/value", json!({ "text": text }));
    }

    pub fn clear(&self) {
        self.command("POST", "/clear", json!({}));
    }

    /// The rendered text (what a user sees; empty if hidden).
    pub fn text(&self) -> String {
        string(self.command("GET", "/text", Value::Null))
    }

    /// The HTML attribute as written in the page, if present.
    pub fn attribute(&self, name: &str) -> Option<String> {
        self.command("GET", &format!("/attribute/{name}"), Value::Null)
            .as_str()
            .map(str::to_string)
    }

    /// The DOM property (`value`, `checked`…), as JSON.
    pub fn property(&self, name: &str) -> Value {
        self.command("GET", &format!("/property/{name}"), Value::Null)
    }

    /// The computed CSS value, such as `rgba(0, 128, 0, 1)` for a color.
    pub fn css_value(&self, name: &str) -> String {
        string(self.command("GET", &format!("/css/{name}"), Value::Null))
    }

    pub fn is_displayed(&self) -> bool {
        self.command("GET", "/displayed", Value::Null) == true
    }

    pub fn is_enabled(&self) -> bool {
        self.command("GET", "/enabled", Value::Null) == true
    }

    /// The first descendant matching `css`; panics if there is none.
    pub fn find(&self, css: &str) -> Element {
        self.try_find(css)
            .unwrap_or_else(|| panic!("no element matches `{css}` inside element {}", self.id))
    }

    pub fn try_find(&self, css: &str) -> Option<Element> {
        self.session.try_find(&format!("/element/{}", self.id), css)
    }

    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.session.find_all(&format!("/element/{}", self.id), css)
    }

    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/element/{}{path}", self.id);
        self.session.command(method, &path, body)
    }
}

impl std::fmt::Debug for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Element({})", self.id)
    }
}

impl Session {
    /// One WebDriver command; a W3C error becomes a panic with its message.
    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        self.try_command(method, path, body)
            .unwrap_or_else(|failure| panic!("WebDriver {method} {path}: {failure}"))
    }

    fn try_command(&self, method: &str, path: &str, body: Value) -> Result<Value, Failure> {
        send(&self.agent, method, &format!("{}{path}", self.url), body)
    }

    /// `under` is "" (the document) or "/element/<id>".
    fn try_find(&self, under: &str, css: &str) -> Option<Element> {
        let query = json!({"using": "css selector", "value": css});
        match self.try_command("POST", &format!("{under}/element"), query) {
            Ok(found) => self.element(&found),
            Err(failure) if failure.error == "no such element" => None,
            Err(failure) => panic!("finding `{css}`: {failure}"),
        }
    }

    fn find_all(&self, under: &str, css: &str) -> Vec<Element> {
        let query = json!({"using": "css selector", "value": css});
        match self.command("POST", &format!("{under}/elements"), query) {
            Value::Array(found) => found.iter().filter_map(|e| self.element(e)).collect(),
            other => panic!("finding all `{css}`: expected a list, got {other}"),
        }
    }

    fn element(&self, value: &Value) -> Option<Element> {
        Some(Element {
            session: self.clone(),
            id: value.get(ELEMENT_KEY)?.as_str()?.to_string(),
        })
    }
}

/// Sends one request; returns the response's `value`, or its W3C error.
fn send(agent: &ureq::Agent, method: &str, url: &str, body: Value) -> Result<Value, Failure> {
    let request = agent.request(method, url);
    let response = if method == "POST" {
        request.send_json(body)
    } else {
        request.call()
    };
    let response = match response {
        Ok(response) => response,
        // W3C errors come with a 4xx/5xx status and a JSON body.
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => {
            return Err(Failure {
                error: "no answer from chromedriver".into(),
                message: error.to_string(),
            })
        }
    };
    let mut body: Value = response.into_json().map_err(|error| Failure {
        error: "unreadable answer from chromedriver".into(),
        message: error.to_string(),
    })?;
    let value = body["value"].take();
    match value["error"].as_str() {
        Some(error) => Err(Failure {
            error: error.to_string(),
            message: value["message"].as_str().unwrap_or_default().to_string(),
        }),
        None => Ok(value),
    }
}

fn string(value: Value) -> String {
    match value {
        Value::String(string) => string,
        other => panic!("expected a string from chromedriver, got {other}"),
    }
}

/// chromedriver under its watchdog, with its log and Chromium's profile in `dir`.
struct Driver {
    watchdog: Child,
    /// Closing it makes the watchdog kill the process group.
    lifeline: Option<ChildStdin>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Driver {
    fn start() -> Driver {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::Builder::new()
            .prefix("slipway-browser-")
            .tempdir()
            .expect("a temporary directory for the browser");
        let log = dir.path().join("chromedriver.log");
        let mut watchdog = Command::new("sh")
            .args(["-c", WATCHDOG, "sh", CHROMEDRIVER])
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("sh runs");
        let lifeline = watchdog.stdin.take();
        let mut driver = Driver {
            watchdog,
            lifeline,
            port: 0,
            dir,
        };

        // chromedriver picks a free port itself and says which on stdout
        // ("ChromeDriver was started successfully on port 41234."); keep
        // draining stdout afterwards so that it never blocks on a full pipe.
        let stdout = driver.watchdog.stdout.take().unwrap();
        let (port_sender, port_receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((_, port)) = line.split_once("started successfully on port ") {
                    let _ = port_sender.send(port.trim_end_matches('.').parse::<u16>());
                }
            }
        });
        // On panic, dropping `driver` kills the watchdog's group and shows the log.
        driver.port = match port_receiver.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(port)) => port,
            Ok(Err(error)) => panic!("chromedriver's port: {error}"),
            Err(_) => panic!("chromedriver did not start within 20 s"),
        };
        driver
    }

    fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
        let mut start = log.len().saturating_sub(4000);
        while !log.is_char_boundary(start) {
            start += 1;
        }
        format!("--- end of chromedriver.log ---\n{}", &log[start..])
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
        drop(self.lifeline.take());
        let _ = self.watchdog.wait();
    }
}

/// Standard base64 (screenshots); padding and line breaks are skipped.
fn base64_decode(text: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(text.len() / 4 * 3);
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\r' | b'\n' => continue,
            _ => panic!("invalid base64 from chromedriver: byte {c:#04x}"),
        };
        buffer = (buffer << 6 | u32::from(sextet)) & 0xffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
        }
    }
    bytes
}
