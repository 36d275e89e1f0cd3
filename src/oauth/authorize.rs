//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1):
//! validation, the login transaction that carries it through the upstream
//! login, and issuing the authorization code.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::client::{self, Client};
use super::params::Params;
use super::pkce;
use super::scope::Scope;
use super::OAuthError;
use crate::config::Settings;
use crate::db::models::{AuthorizationCode, LoginTransaction, Session};
use crate::db::schema::{authorization_codes, login_transactions};
use crate::db::DbConn;
use crate::secrets;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    None,
    Login,
    SelectAccount,
}

impl Prompt {
    fn parse(s: &str) -> Result<Self, OAuthError> {
        let values: Vec<&str> = s.split(' ').filter(|v| !v.is_empty()).collect();
        if values.len() > 1 && values.contains(&"none") {
            return Err(OAuthError::InvalidRequest(
                "prompt=none cannot be combined with other values".into(),
            ));
        }
        // `consent` is accepted and ignored: Tessera has no consent screen for first-party apps.
        if values.contains(&"login") {
            return Ok(Self::Login);
        }
        if values.contains(&"select_account") {
            return Ok(Self::SelectAccount);
        }
        match values.first().copied() {
            Some("none") => Ok(Self::None),
            Some("consent") => Ok(Self::Login),
            Some(other) => Err(OAuthError::InvalidRequest(format!(
                "unsupported prompt value `{other}`"
            ))),
            None => Err(OAuthError::InvalidRequest("empty prompt".into())),
        }
    }
    fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Login => "login",
            Self::SelectAccount => "select_account",
        }
    }
}

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Scope,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<Prompt>,
    pub login_hint: Option<String>,
    pub max_age: Option<i64>,
    pub connection: Option<String>,
    pub organization: Option<String>,
    pub invitation: Option<String>,
    pub audience: Option<String>,
}

/// How a failed authorization request is answered.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Unknown client or unregistered redirect URI: show a page, never redirect (RFC 6749 §4.1.2.1).
    Page(String),
    /// Anything else: redirect to the client with `error`, `error_description`, `state`.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
    Internal(String),
}

impl From<diesel::result::Error> for AuthorizeError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Internal(e.to_string())
    }
}
impl From<crate::db::DbError> for AuthorizeError {
    fn from(e: crate::db::DbError) -> Self {
        Self::Internal(e.to_string())
    }
}

fn bounded(v: Option<String>, name: &str, max: usize) -> Result<Option<String>, OAuthError> {
    match v {
        Some(s) if s.len() > max => Err(OAuthError::InvalidRequest(format!(
            "{name} is too long (max {max})"
        ))),
        other => Ok(other),
    }
}

/// Validates the request. `connections` are the enabled upstream connections.
pub fn validate(
    conn: &mut DbConn,
    settings: &Settings,
    query: &str,
    connections: &[String],
) -> Result<(Client, AuthRequest), AuthorizeError> {
    let mut p = Params::parse(query).map_err(|e| AuthorizeError::Page(e.description()))?;
    let client_id = p
        .take("client_id")
        .ok_or_else(|| AuthorizeError::Page("The request has no client_id.".into()))?;
    let client = client::find(conn, &client_id)?.ok_or_else(|| {
        AuthorizeError::Page("Unknown client_id: this application is not registered.".into())
    })?;
    let redirect_uri =
        match p.take("redirect_uri") {
            Some(r) if client.has_redirect_uri(&r) => r,
            Some(_) => return Err(AuthorizeError::Page(
                "The redirect_uri is not registered for this application (exact match required)."
                    .into(),
            )),
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            None => {
                return Err(AuthorizeError::Page(
                    "The request has no redirect_uri.".into(),
                ))
            }
        };
    let state = p.take("state");
    let redirect = |error: OAuthError| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
    };
    let req = (|| {
        match p.take("response_type").as_deref() {
            Some("code") => {}
            Some(other) => {
                return Err(OAuthError::UnsupportedResponseType(format!(
                    "response_type `{other}` is not supported; use code"
                )))
            }
            None => {
                return Err(OAuthError::InvalidRequest(
                    "response_type is required".into(),
                ))
            }
        }
        if !client.allows_grant(super::grant_type::GrantType::AuthorizationCode) {
            return Err(OAuthError::UnauthorizedClient(
                "this client may not use the authorization code grant".into(),
            ));
        }
        if p.contains("request") || p.contains("request_uri") {
            return Err(OAuthError::InvalidRequest(
                "request objects are not supported".into(),
            ));
        }
        if let Some(mode) = p.take("response_mode") {
            if mode != "query" {
                return Err(OAuthError::InvalidRequest(format!(
                    "response_mode `{mode}` is not supported"
                )));
            }
        }
        let scope = Scope::parse(p.get("scope").unwrap_or(""))?;
        if let Some(bad) = scope.first_outside(&client.scopes) {
            return Err(OAuthError::InvalidScope(format!(
                "scope `{bad}` is not allowed for this client"
            )));
        }
        let code_challenge = p.take("code_challenge");
        let code_challenge_method = p.take("code_challenge_method");
        pkce::check_challenge(
            code_challenge.as_deref(),
            code_challenge_method.as_deref(),
            client.public,
        )?;
        let prompt = p.take("prompt").map(|s| Prompt::parse(&s)).transpose()?;
        let max_age = match p.take("max_age") {
            Some(s) => Some(s.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
                OAuthError::InvalidRequest("max_age must be a non-negative integer".into())
            })?),
            None => None,
        };
        let connection = p.take("connection");
        if let Some(c) = &connection {
            if !connections.iter().any(|x| x == c) {
                return Err(OAuthError::InvalidRequest(format!(
                    "connection `{c}` is not enabled"
                )));
            }
        }
        let audience = p.take("audience");
        if let Some(a) = &audience {
            super::grants::audiences(settings, &client, Some(a), &scope)?;
        }
        Ok(AuthRequest {
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.clone(),
            scope,
            state: bounded(state.clone(), "state", 2048)?,
            nonce: bounded(p.take("nonce"), "nonce", 512)?,
            code_challenge,
            code_challenge_method,
            prompt,
            login_hint: bounded(p.take("login_hint"), "login_hint", 320)?,
            max_age,
            connection,
            organization: bounded(p.take("organization"), "organization", 128)?,
            invitation: bounded(p.take("invitation"), "invitation", 256)?,
            audience,
        })
    })()
    .map_err(redirect)?;
    Ok((client, req))
}

/// Does this session satisfy the request, or must the user log in again?
pub fn session_satisfies(req: &AuthRequest, session: &Session, now: NaiveDateTime) -> bool {
    if matches!(
        req.prompt,
        Some(Prompt::Login) | Some(Prompt::SelectAccount)
    ) {
        return false;
    }
    match req.max_age {
        Some(max) => (now - session.auth_time).num_seconds() <= max,
        None => true,
    }
}

/// Stores the request while the user logs in upstream. Returns the transaction id.
pub fn begin_transaction(
    conn: &mut DbConn,
    req: &AuthRequest,
    browser_cookie: &str,
    now: NaiveDateTime,
    ttl: Duration,
) -> QueryResult<String> {
    let tx = LoginTransaction {
        id: secrets::new_token(),
        browser_hash: secrets::hash_token(browser_cookie),
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        scope: req.scope.to_string(),
        state: req.state.clone(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        code_challenge_method: req.code_challenge_method.clone(),
        prompt: req.prompt.map(|p| p.as_str().to_string()),
        login_hint: req.login_hint.clone(),
        max_age: req.max_age,
        connection: req.connection.clone(),
        organization: req.organization.clone(),
        invitation: req.invitation.clone(),
        audience: req.audience.clone(),
        upstream_state_hash: None,
        upstream_verifier: None,
        upstream_nonce: None,
        user_id: None,
        expires_at: now + ttl,
        created_at: now,
    };
    diesel::insert_into(login_transactions::table)
        .values(&tx)
        .execute(conn)?;
    Ok(tx.id)
}

/// Why a login transaction cannot be continued.
#[derive(Debug, PartialEq, Eq)]
pub enum TxProblem {
    Unknown,
    Expired,
    OtherBrowser,
}

/// Loads a live transaction and checks it belongs to this browser (login CSRF).
pub fn load_transaction(
    conn: &mut DbConn,
    id: &str,
    browser_cookie: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<Result<LoginTransaction, TxProblem>> {
    let tx: Option<LoginTransaction> = login_transactions::table
        .find(id)
        .select(LoginTransaction::as_select())
        .first(conn)
        .optional()?;
    Ok(check_transaction(tx, browser_cookie, now))
}

pub fn check_transaction(
    tx: Option<LoginTransaction>,
    browser_cookie: Option<&str>,
    now: NaiveDateTime,
) -> Result<LoginTransaction, TxProblem> {
    let tx = tx.ok_or(TxProblem::Unknown)?;
    if tx.expires_at <= now {
        return Err(TxProblem::Expired);
    }
    let bound = browser_cookie.is_some_and(|c| {
        secrets::ct_eq(
            secrets::hash_token(c).as_bytes(),
            tx.browser_hash.as_bytes(),
        )
    });
    if !bound {
        return Err(TxProblem::OtherBrowser);
    }
    Ok(tx)
}

pub fn request_of(tx: &LoginTransaction) -> AuthRequest {
    AuthRequest {
        client_id: tx.client_id.clone(),
        redirect_uri: tx.redirect_uri.clone(),
        scope: Scope::parse(&tx.scope).unwrap_or_default(),
        state: tx.state.clone(),
        nonce: tx.nonce.clone(),
        code_challenge: tx.code_challenge.clone(),
        code_challenge_method: tx.code_challenge_method.clone(),
        prompt: tx.prompt.as_deref().and_then(|p| Prompt::parse(p).ok()),
        login_hint: tx.login_hint.clone(),
        max_age: tx.max_age,
        connection: tx.connection.clone(),
        organization: tx.organization.clone(),
        invitation: tx.invitation.clone(),
        audience: tx.audience.clone(),
    }
}

/// Remembers what the upstream round trip needs at the callback: the hash of
/// the `state` sent upstream, the PKCE verifier and the nonce.
pub fn remember_upstream(
    conn: &mut DbConn,
    tx_id: &str,
    state_hash: &str,
    verifier: Option<&str>,
    nonce: Option<&str>,
) -> QueryResult<usize> {
    diesel::update(login_transactions::table.find(tx_id))
        .set((
            login_transactions::upstream_state_hash.eq(state_hash),
            login_transactions::upstream_verifier.eq(verifier),
            login_transactions::upstream_nonce.eq(nonce),
        ))
        .execute(conn)
}

/// The transaction an upstream callback belongs to, found by the hash of
/// the `state` it carries, checked like [`load_transaction`].
pub fn load_by_upstream_state(
    conn: &mut DbConn,
    upstream_state: &str,
    browser_cookie: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<Result<LoginTransaction, TxProblem>> {
    let tx: Option<LoginTransaction> = login_transactions::table
        .filter(login_transactions::upstream_state_hash.eq(secrets::hash_token(upstream_state)))
        .select(LoginTransaction::as_select())
        .first(conn)
        .optional()?;
    Ok(check_transaction(tx, browser_cookie, now))
}

pub fn delete_transaction(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(login_transactions::table.find(id)).execute(conn)
}

/// Issues a single-use authorization code bound to the client, redirect URI,
/// PKCE challenge, nonce and the session. Returns the code.
pub fn issue_code(
    conn: &mut DbConn,
    settings: &Settings,
    req: &AuthRequest,
    session: &Session,
    org_id: Option<String>,
    now: NaiveDateTime,
) -> QueryResult<String> {
    let code = secrets::new_token();
    let row = AuthorizationCode {
        code_hash: secrets::hash_token(&code),
        client_id: req.client_id.clone(),
        user_id: session.user_id.clone(),
        session_id: Some(session.id.clone()),
        redirect_uri: req.redirect_uri.clone(),
        scope: req.scope.to_string(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        code_challenge_method: req.code_challenge_method.clone(),
        audience: req.audience.clone(),
        org_id,
        connection: session.connection.clone(),
        auth_time: session.auth_time,
        expires_at: now + settings.tokens.code_ttl(),
        used_at: None,
        access_token_jti: None,
        access_token_expires_at: None,
        created_at: now,
        hook_claims: None,
    };
    diesel::insert_into(authorization_codes::table)
        .values(&row)
        .execute(conn)?;
    Ok(code)
}

/// The redirect back to the client: `code`, `state` and `iss` (RFC 9207),
/// or `error`, `error_description`, `state`, `iss`.
pub fn client_redirect(
    redirect_uri: &str,
    issuer: &str,
    result: Result<&str, &OAuthError>,
    state: Option<&str>,
) -> String {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return redirect_uri.to_string();
    };
    {
        let mut q = url.query_pairs_mut();
        match result {
            Ok(code) => {
                q.append_pair("code", code);
            }
            Err(e) => {
                q.append_pair("error", e.code());
                q.append_pair("error_description", &e.description());
            }
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", issuer);
    }
    url.to_string()
}
