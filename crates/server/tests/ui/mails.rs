//! Caught mail in the UI: listed on the build's page, one decoded and shown
//! as text, its HTML only in a sandbox, the raw message downloadable; and the
//! database dump, refused cleanly when there is no database.

use axum::http::StatusCode;
use slipway_control::{NewMail, Role};

use crate::common::App;

const MAIL: &[u8] = b"From: Shop <shop@example.com>\r\n\
To: customer@example.com\r\n\
Subject: =?utf-8?q?Votre_commande_<script>alert(1)</script>_=C3=A9t=C3=A9?=\r\n\
Date: Sat, 28 Nov 2026 07:00:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello <b>customer</b>, your order is ready.\r\n\
--b\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Hello <b>customer</b></p><script>alert(2)</script>\r\n\
--b--\r\n";

async fn store(app: &App, build: i64) -> i64 {
    let session = app.control.session().await.unwrap();
    slipway_control::store_mail(
        &session,
        build,
        &NewMail {
            envelope_from: "shop@example.com",
            envelope_to: &["customer@example.com".to_string()],
            from: "Shop <shop@example.com>",
            to: &["customer@example.com".to_string()],
            subject: "Votre commande <script>alert(1)</script> été",
            date: Some("Sat, 28 Nov 2026 07:00:00 +0000"),
            raw: MAIL,
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_build_s_mail_is_listed_read_as_text_and_its_html_kept_in_a_sandbox() {
    let app = App::new("mails").await;
    let project = app
        .project("acme", &[("main", "production"), ("qa", "staging")])
        .await;
    let build = app
        .build(&project, "qa", "serving", Some("success"), Some(1))
        .await;
    let id = store(&app, build).await;
    app.user("tess", false, &[("acme", Role::Tester)]).await;
    let mut browser = app.signed_in("tess").await;

    let page = browser.get(&format!("/builds/{build}")).await;
    assert!(page.body.contains(&format!("/builds/{build}/mails/{id}")));
    assert!(
        !page.body.contains("<script>alert(1)"),
        "escaped in the list"
    );
    assert!(page
        .text()
        .contains("Votre commande <script>alert(1)</script> été"));

    let mail = browser.get(&format!("/builds/{build}/mails/{id}")).await;
    assert_eq!(mail.status, StatusCode::OK);
    assert!(!mail.body.contains("<script>alert(1)"));
    assert!(!mail.body.contains("<b>customer"), "the text part is text");
    assert!(mail
        .text()
        .contains("Hello <b>customer</b>, your order is ready."));
    assert!(mail.body.contains("<iframe class=\"mail-html\" sandbox"));

    let html = browser
        .get(&format!("/builds/{build}/mails/{id}/html"))
        .await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html
        .header("content-security-policy")
        .starts_with("sandbox;"));
    assert!(html
        .header("content-security-policy")
        .contains("default-src 'none'"));

    let raw = browser
        .get(&format!("/builds/{build}/mails/{id}/raw"))
        .await;
    assert_eq!(raw.header("content-type"), "message/rfc822");
    assert!(raw.header("content-disposition").starts_with("attachment"));
    assert_eq!(raw.body.as_bytes(), MAIL);

    // Another build's mail id under this build: not found.
    let other = app
        .build(&project, "qa", "serving", Some("success"), Some(2))
        .await;
    let wrong = browser.get(&format!("/builds/{other}/mails/{id}")).await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    assert!(wrong
        .text()
        .contains(&format!("build #{other} has no mail #{id}")));
}

#[tokio::test]
async fn a_dump_of_a_build_without_its_database_is_refused_with_the_reason() {
    let app = App::new("dumps").await;
    let project = app
        .project("acme", &[("main", "production"), ("dev", "development")])
        .await;
    let build = app
        .build(&project, "dev", "serving", Some("success"), Some(1))
        .await;
    app.user("dev", false, &[("acme", Role::Developer)]).await;
    let mut browser = app.signed_in("dev").await;
    let csrf = browser.csrf().await;
    // The fixture's database name does not exist in the cluster.
    let answer = browser
        .post(
            &format!("/builds/{build}/dump"),
            &[("csrf", &csrf), ("format", "zip")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::GONE, "{}", answer.body);
    assert!(answer.text().contains("has no database any more"));
    let answer = browser
        .post(
            &format!("/builds/{build}/dump"),
            &[("csrf", &csrf), ("format", "tar")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("unknown dump format 'tar'"));
    let forged = browser
        .post(
            &format!("/builds/{build}/dump"),
            &[("csrf", "forged"), ("format", "zip")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}
