//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): checks the
//! request, ends the SSO session, and says where the browser goes next.

use chrono::NaiveDateTime;

use super::client;
use super::params::Params;
use super::session;
use crate::db::{DbConn, DbError};
use crate::tokens::keys::KeyStore;

/// Why a logout request is refused (the session is then left alone).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutProblem {
    #[error("{0}")]
    Malformed(String),
    #[error("The id_token_hint is not a valid ID token from this server.")]
    BadHint,
    #[error("client_id does not match the id_token_hint.")]
    ClientMismatch,
    #[error("post_logout_redirect_uri needs a client_id or an id_token_hint.")]
    NoClient,
    #[error("The post_logout_redirect_uri is not registered for this application.")]
    Unregistered,
    #[error("Invalid redirect.")]
    InvalidRedirect,
}

/// Checks `id_token_hint` (signed by us, for us; an expired hint is still a
/// valid hint), `client_id`, `post_logout_redirect_uri` (registered for that
/// client) and `state`; revokes the session named by `session_cookie`.
/// Returns the URL to redirect to, if any (with `state`).
pub fn logout(
    conn: &mut DbConn,
    keys: &KeyStore,
    issuer: &str,
    query: &str,
    session_cookie: Option<&str>,
    now: NaiveDateTime,
) -> Result<Result<Option<String>, LogoutProblem>, DbError> {
    let mut p = match Params::parse(query) {
        Ok(p) => p,
        Err(e) => return Ok(Err(LogoutProblem::Malformed(e.description()))),
    };
    let hinted_client = match p.take("id_token_hint") {
        Some(hint) => match keys.verify(&hint) {
            Ok((_, claims)) if claims.get("iss").and_then(|i| i.as_str()) == Some(issuer) => claims
                .get("aud")
                .and_then(|a| a.as_str())
                .map(str::to_string),
            _ => return Ok(Err(LogoutProblem::BadHint)),
        },
        None => None,
    };
    let client_id = match (p.take("client_id"), hinted_client) {
        (Some(a), Some(b)) if a != b => return Ok(Err(LogoutProblem::ClientMismatch)),
        (a, b) => a.or(b),
    };
    let post_logout = p.take("post_logout_redirect_uri");
    let logout_state = p.take("state");
    let target = match (post_logout, &client_id) {
        (None, _) => None,
        (Some(_), None) => return Ok(Err(LogoutProblem::NoClient)),
        (Some(uri), Some(cid)) => match client::find(conn, cid)? {
            Some(c) if c.post_logout_redirect_uris.contains(&uri) => Some(uri),
            _ => return Ok(Err(LogoutProblem::Unregistered)),
        },
    };
    if let Some(cookie) = session_cookie {
        session::revoke(conn, cookie, now)?;
    }
    let Some(uri) = target else {
        return Ok(Ok(None));
    };
    let Ok(mut url) = url::Url::parse(&uri) else {
        return Ok(Err(LogoutProblem::InvalidRedirect));
    };
    if let Some(s) = logout_state {
        url.query_pairs_mut().append_pair("state", &s);
    }
    Ok(Ok(Some(url.to_string())))
}
