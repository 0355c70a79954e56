//! What the UI answers when something is refused or goes wrong: an HTML page
//! with the status and what to do, never internals (those go to the log).

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use slipway_control::ControlError;

use super::views::Chrome;
use crate::ApiError;

#[derive(Debug)]
pub enum UiError {
    /// No session, or it ended: to the login page, then back to `next`.
    LoginRequired { next: String, expired: bool },
    /// A state-changing request without the session's CSRF token.
    Csrf,
    /// Refused or failed, with the status and words of the API.
    Api(ApiError),
}

impl From<ApiError> for UiError {
    fn from(error: ApiError) -> UiError {
        UiError::Api(error)
    }
}

impl From<ControlError> for UiError {
    fn from(error: ControlError) -> UiError {
        UiError::Api(error.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    reason: &'static str,
    message: String,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            UiError::LoginRequired { next, expired } => {
                let next = super::local_path(&next).unwrap_or("/");
                let mut location = format!("/login?next={}", super::encode_query(next));
                if expired {
                    location.push_str("&expired=1");
                }
                let mut response = (StatusCode::SEE_OTHER, "").into_response();
                if let Ok(value) = HeaderValue::from_str(&location) {
                    // htmx follows `HX-Redirect` for its partial requests.
                    response.headers_mut().insert("hx-redirect", value.clone());
                    response.headers_mut().insert(header::LOCATION, value);
                }
                return response;
            }
            UiError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form was not sent from a page of this slipway session (its security \
                 token is missing or wrong): reload the page and try again."
                    .to_string(),
            ),
            UiError::Api(error) => (error.status, error.message),
        };
        let page = ErrorPage {
            chrome: Chrome::anonymous("slipway"),
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| "slipway: error".to_string());
        let mut response = (status, Html(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                 object-src 'none'; base-uri 'none'; frame-ancestors 'self'",
            ),
        );
        response
    }
}
