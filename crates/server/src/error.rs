//! The one error type of the HTTP API: a status and a message for the client,
//! never internals (those go to the log).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use slipway_control::ControlError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(context: &str, error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "{context}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the server log has the details",
        )
    }
}

impl From<ControlError> for ApiError {
    fn from(error: ControlError) -> ApiError {
        use ControlError::*;
        let status = match &error {
            UnknownProject(_)
            | UnknownProjectId(_)
            | UnknownBranch { .. }
            | UnknownBranchId { .. }
            | UnknownBuild(_)
            | UnknownMail { .. }
            | UnknownUser(_)
            | UnknownToken(_)
            | UnknownBackup { .. }
            | UnknownTestInstance { .. } => StatusCode::NOT_FOUND,
            ProjectExists(_)
            | BuildInProgress { .. }
            | SecondProduction { .. }
            | DevelopmentToProduction { .. }
            | ProductionDemotion { .. }
            | NothingToBuild { .. }
            | NoProduction(_)
            | NotServing { .. }
            | LeaseLost { .. }
            | UserExists(_)
            | NotRestartable { .. }
            | BackupNotRestorable { .. }
            | NoVerifiedBackup(_)
            | TestInstanceExists { .. } => StatusCode::CONFLICT,
            InvalidProjectName(_)
            | InvalidSetting(_)
            | InvalidLogin(_)
            | Invalid(_)
            | InvalidTestInstanceName(_) => StatusCode::BAD_REQUEST,
            _ => return ApiError::internal("control database error", error),
        };
        ApiError::new(status, error.to_string())
    }
}

/// A word of a request that is not one of its list's (a stage, a role).
impl From<slipway_api::InvalidValue> for ApiError {
    fn from(error: slipway_api::InvalidValue) -> ApiError {
        ControlError::from(error).into()
    }
}

/// A project's limit that cannot be (memory too small, an allow-list entry
/// that is not an address and port).
impl From<slipway_api::InvalidLimit> for ApiError {
    fn from(error: slipway_api::InvalidLimit) -> ApiError {
        ApiError::bad_request(error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = slipway_api::ErrorBody {
            error: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}
