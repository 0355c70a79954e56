//! Signing in and out, sessions, CSRF, and what every page shows.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use slipway_control::{BuildAttempt, Role};

use crate::common::{App, Browser, PASSWORD};

/// Every page of the UI (GET), with placeholders filled by the test.
fn pages(project: &str, build: i64) -> Vec<String> {
    vec![
        "/".into(),
        "/account".into(),
        format!("/projects/{project}"),
        format!("/builds/{build}"),
        format!("/builds/{build}/logs/odoo.log"),
        format!("/builds/{build}/shell"),
        format!("/builds/{build}/mails/1"),
        format!("/builds/{build}/open"),
        format!("/builds/{build}/users"),
    ]
}

#[tokio::test]
async fn anonymous_visitors_see_the_login_page_and_nothing_else() {
    let app = App::new("anonymous").await;
    let project = app.project("acme", &[("main", "production")]).await;
    let build = app
        .build(&project, "main", "done", Some("success"), None)
        .await;
    let mut browser = Browser::new(&app);
    for page in pages("acme", build) {
        let answer = browser.get(&page).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{page}");
        let location = answer.location();
        assert!(location.starts_with("/login?next="), "{page} → {location}");
        assert!(
            !answer.body.contains("acme"),
            "{page} leaks: {}",
            answer.body
        );
    }
    // Forms too: no session, no action.
    let rebuild = browser
        .post("/projects/acme/branches/1/rebuild", &[("csrf", "x")])
        .await;
    assert_eq!(rebuild.status, StatusCode::SEE_OTHER);
    assert!(rebuild.location().starts_with("/login"));
    // The login page itself, and the assets it needs, are there.
    let login = browser.get("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("Sign in to slipway"));
    assert_eq!(
        browser.get("/assets/slipway.css").await.status,
        StatusCode::OK
    );
    assert_eq!(
        browser.get("/assets/htmx.min.js").await.status,
        StatusCode::OK
    );
    assert_eq!(
        browser.get("/assets/nope.js").await.status,
        StatusCode::NOT_FOUND
    );
    // The API wants a token.
    let api = browser.get("/api/v1/projects").await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signing_in_opens_a_session_that_goes_back_where_one_was_headed() {
    let app = App::new("sign_in").await;
    app.project("acme", &[("main", "production")]).await;
    app.user("ada", false, &[("acme", Role::Developer)]).await;
    let mut browser = Browser::new(&app);
    let form = browser.get("/login?next=/projects/acme").await;
    let csrf = form.csrf();
    assert!(form.body.contains("value=\"/projects/acme\""));

    let wrong = browser
        .submit_login("ada", "wrong password", &csrf, "/projects/acme")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("Wrong login or password."));
    let unknown = browser
        .post(
            "/login",
            &[
                ("login", "nobody"),
                ("password", PASSWORD),
                ("csrf", &wrong.csrf()),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(
        unknown.body.contains("Wrong login or password."),
        "same words for an unknown login"
    );

    let csrf = unknown.csrf();
    let signed_in = browser
        .submit_login("ada", PASSWORD, &csrf, "/projects/acme")
        .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.location(), "/projects/acme");
    let cookies = signed_in.set_cookies();
    let cookie = cookies
        .iter()
        .find(|cookie| cookie.starts_with("slipway_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let page = browser.get("/projects/acme").await;
    assert_eq!(page.status, StatusCode::OK);
    // Signed in, the login page sends on.
    assert_eq!(
        browser.get("/login?next=/account").await.location(),
        "/account"
    );
}

#[tokio::test]
async fn a_login_redirect_never_leaves_the_site() {
    let app = App::new("open_redirect").await;
    app.user("ada", false, &[]).await;
    for next in [
        "//evil.example/x",
        "https://evil.example",
        "/\\evil.example",
    ] {
        let mut browser = Browser::new(&app);
        let csrf = browser.get("/login").await.csrf();
        let answer = browser.submit_login("ada", PASSWORD, &csrf, next).await;
        assert_eq!(answer.location(), "/", "{next}");
    }
}

#[tokio::test]
async fn a_login_form_not_sent_from_our_page_is_refused() {
    let app = App::new("login_csrf").await;
    app.user("ada", false, &[]).await;
    let mut browser = Browser::new(&app);
    // No login cookie at all (another site's form).
    let forged = browser.submit_login("ada", PASSWORD, "forged", "/").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(browser
        .cookie("localhost:8800", "slipway_session")
        .is_none());
    // A cookie, but another token in the form.
    browser.get("/login").await;
    let mismatched = browser.submit_login("ada", PASSWORD, "forged", "/").await;
    assert_eq!(mismatched.status, StatusCode::FORBIDDEN);
    assert!(mismatched.body.contains("security token"));
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled() {
    let app = App::new("throttle").await;
    app.user("ada", false, &[]).await;
    let mut browser = Browser::new(&app);
    let mut csrf = browser.get("/login").await.csrf();
    for _ in 0..10 {
        let answer = browser.submit_login("ada", "guess guess", &csrf, "/").await;
        csrf = answer.csrf();
    }
    // Even the right password waits now.
    let blocked = browser.submit_login("ada", PASSWORD, &csrf, "/").await;
    assert_eq!(blocked.status, StatusCode::UNAUTHORIZED);
    assert!(blocked.body.contains("Too many failed attempts"));
}

#[tokio::test]
async fn an_expired_session_sends_to_the_login_page_saying_so() {
    let app = App::new("expired").await;
    app.user("ada", false, &[]).await;
    let mut browser = app.signed_in("ada").await;
    assert_eq!(browser.get("/account").await.status, StatusCode::OK);
    app.sql("UPDATE sessions SET expires_at = now() - interval '1 second'")
        .await;
    let answer = browser.get("/account").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/login?next=/account&expired=1");
    let login = browser.follow(answer).await;
    assert!(login.body.contains("Your session ended"));
    // htmx partial requests are told where to go instead.
    let partial = app
        .send(
            browser
                .request(Method::GET, "/builds/1/users")
                .header("hx-request", "true")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(partial.header("hx-redirect").starts_with("/login"));
}

#[tokio::test]
async fn signing_out_needs_the_form_s_token_and_ends_the_session() {
    let app = App::new("sign_out").await;
    app.user("ada", false, &[]).await;
    let mut browser = app.signed_in("ada").await;
    let forged = browser.post("/logout", &[("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(
        browser.get("/account").await.status,
        StatusCode::OK,
        "still signed in"
    );
    let session = browser.cookie("localhost:8800", "slipway_session").unwrap();
    let csrf = browser.csrf().await;
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/login");
    assert!(browser
        .cookie("localhost:8800", "slipway_session")
        .is_none());
    // The old cookie, replayed, opens nothing.
    browser.set_cookie("localhost:8800", "slipway_session", &session);
    assert_eq!(browser.get("/account").await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.query_i64("SELECT count(*) FROM sessions").await, 0);
}

#[tokio::test]
async fn pages_carry_a_content_security_policy_and_never_cache() {
    let app = App::new("headers").await;
    app.user("ada", true, &[]).await;
    let mut browser = app.signed_in("ada").await;
    let page = browser.get("/").await;
    let policy = page.header("content-security-policy");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe-eval"), "{policy}");
    assert!(
        policy.contains("form-action 'self' http://*.localhost:8800"),
        "{policy}"
    );
    assert_eq!(page.header("cache-control"), "no-store");
    assert_eq!(page.header("x-content-type-options"), "nosniff");
}

#[tokio::test]
async fn the_projects_page_lists_only_projects_with_a_role() {
    let app = App::new("projects_page").await;
    app.project("acme", &[("main", "production")]).await;
    app.project("globex", &[("main", "production")]).await;
    app.user("ada", false, &[("acme", Role::Tester)]).await;
    app.user("root", true, &[]).await;
    let page = app.signed_in("ada").await.get("/").await;
    assert!(page.body.contains("/projects/acme"));
    assert!(!page.body.contains("globex"), "{}", page.body);
    let page = app.signed_in("root").await.get("/").await;
    assert!(page.body.contains("/projects/acme") && page.body.contains("/projects/globex"));
    app.user("nobody", false, &[]).await;
    let page = app.signed_in("nobody").await.get("/").await;
    assert!(page.body.contains("no role in any project"));
}

#[tokio::test]
async fn the_board_warns_of_a_worker_running_builds_unconfined() {
    let app = App::new("unconfined_board").await;
    app.user("ada", false, &[]).await;
    let session = app.control.session().await.unwrap();
    slipway_control::register_worker(&session, "confined-1", "h", 1, true)
        .await
        .unwrap();
    let page = app.signed_in("ada").await.get("/").await;
    assert!(!page.body.contains("id=\"unconfined\""), "{}", page.body);
    slipway_control::register_worker(&session, "bare-1", "h", 1, false)
        .await
        .unwrap();
    let page = app.signed_in("ada").await.get("/").await;
    assert!(
        page.body.contains("id=\"unconfined\"")
            && page.body.contains("Builds of bare-1 run unconfined"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("confined-1"), "{}", page.body);
}

#[tokio::test]
async fn the_branches_view_puts_production_first_then_the_newest_builds_with_their_colours() {
    let app = App::new("branches_view").await;
    let project = app
        .project(
            "acme",
            &[
                ("main", "production"),
                ("old", "development"),
                ("fresh", "development"),
                ("qa", "staging"),
            ],
        )
        .await;
    app.build(&project, "main", "serving", Some("success"), Some(1))
        .await;
    app.build(&project, "old", "done", Some("failed"), None)
        .await;
    app.build(&project, "qa", "stopped", Some("warning"), None)
        .await;
    app.build(&project, "fresh", "done", Some("warning"), None)
        .await;
    app.build(&project, "fresh", "running", None, None).await;
    app.user("ada", false, &[("acme", Role::Admin)]).await;
    let page = app.signed_in("ada").await.get("/projects/acme").await;
    assert_eq!(page.status, StatusCode::OK);
    let position = |name: &str| page.body.find(&format!("data-name=\"{name}\"")).unwrap();
    assert!(position("main") < position("fresh"));
    assert!(position("fresh") < position("qa"));
    assert!(position("qa") < position("old"));
    for class in [
        "cell success",
        "cell failed",
        "cell warning stopped",
        "cell warning",
        "cell running",
    ] {
        assert!(page.body.contains(&format!("class=\"{class}\"")), "{class}");
    }
    // A branch with a build in progress offers no rebuild; the others do.
    let row = |name: &str| {
        let start = position(name);
        let end = page.body[start..].find("</tr>").unwrap() + start;
        page.body[start..end].to_string()
    };
    assert!(!row("fresh").contains("Rebuild"));
    assert!(row("old").contains("Rebuild"));
    // Connect only where a build serves; the code link from the GitHub address.
    assert!(row("main").contains("Connect"));
    assert!(!row("old").contains("Connect"));
    assert!(row("main").contains("https://github.com/acme/acme/commit/"));
}

#[tokio::test]
async fn a_branch_shows_its_last_twenty_builds_newest_first() {
    let app = App::new("branches_strip").await;
    let project = app
        .project("acme", &[("main", "production"), ("busy", "development")])
        .await;
    let mut ids = Vec::new();
    for _ in 0..25 {
        ids.push(
            app.build(&project, "busy", "done", Some("success"), None)
                .await,
        );
    }
    app.user("ada", false, &[("acme", Role::Admin)]).await;
    let page = app.signed_in("ada").await.get("/projects/acme").await;
    let cells: Vec<&str> = page
        .body
        .split("<a class=\"cell ")
        .skip(1)
        .map(|cell| {
            cell.split("href=\"/builds/")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
        })
        .collect();
    let newest: Vec<String> = ids.iter().rev().take(20).map(i64::to_string).collect();
    assert_eq!(cells, newest);
}

#[tokio::test]
async fn branch_names_and_reasons_with_markup_are_shown_escaped() {
    let app = App::new("escaping").await;
    let evil = "feat/<script>alert(1)</script>\"'&";
    let project = app
        .project("acme", &[("main", "production"), (evil, "development")])
        .await;
    let build = app
        .build(&project, evil, "done", Some("failed"), None)
        .await;
    app.sql(&format!(
        "UPDATE builds SET reason = '<img src=x onerror=alert(2)>' WHERE id = {build}"
    ))
    .await;
    app.user("ada", false, &[("acme", Role::Developer)]).await;
    let mut browser = app.signed_in("ada").await;
    for page in [
        browser.get("/projects/acme").await,
        browser.get(&format!("/builds/{build}")).await,
    ] {
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains("<script>alert(1)"), "{}", page.body);
        assert!(!page.body.contains("<img src=x"), "{}", page.body);
    }
    let view = browser.get("/projects/acme").await;
    assert!(
        view.body
            .contains("feat/&#60;script&#62;alert(1)&#60;/script&#62;")
            || view
                .body
                .contains("feat/&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        view.body
    );
}

#[tokio::test]
async fn unknown_ids_are_404_pages_that_name_the_thing() {
    let app = App::new("unknown_ids").await;
    app.project("acme", &[("main", "production")]).await;
    app.user("root", true, &[]).await;
    let mut browser = app.signed_in("root").await;
    for (path, words) in [
        ("/projects/nope", "no project named 'nope'"),
        ("/builds/424242", "no build #424242"),
        ("/builds/424242/logs/odoo.log", "no build #424242"),
        ("/builds/424242/mails/1", "no build #424242"),
    ] {
        let answer = browser.get(path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(answer.text().contains(words), "{path}: {}", answer.body);
    }
    // A path that is not a number is a 400, not a crash.
    assert_eq!(
        browser.get("/builds/abc").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn logs_are_served_as_text_and_only_known_files() {
    let app = App::new("logs_raw").await;
    let project = app.project("acme", &[("main", "production")]).await;
    let build = app
        .build(&project, "main", "done", Some("success"), None)
        .await;
    let dir = app
        .home
        .path()
        .join("logs")
        .join(BuildAttempt::new(build, 1).to_string());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("odoo.log"), "<script>alert(1)</script>\n").unwrap();
    app.user("root", true, &[]).await;
    let mut browser = app.signed_in("root").await;
    let raw = browser.get(&format!("/builds/{build}/logs/odoo.log")).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert!(raw.header("content-type").starts_with("text/plain"));
    assert_eq!(raw.header("x-content-type-options"), "nosniff");
    for bad in ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "secrets.txt"] {
        let answer = browser.get(&format!("/builds/{build}/logs/{bad}")).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{bad}");
    }
    let page = browser.get(&format!("/builds/{build}")).await;
    assert!(
        page.body.contains("data-log=\"/builds/"),
        "the log tab is offered"
    );
}

#[tokio::test]
async fn api_tokens_are_made_on_the_account_page_shown_once_and_revoked() {
    let app = App::new("tokens").await;
    app.project("acme", &[("main", "production"), ("dev", "development")])
        .await;
    app.user("tess", false, &[("acme", Role::Tester)]).await;
    let mut browser = app.signed_in("tess").await;
    let csrf = browser.csrf().await;
    let created = browser
        .post("/account/tokens", &[("csrf", &csrf), ("name", "laptop")])
        .await;
    assert_eq!(created.status, StatusCode::OK);
    let marker = "id=\"new-token\">";
    let start = created.body.find(marker).unwrap() + marker.len();
    let token = created.body[start..].split('<').next().unwrap().to_string();
    assert!(token.starts_with("slw_"));
    assert!(
        !browser.get("/account").await.body.contains(&token),
        "shown once"
    );
    // The token acts with the tester's role: no production branch.
    let branches = app
        .send(
            Request::builder()
                .uri("/api/v1/projects/acme/branches")
                .header(header::HOST, "127.0.0.1:8800")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(branches.status, StatusCode::OK);
    assert!(
        branches.body.contains("\"dev\"") && !branches.body.contains("\"main\""),
        "{}",
        branches.body
    );
    // Revoked, it opens nothing.
    let id = app.query_i64("SELECT id FROM api_tokens").await;
    let csrf = browser.csrf().await;
    browser
        .post(&format!("/account/tokens/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    let refused = app
        .send(
            Request::builder()
                .uri("/api/v1/projects")
                .header(header::HOST, "127.0.0.1:8800")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_public_badge_tells_a_branch_s_last_result_and_nothing_else() {
    let app = App::new("badge").await;
    let project = app
        .project(
            "acme",
            &[("main", "production"), ("feature/x", "development")],
        )
        .await;
    app.build(&project, "feature/x", "done", Some("failed"), None)
        .await;
    app.build(&project, "feature/x", "running", None, None)
        .await;
    let mut browser = Browser::new(&app);
    let badge = browser.get("/badge/acme/feature/x.svg").await;
    assert_eq!(badge.status, StatusCode::OK);
    assert_eq!(badge.header("content-type"), "image/svg+xml");
    assert!(
        badge.body.contains("failing"),
        "the last finished build: {}",
        badge.body
    );
    let none = browser.get("/badge/acme/main.svg").await;
    assert!(none.body.contains("unknown"));
    let project_unknown = browser.get("/badge/nope/main.svg").await;
    let branch_unknown = browser.get("/badge/acme/nope.svg").await;
    assert_eq!(project_unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(branch_unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        project_unknown.body, branch_unknown.body,
        "nothing tells them apart"
    );
}

#[tokio::test]
async fn cookies_are_marked_secure_behind_a_tls_terminating_proxy() {
    let app = App::new("secure_cookies").await;
    app.user("ada", false, &[]).await;
    let browser = Browser::new(&app);
    let form = app
        .send(
            browser
                .request(Method::GET, "/login")
                .header("x-forwarded-proto", "https")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let login_cookie = form.set_cookies()[0].to_string();
    assert!(login_cookie.ends_with("; Secure"), "{login_cookie}");
    let token = login_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("slipway_login=")
        .to_string();
    let body = format!(
        "login=ada&password={}&csrf={token}&next=%2F",
        slipway_server::ui::encode_query(PASSWORD)
    );
    let signed_in = app
        .send(
            browser
                .request(Method::POST, "/login")
                .header("x-forwarded-proto", "https")
                .header(header::COOKIE, format!("slipway_login={token}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let session = signed_in
        .set_cookies()
        .into_iter()
        .find(|cookie| cookie.starts_with("slipway_session="))
        .unwrap()
        .to_string();
    assert!(session.ends_with("; Secure"), "{session}");
}
