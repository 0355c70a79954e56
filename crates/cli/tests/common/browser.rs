//! Headless Chromium for end-to-end tests of the web UI, driven over WebDriver
//! by `fantoccini`, with a blocking face: tests are plain `#[test]` functions.
//!
//! ```ignore
//! use common::browser::{Browser, Key};
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
//! browser.type_keys(&format!("ls{}", Key::Enter));
//! browser.press(&[Key::Control.into(), 'c']);
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

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::runtime::Runtime;
use webdriver::command::WebDriverCommand;

/// W3C special keys (`Display`, and `char` through `into()`), for
/// [`Browser::type_keys`], [`Browser::press`] and [`Element::send_keys`].
#[allow(unused_imports)] // some test binaries type no special key
pub use fantoccini::key::Key;

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
/// How long closing the session may take when the `Browser` is dropped.
const CLOSE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);

/// The W3C web element identifier key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The watchdog: `$1` is chromedriver, `$2` its log file. `kill 0` signals the
/// whole process group, the shell included.
const WATCHDOG: &str = r#""$1" --port=0 --log-path="$2" & read -r _; kill -KILL 0"#;

pub struct Browser {
    /// `None` once closed, in `drop`.
    client: Option<Client>,
    runtime: Arc<Runtime>,
    // Dropped after `Browser::drop` has deleted the session.
    _driver: Driver,
}

/// A handle on one element of the page (a W3C element reference).
#[derive(Clone)]
pub struct Element {
    element: fantoccini::elements::Element,
    runtime: Arc<Runtime>,
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
        // One thread is enough: every command waits for its answer. fantoccini's
        // session task runs while `block_on` drives the runtime.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the WebDriver client");

        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|arg| arg.to_string()).collect();
        args.push(format!(
            "--user-data-dir={}",
            driver.dir.path().join("profile").display()
        ));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "timeouts": {
                "pageLoad": PAGE_LOAD.as_millis() as u64,
                "script": PAGE_LOAD.as_millis() as u64,
                "implicit": 0,
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        // chromedriver speaks plain HTTP on the loopback: no TLS stack needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let url = format!("http://127.0.0.1:{}", driver.port);
        let client = runtime
            .block_on(
                ClientBuilder::new(connector)
                    .capabilities(capabilities)
                    .connect(&url),
            )
            .unwrap_or_else(|error| panic!("cannot start Chromium: {error}"));
        Browser {
            client: Some(client),
            runtime: Arc::new(runtime),
            _driver: driver,
        }
    }

    /// Navigates and waits for the page's load event.
    pub fn goto(&self, url: &str) {
        self.run("goto", self.client().goto(url));
    }

    pub fn current_url(&self) -> String {
        self.run("current url", self.client().current_url())
            .to_string()
    }

    pub fn title(&self) -> String {
        self.run("title", self.client().title())
    }

    pub fn back(&self) {
        self.run("back", self.client().back());
    }

    pub fn refresh(&self) {
        self.run("refresh", self.client().refresh());
    }

    /// The first element matching `css`; panics if there is none.
    pub fn find(&self, css: &str) -> Element {
        self.try_find(css)
            .unwrap_or_else(|| panic!("no element matches `{css}` on {}", self.current_url()))
    }

    pub fn try_find(&self, css: &str) -> Option<Element> {
        let found = self.block_on(self.client().find(Locator::Css(css)));
        self.element_if_found(css, found)
    }

    pub fn find_all(&self, css: &str) -> Vec<Element> {
        let what = format!("finding all `{css}`");
        self.run(&what, self.client().find_all(Locator::Css(css)))
            .into_iter()
            .map(|element| self.wrap(element))
            .collect()
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
    /// elements with [`Element::json`]) and returns what it returns.
    pub fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.run("execute", self.client().execute(script, args.to_vec()))
    }

    /// The current DOM, serialized.
    pub fn page_source(&self) -> String {
        self.run("page source", self.client().source())
    }

    /// A PNG of the viewport, written to `path`.
    pub fn screenshot_png(&self, path: &Path) {
        let png = self.run("screenshot", self.client().screenshot());
        std::fs::write(path, png)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    }

    /// The cookies visible to the current page, HttpOnly ones included, as W3C
    /// cookie objects (`name`, `value`, `domain`, `path`, `httpOnly`, `secure`…).
    /// Read raw: the typed cookies of fantoccini strip a leading dot from the
    /// domain, which the tests check for.
    pub fn cookies(&self) -> Vec<Value> {
        let cookies = self.run(
            "cookies",
            self.client().issue_cmd(WebDriverCommand::GetCookies),
        );
        match cookies {
            Value::Array(cookies) => cookies,
            other => panic!("cookies: expected a list, got {other}"),
        }
    }

    /// Types `text` into whatever has the focus, as real key presses (W3C
    /// actions): what xterm.js and other keydown listeners need. Characters
    /// may be [`Key`]s.
    pub fn type_keys(&self, text: &str) {
        let actions = text
            .chars()
            .fold(KeyActions::new("keyboard".into()), |actions, c| {
                actions
                    .then(KeyAction::Down { value: c })
                    .then(KeyAction::Up { value: c })
            });
        self.key_actions(actions);
    }

    /// Presses a chord, such as `&[Key::Control.into(), 'c']`: each key down in
    /// order, then up in reverse order.
    pub fn press(&self, chord: &[char]) {
        let mut actions = KeyActions::new("keyboard".into());
        for &key in chord {
            actions = actions.then(KeyAction::Down { value: key });
        }
        for &key in chord.iter().rev() {
            actions = actions.then(KeyAction::Up { value: key });
        }
        self.key_actions(actions);
    }

    fn key_actions(&self, actions: KeyActions) {
        let client = self.client();
        self.run("key actions", async {
            client.perform_actions(actions).await?;
            client.release_actions().await
        });
    }

    /// The text of the open `alert`/`confirm`/`prompt`, if one is open.
    pub fn alert_text(&self) -> Option<String> {
        match self.block_on(self.client().get_alert_text()) {
            Ok(text) => Some(text),
            Err(error) if error.is_no_such_alert() => None,
            Err(error) => panic!("alert text: {error}"),
        }
    }

    pub fn accept_alert(&self) {
        self.run("accept alert", self.client().accept_alert());
    }

    pub fn dismiss_alert(&self) {
        self.run("dismiss alert", self.client().dismiss_alert());
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    /// One WebDriver command; a failure becomes a panic naming `what`.
    fn run<T>(&self, what: &str, command: impl Future<Output = Result<T, CmdError>>) -> T {
        self.block_on(command)
            .unwrap_or_else(|error| panic!("WebDriver {what}: {error}"))
    }

    fn element_if_found(
        &self,
        css: &str,
        found: Result<fantoccini::elements::Element, CmdError>,
    ) -> Option<Element> {
        match found {
            Ok(element) => Some(self.wrap(element)),
            Err(error) if error.is_no_such_element() => None,
            Err(error) => panic!("finding `{css}`: {error}"),
        }
    }

    fn wrap(&self, element: fantoccini::elements::Element) -> Element {
        Element {
            element,
            runtime: self.runtime.clone(),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Lets Chromium close cleanly; the watchdog then kills whatever is left.
        if let Some(client) = self.client.take() {
            // The timer needs the runtime's context: built inside `block_on`.
            let _ = self
                .runtime
                .block_on(async { tokio::time::timeout(CLOSE, client.close()).await });
        }
    }
}

impl Element {
    /// The W3C reference to this element, to pass to [`Browser::execute`].
    pub fn json(&self) -> Value {
        json!({ ELEMENT_KEY: self.element.element_id().to_string() })
    }

    pub fn click(&self) {
        self.run("click", self.element.click());
    }

    /// Focuses the element and types `text` into it (may hold [`Key`]s).
    pub fn send_keys(&self, text: &str) {
        self.run("send keys", self.element.send_keys(text));
    }

    pub fn clear(&self) {
        self.run("clear", self.element.clear());
    }

    /// The rendered text (what a user sees; empty if hidden).
    pub fn text(&self) -> String {
        self.run("text", self.element.text())
    }

    /// The HTML attribute as written in the page, if present.
    pub fn attribute(&self, name: &str) -> Option<String> {
        self.run("attribute", self.element.attr(name))
    }

    /// The computed CSS value, such as `rgba(0, 128, 0, 1)` for a color.
    pub fn css_value(&self, name: &str) -> String {
        self.run("css value", self.element.css_value(name))
    }

    pub fn is_displayed(&self) -> bool {
        self.run("is displayed", self.element.is_displayed())
    }

    pub fn is_enabled(&self) -> bool {
        self.run("is enabled", self.element.is_enabled())
    }

    /// The first descendant matching `css`; panics if there is none.
    pub fn find(&self, css: &str) -> Element {
        self.try_find(css)
            .unwrap_or_else(|| panic!("no element matches `{css}` inside {self:?}"))
    }

    pub fn try_find(&self, css: &str) -> Option<Element> {
        match self.runtime.block_on(self.element.find(Locator::Css(css))) {
            Ok(element) => Some(self.wrap(element)),
            Err(error) if error.is_no_such_element() => None,
            Err(error) => panic!("finding `{css}` inside {self:?}: {error}"),
        }
    }

    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.run("find all", self.element.find_all(Locator::Css(css)))
            .into_iter()
            .map(|element| self.wrap(element))
            .collect()
    }

    fn run<T>(&self, what: &str, command: impl Future<Output = Result<T, CmdError>>) -> T {
        self.runtime
            .block_on(command)
            .unwrap_or_else(|error| panic!("WebDriver {what} on {self:?}: {error}"))
    }

    fn wrap(&self, element: fantoccini::elements::Element) -> Element {
        Element {
            element,
            runtime: self.runtime.clone(),
        }
    }
}

impl std::fmt::Debug for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Element({})", self.element.element_id())
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
