//! Logins at `/authorize`: the request with a live SSO session, a finished
//! upstream login, and the org picker's answer. Each ends in a code (after
//! the post-login actions, whose claims are kept on the code for the
//! exchange), the org picker, or an error for the client.

use super::actions::Subject;
use super::{Issuance, RequestContext};
use crate::accounts::UpstreamProfile;
use crate::db::models::{AuthorizationCode, LoginTransaction};
use crate::db::schema::authorization_codes as ac;
use crate::db::{dialect, DbConn, DbError};
use crate::hooks::event::{self, EventInput, Transaction};
use crate::hooks::Trigger;
use crate::oauth::authorize::{self, AuthRequest, AuthorizeError, Prompt};
use crate::oauth::grants::CodeClaims;
use crate::oauth::login::{self, Next};
use crate::oauth::{client, session, OAuthError};
use crate::secrets;

/// What `/authorize` was given.
#[derive(Debug)]
pub struct AuthorizeInput {
    /// The raw query string (parsed and validated here).
    pub query: String,
    pub session_cookie: Option<String>,
    pub browser_cookie: Option<String>,
    /// The names of the enabled connections.
    pub connections: Vec<String>,
}

/// Where the browser goes next.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Show this message on an error page and never redirect (unknown client,
    /// unregistered redirect URI — RFC 6749 §4.1.2.1 — or a bad picker answer).
    Page(String),
    /// Back to the client with the code, or with an error.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        result: Result<String, OAuthError>,
    },
    /// To the hosted login page, or straight to one connection.
    Login {
        tx: String,
        connection: Option<String>,
    },
    /// To the org picker of this transaction.
    PickOrg { tx: String },
}

impl LoginOutcome {
    fn redirect(request: &AuthRequest, result: Result<String, OAuthError>) -> Self {
        Self::Redirect {
            redirect_uri: request.redirect_uri.clone(),
            state: request.state.clone(),
            result,
        }
    }
}

/// The outcome and the cookies to set with it.
#[derive(Debug)]
pub struct LoginResponse {
    pub outcome: LoginOutcome,
    /// A new browser-binding cookie (`tessera_browser`).
    pub browser_cookie: Option<String>,
    /// A new SSO session cookie (`tessera_session`).
    pub session_cookie: Option<String>,
}

impl LoginResponse {
    fn of(outcome: LoginOutcome) -> Self {
        Self {
            outcome,
            browser_cookie: None,
            session_cookie: None,
        }
    }
}

/// What the database part of `/authorize` decided.
enum Decision {
    /// Refused before a login transaction exists: no browser cookie is set.
    Invalid(LoginOutcome),
    Done(LoginOutcome),
    Next(Box<AuthRequest>, Next),
}

impl Issuance {
    /// `GET /authorize`: validates the request; with a live session that
    /// satisfies it, issues the code (or asks for an org); else starts a
    /// login transaction (home-realm discovery may pick the connection).
    pub async fn authorize(
        &self,
        input: AuthorizeInput,
        ctx: &RequestContext,
    ) -> Result<LoginResponse, OAuthError> {
        let now = self.now();
        let settings = self.settings.clone();
        let (browser, new_browser) = match input.browser_cookie {
            Some(b) => (b, None),
            None => {
                let b = secrets::new_token();
                (b.clone(), Some(b))
            }
        };
        let session_cookie = input.session_cookie;
        let connections = input.connections;
        let query = input.query;
        let decision = self
            .db
            .run(move |conn| -> Result<Decision, OAuthError> {
                let (_client, areq) =
                    match authorize::validate(conn, &settings, &query, &connections) {
                        Ok(v) => v,
                        Err(AuthorizeError::Internal(e)) => return Err(OAuthError::server(e)),
                        Err(AuthorizeError::Page(msg)) => {
                            return Ok(Decision::Invalid(LoginOutcome::Page(msg)))
                        }
                        Err(AuthorizeError::Redirect {
                            redirect_uri,
                            state,
                            error,
                        }) => {
                            return Ok(Decision::Invalid(LoginOutcome::Redirect {
                                redirect_uri,
                                state,
                                result: Err(error),
                            }))
                        }
                    };
                let live = match &session_cookie {
                    Some(c) => session::find_live(conn, c, now)?,
                    None => None,
                };
                if let Some(s) = live.filter(|s| authorize::session_satisfies(&areq, s, now)) {
                    return Ok(
                        match login::from_session(conn, &settings, &areq, &s, &browser, now)? {
                            Ok(next) => Decision::Next(Box::new(areq), next),
                            Err(e) => Decision::Invalid(LoginOutcome::redirect(&areq, Err(e))),
                        },
                    );
                }
                if areq.prompt == Some(Prompt::None) {
                    return Ok(Decision::Invalid(LoginOutcome::redirect(
                        &areq,
                        Err(OAuthError::LoginRequired(
                            "the user is not logged in".into(),
                        )),
                    )));
                }
                let ttl = settings.tokens.login_transaction_ttl();
                let tx = authorize::begin_transaction(conn, &areq, &browser, now, ttl)?;
                // Home-realm discovery: a login_hint at a verified domain whose org
                // prefers a connection skips the chooser.
                let mut connection = areq.connection.clone();
                if let (None, Some(hint)) = (&connection, &areq.login_hint) {
                    if let Some((_, Some(preferred))) =
                        crate::orgs::domains::home_realm(conn, hint)?
                    {
                        if connections.contains(&preferred) {
                            connection = Some(preferred);
                        }
                    }
                }
                Ok(Decision::Done(LoginOutcome::Login { tx, connection }))
            })
            .await?;
        let (outcome, browser_cookie) = match decision {
            Decision::Invalid(outcome) => (outcome, None),
            Decision::Done(outcome) => (outcome, new_browser),
            Decision::Next(areq, next) => (self.after_login(&areq, next, ctx).await?, new_browser),
        };
        Ok(LoginResponse {
            outcome,
            browser_cookie,
            session_cookie: None,
        })
    }

    /// A finished upstream login (Google, GitHub, the dev form): provision,
    /// open the session, resolve the org, issue the code, run the actions.
    pub async fn complete_login(
        &self,
        tx: LoginTransaction,
        profile: UpstreamProfile,
        ctx: &RequestContext,
    ) -> Result<LoginResponse, OAuthError> {
        let now = self.now();
        let (settings, ip) = (self.settings.clone(), ctx.ip.clone());
        let done = self
            .db
            .run(move |conn| login::complete(conn, &settings, &tx, &profile, ip.as_deref(), now))
            .await?;
        match done {
            Ok(done) => {
                let outcome = self.after_login(&done.request, done.next, ctx).await?;
                Ok(LoginResponse {
                    outcome,
                    browser_cookie: None,
                    session_cookie: Some(done.session_cookie),
                })
            }
            Err((request, e)) => Ok(LoginResponse::of(LoginOutcome::redirect(&request, Err(e)))),
        }
    }

    /// The org picker's answer, for the session that logged in.
    pub async fn pick_org(
        &self,
        tx: LoginTransaction,
        session_cookie: String,
        organization: String,
        ctx: &RequestContext,
    ) -> Result<LoginResponse, OAuthError> {
        let now = self.now();
        let settings = self.settings.clone();
        let picked = self
            .db
            .run(move |conn| {
                let Some(live) = session::find_live(conn, &session_cookie, now)? else {
                    return Ok(Err(login::PickProblem::SessionEnded));
                };
                login::pick(conn, &settings, &tx, &live, &organization, now)
            })
            .await?;
        let outcome = match picked {
            Ok((request, code)) => self.after_login(&request, Next::Code(code), ctx).await?,
            Err(problem) => LoginOutcome::Page(problem.message().to_string()),
        };
        Ok(LoginResponse::of(outcome))
    }

    /// What follows a login: the client with a code (after the post-login
    /// actions), or the org picker.
    async fn after_login(
        &self,
        request: &AuthRequest,
        next: Next,
        ctx: &RequestContext,
    ) -> Result<LoginOutcome, OAuthError> {
        match next {
            // Any failure here (a denial, or server_error) goes back to the client.
            Next::Code(code) => match self.code_actions(request, &code, ctx).await {
                Ok(()) => Ok(LoginOutcome::redirect(request, Ok(code))),
                Err(e) => Ok(LoginOutcome::redirect(request, Err(e))),
            },
            Next::PickOrg(tx) => Ok(LoginOutcome::PickOrg { tx }),
        }
    }

    /// Runs the post-login actions for a freshly issued code: their claims are
    /// stored on the code for the token exchange; a denial deletes the code and
    /// becomes `access_denied` with the reason.
    async fn code_actions(
        &self,
        request: &AuthRequest,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<(), OAuthError> {
        if !self.hooks.has(Trigger::PostLogin) {
            return Ok(());
        }
        let now = self.now();
        let hash = secrets::hash_token(code);
        let (h, ctx2, org_param) = (hash.clone(), ctx.clone(), request.organization.clone());
        let (row, ev) = self
            .db
            .run(move |conn| {
                let row = load_code(conn, &h)?;
                let user = crate::accounts::find_user(conn, &row.user_id)?
                    .ok_or_else(|| OAuthError::server("user vanished"))?;
                let client = client::find(conn, &row.client_id)?
                    .ok_or_else(|| OAuthError::server("client vanished"))?;
                let ev = event::build(
                    conn,
                    EventInput {
                        trigger: Trigger::PostLogin,
                        transaction: Transaction::Login,
                        user: Some(&user),
                        client: &client,
                        connection: Some(&row.connection),
                        organization: row.org_id.as_deref(),
                        scope: &row.scope,
                        audience: row.audience.as_deref(),
                        organization_param: org_param.as_deref(),
                        ip: ctx2.ip.as_deref(),
                        user_agent: ctx2.user_agent.as_deref(),
                        now: now.and_utc().timestamp(),
                    },
                )?;
                Ok::<_, OAuthError>((row, ev))
            })
            .await?;
        let subject = Subject {
            user_id: Some(&row.user_id),
            org_id: row.org_id.as_deref(),
            client_id: &row.client_id,
        };
        match self.run_actions(Trigger::PostLogin, ev, subject, ctx).await {
            Ok(out) => {
                let claims = CodeClaims {
                    access: out.access_token_claims,
                    id: out.id_token_claims,
                }
                .encode();
                let (user_id, meta) = (row.user_id.clone(), out.app_metadata);
                self.db
                    .run(move |conn| {
                        dialect::write_tx(conn, |conn| {
                            use diesel::prelude::*;
                            diesel::update(ac::table.find(&hash))
                                .set(ac::hook_claims.eq(claims))
                                .execute(conn)?;
                            if let Some(meta) = &meta {
                                crate::accounts::merge_app_metadata(conn, &user_id, meta, now)?;
                            }
                            Ok::<_, OAuthError>(())
                        })
                    })
                    .await
            }
            Err(denied) => {
                self.db
                    .run(move |conn| {
                        use diesel::prelude::*;
                        diesel::delete(ac::table.find(&hash))
                            .execute(conn)
                            .map_err(OAuthError::from)
                    })
                    .await?;
                Err(OAuthError::AccessDenied(denied.reason))
            }
        }
    }
}

fn load_code(conn: &mut DbConn, hash: &str) -> Result<AuthorizationCode, DbError> {
    use diesel::prelude::*;
    Ok(ac::table
        .find(hash)
        .select(AuthorizationCode::as_select())
        .first(conn)?)
}
