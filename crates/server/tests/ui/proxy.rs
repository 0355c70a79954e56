//! A build's address through the proxy: only for signed-in people allowed to
//! connect, through a one-time ticket that becomes a cookie of that address
//! alone; slipway's cookie and headers never reach the build.

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use slipway_control::Role;

use crate::common::{echo_server, App, Browser};

#[tokio::test]
async fn a_build_s_address_opens_through_a_one_time_ticket_and_a_cookie_of_its_own() {
    let app = App::new("proxy_ticket").await;
    let odoo = echo_server().await;
    let project = app
        .project("acme", &[("main", "production"), ("dev", "development")])
        .await;
    let build = app
        .build(&project, "dev", "serving", Some("success"), Some(odoo))
        .await;
    let other = app
        .build(&project, "dev", "serving", Some("success"), Some(odoo))
        .await;
    app.user("dev", false, &[("acme", Role::Developer)]).await;
    let host = format!("{build}.localhost:8800");

    // Not signed in anywhere: a navigation goes to the UI, which asks for a login.
    let mut browser = Browser::new(&app);
    let first = browser.get(&format!("http://{host}/web?debug=1")).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(
        first.location(),
        format!("http://localhost:8800/builds/{build}/open?path=/web%3Fdebug%3D1")
    );
    let to_login = browser.get(first.location()).await;
    assert!(
        to_login.location().starts_with("/login?next="),
        "{}",
        to_login.location()
    );
    // Scripts and XHR get a 401, not a redirect to a login page.
    let script = app
        .send(
            axum::http::Request::builder()
                .method(Method::POST)
                .uri("/web/dataset/call_kw")
                .header(header::HOST, &host)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(script.status, StatusCode::UNAUTHORIZED);

    // Signed in: the UI hands a ticket, the build's address turns it into its cookie.
    browser.login("dev", crate::common::PASSWORD).await;
    let open = browser
        .get(&format!("/builds/{build}/open?path=/web%3Fdebug%3D1"))
        .await;
    let ticket_url = open.location().to_string();
    assert!(
        ticket_url.starts_with(&format!("http://{host}/__slipway/enter?ticket=")),
        "{ticket_url}"
    );
    let entered = browser.get(&ticket_url).await;
    assert_eq!(entered.status, StatusCode::SEE_OTHER);
    assert_eq!(entered.location(), "/web?debug=1");
    let cookie = browser
        .cookie(&host, "slipway_engine")
        .expect("the address's cookie");
    assert!(browser.cookie("localhost:8800", "slipway_engine").is_none());
    let page = browser.get(&format!("http://{host}/web?debug=1")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.starts_with("odoo saw path=/web?debug=1"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("slipway_engine"),
        "our cookie reached the build: {}",
        page.body
    );
    assert!(!page.body.contains(&cookie));

    // A ticket is good once.
    let again = browser.get(&ticket_url).await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    assert!(again.body.contains("expired or was already used"));
    // The cookie opens its own build only.
    let mut thief = Browser::new(&app);
    thief.set_cookie(
        &format!("{other}.localhost:8800"),
        "slipway_engine",
        &cookie,
    );
    let stolen = thief
        .get(&format!("http://{other}.localhost:8800/web"))
        .await;
    assert_eq!(
        stolen.status,
        StatusCode::SEE_OTHER,
        "sent through the UI again"
    );
    assert!(stolen
        .location()
        .starts_with("http://localhost:8800/builds/"));

    // Signing out of slipway closes the build's address too.
    let csrf = browser.csrf().await;
    browser.post("/logout", &[("csrf", &csrf)]).await;
    // The proxy's cache hears of it through the control database.
    let mut after = browser.get(&format!("http://{host}/web")).await;
    for _ in 0..50 {
        if after.status == StatusCode::SEE_OTHER {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        after = browser.get(&format!("http://{host}/web")).await;
    }
    assert_eq!(after.status, StatusCode::SEE_OTHER, "{}", after.body);
}

#[tokio::test]
async fn forged_slipway_headers_never_reach_a_build() {
    let app = App::new("proxy_headers").await;
    let odoo = echo_server().await;
    let project = app.project("acme", &[("main", "production")]).await;
    app.build(&project, "main", "serving", Some("success"), Some(odoo))
        .await;
    // Production's address is public (the customer's Odoo, guarded by its own login).
    let answer = app
        .send(
            axum::http::Request::builder()
                .uri("/web/login")
                .header(header::HOST, "acme.localhost:8800")
                .header("X-Slipway-Connect", "forged-secret")
                .header("x-slipway-token", "host-token")
                .header(header::COOKIE, "session_id=odoo; slipway_engine=abc")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains("connect=-"), "{}", answer.body);
    assert!(answer.body.contains("token=-"), "{}", answer.body);
    assert!(
        answer.body.contains("cookie=session_id=odoo"),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains("slipway_engine"), "{}", answer.body);
}

#[tokio::test]
async fn scripts_reach_builds_with_an_api_token_and_the_same_rules() {
    let app = App::new("proxy_tokens").await;
    let odoo = echo_server().await;
    let project = app
        .project("acme", &[("main", "production"), ("dev", "development")])
        .await;
    let production = app
        .build(&project, "main", "serving", Some("success"), Some(odoo))
        .await;
    let development = app
        .build(&project, "dev", "serving", Some("success"), Some(odoo))
        .await;
    app.user("tess", false, &[("acme", Role::Tester)]).await;
    let session = app.control.session().await.unwrap();
    let user = slipway_control::get_user(&session, "tess").await.unwrap();
    slipway_control::create_api_token(
        &session,
        user.id,
        "ci",
        &slipway_control::SecretHash::of("slw_tess"),
    )
    .await
    .unwrap();
    let call = |build: i64, token: &str| {
        app.send(
            axum::http::Request::builder()
                .uri("/web/login")
                .header(header::HOST, format!("{build}.localhost:8800"))
                .header("X-Slipway-Token", token)
                .body(Body::empty())
                .unwrap(),
        )
    };
    let allowed = call(development, "slw_tess").await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert!(
        allowed.body.contains("token=-"),
        "the token is not passed on: {}",
        allowed.body
    );
    let refused = call(production, "slw_tess").await;
    assert_eq!(
        refused.status,
        StatusCode::NOT_FOUND,
        "a tester cannot connect to production"
    );
    assert_eq!(
        call(424242, "host-token").await.status,
        StatusCode::NOT_FOUND
    );
    let wrong = call(development, "slw_wrong").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    // A role taken away takes effect at once (the proxy's cache is told).
    slipway_control::set_role(&session, "acme", "tess", None)
        .await
        .unwrap();
    crate::live::eventually(|| async {
        call(development, "slw_tess").await.status == StatusCode::NOT_FOUND
    })
    .await;
}

#[tokio::test]
async fn a_stopped_build_says_so_and_offers_to_start_it_again() {
    let app = App::new("proxy_stopped").await;
    let project = app
        .project("acme", &[("main", "production"), ("dev", "development")])
        .await;
    let stopped = app
        .build(&project, "dev", "stopped", Some("success"), None)
        .await;
    app.user("dev", false, &[("acme", Role::Developer)]).await;
    let mut browser = app.signed_in("dev").await;
    let open = browser.get(&format!("/builds/{stopped}/open")).await;
    assert_eq!(
        open.location(),
        format!("/builds/{stopped}"),
        "no ticket for a stopped build"
    );
    // With access (a token), the address answers a page saying so.
    let page = app
        .send(
            axum::http::Request::builder()
                .uri("/")
                .header(header::HOST, format!("{stopped}.localhost:8800"))
                .header("X-Slipway-Token", "host-token")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.body.contains(&format!("Build #{stopped} is stopped")));
    assert!(page.body.contains(&format!(
        "http://localhost:8800/builds/{stopped}?restart=1#restart"
    )));
    // The build page offers the restart; asking records it for the worker.
    let build_page = browser.get(&format!("/builds/{stopped}?restart=1")).await;
    assert!(build_page.body.contains("Start it again"));
    let csrf = build_page.csrf();
    let asked = browser
        .post(&format!("/builds/{stopped}/restart"), &[("csrf", &csrf)])
        .await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.query_i64(&format!(
            "SELECT count(*) FROM builds WHERE id = {stopped} AND restart_requested_at IS NOT NULL"
        ))
        .await,
        1
    );
    // A replaced production build is production's snapshot: not restartable.
    let snapshot = app
        .build(&project, "main", "stopped", Some("success"), None)
        .await;
    let csrf = browser.csrf().await;
    app.user("adam", false, &[("acme", Role::Admin)]).await;
    let mut admin = app.signed_in("adam").await;
    let csrf_admin = admin.csrf().await;
    let refused = admin
        .post(
            &format!("/builds/{snapshot}/restart"),
            &[("csrf", &csrf_admin)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("snapshot"), "{}", refused.body);
    let _ = csrf;
}

/// A websocket is not bound by the same-origin policy: another site could open
/// one with the user's cookie. The shell's socket wants our Origin and the
/// page's CSRF token, and the role.
#[tokio::test]
async fn the_shell_socket_refuses_other_sites_forged_tokens_and_testers() {
    use std::io::{Read, Write};
    let app = App::new("shell_socket").await;
    let project = app
        .project("acme", &[("main", "production"), ("dev", "development")])
        .await;
    let build = app
        .build(&project, "dev", "serving", Some("success"), Some(1))
        .await;
    app.user("dev", false, &[("acme", Role::Developer)]).await;
    app.user("tess", false, &[("acme", Role::Tester)]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let status = |cookie: String, origin: &'static str, csrf: String| {
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            write!(
                stream,
                "GET /builds/{build}/shell/socket?csrf={csrf} HTTP/1.1\r\nHost: localhost:8800\r\n\
                 Origin: {origin}\r\nCookie: {cookie}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            .unwrap();
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).unwrap();
            String::from_utf8_lossy(&head[9..12]).into_owned()
        })
    };
    let mut developer = app.signed_in("dev").await;
    let csrf = developer.csrf().await;
    let cookie = format!(
        "slipway_session={}",
        developer
            .cookie("localhost:8800", "slipway_session")
            .unwrap()
    );
    assert_eq!(
        status(cookie.clone(), "http://evil.example", csrf.clone())
            .await
            .unwrap(),
        "403"
    );
    assert_eq!(
        status(cookie.clone(), "http://localhost:8800", "forged".into())
            .await
            .unwrap(),
        "403"
    );
    let mut tester = app.signed_in("tess").await;
    let tester_csrf = tester.csrf().await;
    let tester_cookie = format!(
        "slipway_session={}",
        tester.cookie("localhost:8800", "slipway_session").unwrap()
    );
    assert_eq!(
        status(tester_cookie, "http://localhost:8800", tester_csrf)
            .await
            .unwrap(),
        "403"
    );
    assert_eq!(
        status(String::new(), "http://localhost:8800", csrf)
            .await
            .unwrap(),
        "303"
    );
}
