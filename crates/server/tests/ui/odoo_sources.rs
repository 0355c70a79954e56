//! Projects on Odoo from source through the API, with real git repositories:
//! their sources stored and shown without credentials, the exact commits
//! each queued build records, a branch's own Odoo revision, rebuilds on the
//! newest Odoo and the explicit Odoo update of production.

use std::path::Path;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use slipway_api::{Branch, Build, BuildDetail, BuildSource, Project, Role, SourceKind};

use crate::common::{api, api_as, git, repository, App};

/// The series of the projects here: one without a Debian package, which
/// only an Odoo source makes buildable.
const SERIES: &str = "17.0";
const TOKEN: &str = "ghp_SOURCE0123456789";

/// A server with the repositories of a project: its own (`main` and
/// `feature`) and Odoo's stand-in.
struct Fixture {
    app: App,
    repo: tempfile::TempDir,
    /// `main`'s head.
    main: String,
    odoo: tempfile::TempDir,
    /// The head of Odoo's branch when the fixture was made.
    first: String,
}

async fn fixture(name: &str) -> Fixture {
    let app = App::new(name).await;
    let repo = tempfile::tempdir().unwrap();
    let (main, _) = repository(repo.path());
    let odoo = tempfile::tempdir().unwrap();
    let first = odoo_repository(odoo.path());
    Fixture {
        app,
        repo,
        main,
        odoo,
        first,
    }
}

/// A stand-in for Odoo's repository: a branch named like the series, with
/// one commit; its head.
fn odoo_repository(dir: &Path) -> String {
    git(dir, &["init", "-q", "-b", SERIES]);
    odoo_commit(dir, "first")
}

/// One more commit on the checked-out branch; its id.
fn odoo_commit(dir: &Path, message: &str) -> String {
    std::fs::write(dir.join("release.py"), format!("# {message}\n")).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// The answer of a call that must end with `expected`, read as `T`.
async fn call<T: serde::de::DeserializeOwned>(
    app: &App,
    method: Method,
    path: &str,
    body: Value,
    expected: StatusCode,
) -> T {
    let (status, answer) = api(app, method, path, body).await;
    assert_eq!(status, expected, "{path}: {answer}");
    serde_json::from_str(&answer).unwrap()
}

/// What a GET that must succeed answers, read as `T`.
async fn get<T: serde::de::DeserializeOwned>(app: &App, path: &str) -> T {
    call(app, Method::GET, path, Value::Null, StatusCode::OK).await
}

/// The message of a call that must be refused with `status`.
async fn refused(app: &App, method: Method, path: &str, body: Value, status: StatusCode) -> String {
    let refusal: slipway_api::ErrorBody = call(app, method, path, body, status).await;
    refusal.error
}

/// Adds `name` on the project repository `repo` with `sources`.
async fn add_project(app: &App, name: &str, repo: &Path, sources: Value) {
    added(app, new_project(name, repo, sources)).await;
}

/// Adds `packaged`, on Debian's packaged Odoo 19.0.
async fn add_packaged_project(app: &App, repo: &Path) {
    let mut body = new_project("packaged", repo, Value::Null);
    body["odoo"] = "19.0".into();
    added(app, body).await;
}

async fn added(app: &App, body: Value) -> Value {
    call(
        app,
        Method::POST,
        "/api/v1/projects",
        body,
        StatusCode::CREATED,
    )
    .await
}

/// A developer of shop is refused `method path` (403).
async fn refused_to_developers(app: &App, method: Method, path: &str, body: Value) {
    app.user("dev", false, &[("shop", Role::Developer)]).await;
    let token = app.api_token("dev").await;
    let (status, answer) = api_as(app, &token, method, path, body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
}

fn new_project(name: &str, repo: &Path, sources: Value) -> Value {
    json!({"name": name, "repo": repo, "odoo": SERIES, "production_branch": "main",
           "odoo_sources": sources})
}

async fn builds_of(app: &App, project: &str) -> Vec<Build> {
    let path = format!("/api/v1/projects/{project}/builds");
    get(app, &path).await
}

/// Every queued build of the project done, so that its branches may rebuild.
async fn finish_builds(app: &App) {
    app.sql(
        "UPDATE builds SET state = 'done', status = 'success', finished_at = now() \
         WHERE state = 'pending'",
    )
    .await;
}

async fn rebuild(app: &App, branch: &str, newest_odoo: bool) -> Build {
    let body = json!({"branch": branch, "newest_odoo": newest_odoo});
    call(
        app,
        Method::POST,
        "/api/v1/projects/shop/rebuild",
        body,
        StatusCode::CREATED,
    )
    .await
}

/// The commit of the odoo source a build recorded.
fn odoo_commit_of(build: &Build) -> &str {
    let odoo = build
        .sources
        .iter()
        .find(|source| source.kind == SourceKind::Odoo);
    &odoo
        .unwrap_or_else(|| panic!("build #{} has no odoo source", build.id))
        .commit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_on_odoo_from_source_records_its_commits_and_shows_no_credentials() {
    let Fixture {
        app,
        repo,
        odoo,
        first: head,
        ..
    } = fixture("odoo_sources_added").await;
    let odoo_url = odoo.path().display().to_string();

    // A series without a Debian package, built from its odoo source.
    let body = json!({"name": "shop", "repo": repo.path(), "odoo": SERIES,
                      "production_branch": "main", "odoo_follow": "daily",
                      "odoo_sources": [{"kind": "odoo", "url": odoo_url}]});
    let added = added(&app, body).await;
    assert_eq!(added["odoo_follow"], "daily");
    assert_eq!(
        added["odoo_sources"],
        json!([{"kind": "odoo", "url": odoo_url, "rev": null}])
    );
    // The production build queued at once runs the head of the series' branch.
    let builds = builds_of(&app, "shop").await;
    assert_eq!(builds.len(), 1);
    let expected = BuildSource {
        kind: SourceKind::Odoo,
        name: "odoo".into(),
        url: odoo_url.clone(),
        commit: head.clone(),
        branch: Some(SERIES.into()),
    };
    assert_eq!(builds[0].sources, [expected]);
    // The build page names it, its commit shortened.
    app.user("ada", true, &[]).await;
    let mut browser = app.signed_in("ada").await;
    let page = browser.get(&format!("/builds/{}", builds[0].id)).await;
    assert_eq!(page.status, StatusCode::OK);
    let odoo_section = page
        .body
        .split("id=\"odoo\"")
        .nth(1)
        .expect("an Odoo section");
    for shown in [">odoo<", &odoo_url, &head[..12], SERIES] {
        assert!(
            odoo_section.contains(shown),
            "{shown} missing from:\n{odoo_section}"
        );
    }

    // An addons source behind a token, where nothing answers: stored with
    // its token (git needs it), shown nowhere.
    let tokened = format!("https://{TOKEN}@127.0.0.1:9/acme/web.git");
    let sources = json!([{"kind": "odoo", "url": odoo_url}, {"kind": "addons", "url": tokened}]);
    add_project(&app, "tokened", repo.path(), sources).await;
    let projects: Vec<Project> = get(&app, "/api/v1/projects").await;
    let shown = projects
        .iter()
        .find(|project| project.name == "tokened")
        .unwrap();
    assert_eq!(
        shown.odoo_sources[1].url,
        "https://***@127.0.0.1:9/acme/web.git"
    );
    let session = app.control.session().await.unwrap();
    let stored = slipway_control::get_project(&session, "tokened")
        .await
        .unwrap();
    assert_eq!(stored.settings.odoo_sources[1].url, tokened);
    drop(session);
    // Its first build could not resolve the source: failed at once, saying
    // which one without its token.
    let failed = &builds_of(&app, "tokened").await[0];
    let detail: BuildDetail = get(&app, &format!("/api/v1/builds/{}", failed.id)).await;
    let reason = detail.reason.unwrap_or_default();
    assert!(
        reason.contains("https://127.0.0.1:9/acme/web.git"),
        "{reason}"
    );
    let page = browser.get(&format!("/builds/{}", failed.id)).await;
    for path in [
        "/api/v1/projects",
        "/api/v1/projects/tokened/builds",
        &format!("/api/v1/builds/{}", failed.id),
    ] {
        let (_, answer) = api(&app, Method::GET, path, Value::Null).await;
        assert!(
            !answer.contains(TOKEN),
            "the token shows in {path}: {answer}"
        );
    }
    assert!(
        !page.body.contains(TOKEN),
        "the token shows on the build page"
    );
}

#[tokio::test]
async fn sources_a_build_could_not_take_are_refused_saying_which() {
    let Fixture { app, repo, .. } = fixture("odoo_sources_refused").await;
    let add = |sources: Value| new_project("shop", repo.path(), sources);
    let refusals = [
        (add(json!(null)), "Odoo 17.0 has no Debian package"),
        (
            add(json!([{"kind": "enterprise", "url": "/srv/enterprise"}])),
            "Odoo 17.0 has no Debian package",
        ),
        (
            add(json!([{"kind": "odoo", "url": "/srv/odoo"}, {"kind": "odoo", "url": "/srv/ocb"}])),
            "two odoo sources, /srv/odoo and /srv/ocb",
        ),
        (
            add(json!([{"kind": "enterprise", "url": "/srv/enterprise"},
                       {"kind": "odoo", "url": "/srv/odoo"}])),
            "the odoo source /srv/odoo must come first",
        ),
        (
            add(json!([{"kind": "odoo", "url": "/srv/odoo"},
                       {"kind": "enterprise", "url": "/srv/e1"},
                       {"kind": "enterprise", "url": "/srv/e2"}])),
            "two enterprise sources, /srv/e1 and /srv/e2",
        ),
        (
            add(json!([{"kind": "odoo", "url": "/srv/odoo"},
                       {"kind": "addons", "url": "/a/web"}, {"kind": "addons", "url": "/b/web.git"}])),
            "two sources are named 'web'",
        ),
        (
            add(json!([{"kind": "odoo", "url": "/srv/odoo", "rev": "a..b"}])),
            "Odoo source #1: /srv/odoo has no branch, tag or commit 'a..b'",
        ),
        (
            add(json!([{"kind": "odoo", "url": "/srv/odoo"},
                       {"kind": "addons", "url": format!("https://{TOKEN}@git.example.com:port/web")}])),
            "Odoo source #2: 'https://***@git.example.com:port/web' is not a repository address",
        ),
        (
            add(json!([{"kind": "odoo", "url": "--upload-pack=touch /tmp/x"}])),
            "Odoo source #1",
        ),
        (
            {
                let mut body = add(json!([{"kind": "odoo", "url": "/srv/odoo"}]));
                body["odoo_follow"] = "weekly".into();
                body
            },
            "invalid Odoo follow policy 'weekly': expected one of 'on-change' 'daily' 'never'",
        ),
    ];
    for (body, message) in refusals {
        let error = refused(
            &app,
            Method::POST,
            "/api/v1/projects",
            body.clone(),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(error.contains(message), "{body}: {error}");
        assert!(!error.contains(TOKEN), "{error}");
    }
    let projects: Vec<Project> = get(&app, "/api/v1/projects").await;
    assert!(
        projects.is_empty(),
        "a refused project was stored: {projects:?}"
    );
}

const FEATURE_ODOO_REV: &str = "/api/v1/projects/shop/branches/feature/odoo";

async fn set_feature_odoo_rev(app: &App, rev: &str) -> Value {
    let body = json!({"rev": rev});
    call(app, Method::PUT, FEATURE_ODOO_REV, body, StatusCode::OK).await
}

/// Each branch of shop with its own Odoo revision, as listed.
async fn odoo_revs(app: &App) -> Vec<(String, Option<String>)> {
    let path = "/api/v1/projects/shop/branches";
    let branches: Vec<Branch> = get(app, path).await;
    branches
        .into_iter()
        .map(|branch| (branch.name, branch.odoo_rev))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_pins_its_odoo_at_a_commit_until_set_back_to_latest() {
    let Fixture {
        app,
        repo,
        odoo,
        first: pinned,
        ..
    } = fixture("odoo_sources_branch_rev").await;
    let head = odoo_commit(odoo.path(), "second");
    let sources = json!([{"kind": "odoo", "url": odoo.path()}]);
    add_project(&app, "shop", repo.path(), sources).await;
    // Upper case is the same commit.
    let set = set_feature_odoo_rev(&app, &pinned.to_uppercase()).await;
    assert_eq!(set, json!({"name": "feature", "odoo_rev": pinned}));
    assert_eq!(
        odoo_revs(&app).await,
        [
            ("main".into(), None),
            ("feature".into(), Some(pinned.clone()))
        ]
    );
    // Its builds on the newest Odoo take the pin, not the branch's head.
    finish_builds(&app).await;
    assert_eq!(
        odoo_commit_of(&rebuild(&app, "feature", true).await),
        pinned
    );

    let set = set_feature_odoo_rev(&app, "latest").await;
    assert_eq!(set, json!({"name": "feature", "odoo_rev": null}));
    assert_eq!(
        odoo_revs(&app).await,
        [("main".into(), None), ("feature".into(), None)]
    );
    finish_builds(&app).await;
    assert_eq!(odoo_commit_of(&rebuild(&app, "feature", true).await), head);

    let path = FEATURE_ODOO_REV;
    for rev in [SERIES, &pinned[..12], "", "HEAD"] {
        let error = refused(
            &app,
            Method::PUT,
            path,
            json!({"rev": rev}),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(
            error.contains("give a full commit id (40 hex digits)") && error.contains("or latest"),
            "{error}"
        );
    }
    let error = refused(
        &app,
        Method::PUT,
        "/api/v1/projects/shop/branches/gone/odoo",
        json!({"rev": "latest"}),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(error.contains("has no branch 'gone'"), "{error}");
    // Like a change of stage: for the project's admins.
    refused_to_developers(&app, Method::PUT, path, json!({"rev": "latest"})).await;

    // On Debian's packaged Odoo there is no Odoo repository to pin.
    add_packaged_project(&app, repo.path()).await;
    let error = refused(
        &app,
        Method::PUT,
        "/api/v1/projects/packaged/branches/feature/odoo",
        json!({"rev": pinned}),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        error.starts_with("project packaged runs Debian's packaged Odoo"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_reuses_its_last_builds_odoo_unless_asked_for_the_newest() {
    let Fixture {
        app,
        repo,
        odoo,
        first,
        ..
    } = fixture("odoo_sources_rebuild").await;
    let sources = json!([{"kind": "odoo", "url": odoo.path()}]);
    add_project(&app, "shop", repo.path(), sources).await;
    finish_builds(&app).await;
    // Regression: a development branch's first build is a rebuild, with no
    // earlier build's commits to reuse; it ran on Debian's packaged Odoo.
    assert_eq!(
        odoo_commit_of(&rebuild(&app, "feature", false).await),
        first
    );
    finish_builds(&app).await;

    // Odoo's branch moves: a rebuild keeps the Odoo it had, unless asked.
    let second = odoo_commit(odoo.path(), "second");
    assert_eq!(
        odoo_commit_of(&rebuild(&app, "feature", false).await),
        first
    );
    finish_builds(&app).await;
    let body = json!({"branch": "feature"});
    let build: Build = call(
        &app,
        Method::POST,
        "/api/v1/projects/shop/rebuild",
        body,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        odoo_commit_of(&build),
        first,
        "newest_odoo is false unless given"
    );
    finish_builds(&app).await;
    assert_eq!(
        odoo_commit_of(&rebuild(&app, "feature", true).await),
        second
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_odoo_update_needs_sources_and_a_serving_production() {
    let Fixture {
        app,
        repo,
        main,
        odoo,
        first,
    } = fixture("odoo_sources_update").await;

    add_packaged_project(&app, repo.path()).await;
    let error = refused(
        &app,
        Method::POST,
        "/api/v1/projects/packaged/odoo-update",
        Value::Null,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        error.starts_with("project packaged runs Debian's packaged Odoo: "),
        "{error}"
    );

    let sources = json!([{"kind": "odoo", "url": odoo.path()}]);
    add_project(&app, "shop", repo.path(), sources).await;
    // Its first production build is only queued: nothing serves yet.
    let update = "/api/v1/projects/shop/odoo-update";
    let error = refused(
        &app,
        Method::POST,
        update,
        Value::Null,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(error.contains("has no production database yet"), "{error}");

    // Serving on the first commit; Odoo's branch moves.
    app.sql(
        "UPDATE builds SET state = 'serving', status = 'success', finished_at = now() \
         WHERE state = 'pending'",
    )
    .await;
    let second = odoo_commit(odoo.path(), "second");
    // Like a rebuild of production: not for developers.
    refused_to_developers(&app, Method::POST, update, Value::Null).await;
    let build: Build = call(&app, Method::POST, update, Value::Null, StatusCode::CREATED).await;
    assert_eq!(
        (build.branch.as_str(), build.commit.as_str()),
        ("main", main.as_str())
    );
    assert_eq!(odoo_commit_of(&build), second);
    assert_ne!(first, second);
}

/// The pending builds of the project, by branch: (branch, odoo commit).
async fn pending(app: &App) -> Vec<(String, String)> {
    builds_of(app, "shop")
        .await
        .into_iter()
        .filter(|build| build.state == slipway_api::BuildState::Pending)
        .map(|build| (build.branch.clone(), odoo_commit_of(&build).to_string()))
        .collect()
}

/// What the watcher does after each poll of the project.
async fn poll_sources(app: &App) {
    let session = app.control.session().await.unwrap();
    let project = slipway_control::get_project(&session, "shop")
        .await
        .unwrap();
    slipway_server::queueing::queue_moved_sources(&session, &project)
        .await
        .unwrap();
}

/// When a followed source moves, development branches build again on it —
/// at once, at most once a day, or never, as the project says — and
/// production never does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_branches_follow_a_moved_source_as_the_project_says_and_production_never() {
    for follow in ["on-change", "daily", "never"] {
        let Fixture {
            app, repo, odoo, ..
        } = fixture(&format!("odoo_follow_{}", follow.replace('-', "_"))).await;
        let mut body = new_project(
            "shop",
            repo.path(),
            json!([{"kind": "odoo", "url": odoo.path()}]),
        );
        body["odoo_follow"] = follow.into();
        added(&app, body).await;
        rebuild(&app, "feature", false).await;
        finish_builds(&app).await;
        poll_sources(&app).await;
        assert_eq!(pending(&app).await, [], "{follow}: nothing moved");

        let second = odoo_commit(odoo.path(), "second");
        poll_sources(&app).await;
        let at_once = vec![("feature".to_string(), second.clone())];
        match follow {
            "on-change" => assert_eq!(pending(&app).await, at_once, "{follow}"),
            _ => assert_eq!(pending(&app).await, [], "{follow}"),
        }
        // A day later.
        app.sql("UPDATE builds SET created_at = now() - interval '25 hours'")
            .await;
        poll_sources(&app).await;
        match follow {
            "never" => assert_eq!(pending(&app).await, [], "{follow}"),
            _ => assert_eq!(pending(&app).await, at_once, "{follow}"),
        }
    }
}
