//! Live pages: the branches view and a build's page follow the control
//! database's changes over server-sent events; logs stream and resume.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::http::Method;
use slipway_control::{BuildAttempt, Role};

use crate::common::App;

/// Waits (up to 10 s) until `check` holds.
pub async fn eventually<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_new_build_s_cell_appears_and_changes_colour_without_a_reload() {
    let app = App::new("live_branches").await;
    let project = app
        .project("acme", &[("main", "production"), ("dev", "development")])
        .await;
    app.user("dev", false, &[("acme", Role::Developer)]).await;
    let browser = app.signed_in("dev").await;
    let mut events = app.events(&browser, "/projects/acme/events").await;
    let build = app.build(&project, "dev", "pending", None, None).await;
    let row = events
        .next_named("row", Duration::from_secs(10))
        .await
        .expect("a row event");
    let row: serde_json::Value = serde_json::from_str(&row).unwrap();
    let html = row["html"].as_str().unwrap();
    assert!(html.contains("data-name=\"dev\""), "{html}");
    assert!(
        html.contains(&format!("class=\"cell pending\" href=\"/builds/{build}\"")),
        "{html}"
    );
    assert_eq!(row["order"], build.to_string());
    // It runs, then passes: the same cell turns green.
    app.sql(&format!(
        "UPDATE builds SET state = 'running', worker = 'this-host', lease_until = now() + interval '1 hour' WHERE id = {build}"
    ))
    .await;
    app.sql(&format!(
        "UPDATE builds SET state = 'done', status = 'success', lease_until = NULL, finished_at = now() WHERE id = {build}"
    ))
    .await;
    let mut last = String::new();
    for _ in 0..3 {
        match events.next_named("row", Duration::from_secs(5)).await {
            Some(data) => {
                let row: serde_json::Value = serde_json::from_str(&data).unwrap();
                last = row["html"].as_str().unwrap().to_string();
            }
            None => break,
        }
        if last.contains("cell success") {
            break;
        }
    }
    assert!(
        last.contains(&format!("class=\"cell success\" href=\"/builds/{build}\"")),
        "{last}"
    );
}

#[tokio::test]
async fn a_tester_s_live_view_never_receives_production() {
    let app = App::new("live_roles").await;
    let project = app
        .project("acme", &[("main", "production"), ("dev", "development")])
        .await;
    app.user("tess", false, &[("acme", Role::Tester)]).await;
    let browser = app.signed_in("tess").await;
    let mut events = app.events(&browser, "/projects/acme/events").await;
    app.build(&project, "main", "pending", None, None).await;
    let dev = app.build(&project, "dev", "pending", None, None).await;
    // Production's change comes as "gone" (nothing to show), dev's as a row.
    let mut saw_dev = false;
    while let Some((name, data)) = events.next(Duration::from_secs(5)).await {
        assert!(!data.contains("data-name=\\\"main\\\""), "{name}: {data}");
        if name == "row" && data.contains(&format!("/builds/{dev}")) {
            saw_dev = true;
            break;
        }
    }
    assert!(saw_dev);
}

#[tokio::test]
async fn a_build_page_receives_its_status_as_it_changes() {
    let app = App::new("live_build").await;
    let project = app
        .project("acme", &[("main", "production"), ("dev", "development")])
        .await;
    let build = app.build(&project, "dev", "running", None, None).await;
    app.user("dev", false, &[("acme", Role::Developer)]).await;
    let browser = app.signed_in("dev").await;
    let mut events = app
        .events(&browser, &format!("/builds/{build}/events"))
        .await;
    app.sql(&format!(
        "UPDATE builds SET state = 'done', status = 'failed', lease_until = NULL, finished_at = now(), \
         report = '{{\"status\":\"failed\",\"tests\":{{\"run\":3,\"failed\":1,\"errors\":0,\"skipped\":0}},\"failed_tests\":[\"TestDemo.test_fail\"],\
\"errors\":[{{\"message\":\"FAIL: TestDemo.test_fail\",\"traceback\":\"Traceback (most recent call last):\\nAssertionError: <b>1 != 2</b>\"}}],\"warnings\":[],\"modules\":[\"demo\"]}}' \
         WHERE id = {build}"
    ))
    .await;
    let status = events
        .next_named("status", Duration::from_secs(10))
        .await
        .expect("a status event");
    let html: String = serde_json::from_str(&status).unwrap();
    assert!(html.contains("failed"), "{html}");
    assert!(html.contains("TestDemo.test_fail"));
    assert!(
        html.contains("&#60;b&#62;1 != 2&#60;/b&#62;")
            || html.contains("&lt;b&gt;1 != 2&lt;/b&gt;"),
        "{html}"
    );
}

#[tokio::test]
async fn logs_stream_escaped_and_resume_after_a_reconnect() {
    let app = App::new("live_logs").await;
    let project = app
        .project("acme", &[("main", "production"), ("dev", "development")])
        .await;
    let build = app.build(&project, "dev", "running", None, None).await;
    let dir = app
        .home
        .path()
        .join("logs")
        .join(BuildAttempt::new(build, 1).to_string());
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("odoo.log");
    // Markup, control characters, invalid UTF-8 and a very long line.
    let mut first =
        b"2024-01-01 00:00:00,000 1 INFO db odoo: <script>alert(1)</script>\r\x1b[31m\n".to_vec();
    first.extend_from_slice(&[0xff, 0xfe, b'\n']);
    first.extend(std::iter::repeat_n(b'x', 200_000));
    first.push(b'\n');
    std::fs::write(&log, &first).unwrap();
    app.user("dev", false, &[("acme", Role::Developer)]).await;
    let browser = app.signed_in("dev").await;
    let tail = |from: Option<u64>| {
        let mut request =
            browser.request(Method::GET, &format!("/builds/{build}/logs/odoo.log/tail"));
        if let Some(offset) = from {
            request = request.header("last-event-id", offset.to_string());
        }
        request.body(Body::empty()).unwrap()
    };
    let mut events = app.open_stream(tail(None)).await;
    let mut text = String::new();
    let mut offset = 0u64;
    while (offset as usize) < first.len() {
        let chunk = events
            .next_named("chunk", Duration::from_secs(10))
            .await
            .expect("a chunk");
        let chunk: serde_json::Value = serde_json::from_str(&chunk).unwrap();
        assert_eq!(chunk["offset"].as_u64().unwrap(), offset);
        let piece = chunk["text"].as_str().unwrap();
        offset += piece.len() as u64 - piece.matches('\u{fffd}').count() as u64 * 2;
        text.push_str(piece);
    }
    assert!(
        text.contains("<script>alert(1)</script>"),
        "the text is carried as it is, as JSON"
    );
    assert!(
        text.contains('\u{fffd}'),
        "invalid UTF-8 becomes replacement characters"
    );
    // More lines while nobody listens; a reconnect from the last id resumes.
    drop(events);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut file| std::io::Write::write_all(&mut file, b"after the reconnect\n"))
        .unwrap();
    let mut resumed = app.open_stream(tail(Some(first.len() as u64))).await;
    let chunk = resumed
        .next_named("chunk", Duration::from_secs(10))
        .await
        .unwrap();
    let chunk: serde_json::Value = serde_json::from_str(&chunk).unwrap();
    assert_eq!(chunk["text"], "after the reconnect\n");
    assert_eq!(chunk["offset"].as_u64().unwrap(), first.len() as u64);
    // The build ends: the stream says so and closes.
    app.sql(&format!(
        "UPDATE builds SET state = 'done', status = 'success', lease_until = NULL, finished_at = now() WHERE id = {build}"
    ))
    .await;
    assert!(resumed
        .next_named("end", Duration::from_secs(10))
        .await
        .is_some());
}

#[tokio::test]
async fn a_live_page_stops_receiving_when_its_session_ends() {
    let app = App::new("live_signed_out").await;
    let project = app
        .project("acme", &[("main", "production"), ("dev", "development")])
        .await;
    app.user("dev", false, &[("acme", Role::Developer)]).await;
    let mut browser = app.signed_in("dev").await;
    let mut events = app.events(&browser, "/projects/acme/events").await;
    let csrf = browser.csrf().await;
    browser.post("/logout", &[("csrf", &csrf)]).await;
    app.build(&project, "dev", "pending", None, None).await;
    assert_eq!(
        events.next_named("row", Duration::from_secs(5)).await,
        None,
        "nothing more after signing out"
    );
}

#[tokio::test]
async fn a_closed_page_stops_listening_even_when_nothing_happens() {
    let app = App::new("live_closed").await;
    let project = app.project("acme", &[("main", "production")]).await;
    let build = app.build(&project, "main", "running", None, None).await;
    app.user("dev", false, &[("acme", Role::Developer)]).await;
    let browser = app.signed_in("dev").await;
    let before = app.state.live.subscribers();
    let board = app.events(&browser, "/projects/acme/events").await;
    let page = app
        .events(&browser, &format!("/builds/{build}/events"))
        .await;
    eventually(|| async { app.state.live.subscribers() == before + 2 }).await;
    drop(board);
    drop(page);
    eventually(|| async { app.state.live.subscribers() == before }).await;
}
