//! The one place where domain errors become HTTP responses, by surface:
//!
//! * OAuth endpoints: [`OAuthError`] → RFC 6749 §5.2 JSON (`invalid_client`
//!   is 401 with `WWW-Authenticate`), `Cache-Control: no-store`;
//! * the org API: [`ApiError`] (and [`OrgError`], [`DryRunError`],
//!   [`AuthError`] through it) → `{"error", "error_description"}` (SPEC §5),
//!   RFC 6750 challenges for token problems;
//! * browser pages: [`internal_page`] → the HTML error page.
//!
//! Internal causes are logged, never sent to the client.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::DbError;
use crate::http::api::AuthError;
use crate::issuance::DryRunError;
use crate::oauth::OAuthError;
use crate::orgs::OrgError;

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: String,
    pub error_description: String,
}

const INTERNAL: &str = "The server hit an unexpected condition; it has been logged.";

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

impl From<OrgError> for ApiError {
    fn from(e: OrgError) -> Self {
        match e {
            OrgError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            OrgError::Forbidden(m) => ApiError::forbidden(m),
            OrgError::Conflict(m) => ApiError::conflict(m),
            OrgError::Gone(m) => ApiError::new(StatusCode::GONE, "gone", m),
            OrgError::Invalid { field, message } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                format!("{field}: {message}"),
            ),
            OrgError::Db(e) => ApiError::internal(e),
            OrgError::Unavailable(e) => ApiError::internal(e),
        }
    }
}

impl From<DryRunError> for ApiError {
    fn from(e: DryRunError) -> Self {
        match e {
            DryRunError::Invalid { field, message } => {
                ApiError::unprocessable(format!("{field}: {message}"))
            }
            DryRunError::Db(e) => ApiError::internal(e),
        }
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
                    error_description: INTERNAL.into(),
                }
            }
        };
        HttpResponse::build(self.status_code())
            .insert_header(("Cache-Control", "no-store"))
            .json(body)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidClient(_) => StatusCode::UNAUTHORIZED,
            Self::ServerError(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// RFC 6749 §5.2 JSON body, `Cache-Control: no-store`, and for
    /// `invalid_client` a 401 with `WWW-Authenticate`.
    fn error_response(&self) -> HttpResponse {
        if let Self::ServerError(cause) = self {
            tracing::error!(%cause, "oauth server error");
        }
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header(("Cache-Control", "no-store"))
            .insert_header(("Pragma", "no-cache"));
        if matches!(self, Self::InvalidClient(_)) {
            res.insert_header((
                "WWW-Authenticate",
                r#"Basic realm="tessera", charset="UTF-8""#,
            ));
        }
        res.json(serde_json::json!({
            "error": self.code(),
            "error_description": self.description(),
        }))
    }
}

/// RFC 6750 errors for the API: JSON body plus `WWW-Authenticate`.
impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Missing(_) | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, challenge) = match self {
            Self::Missing(_) => ("invalid_request", r#"Bearer realm="tessera""#.to_string()),
            Self::InvalidToken(d) => (
                "invalid_token",
                format!(
                    r#"Bearer realm="tessera", error="invalid_token", error_description="{}""#,
                    d.replace('"', "'")
                ),
            ),
            Self::InsufficientScope(_) => (
                "insufficient_scope",
                r#"Bearer realm="tessera", error="insufficient_scope""#.to_string(),
            ),
            Self::Api(e) => return e.error_response(),
        };
        HttpResponse::build(self.status_code())
            .insert_header((header::WWW_AUTHENTICATE, challenge))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({"error": code, "error_description": self.to_string()}))
    }
}

/// The HTML error page for a failure on our side during a browser flow.
pub fn internal_page(e: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "login failed internally");
    crate::http::pages::error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side. Please try again in a moment.",
        None,
    )
}
