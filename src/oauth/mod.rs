//! The OAuth 2.0 / OIDC protocol: clients and their authentication, the
//! authorization request, the grants, introspection and revocation.
//! No HTTP here: handlers live in `src/http`, and `crate::http::error` maps
//! [`OAuthError`] to its response.

pub mod authorize;
pub mod client;
pub mod grant_type;
pub mod grants;
pub mod introspect;
pub mod login;
pub mod logout;
pub mod params;
pub mod pkce;
pub mod revoke;
pub mod scope;
pub mod session;

use crate::db::DbError;
use crate::tokens::keys::KeyError;

/// OAuth errors with their RFC 6749 §5.2 / RFC 7009 / OIDC Core names.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidClient(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("{0}")]
    UnsupportedGrantType(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    InvalidTarget(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    UnsupportedResponseType(String),
    #[error("{0}")]
    UnsupportedTokenType(String),
    #[error("{0}")]
    LoginRequired(String),
    #[error("internal: {0}")]
    ServerError(String),
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::AccessDenied(_) => "access_denied",
            Self::UnsupportedResponseType(_) => "unsupported_response_type",
            Self::UnsupportedTokenType(_) => "unsupported_token_type",
            Self::LoginRequired(_) => "login_required",
            Self::ServerError(_) => "server_error",
        }
    }

    /// The description sent to the client (never an internal cause).
    pub fn description(&self) -> String {
        match self {
            Self::ServerError(_) => {
                "The server hit an unexpected condition; it has been logged.".into()
            }
            other => other.to_string(),
        }
    }

    pub fn server(cause: impl std::fmt::Display) -> Self {
        Self::ServerError(cause.to_string())
    }
}

impl From<DbError> for OAuthError {
    fn from(e: DbError) -> Self {
        Self::ServerError(e.to_string())
    }
}

impl From<diesel::result::Error> for OAuthError {
    fn from(e: diesel::result::Error) -> Self {
        Self::ServerError(e.to_string())
    }
}

impl From<KeyError> for OAuthError {
    fn from(e: KeyError) -> Self {
        Self::ServerError(e.to_string())
    }
}
