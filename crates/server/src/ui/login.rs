//! Signing in and out. The login form is protected against cross-site
//! submission by a double-submit cookie (there is no session yet to hold a
//! CSRF token); failed attempts per login are throttled.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use slipway_control::SecretHash;

use super::views::Chrome;
use super::{local_path, render, UiError};
use crate::auth::cookies::{self, CookieOptions};
use crate::auth::session::{over_https, SESSION_COOKIE};
use crate::auth::{new_token, same_secret, Viewer, SESSION_LIFETIME};
use crate::proxy::access::redirect;
use crate::SharedState;

/// The login form's double-submit cookie.
const LOGIN_COOKIE: &str = "slipway_login";
/// Failed attempts on one login within [`THROTTLE_WINDOW`] before further
/// attempts are refused until the window ends.
const MAX_FAILURES: u32 = 10;
const THROTTLE_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Failed logins by account name, in memory (per server process).
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    fn blocked(&self, login: &str) -> bool {
        let failures = self.failures.lock().expect("login throttle");
        failures.get(login).is_some_and(|(count, since)| {
            *count >= MAX_FAILURES && since.elapsed() < THROTTLE_WINDOW
        })
    }

    fn failed(&self, login: &str) {
        let mut failures = self.failures.lock().expect("login throttle");
        failures.retain(|_, (_, since)| since.elapsed() < THROTTLE_WINDOW);
        let entry = failures
            .entry(login.to_string())
            .or_insert((0, Instant::now()));
        entry.0 += 1;
    }

    fn succeeded(&self, login: &str) {
        self.failures.lock().expect("login throttle").remove(login);
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    /// The double-submit token, also set as the login cookie.
    csrf: String,
    next: String,
    login: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

fn login_page(
    state: &SharedState,
    headers: &HeaderMap,
    status: StatusCode,
    mut page: LoginPage,
) -> Response {
    // The form carries the same token as the cookie.
    page.csrf = new_token();
    let mut response = render(state, &page);
    *response.status_mut() = status;
    cookies::set(
        response.headers_mut(),
        LOGIN_COOKIE,
        &page.csrf,
        CookieOptions {
            secure: over_https(headers, state.proxy.addresses.https()),
            max_age: Some(Duration::from_secs(3600)),
        },
    );
    response
}

pub async fn form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    viewer: Option<Viewer>,
    Query(query): Query<LoginQuery>,
) -> Response {
    let next = query
        .next
        .as_deref()
        .and_then(local_path)
        .unwrap_or("/")
        .to_string();
    if viewer.is_some() {
        return redirect(&next);
    }
    let notice = query
        .expired
        .is_some()
        .then_some("Your session ended: sign in again.");
    login_page(
        &state,
        &headers,
        StatusCode::OK,
        LoginPage {
            chrome: Chrome::anonymous("Sign in"),
            csrf: String::new(),
            next,
            login: String::new(),
            error: None,
            notice,
        },
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
    csrf: String,
    #[serde(default)]
    next: String,
}

pub async fn submit(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, UiError> {
    let expected = cookies::get(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(expected.as_bytes(), form.csrf.as_bytes()) {
        return Err(UiError::Csrf);
    }
    let next = local_path(&form.next).unwrap_or("/").to_string();
    let refuse = |message: &str| {
        login_page(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            LoginPage {
                chrome: Chrome::anonymous("Sign in"),
                csrf: String::new(),
                next: next.clone(),
                login: form.login.clone(),
                error: Some(message.to_string()),
                notice: None,
            },
        )
    };
    if state.logins.blocked(&form.login) {
        tracing::warn!(login = %form.login, "login throttled");
        return Ok(refuse(
            "Too many failed attempts for this login: wait a few minutes.",
        ));
    }
    let session = state.control.session().await?;
    let credentials = slipway_control::user_credentials(&session, &form.login).await?;
    let (user, hash) = match credentials {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let password = form.password.clone();
    // argon2 takes tens of milliseconds of CPU: off the async threads.
    let matches = tokio::task::spawn_blocking(move || {
        slipway_access::verify_password(&password, hash.as_deref())
    })
    .await
    .map_err(|error| crate::ApiError::internal("verifying a password", error))?;
    let Some(user) = user.filter(|_| matches) else {
        state.logins.failed(&form.login);
        tracing::info!(login = %form.login, "failed login");
        return Ok(refuse("Wrong login or password."));
    };
    state.logins.succeeded(&form.login);
    let token = new_token();
    slipway_control::create_session(
        &session,
        user.id,
        &SecretHash::of(&token),
        &new_token(),
        SESSION_LIFETIME,
    )
    .await?;
    tracing::info!(login = %user.login, "signed in");
    let mut response = redirect(&next);
    cookies::clear(response.headers_mut(), LOGIN_COOKIE);
    cookies::set(
        response.headers_mut(),
        SESSION_COOKIE,
        &token,
        CookieOptions {
            secure: over_https(&headers, state.proxy.addresses.https()),
            max_age: Some(SESSION_LIFETIME.absolute),
        },
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

pub async fn logout(
    State(state): State<SharedState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, UiError> {
    viewer.check_csrf(&form.csrf)?;
    if let Some(token) = cookies::get(&headers, SESSION_COOKIE) {
        let session = state.control.session().await?;
        // Every build address it opened closes with it (cascade).
        slipway_control::delete_session(&session, &SecretHash::of(token)).await?;
    }
    tracing::info!(login = viewer.login(), "signed out");
    let mut response = redirect("/login").into_response();
    cookies::clear(response.headers_mut(), SESSION_COOKIE);
    Ok(response)
}
