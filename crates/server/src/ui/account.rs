//! `/account`: the signed-in person's roles and API tokens (for the CLI:
//! `slipway --server URL --token TOKEN`). A new token is shown once.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use slipway_control::{ApiToken, Membership, SecretHash};

use super::views::Chrome;
use super::CsrfForm;
use super::{render, UiError};
use crate::auth::{new_token, Viewer};
use crate::proxy::access::redirect;
use crate::SharedState;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    memberships: Vec<Membership>,
    tokens: Vec<TokenRow>,
    created: Option<String>,
    server: String,
}

/// An API token as its row shows it: times as the API writes them.
struct TokenRow {
    id: i64,
    name: String,
    created_at: String,
    last_used_at: Option<String>,
}

impl TokenRow {
    fn new(token: ApiToken) -> TokenRow {
        TokenRow {
            id: token.id,
            name: token.name,
            created_at: slipway_api::timestamp::format(token.created_at),
            last_used_at: token.last_used_at.map(slipway_api::timestamp::format),
        }
    }
}

async fn account_page(
    state: &SharedState,
    viewer: &Viewer,
    created: Option<String>,
) -> Result<Response, UiError> {
    let session = state.control.session().await?;
    let user_id = viewer.session.user.id;
    let memberships = slipway_control::memberships(&session, user_id).await?;
    let tokens = slipway_control::list_api_tokens(&session, user_id)
        .await?
        .into_iter()
        .map(TokenRow::new)
        .collect();
    Ok(render(
        state,
        &AccountPage {
            chrome: Chrome::for_viewer(viewer, "Account"),
            memberships,
            tokens,
            created,
            server: state.proxy.addresses.ui_origin(),
        },
    ))
}

pub async fn page(State(state): State<SharedState>, viewer: Viewer) -> Result<Response, UiError> {
    account_page(&state, &viewer, None).await
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    csrf: String,
    name: String,
}

pub async fn create_token(
    State(state): State<SharedState>,
    viewer: Viewer,
    Form(form): Form<NewTokenForm>,
) -> Result<Response, UiError> {
    viewer.check_csrf(&form.csrf)?;
    let token = format!("slw_{}", new_token());
    let session = state.control.session().await?;
    slipway_control::create_api_token(
        &session,
        viewer.session.user.id,
        form.name.trim(),
        &SecretHash::of(&token),
    )
    .await?;
    tracing::info!(
        login = viewer.login(),
        name = form.name.trim(),
        "API token created"
    );
    account_page(&state, &viewer, Some(token)).await
}

pub async fn revoke_token(
    State(state): State<SharedState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    viewer.check_csrf(&form.csrf)?;
    let session = state.control.session().await?;
    slipway_control::revoke_api_token(&session, viewer.session.user.id, id).await?;
    tracing::info!(login = viewer.login(), token = id, "API token revoked");
    Ok(redirect("/account"))
}
