//! Accounts, roles, sessions, API tokens, tickets to builds' addresses, the
//! branches view's board, and requested restarts.

use std::time::Duration;

use slipway_control::{
    add_user, branch_board, build_access, builds_to_restart, create_api_token, create_session,
    create_ticket, delete_session, get_user, grant_build_access, live_session_user, mark_stopped,
    memberships, project_role, purge_expired, redeem_ticket, remove_user, request_restart,
    restart_failed, revoke_api_token, session_by_token, set_password, set_role, user_by_api_token,
    user_credentials, BuildTicket, ControlError, Role, SecretHash, SessionLifetime,
};

use crate::common::{project, sync, Db};

const LIFETIME: SessionLifetime = SessionLifetime {
    idle: Duration::from_secs(3600),
    absolute: Duration::from_secs(7 * 24 * 3600),
};

#[tokio::test]
async fn accounts_have_unique_valid_logins_and_never_expose_their_hash() {
    let db = Db::new("accounts").await;
    let client = db.connect().await;
    let ada = add_user(&client, "ada@example.com", "$argon2id$hash", false)
        .await
        .unwrap();
    assert!(!ada.is_admin);
    assert!(!format!("{ada:?}").contains("argon2"));
    assert!(matches!(
        add_user(&client, "ada@example.com", "x", true).await,
        Err(ControlError::UserExists(_))
    ));
    for bad in ["", "-ada", "a b", "<script>", &"x".repeat(129)] {
        let error = add_user(&client, bad, "x", false).await.unwrap_err();
        assert!(
            matches!(error, ControlError::InvalidLogin(_)),
            "{bad}: {error}"
        );
    }
    let (found, hash) = user_credentials(&client, "ada@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, hash.as_str()), (ada.id, "$argon2id$hash"));
    assert!(user_credentials(&client, "nobody").await.unwrap().is_none());
    let error = get_user(&client, "nobody").await.unwrap_err().to_string();
    assert!(error.contains("no user with login 'nobody'"), "{error}");
}

#[tokio::test]
async fn roles_are_per_project_and_go_with_the_account_or_the_project() {
    let db = Db::new("roles").await;
    let client = db.connect().await;
    let acme = project(&client, "acme").await;
    let globex = project(&client, "globex").await;
    let ada = add_user(&client, "ada", "x", false).await.unwrap();
    set_role(&client, "acme", "ada", Some(Role::Tester))
        .await
        .unwrap();
    set_role(&client, "acme", "ada", Some(Role::Developer))
        .await
        .unwrap();
    set_role(&client, "globex", "ada", Some(Role::Admin))
        .await
        .unwrap();
    assert_eq!(
        project_role(&client, ada.id, acme.id).await.unwrap(),
        Some(Role::Developer)
    );
    let names: Vec<(String, Role)> = memberships(&client, ada.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.project, m.role))
        .collect();
    assert_eq!(
        names,
        [
            ("acme".into(), Role::Developer),
            ("globex".into(), Role::Admin)
        ]
    );
    set_role(&client, "globex", "ada", None).await.unwrap();
    assert_eq!(
        project_role(&client, ada.id, globex.id).await.unwrap(),
        None
    );
    assert!(matches!(
        set_role(&client, "nope", "ada", Some(Role::Admin)).await,
        Err(ControlError::UnknownProject(_))
    ));
    assert!(matches!(
        set_role(&client, "acme", "nobody", Some(Role::Admin)).await,
        Err(ControlError::UnknownUser(_))
    ));
    remove_user(&client, "ada").await.unwrap();
    assert!(matches!(
        remove_user(&client, "ada").await,
        Err(ControlError::UnknownUser(_))
    ));
}

#[tokio::test]
async fn sessions_end_when_idle_at_their_absolute_limit_on_logout_and_on_a_new_password() {
    let db = Db::new("sessions").await;
    let mut client = db.connect().await;
    let ada = add_user(&client, "ada", "x", false).await.unwrap();
    let token = SecretHash::of("cookie-token");
    create_session(&client, ada.id, &token, "csrf", LIFETIME)
        .await
        .unwrap();
    let session = session_by_token(&client, &token, LIFETIME)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (session.user.login.as_str(), session.csrf_token.as_str()),
        ("ada", "csrf")
    );
    assert!(
        session_by_token(&client, &SecretHash::of("other"), LIFETIME)
            .await
            .unwrap()
            .is_none()
    );
    // Used, an idle session is pushed forward, never past the absolute limit.
    client
        .batch_execute(
            "UPDATE sessions SET expires_at = now() + interval '1 minute', \
                 last_seen_at = now() - interval '5 minutes', created_at = now() - interval '2 hours'",
        )
        .await
        .unwrap();
    let short = SessionLifetime {
        idle: Duration::from_secs(3600),
        absolute: Duration::from_secs(3 * 3600),
    };
    session_by_token(&client, &token, short)
        .await
        .unwrap()
        .unwrap();
    let left: f64 = client
        .query_one(
            "SELECT extract(epoch FROM expires_at - now())::float8 FROM sessions",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!((3500.0..=3600.0).contains(&left), "{left}");
    client
        .batch_execute("UPDATE sessions SET last_seen_at = now() - interval '5 minutes', created_at = now() - interval '170 minutes'")
        .await
        .unwrap();
    session_by_token(&client, &token, short)
        .await
        .unwrap()
        .unwrap();
    let left: f64 = client
        .query_one(
            "SELECT extract(epoch FROM expires_at - now())::float8 FROM sessions",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(left <= 600.0, "capped by the absolute limit: {left}");
    // Expired: gone for good, and purged.
    client
        .batch_execute("UPDATE sessions SET expires_at = now() - interval '1 second'")
        .await
        .unwrap();
    assert!(session_by_token(&client, &token, LIFETIME)
        .await
        .unwrap()
        .is_none());
    assert_eq!(purge_expired(&client).await.unwrap(), 1);
    // Logout, and a new password, end sessions.
    create_session(&client, ada.id, &token, "csrf", LIFETIME)
        .await
        .unwrap();
    delete_session(&client, &token).await.unwrap();
    assert!(session_by_token(&client, &token, LIFETIME)
        .await
        .unwrap()
        .is_none());
    create_session(&client, ada.id, &token, "csrf", LIFETIME)
        .await
        .unwrap();
    set_password(&mut client, "ada", "new hash").await.unwrap();
    assert!(session_by_token(&client, &token, LIFETIME)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn api_tokens_name_their_owner_until_revoked() {
    let db = Db::new("api_tokens").await;
    let client = db.connect().await;
    let ada = add_user(&client, "ada", "x", false).await.unwrap();
    let bob = add_user(&client, "bob", "x", false).await.unwrap();
    let token = SecretHash::of("slw_ada");
    let created = create_api_token(&client, ada.id, "laptop", &token)
        .await
        .unwrap();
    assert_eq!(
        user_by_api_token(&client, &token)
            .await
            .unwrap()
            .unwrap()
            .id,
        ada.id
    );
    let stored: String = client
        .query_one("SELECT token_sha256 FROM api_tokens", &[])
        .await
        .unwrap()
        .get(0);
    assert_ne!(stored, "slw_ada", "only the hash is stored");
    assert!(matches!(
        create_api_token(&client, ada.id, "", &SecretHash::of("t2")).await,
        Err(ControlError::InvalidSetting(_))
    ));
    assert!(matches!(
        revoke_api_token(&client, bob.id, created.id).await,
        Err(ControlError::UnknownToken(_))
    ));
    revoke_api_token(&client, ada.id, created.id).await.unwrap();
    assert!(user_by_api_token(&client, &token).await.unwrap().is_none());
}

#[tokio::test]
async fn a_ticket_is_redeemed_once_for_its_build_before_it_expires() {
    let db = Db::new("tickets").await;
    let mut client = db.connect().await;
    let acme = project(&client, "acme").await;
    sync(&mut client, &acme, &[("main", "m1")]).await;
    let branch: i64 = client
        .query_one("SELECT id FROM branches", &[])
        .await
        .unwrap()
        .get(0);
    let build = slipway_control::enqueue(
        &client,
        acme.id,
        branch,
        "m1",
        slipway_control::Stage::Production,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    let ada = add_user(&client, "ada", "x", false).await.unwrap();
    let cookie = SecretHash::of("session");
    let session = create_session(&client, ada.id, &cookie, "csrf", LIFETIME)
        .await
        .unwrap();
    let ticket = BuildTicket {
        session_id: session,
        build_id: build.id,
        odoo_login: Some("admin".into()),
        next_path: "/web".into(),
    };
    let token = SecretHash::of("ticket");
    create_ticket(&client, &token, &ticket, Duration::from_secs(60))
        .await
        .unwrap();
    // For another build, it is used up and opens nothing.
    assert!(redeem_ticket(&client, &token, build.id + 1)
        .await
        .unwrap()
        .is_none());
    assert!(redeem_ticket(&client, &token, build.id)
        .await
        .unwrap()
        .is_none());
    create_ticket(&client, &token, &ticket, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        redeem_ticket(&client, &token, build.id).await.unwrap(),
        Some(ticket.clone())
    );
    assert!(
        redeem_ticket(&client, &token, build.id)
            .await
            .unwrap()
            .is_none(),
        "once"
    );
    create_ticket(&client, &token, &ticket, Duration::ZERO)
        .await
        .unwrap();
    assert!(
        redeem_ticket(&client, &token, build.id)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    // The access it gives lives as long as the session.
    let access = SecretHash::of("access");
    grant_build_access(&client, &access, session, build.id)
        .await
        .unwrap();
    let (granted, user) = build_access(&client, &access).await.unwrap().unwrap();
    assert_eq!((granted, user.id), (build.id, ada.id));
    assert_eq!(
        live_session_user(&client, session)
            .await
            .unwrap()
            .unwrap()
            .id,
        ada.id
    );
    delete_session(&client, &cookie).await.unwrap();
    assert!(build_access(&client, &access).await.unwrap().is_none());
    assert!(live_session_user(&client, session).await.unwrap().is_none());
}

#[tokio::test]
async fn the_board_lists_production_first_then_by_newest_build_with_their_last_builds() {
    let db = Db::new("board").await;
    let mut client = db.connect().await;
    let acme = project(&client, "acme").await;
    let changes = sync(
        &mut client,
        &acme,
        &[("main", "m1"), ("old", "o1"), ("new", "n1"), ("idle", "i1")],
    )
    .await;
    let id = |name: &str| changes.created.iter().find(|b| b.name == name).unwrap().id;
    let mut queued = Vec::new();
    for (branch, commit) in [("old", "o1"), ("main", "m1"), ("new", "n1")] {
        let build = slipway_control::enqueue(
            &client,
            acme.id,
            id(branch),
            commit,
            slipway_control::Stage::Development,
            Duration::ZERO,
            &[],
        )
        .await
        .unwrap();
        queued.push(build.id);
    }
    let board = branch_board(&client, acme.id, 20, None).await.unwrap();
    let names: Vec<&str> = board.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["main", "new", "old", "idle"]);
    assert!(board[0].busy() && board[3].builds.is_empty() && !board[3].busy());
    assert_eq!(board[1].builds[0].id, queued[2]);
    let one = branch_board(&client, acme.id, 20, Some(id("old")))
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].builds[0].id, queued[0]);
}

#[tokio::test]
async fn a_stopped_build_is_started_again_on_request_unless_it_cannot_be() {
    let db = Db::new("restart_requests").await;
    let mut client = db.connect().await;
    let acme = project(&client, "acme").await;
    let changes = sync(&mut client, &acme, &[("main", "m1"), ("dev", "d1")]).await;
    let dev = changes.created.iter().find(|b| b.name == "dev").unwrap().id;
    let build = slipway_control::enqueue(
        &client,
        acme.id,
        dev,
        "d1",
        slipway_control::Stage::Development,
        Duration::ZERO,
        &[],
    )
    .await
    .unwrap();
    let refused = request_restart(&client, build.id)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("only a stopped build"), "{refused}");
    client
        .execute(
            "UPDATE builds SET state = 'serving', status = 'success', worker = 'w1', database = 'db', port = 9000 WHERE id = $1",
            &[&build.id],
        )
        .await
        .unwrap();
    mark_stopped(&client, build.id, "replaced").await.unwrap();
    let asked = request_restart(&client, build.id).await.unwrap();
    assert!(asked.reason.unwrap().contains("waiting for worker w1"));
    let ids: Vec<i64> = builds_to_restart(&client, "w1")
        .await
        .unwrap()
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, [build.id]);
    assert!(builds_to_restart(&client, "w2").await.unwrap().is_empty());
    restart_failed(&client, build.id, "it could not be started again: boom")
        .await
        .unwrap();
    assert!(builds_to_restart(&client, "w1").await.unwrap().is_empty());
    // Collected: nothing to start.
    client
        .execute(
            "UPDATE builds SET collected_at = now() WHERE id = $1",
            &[&build.id],
        )
        .await
        .unwrap();
    let refused = request_restart(&client, build.id)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("database was dropped"), "{refused}");
}

#[tokio::test]
async fn a_commit_url_must_be_an_http_address_with_the_commit_in_it() {
    let db = Db::new("commit_url").await;
    let client = db.connect().await;
    let mut new = crate::common::new_project("acme");
    for bad in [
        "https://example.com/commit/",
        "javascript:alert(1)//{commit}",
        "https://example.com/\"onload/{commit}",
    ] {
        new.settings.commit_url = Some(bad.to_string());
        let error = slipway_control::add_project(&client, &new)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("containing {commit}"), "{bad}: {error}");
    }
    new.settings.commit_url = Some("https://git.example.com/acme/commit/{commit}".into());
    let project = slipway_control::add_project(&client, &new).await.unwrap();
    assert_eq!(
        project.settings.commit_url.as_deref(),
        Some("https://git.example.com/acme/commit/{commit}")
    );
}
