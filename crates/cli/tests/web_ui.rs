//! The web UI end to end, in headless Chromium, against a real `slipway
//! serve` building real Odoo 14.0: sign in; the branches view with its
//! colours; a push whose cell appears and turns green without a reload; live
//! logs; Connect landing in Odoo's web client, logged in; the web shell
//! running commands (psql included) in the build's sandbox; a tester refused
//! production.
//!
//! With `SLIPWAY_SCREENSHOTS=<dir>`, the main pages are saved there as PNG
//! (`scripts/screenshots.sh` regenerates docs/screenshots with it).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::browser::{Browser, Key};
use common::serve::{wait_for, Serve, BUILD_LIMIT};
use serde_json::Value;
use slipway_control::BuildAttempt;

const ADMIN_PASSWORD: &str = "admin password 1";
const TESTER_PASSWORD: &str = "tester password 1";
const UI_WAIT: Duration = Duration::from_secs(20);

fn commit(repo: &Path, message: &str) -> String {
    std::fs::write(repo.join("green_addon/CHANGES"), format!("{message}\n")).unwrap();
    common::git(repo, &["add", "-A"]);
    common::git(repo, &["commit", "-qm", message]);
    common::git(repo, &["rev-parse", "HEAD"])
}

/// `slipway user add LOGIN` with the password on stdin.
fn add_user(serve: &Serve, login: &str, password: &str, admin: bool) {
    use std::io::Write;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_slipway"));
    command
        .args(["user", "add", login])
        .args(admin.then_some("--admin"))
        .envs(common::serve::env(&serve.home))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "user add {login}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

struct Screenshots(Option<PathBuf>);

impl Screenshots {
    fn from_env() -> Screenshots {
        Screenshots(std::env::var_os("SLIPWAY_SCREENSHOTS").map(PathBuf::from))
    }

    fn take(&self, browser: &Browser, name: &str) {
        if let Some(dir) = &self.0 {
            std::fs::create_dir_all(dir).unwrap();
            browser.screenshot_png(&dir.join(format!("{name}.png")));
        }
    }
}

/// Fills the login form of the current page, or of `/login`.
fn sign_in(browser: &Browser, ui: &str, login: &str, password: &str) {
    if !browser.current_url().contains("/login") {
        browser.goto(&format!("{ui}/login"));
    }
    browser.find("input[name=login]").send_keys(login);
    browser.find("input[name=password]").send_keys(password);
    browser.find("form button[type=submit]").click();
    browser.wait_until("the sign-in", UI_WAIT, |b| {
        !b.current_url().contains("/login")
    });
}

/// The class of the newest cell of a branch's row, and its build id.
fn newest_cell(browser: &Browser, branch: &str) -> Option<(String, i64)> {
    let found = browser.execute(
        "const row = document.querySelector(`tr.branch[data-name=\"${arguments[0]}\"]`);\
         const cell = row && row.querySelector('.cell');\
         return cell ? [cell.className, Number(cell.getAttribute('href').split('/').pop())] : null;",
        &[Value::from(branch)],
    );
    let pair = found.as_array()?;
    Some((pair[0].as_str()?.to_string(), pair[1].as_i64()?))
}

/// The login of the Odoo session the page runs in, as Odoo itself says it
/// (the WebDriver waits for the promise).
fn session_login(browser: &Browser) -> Value {
    browser.execute(
        "return fetch('/web/session/get_session_info', {method: 'POST', \
           headers: {'Content-Type': 'application/json'}, \
           body: JSON.stringify({jsonrpc: '2.0', method: 'call', params: {}})}) \
         .then(r => r.json()).then(j => j.result.username);",
        &[],
    )
}

#[test]
fn the_web_ui_in_a_real_browser() {
    let temp = tempfile::tempdir().unwrap();
    let repo = common::repository(temp.path(), "passing");
    let serve = Serve::start(&temp.path().join("home"), &[]);
    let ui = format!("http://localhost:{}", serve.port);
    add_user(&serve, "admin", ADMIN_PASSWORD, true);
    add_user(&serve, "tess", TESTER_PASSWORD, false);
    // Adding the project builds production's head at once; the pushes after
    // it build a branch whose test fails, then a feature.
    commit(&repo, "first release");
    serve.add_project(
        "acme",
        &repo,
        "14.0",
        &["--poll-interval", "1", "--quiet-period", "0"],
    );
    serve.ok(&["user", "role", "tess", "acme", "tester"]);
    common::git(&repo, &["checkout", "-qb", "broken"]);
    let test = repo.join("green_addon/tests/test_partner.py");
    let failing = std::fs::read_to_string(&test)
        .unwrap()
        .replace("\"Grace\")\n", "\"Ada\")\n");
    std::fs::write(&test, failing).unwrap();
    commit(&repo, "a rename that is not one");
    common::git(&repo, &["checkout", "-q", "main"]);
    common::git(&repo, &["checkout", "-qb", "feature"]);
    commit(&repo, "first feature commit");
    wait_for("the three branches to build", BUILD_LIMIT * 2, || {
        let builds = serve.builds("acme");
        builds.len() >= 3
            && builds
                .iter()
                .all(|b| b["state"] == "serving" || b["status"] == "failed")
    });
    let shots = Screenshots::from_env();
    let browser = Browser::start();

    // Sign in; the projects page, then the branches view with its colours.
    browser.goto(&format!("{ui}/projects/acme"));
    assert!(browser.current_url().contains("/login?next="));
    shots.take(&browser, "login");
    sign_in(&browser, &ui, "admin", ADMIN_PASSWORD);
    assert!(browser.current_url().ends_with("/projects/acme"));
    let rows: Vec<String> = browser
        .find_all("tr.branch")
        .iter()
        .map(|row| row.attribute("data-name").unwrap())
        .collect();
    assert_eq!(
        rows,
        ["main", "feature", "broken"],
        "production first, then by last build"
    );
    let (class, _) = newest_cell(&browser, "feature").unwrap();
    assert_eq!(class, "cell success");
    let (class, _) = newest_cell(&browser, "broken").unwrap();
    assert_eq!(class, "cell failed");
    let red = browser.find("tr.branch[data-name=broken] .cell.failed");
    assert_eq!(red.css_value("background-color"), "rgba(192, 57, 43, 1)");
    let green = browser.find("tr.branch[data-name=feature] .cell.success");
    assert_eq!(
        green.css_value("background-color"),
        "rgba(46, 133, 64, 1)",
        "a green cell"
    );

    // A push: its cell appears and turns green, without a reload.
    browser.execute("window.notReloaded = true;", &[]);
    let (_, before) = newest_cell(&browser, "feature").unwrap();
    let pushed = commit(&repo, "second feature commit");
    browser.wait_until("the new build's cell", UI_WAIT, |b| {
        newest_cell(b, "feature").is_some_and(|(_, id)| id > before)
    });
    let (_, new_build) = newest_cell(&browser, "feature").unwrap();
    browser.wait_until("the new cell to turn green", BUILD_LIMIT, |b| {
        newest_cell(b, "feature") == Some(("cell success".to_string(), new_build))
    });
    assert_eq!(
        browser.execute("return window.notReloaded === true;", &[]),
        Value::Bool(true),
        "the page was not reloaded"
    );
    let rows: Vec<String> = browser
        .find_all("tr.branch")
        .iter()
        .map(|row| row.attribute("data-name").unwrap())
        .collect();
    assert_eq!(rows, ["main", "feature", "broken"]);
    shots.take(&browser, "branches");
    // The filter box.
    browser.find("#branch-filter").send_keys("feat");
    assert!(!browser.find("tr.branch[data-name=main]").is_displayed());
    assert!(browser.find("tr.branch[data-name=feature]").is_displayed());

    // The failing build's page: the failed test and its traceback.
    let (_, broken) = newest_cell(&browser, "broken").unwrap();
    browser.goto(&format!("{ui}/builds/{broken}"));
    let failed = browser.find(".failed-tests").text();
    assert!(failed.contains("test_rename"), "{failed}");
    assert!(browser
        .find(".errors .traceback")
        .text()
        .contains("AssertionError"));
    shots.take(&browser, "failed-build");

    // The build's page: commit, result, and its logs, live.
    browser.goto(&format!("{ui}/builds/{new_build}"));
    assert!(browser.page_source().contains(&pushed));
    browser.wait_until("the log to show Odoo's lines", UI_WAIT, |b| {
        b.find("#log").text().contains("Modules loaded.")
    });
    // Markup and garbage in a log are shown as text, never run.
    let server_log = serve
        .home
        .join("logs")
        .join(BuildAttempt::new(new_build, 1).to_string())
        .join("server.log");
    let mut hostile = b"<img src=x onerror=\"window.pwned=1\"> \x1b[31m\xff\xfe ".to_vec();
    hostile.extend(std::iter::repeat_n(b'x', 100_000));
    hostile.push(b'\n');
    std::fs::OpenOptions::new()
        .append(true)
        .open(&server_log)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &hostile))
        .unwrap();
    browser.wait_until("the hostile line, as text", UI_WAIT, |b| {
        b.find("#log").text().contains("<img src=x onerror=")
    });
    assert_eq!(
        browser.execute(
            "return document.querySelector('#log img') === null && window.pwned === undefined;",
            &[]
        ),
        Value::Bool(true)
    );
    browser.wait_until("the serving build's address", UI_WAIT, |b| {
        b.page_source()
            .contains(&format!("http://{new_build}.localhost:{}", serve.port))
    });
    shots.take(&browser, "build");
    // The build's secrets are in its configuration, never in the UI.
    let config = std::fs::read_to_string(
        serve
            .home
            .join("builds")
            .join(BuildAttempt::new(new_build, 1).to_string())
            .join("odoo.conf"),
    )
    .unwrap();
    let page = browser.page_source();
    for key in [
        "db_password",
        "admin_passwd",
        "slipway_connect_secret",
        "smtp_password",
    ] {
        let value = config
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(" = "))
            .unwrap_or_else(|| panic!("{key} in the build's configuration"));
        assert!(!page.contains(value), "{key} shown on the build page");
    }

    // Connect: into the build's Odoo, logged in as its administrator.
    browser.execute(
        "document.getElementById('connect').form.removeAttribute('target');",
        &[],
    );
    browser.find("#connect").click();
    browser.wait_until("Odoo's web client", Duration::from_secs(60), |b| {
        b.current_url()
            .starts_with(&format!("http://{new_build}.localhost:{}/web", serve.port))
            && b.try_find(".o_main_navbar").is_some()
    });
    assert_eq!(
        session_login(&browser),
        Value::from("admin"),
        "logged in as the administrator"
    );
    browser.wait_until("Odoo to finish loading", UI_WAIT, |b| {
        b.execute(
            "const l = document.querySelector('.o_loading'); return !l || l.offsetParent === null;",
            &[],
        ) == Value::Bool(true)
    });
    shots.take(&browser, "connected");

    // The shell: a terminal in the build's sandbox, with psql on its database.
    browser.goto(&format!("{ui}/builds/{new_build}/shell"));
    browser.wait_until("the shell to connect", UI_WAIT, |b| {
        b.find("#shell-state").text() == "connected"
    });
    browser.find(".xterm-screen").click();
    browser.type_keys(&format!("echo slipway-$((6*7)){}", Key::Enter));
    browser.type_keys(&format!(
        "psql -tAc \"select 'users=' || count(*) from res_users\"{}",
        Key::Enter
    ));
    browser.wait_until("the commands' output", UI_WAIT, |b| {
        let screen = b.find(".xterm-rows").text();
        screen.contains("slipway-42") && screen.contains("users=")
    });
    shots.take(&browser, "shell");
    browser.goto(&format!("{ui}/"));
    let state = browser.find("form[action='/logout'] button");
    state.click();
    browser.wait_until("signed out", UI_WAIT, |b| {
        b.current_url().contains("/login")
    });

    // A tester: no production row, and production's build page refused.
    sign_in(&browser, &ui, "tess", TESTER_PASSWORD);
    browser.goto(&format!("{ui}/projects/acme"));
    assert!(browser.try_find("tr.branch[data-name=feature]").is_some());
    assert!(browser.try_find("tr.branch[data-name=main]").is_none());
    let production = serve
        .builds("acme")
        .into_iter()
        .find(|b| b["stage"] == "production")
        .unwrap();
    browser.goto(&format!("{ui}/builds/{}", production["id"]));
    assert!(
        browser.find("h1").text().starts_with("403"),
        "{}",
        browser.page_source()
    );
    assert!(browser
        .page_source()
        .contains("does not allow seeing production builds"));
    browser.goto(&format!(
        "http://{}.localhost:{}/web",
        production["id"], serve.port
    ));
    assert!(
        browser.page_source().contains("403") || browser.page_source().contains("404"),
        "{}",
        browser.page_source()
    );
}

/// "Connect as" on Odoo 19.0: the build's users are listed (an htmx partial),
/// and the browser lands in Odoo's web client as the one picked.
#[test]
fn connect_as_another_user_on_odoo_19() {
    let temp = tempfile::tempdir().unwrap();
    let repo = common::repository(temp.path(), "passing");
    let serve = Serve::start(&temp.path().join("home"), &[]);
    let ui = format!("http://localhost:{}", serve.port);
    add_user(&serve, "admin", ADMIN_PASSWORD, true);
    serve.add_project(
        "acme",
        &repo,
        "19.0",
        &["--poll-interval", "1", "--quiet-period", "0"],
    );
    common::git(&repo, &["checkout", "-qb", "feature"]);
    commit(&repo, "a feature");
    wait_for("the feature build to serve", BUILD_LIMIT, || {
        serve
            .builds("acme")
            .iter()
            .any(|b| b["branch"] == "feature" && b["state"] == "serving")
    });
    let build = serve
        .builds("acme")
        .into_iter()
        .find(|b| b["branch"] == "feature")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let browser = Browser::start();
    browser.goto(&format!("{ui}/builds/{build}"));
    sign_in(&browser, &ui, "admin", ADMIN_PASSWORD);
    browser.find("details.connect-as summary").click();
    browser.wait_until("the build's users", UI_WAIT, |b| {
        b.try_find("details.connect-as option[value=demo]")
            .is_some()
    });
    browser.execute(
        "const select = document.querySelector('details.connect-as select');\
         select.value = 'demo'; select.form.removeAttribute('target');",
        &[],
    );
    browser
        .find("details.connect-as button[type=submit]")
        .click();
    browser.wait_until("Odoo's web client", Duration::from_secs(60), |b| {
        b.current_url()
            .starts_with(&format!("http://{build}.localhost:{}/odoo", serve.port))
            && b.try_find(".o_main_navbar").is_some()
    });
    assert_eq!(session_login(&browser), Value::from("demo"));
}
