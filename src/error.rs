//! The one place where domain errors become HTTP responses.
//!
//! Non-OAuth endpoints answer `{"error": "...", "error_description": "..."}`
//! (SPEC §5). Internal causes are logged, never sent to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::DbError;

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: String,
    pub error_description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{description}")]
    Client {
        status: StatusCode,
        code: &'static str,
        description: String,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self::Client {
            status,
            code,
            description: description.into(),
        }
    }
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
    pub fn unprocessable(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            description,
        )
    }
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }
    pub fn conflict(description: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", description)
    }
    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "insufficient_permission",
            description,
        )
    }
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Internal(e.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Client { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            Self::Client {
                code, description, ..
            } => ErrorBody {
                error: (*code).to_string(),
                error_description: description.clone(),
            },
            Self::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                ErrorBody {
                    error: "server_error".into(),
                    error_description:
                        "The server hit an unexpected condition; it has been logged.".into(),
                }
            }
        };
        HttpResponse::build(self.status_code())
            .insert_header(("Cache-Control", "no-store"))
            .json(body)
    }
}
