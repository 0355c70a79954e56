//! Odoo.sh's roles, as the UI and the API apply them: admin (everything),
//! developer (every branch, production read-only), tester (staging and
//! development only); no role: the project does not exist.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use slipway_control::{Project, Role};

use crate::common::{App, Browser};

struct Fixture {
    app: App,
    project: Project,
    production: i64,
    development: i64,
    staging: i64,
    other_project_build: i64,
}

async fn fixture(name: &str) -> Fixture {
    let app = App::new(name).await;
    let project = app
        .project(
            "acme",
            &[
                ("main", "production"),
                ("dev", "development"),
                ("qa", "staging"),
            ],
        )
        .await;
    let other = app.project("globex", &[("main", "production")]).await;
    let production = app
        .build(&project, "main", "serving", Some("success"), Some(1))
        .await;
    let development = app
        .build(&project, "dev", "serving", Some("success"), Some(2))
        .await;
    let staging = app
        .build(&project, "qa", "serving", Some("warning"), Some(3))
        .await;
    let other_project_build = app
        .build(&other, "main", "serving", Some("success"), Some(4))
        .await;
    app.user("adam", false, &[("acme", Role::Admin)]).await;
    app.user("dev", false, &[("acme", Role::Developer)]).await;
    app.user("tess", false, &[("acme", Role::Tester)]).await;
    app.user("stranger", false, &[("globex", Role::Admin)])
        .await;
    Fixture {
        app,
        project,
        production,
        development,
        staging,
        other_project_build,
    }
}

/// `(status, body)` of a form POST with the session's CSRF token.
async fn post(
    browser: &mut Browser<'_>,
    path: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, String) {
    let csrf = browser.csrf().await;
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend_from_slice(extra);
    let answer = browser.post(path, &fields).await;
    (answer.status, answer.body)
}

#[tokio::test]
async fn testers_see_staging_and_development_and_are_refused_production() {
    let f = fixture("testers").await;
    let mut browser = f.app.signed_in("tess").await;
    let view = browser.get("/projects/acme").await;
    assert_eq!(view.status, StatusCode::OK);
    assert!(
        !view.body.contains("data-name=\"main\""),
        "no production row"
    );
    assert!(view.body.contains("data-name=\"dev\"") && view.body.contains("data-name=\"qa\""));
    assert!(!view.body.contains("Rebuild"), "testers do not rebuild");
    assert!(
        !view.body.contains("test duplicate"),
        "testers make no duplicates"
    );

    let page = browser.get(&format!("/builds/{}", f.production)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.body
            .contains("does not allow seeing production builds"),
        "{}",
        page.body
    );
    for path in [
        format!("/builds/{}/open", f.production),
        format!("/builds/{}/logs/odoo.log", f.production),
        format!("/builds/{}/shell", f.production),
        format!("/builds/{}/users", f.production),
    ] {
        assert_eq!(
            browser.get(&path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let (status, _) = post(
        &mut browser,
        &format!("/builds/{}/connect", f.production),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Development and staging: see, connect; no shell, no rebuild, no dump.
    let page = browser.get(&format!("/builds/{}", f.development)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"connect\""));
    assert!(!page.body.contains("id=\"open-shell\""));
    assert!(!page.body.contains("Download dump"));
    assert_eq!(
        browser
            .get(&format!("/builds/{}/shell", f.development))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let open = browser.get(&format!("/builds/{}/open", f.staging)).await;
    assert_eq!(open.status, StatusCode::SEE_OTHER);
    let branch = f
        .app
        .query_i64("SELECT id FROM branches WHERE name = 'dev'")
        .await;
    let (status, body) = post(
        &mut browser,
        &format!("/projects/acme/branches/{branch}/rebuild"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = post(
        &mut browser,
        &format!("/builds/{}/dump", f.development),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = post(&mut browser, "/projects/acme/duplicate", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn developers_read_production_but_neither_connect_nor_act_on_it() {
    let f = fixture("developers").await;
    let mut browser = f.app.signed_in("dev").await;
    let view = browser.get("/projects/acme").await;
    let main_row = {
        let start = view
            .body
            .find("data-name=\"main\"")
            .expect("production is listed");
        let end = view.body[start..].find("</tr>").unwrap() + start;
        view.body[start..end].to_string()
    };
    assert!(!main_row.contains("Connect"), "{main_row}");
    assert!(!main_row.contains("Rebuild"), "{main_row}");
    let page = browser.get(&format!("/builds/{}", f.production)).await;
    assert_eq!(page.status, StatusCode::OK, "production is readable");
    assert!(!page.body.contains("id=\"connect\""));
    assert!(!page.body.contains("Connect as"));
    assert!(!page.body.contains("Download dump"));
    let (status, body) = post(
        &mut browser,
        &format!("/builds/{}/connect", f.production),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("(developer) does not allow connecting to production builds"),
        "{body}"
    );
    assert_eq!(
        browser
            .get(&format!("/builds/{}/open", f.production))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let main = f
        .app
        .query_i64(&format!(
            "SELECT id FROM branches WHERE name = 'main' AND project_id = {}",
            f.project.id
        ))
        .await;
    let (status, _) = post(
        &mut browser,
        &format!("/projects/acme/branches/{main}/rebuild"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = post(&mut browser, "/projects/acme/duplicate", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Everything on the other branches.
    let page = browser.get(&format!("/builds/{}", f.development)).await;
    assert!(page.body.contains("id=\"connect\"") && page.body.contains("id=\"open-shell\""));
    assert!(page.body.contains("Download dump"));
    let dev = f
        .app
        .query_i64("SELECT id FROM branches WHERE name = 'dev'")
        .await;
    let (status, _) = post(
        &mut browser,
        &format!("/projects/acme/branches/{dev}/rebuild"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        f.app
            .query_i64(&format!(
                "SELECT count(*) FROM builds WHERE state = 'pending' AND branch_id = {dev}"
            ))
            .await,
        1
    );
    // A second one while the first waits: refused, with the rule.
    let (status, body) = post(
        &mut browser,
        &format!("/projects/acme/branches/{dev}/rebuild"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("already has build"), "{body}");
}

#[tokio::test]
async fn admins_of_a_project_do_everything_on_it_and_nothing_elsewhere() {
    let f = fixture("project_admins").await;
    let mut browser = f.app.signed_in("adam").await;
    let page = browser.get(&format!("/builds/{}", f.production)).await;
    assert!(page.body.contains("id=\"connect\"") && page.body.contains("Make a test duplicate"));
    let open = browser
        .get(&format!("/builds/{}/open?path=/web", f.production))
        .await;
    assert_eq!(open.status, StatusCode::SEE_OTHER);
    assert!(
        open.location().starts_with(&format!(
            "http://{}.localhost:8800/__slipway/enter?ticket=",
            f.production
        )),
        "{}",
        open.location()
    );
    // Another customer's build does not exist for them.
    let other = browser
        .get(&format!("/builds/{}", f.other_project_build))
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert!(other
        .body
        .contains(&format!("no build #{}", f.other_project_build)));
    assert_eq!(
        browser.get("/projects/globex").await.status,
        StatusCode::NOT_FOUND
    );
    let _ = &f.project;
}

#[tokio::test]
async fn a_stranger_to_a_project_gets_404_not_403_everywhere() {
    let f = fixture("strangers").await;
    let mut browser = f.app.signed_in("stranger").await;
    let unknown = browser.get("/projects/doesnotexist").await;
    let hidden = browser.get("/projects/acme").await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.body.replace("doesnotexist", "X"),
        hidden.body.replace("acme", "X"),
        "a hidden project reads like a missing one"
    );
    for path in [
        format!("/builds/{}", f.development),
        format!("/builds/{}/open", f.development),
        format!("/builds/{}/events", f.development),
        "/projects/acme/events".to_string(),
    ] {
        assert_eq!(
            browser.get(&path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

/// The API applies the same rules to API tokens.
#[tokio::test]
async fn the_api_applies_the_same_roles_to_tokens() {
    let f = fixture("api_roles").await;
    let call = |method: Method, path: String, token: String, body: &'static str| {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "127.0.0.1:8800")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        f.app.send(request)
    };
    let tess = f.app.api_token("tess").await;
    let dev = f.app.api_token("dev").await;
    let stranger = f.app.api_token("stranger").await;

    let builds = call(
        Method::GET,
        "/api/v1/projects/acme/builds".into(),
        tess.clone(),
        "",
    )
    .await;
    assert!(!builds.body.contains("\"production\""), "{}", builds.body);
    let production = call(
        Method::GET,
        format!("/api/v1/builds/{}", f.production),
        tess.clone(),
        "",
    )
    .await;
    assert_eq!(production.status, StatusCode::FORBIDDEN);
    let rebuild = call(
        Method::POST,
        "/api/v1/projects/acme/rebuild".into(),
        dev.clone(),
        r#"{"branch":"main"}"#,
    )
    .await;
    assert_eq!(rebuild.status, StatusCode::FORBIDDEN, "{}", rebuild.body);
    let rebuild = call(
        Method::POST,
        "/api/v1/projects/acme/rebuild".into(),
        dev.clone(),
        r#"{"branch":"dev"}"#,
    )
    .await;
    assert_eq!(rebuild.status, StatusCode::CREATED, "{}", rebuild.body);
    let dump = call(
        Method::GET,
        format!("/api/v1/builds/{}/dump", f.production),
        dev.clone(),
        "",
    )
    .await;
    assert_eq!(dump.status, StatusCode::FORBIDDEN);
    let hidden = call(
        Method::GET,
        "/api/v1/projects/acme/branches".into(),
        stranger.clone(),
        "",
    )
    .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let projects = call(Method::GET, "/api/v1/projects".into(), stranger.clone(), "").await;
    assert!(
        projects.body.contains("\"name\":\"globex\"")
            && !projects.body.contains("\"name\":\"acme\""),
        "{}",
        projects.body
    );
    let stage = call(
        Method::PUT,
        "/api/v1/projects/acme/stage".into(),
        dev.clone(),
        r#"{"branch":"dev","stage":"staging"}"#,
    )
    .await;
    assert_eq!(stage.status, StatusCode::FORBIDDEN);
    let users = call(Method::GET, "/api/v1/users".into(), dev.clone(), "").await;
    assert_eq!(users.status, StatusCode::FORBIDDEN);
    let add = call(
        Method::POST,
        "/api/v1/projects".into(),
        dev.clone(),
        r#"{"name":"x","repo":"/nope","odoo":"14.0","production_branch":"main"}"#,
    )
    .await;
    assert_eq!(add.status, StatusCode::FORBIDDEN);
    // The host's token is everything.
    let all = call(Method::GET, "/api/v1/users".into(), "host-token".into(), "").await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(all.body.contains("\"tess\""));
    // Who a token belongs to.
    let status = call(Method::GET, "/api/v1/status".into(), tess.clone(), "").await;
    assert!(
        status.body.contains("\"caller\":\"tess\""),
        "{}",
        status.body
    );
    let status = call(
        Method::GET,
        "/api/v1/status".into(),
        "host-token".into(),
        "",
    )
    .await;
    assert!(
        status.body.contains("\"caller\":\"(host)\""),
        "{}",
        status.body
    );
}

#[tokio::test]
async fn accounts_are_managed_through_the_api_with_clear_refusals() {
    let app = App::new("accounts_api").await;
    app.project("acme", &[("main", "production")]).await;
    let call = |method: Method, path: &str, body: &str| {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "127.0.0.1:8800")
            .header(header::AUTHORIZATION, "Bearer host-token")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        app.send(request)
    };
    let added = call(
        Method::POST,
        "/api/v1/users",
        r#"{"login":"ada","password":"correct horse battery"}"#,
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    let again = call(
        Method::POST,
        "/api/v1/users",
        r#"{"login":"ada","password":"correct horse battery"}"#,
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("already exists"));
    let short = call(
        Method::POST,
        "/api/v1/users",
        r#"{"login":"bob","password":"short"}"#,
    )
    .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(
        short.body.contains("at least 8 characters"),
        "{}",
        short.body
    );
    let bad_login = call(
        Method::POST,
        "/api/v1/users",
        r#"{"login":"<b>","password":"correct horse battery"}"#,
    )
    .await;
    assert_eq!(bad_login.status, StatusCode::BAD_REQUEST);
    assert!(bad_login.body.contains("invalid login"));
    let role = call(
        Method::PUT,
        "/api/v1/projects/acme/members/ada",
        r#"{"role":"boss"}"#,
    )
    .await;
    assert_eq!(role.status, StatusCode::BAD_REQUEST);
    assert!(
        role.body.contains("'admin' 'developer' 'tester'"),
        "{}",
        role.body
    );
    let role = call(
        Method::PUT,
        "/api/v1/projects/acme/members/nobody",
        r#"{"role":"tester"}"#,
    )
    .await;
    assert_eq!(role.status, StatusCode::NOT_FOUND);
    let role = call(
        Method::PUT,
        "/api/v1/projects/acme/members/ada",
        r#"{"role":"tester"}"#,
    )
    .await;
    assert_eq!(role.status, StatusCode::OK);
    // Signed in before the password change, signed out by it.
    let mut browser = app.signed_in("ada").await;
    assert_eq!(browser.get("/projects/acme").await.status, StatusCode::OK);
    let changed = call(
        Method::PUT,
        "/api/v1/users/ada/password",
        r#"{"password":"another horse battery"}"#,
    )
    .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        browser.get("/projects/acme").await.status,
        StatusCode::SEE_OTHER
    );
    let mut fresh = Browser::new(&app);
    assert_eq!(
        fresh.login("ada", "another horse battery").await.status,
        StatusCode::SEE_OTHER
    );
    let removed = call(Method::DELETE, "/api/v1/users/ada", "").await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        fresh.get("/").await.status,
        StatusCode::SEE_OTHER,
        "its sessions went with it"
    );
}
