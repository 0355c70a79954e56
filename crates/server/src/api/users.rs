//! Accounts, their project roles and API tokens. Accounts are managed by
//! slipway's administrators (and the host); a person may change their own
//! password and make their own tokens.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use slipway_api::{
    AddedUser, CreatedToken, NewPassword, NewToken, NewUser, ProjectRole, Role, RoleGiven, SetRole,
    User,
};
use slipway_control::SecretHash;

use super::body;
use crate::auth::{authorize_management, new_token, require_admin, Caller};
use crate::{ApiError, SharedState};

/// An administrator, or the account itself.
fn admin_or_self(caller: &Caller, login: &str) -> Result<(), ApiError> {
    match caller {
        Caller::User(user) if !user.is_admin && user.login != login => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "you can only do this for your own account",
        )),
        _ => Ok(()),
    }
}

/// Hashes off the async threads (argon2 takes tens of milliseconds).
async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || slipway_access::hash_password(&password))
        .await
        .map_err(|error| ApiError::internal("hashing a password", error))?
        .map_err(|error| match error {
            slipway_access::AccessError::PasswordTooShort
            | slipway_access::AccessError::PasswordTooLong => {
                ApiError::bad_request(error.to_string())
            }
            other => ApiError::internal("hashing a password", other),
        })
}

/// `GET /api/v1/users`: every account with its roles.
pub async fn list(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<User>>, ApiError> {
    require_admin(&caller, "manage accounts")?;
    let session = state.control.session().await?;
    let mut list = Vec::new();
    for user in slipway_control::list_users(&session).await? {
        let roles = slipway_control::memberships(&session, user.id).await?;
        list.push(User {
            login: user.login,
            admin: user.is_admin,
            created_at: user.created_at,
            roles: roles
                .into_iter()
                .map(|membership| ProjectRole {
                    project: membership.project,
                    role: membership.role,
                })
                .collect(),
        });
    }
    Ok(Json(list))
}

/// `POST /api/v1/users` `{"login", "password", "admin"?}`.
pub async fn add(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    new: Result<Json<NewUser>, JsonRejection>,
) -> Result<(StatusCode, Json<AddedUser>), ApiError> {
    require_admin(&caller, "manage accounts")?;
    let new = body(new)?;
    let password_hash = hash(new.password).await?;
    let session = state.control.session().await?;
    let user = slipway_control::add_user(&session, &new.login, &password_hash, new.admin).await?;
    tracing::info!(login = %user.login, admin = user.is_admin, by = caller.login(), "account added");
    Ok((
        StatusCode::CREATED,
        Json(AddedUser {
            login: user.login,
            admin: user.is_admin,
        }),
    ))
}

/// `DELETE /api/v1/users/{login}`.
pub async fn remove(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(login): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&caller, "manage accounts")?;
    let session = state.control.session().await?;
    slipway_control::remove_user(&session, &login).await?;
    tracing::info!(%login, by = caller.login(), "account removed");
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/users/{login}/password` `{"password"}`: every session of the
/// account ends.
pub async fn set_password(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(login): Path<String>,
    new: Result<Json<NewPassword>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    admin_or_self(&caller, &login)?;
    let new = body(new)?;
    let password_hash = hash(new.password).await?;
    let mut session = state.control.session().await?;
    slipway_control::set_password(&mut session, &login, &password_hash).await?;
    tracing::info!(%login, by = caller.login(), "password changed");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/users/{login}/tokens` `{"name"}` → `{"token"}`, shown once.
pub async fn create_token(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(login): Path<String>,
    new: Result<Json<NewToken>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    admin_or_self(&caller, &login)?;
    let new = body(new)?;
    let session = state.control.session().await?;
    let user = slipway_control::get_user(&session, &login).await?;
    let token = format!("slw_{}", new_token());
    let created = slipway_control::create_api_token(
        &session,
        user.id,
        new.name.trim(),
        &SecretHash::of(&token),
    )
    .await?;
    tracing::info!(%login, name = %created.name, by = caller.login(), "API token created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: created.id,
            name: created.name,
            token,
        }),
    ))
}

/// `PUT /api/v1/projects/{name}/members/{login}` `{"role"}`.
pub async fn set_role(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path((name, login)): Path<(String, String)>,
    role: Result<Json<SetRole>, JsonRejection>,
) -> Result<Json<RoleGiven>, ApiError> {
    let role: Role = body(role)?.role.parse()?;
    let session = state.control.session().await?;
    authorize_management(&session, &caller, &name).await?;
    slipway_control::set_role(&session, &name, &login, Some(role)).await?;
    tracing::info!(project = %name, %login, %role, by = caller.login(), "role given");
    Ok(Json(RoleGiven {
        project: name,
        login,
        role,
    }))
}

/// `DELETE /api/v1/projects/{name}/members/{login}`.
pub async fn remove_role(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path((name, login)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let session = state.control.session().await?;
    authorize_management(&session, &caller, &name).await?;
    slipway_control::set_role(&session, &name, &login, None).await?;
    tracing::info!(project = %name, %login, by = caller.login(), "role taken away");
    Ok(StatusCode::NO_CONTENT)
}
