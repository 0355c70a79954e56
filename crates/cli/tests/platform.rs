//! `slipway serve` end to end: a real server process with its embedded
//! PostgreSQL, real git repositories, real Odoo 14.0 builds that serve HTTP.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use slipway_control::BuildAttempt;

use common::serve::{embedded_cluster, env, http_status, wait_for, Serve, BUILD_LIMIT};

fn commit(repo: &Path, message: &str) -> String {
    std::fs::write(repo.join("green_addon/CHANGES"), format!("{message}\n")).unwrap();
    common::git(repo, &["add", "-A"]);
    common::git(repo, &["commit", "-qm", message]);
    common::git(repo, &["rev-parse", "HEAD"])
}

fn sandbox_pids_of(home: &Path) -> Vec<u32> {
    let needle = home.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            (cmdline.contains("bwrap") && cmdline.contains(&needle)).then_some(pid)
        })
        .collect()
}

fn odoo_processes_of(home: &Path) -> Vec<String> {
    let needle = home.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let raw = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            (cmdline.contains("bwrap") && cmdline.contains(&needle)).then_some(cmdline)
        })
        .collect()
}

fn add_project(serve: &Serve, repo: &Path, extra: &[&str]) {
    serve.add_project("demo", repo, "14.0", extra);
}

#[test]
fn a_burst_of_pushes_makes_one_build_of_the_last_commit_which_then_serves_odoo() {
    let temp = tempfile::tempdir().unwrap();
    let repo = common::repository(temp.path(), "passing");
    let serve = Serve::start(
        &temp.path().join("home"),
        &["--stopped-retention-seconds", "8"],
    );
    add_project(
        &serve,
        &repo,
        &[
            "--poll-interval",
            "1",
            "--quiet-period",
            "4",
            "--dev-builds-kept",
            "1",
        ],
    );
    common::git(&repo, &["checkout", "-qb", "feature"]);
    let mut last = String::new();
    for push in 1..=5 {
        last = commit(&repo, &format!("push {push}"));
        std::thread::sleep(Duration::from_millis(600));
    }
    wait_for("the build to serve", BUILD_LIMIT, || {
        serve
            .builds_of("demo", "feature")
            .iter()
            .any(|b| b["state"] == "serving" || b["state"] == "done")
    });
    std::thread::sleep(Duration::from_secs(3));
    let builds = serve.builds_of("demo", "feature");
    assert_eq!(builds.len(), 1, "one build for the burst: {builds:?}");
    let build = &builds[0];
    assert_eq!(build["commit"], last.as_str());
    assert_eq!(build["branch"], "feature");
    assert_eq!(build["stage"], "development");
    assert_eq!(
        (&build["state"], &build["status"]),
        (&Value::from("serving"), &Value::from("success")),
        "{build}"
    );
    // Regression: the address given out was the build's loopback port,
    // which bypasses slipway's login; it is the proxy's.
    let id = build["id"].as_i64().unwrap();
    assert_eq!(
        build["url"],
        format!("http://{id}.localhost:{}", serve.port),
        "build_urls_bypass_slipway_login"
    );
    let listing = serve.ok(&["builds", "demo"]);
    assert!(
        listing.contains(&format!("http://{id}.localhost:{}", serve.port))
            && !listing.contains("127.0.0.1"),
        "{listing}"
    );
    let url = common::shop::serving_url(&serve, id);
    assert_eq!(http_status(&format!("{url}/web/login")), Some(200));

    // `branches`: production first, with the feature branch's build.
    let branches = serve.json(&["branches", "demo", "--json"]);
    assert_eq!(branches[0]["name"], "main");
    assert_eq!(branches[0]["stage"], "production");
    assert_eq!(branches[1]["name"], "feature");
    assert_eq!(branches[1]["last_build"]["id"], build["id"]);
    assert_eq!(branches[1]["head"], last.as_str());

    // A rebuild is refused while one is in progress.
    let first = serve.cli(&["rebuild", "demo", "feature"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = serve.cli(&["rebuild", "demo", "feature"]);
    assert_eq!(second.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("already has build"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    // The log of the first build is there.
    let log = serve.cli(&["logs", &build["id"].to_string()]);
    assert!(String::from_utf8_lossy(&log.stdout).contains("Modules loaded."));

    // One serving build per branch here: the rebuild replaces the first, which
    // is marked stopped (not gone) and no longer answers.
    wait_for("the rebuild to serve", BUILD_LIMIT, || {
        serve.builds_of("demo", "feature")[0]["state"] == "serving"
    });
    let builds = serve.builds_of("demo", "feature");
    assert_eq!(builds.len(), 2);
    assert_eq!(builds[1]["id"], build["id"]);
    wait_for("the first build to stop", Duration::from_secs(30), || {
        serve.builds_of("demo", "feature")[1]["state"] == "stopped"
    });
    assert!(
        http_status(&format!("{url}/web/login")).is_none(),
        "a stopped build still answers"
    );
    // Its database goes after the retention period (8 s here, 3 days by default).
    let database = format!("slipway_b_{}", first_attempt(build));
    let cluster = embedded_cluster(&serve.home);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    assert!(
        runtime
            .block_on(cluster.database_exists(&database))
            .unwrap(),
        "dropped before the retention period"
    );
    wait_for(
        "the stopped build's database to go",
        Duration::from_secs(60),
        || {
            !runtime
                .block_on(cluster.database_exists(&database))
                .unwrap()
        },
    );
    assert_eq!(
        serve.builds_of("demo", "feature")[1]["state"],
        "stopped",
        "still listed as stopped"
    );
    // Its database gone, it cannot be started again; the rule is said (once
    // the worker recorded the drop it just made).
    let mut refused = None;
    wait_for("a start to be refused", Duration::from_secs(30), || {
        let answer = serve.cli(&["start", &build["id"].to_string()]);
        let said = answer.status.code() == Some(2);
        refused = Some(answer);
        said
    });
    let refused = refused.unwrap();
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("database was dropped"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn a_stopped_build_serves_again_on_request() {
    let temp = tempfile::tempdir().unwrap();
    let repo = common::repository(temp.path(), "passing");
    let serve = Serve::start(&temp.path().join("home"), &[]);
    add_project(
        &serve,
        &repo,
        &[
            "--poll-interval",
            "1",
            "--quiet-period",
            "0",
            "--dev-builds-kept",
            "1",
        ],
    );
    common::git(&repo, &["checkout", "-qb", "feature"]);
    commit(&repo, "first");
    wait_for("the first build to serve", BUILD_LIMIT, || {
        serve
            .builds_of("demo", "feature")
            .iter()
            .any(|b| b["state"] == "serving")
    });
    let first = serve.builds_of("demo", "feature")[0]["id"]
        .as_i64()
        .unwrap();
    commit(&repo, "second");
    wait_for("the first build to stop", BUILD_LIMIT, || {
        serve
            .builds_of("demo", "feature")
            .iter()
            .any(|b| b["id"] == first && b["state"] == "stopped")
    });
    let started = serve.cli(&["start", &first.to_string()]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    wait_for(
        "the first build to serve again",
        Duration::from_secs(120),
        || {
            serve
                .builds_of("demo", "feature")
                .iter()
                .any(|b| b["id"] == first && b["state"] == "serving")
        },
    );
    let url = common::shop::serving_url(&serve, first);
    assert_eq!(http_status(&format!("{url}/web/login")), Some(200));
    // Serving, it cannot be asked again.
    let again = serve.cli(&["start", &first.to_string()]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("only a stopped build"));
}

#[test]
fn webhooks_trigger_only_with_a_valid_signature() {
    let temp = tempfile::tempdir().unwrap();
    let repo = common::repository(temp.path(), "passing");
    let serve = Serve::start(&temp.path().join("home"), &["--no-worker"]);
    add_project(
        &serve,
        &repo,
        &["--poll-interval", "86400", "--quiet-period", "0"],
    );
    let added =
        String::from_utf8_lossy(&serve.cli(&["project", "list", "--json"]).stdout).into_owned();
    assert!(added.contains("demo"));
    let secret = {
        let output = serve.cli(&["project", "remove", "nope"]);
        assert_eq!(output.status.code(), Some(2), "unknown project is an error");
        assert!(String::from_utf8_lossy(&output.stderr).contains("no project named 'nope'"));
        // The secret was printed by `project add`; read it back from the database.
        let cluster = embedded_cluster(&serve.home);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let client = cluster.connect("slipway_control").await.unwrap();
            let row = client
                .query_one(
                    "SELECT webhook_secret FROM projects WHERE name = 'demo'",
                    &[],
                )
                .await
                .unwrap();
            row.get::<_, String>(0)
        })
    };
    common::git(&repo, &["checkout", "-qb", "hooked"]);
    let commit = commit(&repo, "hooked");
    let body = serde_json::json!({
        "ref": "refs/heads/hooked",
        "before": "0000000000000000000000000000000000000000",
        "after": commit,
        "repository": {"clone_url": repo.display().to_string(), "ssh_url": "", "html_url": ""},
    })
    .to_string();
    let post = |signature: Option<String>, body: &str| -> u16 {
        let mut request =
            ureq::post(&format!("{}/hooks/github/demo", serve.url())).set("X-GitHub-Event", "push");
        if let Some(signature) = signature {
            request = request.set("X-Hub-Signature-256", &signature);
        }
        match request.send_string(body) {
            Ok(response) => response.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(error) => panic!("{error}"),
        }
    };
    let sign = |secret: &str, body: &str| {
        format!(
            "sha256={}",
            common::hmac_sha256_hex(secret.as_bytes(), body.as_bytes())
        )
    };
    assert_eq!(post(None, &body), 401);
    // An unknown project answers like a wrong signature: names do not leak.
    let unknown = ureq::post(&format!("{}/hooks/github/nope", serve.url())).send_string(&body);
    assert!(
        matches!(unknown, Err(ureq::Error::Status(401, _))),
        "{unknown:?}"
    );
    assert_eq!(post(Some(sign("wrong secret", &body)), &body), 401);
    assert_eq!(post(Some(sign(&secret, "{not json")), "{not json"), 400);
    // Signed, but without its event header: a bad request, not a forgery.
    let no_event = ureq::post(&format!("{}/hooks/github/demo", serve.url()))
        .set("X-Hub-Signature-256", &sign(&secret, &body))
        .send_string(&body);
    assert!(
        matches!(no_event, Err(ureq::Error::Status(400, _))),
        "{no_event:?}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        serve.builds_of("demo", "hooked").is_empty(),
        "nothing may be triggered by a refused webhook: {}",
        std::fs::read_to_string(serve.home.join("serve.stderr")).unwrap_or_default()
    );

    assert_eq!(post(Some(sign(&secret, &body)), &body), 202);
    wait_for("the webhook's build", Duration::from_secs(30), || {
        !serve.builds_of("demo", "hooked").is_empty()
    });
    let builds = serve.builds_of("demo", "hooked");
    assert_eq!(builds.len(), 1);
    assert_eq!(builds[0]["commit"], commit.as_str());
    assert_eq!(
        builds[0]["state"], "pending",
        "no worker runs in this server"
    );

    // GitLab: the token header instead of a signature.
    let gitlab_body = serde_json::json!({
        "object_kind": "push",
        "ref": "refs/heads/hooked",
        "before": commit,
        "after": commit,
        "project": {"git_http_url": repo.display().to_string(), "git_ssh_url": "", "web_url": ""},
    })
    .to_string();
    let gitlab = |token: &str| -> u16 {
        let request = ureq::post(&format!("{}/hooks/gitlab/demo", serve.url()))
            .set("X-Gitlab-Event", "Push Hook")
            .set("X-Gitlab-Token", token);
        match request.send_string(&gitlab_body) {
            Ok(response) => response.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(error) => panic!("{error}"),
        }
    };
    assert_eq!(gitlab("wrong"), 401);
    assert_eq!(gitlab(&secret), 202);
}

#[test]
fn stage_rules_and_bad_input_are_refused_with_clear_messages() {
    let temp = tempfile::tempdir().unwrap();
    let repo = common::repository(temp.path(), "passing");
    common::git(&repo, &["branch", "dev-a"]);
    common::git(&repo, &["branch", "dev-b"]);
    let home = temp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("slipway.toml"),
        format!("[[project]]\nname = \"declared\"\nrepo = \"{}\"\nodoo = \"19.0\"\nproduction_branch = \"main\"\n", repo.display()),
    )
    .unwrap();
    let serve = Serve::start(&home, &["--no-worker"]);
    let declared = serve.json(&["project", "list", "--json"]);
    assert_eq!(
        declared[0]["name"], "declared",
        "slipway.toml read at start: {declared}"
    );
    assert_eq!(declared[0]["odoo"], "19.0");
    let refused = |args: &[&str], expected: &str| {
        let output = serve.cli(args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected '{expected}' in: {stderr}"
        );
    };
    refused(
        &[
            "project",
            "add",
            "demo",
            "--repo",
            "/nonexistent/repo",
            "--odoo",
            "14.0",
        ],
        "cannot list branches of /nonexistent/repo",
    );
    refused(
        &[
            "project",
            "add",
            "demo",
            "--repo",
            repo.to_str().unwrap(),
            "--odoo",
            "16.0",
        ],
        "Odoo 16.0 has no Debian package (only 14.0 and 19.0)",
    );
    refused(
        &[
            "project",
            "add",
            "demo",
            "--repo",
            repo.to_str().unwrap(),
            "--odoo",
            "sixteen",
        ],
        "unknown Odoo version 'sixteen'",
    );
    refused(
        &[
            "project",
            "add",
            "demo",
            "--repo",
            repo.to_str().unwrap(),
            "--odoo",
            "14.0",
            "--production-branch",
            "prod",
        ],
        "no branch 'prod'",
    );
    refused(
        &[
            "project",
            "add",
            "Bad Name",
            "--repo",
            repo.to_str().unwrap(),
            "--odoo",
            "14.0",
        ],
        "Bad Name",
    );
    refused(
        &[
            "project",
            "add",
            "demo",
            "--repo",
            repo.to_str().unwrap(),
            "--odoo",
            "14.0",
            "--production-branch",
            "a;rm -rf",
        ],
        "a;rm -rf",
    );
    let projects = serve.json(&["project", "list", "--json"]);
    assert_eq!(
        projects.as_array().unwrap().len(),
        1,
        "nothing half-created: {projects}"
    );

    add_project(&serve, &repo, &[]);
    refused(
        &[
            "project",
            "add",
            "demo",
            "--repo",
            repo.to_str().unwrap(),
            "--odoo",
            "14.0",
        ],
        "already exists",
    );
    refused(
        &["branch", "stage", "demo", "dev-a", "production"],
        "cannot go straight to production",
    );
    refused(
        &["branch", "stage", "demo", "main", "development"],
        "promote another",
    );
    refused(
        &["branch", "stage", "demo", "no-such-branch", "staging"],
        "no-such-branch",
    );
    refused(&["branch", "stage", "demo", "dev-a", "testing"], "testing");
    refused(&["branches", "nope", "--json"], "no project named 'nope'");
    refused(&["rebuild", "demo", "../../etc"], "../../etc");
    // Production and what comes out of builds, before anything was built.
    refused(&["duplicate", "demo"], "no production database yet");
    refused(
        &["production", "demo", "--json"],
        "no production database yet",
    );
    refused(&["mails", "999999", "--json"], "no build #999999");
    refused(&["mail", "999999", "1"], "no build #999999");
    // Accounts: the password comes from stdin, and the rules are said.
    refused(&["user", "add", "ada"], "no password on stdin");
    refused(
        &["user", "role", "nobody", "declared", "tester"],
        "no user with login 'nobody'",
    );
    refused(&["user", "token", "nobody"], "no user with login 'nobody'");
    refused(&["start", "999999"], "no build #999999");
    let dump = temp.path().join("nothing.zip");
    refused(
        &["dump", "999999", "-o", dump.to_str().unwrap()],
        "no build #999999",
    );
    assert!(!dump.exists(), "a refused dump leaves no file");
    refused(&["psql", "999999", "-c", "select 1"], "no build #999999");
    refused(
        &[
            "project",
            "add",
            "other",
            "--repo",
            repo.to_str().unwrap(),
            "--odoo",
            "14.0",
            "--staging-source",
            "sideways",
        ],
        "sideways",
    );

    // Staging first; a second production branch is refused; a promotion swaps.
    assert!(serve
        .cli(&["branch", "stage", "demo", "dev-a", "staging"])
        .status
        .success());
    refused(
        &["branch", "stage", "demo", "dev-a", "production"],
        "already has a production branch",
    );
    assert!(serve
        .cli(&["branch", "promote", "demo", "dev-a"])
        .status
        .success());
    let branches = serve.json(&["branches", "demo", "--json"]);
    let stages: Vec<(String, String)> = branches
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_string(),
                b["stage"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        stages[0],
        ("dev-a".to_string(), "production".to_string()),
        "{stages:?}"
    );
    assert_eq!(
        stages
            .iter()
            .filter(|(_, stage)| stage == "production")
            .count(),
        1,
        "{stages:?}"
    );
}

#[test]
fn a_killed_worker_s_build_is_taken_back_after_its_lease_and_finishes() {
    let temp = tempfile::tempdir().unwrap();
    let repo = common::repository(temp.path(), "passing");
    let home = temp.path().join("home");
    let serve = Serve::start(&home, &["--no-worker"]);
    add_project(
        &serve,
        &repo,
        &["--poll-interval", "1", "--quiet-period", "0"],
    );
    let password = std::fs::read_to_string(home.join("postgres/superuser.password")).unwrap();
    let control_url = format!(
        "host={} user=slipway password={} dbname=slipway_control",
        home.join("postgres/run").display(),
        password.trim()
    );
    let worker = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args(["worker", "--database", &control_url, "--name", name])
            .envs(env(&home))
            .env("SLIPWAY_LEASE_SECONDS", "6")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // The doomed worker takes the production build that adding the project
    // queued.
    let mut doomed = worker("doomed");
    wait_for("the doomed worker's Odoo", BUILD_LIMIT, || {
        !odoo_processes_of(&home).is_empty()
    });
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    let orphans = sandbox_pids_of(&home);
    let builds = serve.builds_of("demo", "main");
    assert_eq!(
        builds[0]["state"], "running",
        "still leased to the dead worker: {builds:?}"
    );

    let mut rescuer = worker("rescuer");
    // The sandbox died with its worker, or the next worker's start reaped it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while orphans
        .iter()
        .any(|pid| Path::new(&format!("/proc/{pid}")).exists())
    {
        assert!(
            Instant::now() < deadline,
            "the sandbox outlived its worker: {orphans:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_for("the build to finish elsewhere", BUILD_LIMIT, || {
        serve.builds_of("demo", "main")[0]["state"] == "serving"
    });
    let builds = serve.builds_of("demo", "main");
    assert_eq!(builds.len(), 1, "the same build, taken back: {builds:?}");
    assert_eq!(builds[0]["status"], "success");
    // Remote use needs the token: without it the API refuses.
    let anonymous = serve.cli(&[
        "--server",
        &serve.url(),
        "--token",
        "wrong",
        "builds",
        "demo",
        "--json",
    ]);
    assert_eq!(anonymous.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("API token"));
    unsafe { libc::kill(rescuer.id() as i32, libc::SIGTERM) };
    assert!(rescuer.wait().unwrap().success());
}

#[test]
fn stopping_serve_leaves_nothing_running_and_a_restart_keeps_everything() {
    let temp = tempfile::tempdir().unwrap();
    let repo = common::repository(temp.path(), "passing");
    let home = temp.path().join("home");
    let mut serve = Serve::start(&home, &[]);
    add_project(
        &serve,
        &repo,
        &["--poll-interval", "1", "--quiet-period", "0"],
    );
    common::git(&repo, &["checkout", "-qb", "feature"]);
    commit(&repo, "work");
    wait_for("the build to serve", BUILD_LIMIT, || {
        serve
            .builds_of("demo", "feature")
            .first()
            .is_some_and(|b| b["state"] == "serving")
    });
    let before = serve.builds_of("demo", "feature");
    assert!(
        serve.stop().success(),
        "{}",
        std::fs::read_to_string(home.join("serve.stderr")).unwrap_or_default()
    );
    assert!(
        odoo_processes_of(&home).is_empty(),
        "sandboxes left: {:?}",
        odoo_processes_of(&home)
    );
    assert!(!home.join("server.json").exists());
    let leases = {
        let cluster = embedded_cluster(&home);
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let client = cluster.connect("slipway_control").await.unwrap();
            let row = client
                .query_one(
                    "SELECT count(*) FROM builds WHERE state = 'running' OR lease_until > now()",
                    &[],
                )
                .await
                .unwrap();
            row.get::<_, i64>(0)
        })
    };
    assert_eq!(leases, 0, "leases left after shutdown");

    let serve = Serve::start(&home, &[]);
    let projects = serve.json(&["project", "list", "--json"]);
    assert_eq!(projects[0]["name"], "demo");
    assert_eq!(
        serve
            .json(&["branches", "demo", "--json"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
    wait_for("the build to serve again", Duration::from_secs(120), || {
        serve.builds_of("demo", "feature")[0]["state"] == "serving"
    });
    let after = serve.builds_of("demo", "feature");
    assert_eq!(after[0]["id"], before[0]["id"]);
    assert_eq!(after[0]["commit"], before[0]["commit"]);
    let url = common::shop::serving_url(&serve, after[0]["id"].as_i64().unwrap());
    assert_eq!(http_status(&format!("{url}/web/login")), Some(200));

    // Removing the project stops its builds and drops their databases.
    assert!(serve.cli(&["project", "remove", "demo"]).status.success());
    wait_for(
        "the removed project's Odoo to stop",
        Duration::from_secs(30),
        || http_status(&format!("{url}/web/login")).is_none(),
    );
    let database = format!("slipway_b_{}", first_attempt(&after[0]));
    let cluster = embedded_cluster(&home);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    wait_for(
        "the removed project's database to go",
        Duration::from_secs(30),
        || {
            !runtime
                .block_on(cluster.database_exists(&database))
                .unwrap()
        },
    );
}

/// The first attempt of a build as `slipway builds --json` lists it.
fn first_attempt(build: &Value) -> BuildAttempt {
    BuildAttempt::new(build["id"].as_i64().expect("a build's id"), 1)
}
