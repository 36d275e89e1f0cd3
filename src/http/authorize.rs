//! `GET /authorize`, the hosted login pages and the upstream callbacks.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::pages::{self, esc, qs};
use crate::accounts::{normalize_email, UpstreamProfile};
use crate::app::AppState;
use crate::db::models::LoginTransaction;
use crate::oauth::authorize::{self, AuthRequest, AuthorizeError, Prompt, TxProblem};
use crate::oauth::login::{self, LoginResult};
use crate::oauth::session::{self, BROWSER_COOKIE, SESSION_COOKIE};
use crate::oauth::OAuthError;
use crate::secrets;
use crate::upstream::{Connectors, Pending, UpstreamError};

fn cookie<'a>(state: &AppState, name: &'a str, value: String) -> Cookie<'a> {
    let mut c = Cookie::new(name, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c.set_secure(!state.settings.insecure_cookies_allowed());
    c
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn internal(e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "login failed internally");
    pages::error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side. Please try again in a moment.",
        None,
    )
}

fn redirect_error(state: &AppState, req: &AuthRequest, e: &OAuthError) -> HttpResponse {
    see_other(&authorize::client_redirect(
        &req.redirect_uri,
        &state.settings.issuer,
        Err(e),
        req.state.as_deref(),
    ))
}

enum Decision {
    Fail(AuthorizeError),
    Next(
        Box<AuthRequest>,
        Result<login::Next, OAuthError>,
        Option<String>,
    ),
    Login {
        tx: String,
        connection: Option<String>,
        browser: Option<String>,
    },
}

/// `GET /authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2).
pub async fn authorize(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let query = req.query_string().to_string();
    let session_cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
    let browser_cookie = req.cookie(BROWSER_COOKIE).map(|c| c.value().to_string());
    let now = state.clock.now_naive();
    let connections = state.connectors.enabled();
    let st = state.clone();
    let decision = state
        .db
        .run(move |conn| -> Result<Decision, crate::db::DbError> {
            let (_client, areq) =
                match authorize::validate(conn, &st.settings, &query, &connections) {
                    Ok(v) => v,
                    Err(AuthorizeError::Internal(e)) => {
                        return Err(crate::db::DbError::Internal(e))
                    }
                    Err(e) => return Ok(Decision::Fail(e)),
                };
            let (browser, new_browser) = match browser_cookie {
                Some(b) => (b, None),
                None => {
                    let b = secrets::new_token();
                    (b.clone(), Some(b))
                }
            };
            let session = match &session_cookie {
                Some(c) => session::find_live(conn, c, now)?,
                None => None,
            };
            if let Some(s) = session.filter(|s| authorize::session_satisfies(&areq, s, now)) {
                let next = login::from_session(conn, &st.settings, &areq, &s, &browser, now)
                    .map_err(|e| crate::db::DbError::Internal(e.to_string()))?;
                return Ok(Decision::Next(Box::new(areq), next, new_browser));
            }
            if areq.prompt == Some(Prompt::None) {
                return Ok(Decision::Fail(AuthorizeError::Redirect {
                    redirect_uri: areq.redirect_uri.clone(),
                    state: areq.state.clone(),
                    error: OAuthError::LoginRequired("the user is not logged in".into()),
                }));
            }
            let ttl = chrono::Duration::seconds(
                i64::try_from(st.settings.tokens.login_transaction_ttl_secs).unwrap_or(600),
            );
            let tx = authorize::begin_transaction(conn, &areq, &browser, now, ttl)?;
            // Home-realm discovery: a login_hint at a verified domain whose org
            // prefers a connection skips the chooser.
            let mut connection = areq.connection.clone();
            if let (None, Some(hint)) = (&connection, &areq.login_hint) {
                if let Some((_, Some(preferred))) = crate::orgs::domains::home_realm(conn, hint)? {
                    if connections.contains(&preferred) {
                        connection = Some(preferred);
                    }
                }
            }
            Ok(Decision::Login {
                tx,
                connection,
                browser: new_browser,
            })
        })
        .await;
    match decision {
        Err(e) => internal(e),
        Ok(Decision::Fail(AuthorizeError::Page(msg))) => {
            pages::error_page(StatusCode::BAD_REQUEST, &msg, None)
        }
        Ok(Decision::Fail(AuthorizeError::Internal(e))) => internal(e),
        Ok(Decision::Fail(AuthorizeError::Redirect {
            redirect_uri,
            state: st,
            error,
        })) => see_other(&authorize::client_redirect(
            &redirect_uri,
            &state.settings.issuer,
            Err(&error),
            st.as_deref(),
        )),
        Ok(Decision::Next(areq, Ok(next), browser)) => {
            let mut res = next_response(&state, &req, &areq, next).await;
            if let Some(b) = browser {
                let _ = res.add_cookie(&cookie(&state, BROWSER_COOKIE, b));
            }
            res
        }
        Ok(Decision::Next(areq, Err(e), _)) => redirect_error(&state, &areq, &e),
        Ok(Decision::Login {
            tx,
            connection,
            browser,
        }) => {
            let location = match connection {
                Some(c) => format!("/login/{c}?tx={}", qs(&tx)),
                None => format!("/login?tx={}", qs(&tx)),
            };
            let mut res = see_other(&location);
            if let Some(b) = browser {
                let _ = res.add_cookie(&cookie(&state, BROWSER_COOKIE, b));
            }
            res
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct TxQuery {
    tx: Option<String>,
}

fn tx_problem_page(p: TxProblem) -> HttpResponse {
    let msg = match p {
        TxProblem::Unknown => "This sign-in request is unknown or was already used. Go back to the application and sign in again.",
        TxProblem::Expired => "This sign-in request has expired. Go back to the application and sign in again.",
        TxProblem::OtherBrowser => "This sign-in was started in another browser or tab, so it cannot be finished here. Go back to the application and sign in again.",
    };
    pages::error_page(StatusCode::BAD_REQUEST, msg, None)
}

/// Loads the transaction named in the request, bound to this browser.
async fn load_tx(
    state: &AppState,
    req: &HttpRequest,
    tx: Option<String>,
) -> Result<LoginTransaction, HttpResponse> {
    let Some(tx) = tx.filter(|t| t.len() <= 128) else {
        return Err(tx_problem_page(TxProblem::Unknown));
    };
    let browser = req.cookie(BROWSER_COOKIE).map(|c| c.value().to_string());
    let now = state.clock.now_naive();
    match state
        .db
        .run(move |conn| {
            authorize::load_transaction(conn, &tx, browser.as_deref(), now)
                .map_err(crate::db::DbError::from)
        })
        .await
    {
        Ok(Ok(tx)) => Ok(tx),
        Ok(Err(p)) => Err(tx_problem_page(p)),
        Err(e) => Err(internal(e)),
    }
}

fn not_enabled() -> HttpResponse {
    pages::error_page(
        StatusCode::NOT_FOUND,
        "This login method is not enabled.",
        None,
    )
}

fn dev_warning() -> &'static str {
    r#"<p class="warning" role="alert"><strong>Development login.</strong> Anyone can sign in as anyone here. This connector must never be enabled in production.</p>"#
}

/// `GET /login?tx=…`: the connection chooser.
pub async fn login_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<TxQuery>,
) -> HttpResponse {
    let tx = match load_tx(&state, &req, q.into_inner().tx).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let connections = state.connectors.enabled();
    if connections.is_empty() {
        return pages::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "No login method is configured on this server.",
            None,
        );
    }
    let mut body =
        String::from(r#"<p>Choose how to sign in.</p><nav aria-label="Sign-in methods">"#);
    for c in &connections {
        body.push_str(&format!(
            r#"<a class="button" href="/login/{}?tx={}">Continue with {}</a>"#,
            esc(c),
            esc(&qs(&tx.id)),
            esc(Connectors::display_name(c))
        ));
    }
    body.push_str("</nav>");
    if state.connectors.dev {
        body.push_str(dev_warning());
    }
    pages::page(StatusCode::OK, "Sign in", &body)
}

/// `GET /login/{connection}?tx=…`: to the upstream (or the dev form).
pub async fn login_connection(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<TxQuery>,
) -> HttpResponse {
    let connection = path.into_inner();
    if !state.connectors.enabled().contains(&connection) {
        return not_enabled();
    }
    let tx = match load_tx(&state, &req, q.into_inner().tx).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let callback = format!("{}/callback/{connection}", state.settings.issuer);
    if connection == "dev" {
        return dev_form(&tx);
    }
    let Some(started) = state.connectors.start(&connection, &callback).await else {
        return not_enabled();
    };
    let start = match started {
        Ok(s) => s,
        Err(e) => return upstream_failure(&connection, &tx, e),
    };
    let tx_id = tx.id.clone();
    let state_hash = secrets::hash_token(&start.state);
    let (verifier, nonce) = (start.verifier.clone(), start.nonce.clone());
    let saved = state
        .db
        .run(move |conn| {
            use crate::db::schema::login_transactions as lt;
            use diesel::prelude::*;
            diesel::update(lt::table.find(&tx_id))
                .set((
                    lt::upstream_state_hash.eq(state_hash),
                    lt::upstream_verifier.eq(verifier),
                    lt::upstream_nonce.eq(nonce),
                ))
                .execute(conn)
                .map_err(crate::db::DbError::from)
        })
        .await;
    match saved {
        Ok(_) => see_other(&start.url),
        Err(e) => internal(e),
    }
}

fn upstream_failure(connection: &str, tx: &LoginTransaction, e: UpstreamError) -> HttpResponse {
    let retry = format!("/login?tx={}", qs(&tx.id));
    match e {
        UpstreamError::Unavailable(cause) => {
            tracing::warn!(connection, %cause, "upstream login failed");
            pages::error_page(
                StatusCode::BAD_GATEWAY,
                &format!(
                    "{} did not answer as expected. Please try again.",
                    Connectors::display_name(connection)
                ),
                Some(&retry),
            )
        }
        UpstreamError::Rejected(msg) => {
            pages::error_page(StatusCode::FORBIDDEN, &msg, Some(&retry))
        }
    }
}

fn dev_form(tx: &LoginTransaction) -> HttpResponse {
    let hint = tx.login_hint.as_deref().unwrap_or("");
    let body = format!(
        r#"{warning}
<form method="post" action="/callback/dev">
<input type="hidden" name="tx" value="{tx}">
<label for="email">Email</label>
<input id="email" name="email" type="email" required autocomplete="email" value="{hint}">
<label for="name">Name</label>
<input id="name" name="name" type="text" autocomplete="name">
<label><input type="checkbox" name="email_verified" value="true" checked> Treat the email as verified</label>
<button type="submit">Sign in</button>
</form>"#,
        warning = dev_warning(),
        tx = esc(&tx.id),
        hint = esc(hint),
    );
    pages::page(StatusCode::OK, "Dev sign-in", &body)
}

#[derive(Debug, Deserialize)]
pub struct DevForm {
    tx: Option<String>,
    email: Option<String>,
    name: Option<String>,
    email_verified: Option<String>,
}

/// `POST /callback/dev`: the dev form's answer.
pub async fn dev_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<DevForm>,
) -> HttpResponse {
    if !state.connectors.dev {
        return not_enabled();
    }
    let form = form.into_inner();
    let tx = match load_tx(&state, &req, form.tx).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let email = form.email.map(|e| normalize_email(&e)).unwrap_or_default();
    let valid = email.len() <= 320
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'));
    if !valid {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Enter a valid email address.",
            Some(&format!("/login/dev?tx={}", qs(&tx.id))),
        );
    }
    let name = form
        .name
        .filter(|n| !n.trim().is_empty())
        .map(|n| n.chars().take(200).collect::<String>());
    let verified = form.email_verified.as_deref() == Some("true");
    let profile = UpstreamProfile {
        provider: "dev".into(),
        subject: email.clone(),
        login: None,
        email: Some(email.clone()),
        email_verified: verified,
        name,
        picture: None,
        raw: serde_json::json!({"email": email}),
    };
    finish_login(&state, &req, tx, profile).await
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /callback/{connection}`: the upstream's redirect back.
pub async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<CallbackQuery>,
) -> HttpResponse {
    let connection = path.into_inner();
    let q = q.into_inner();
    let Some(upstream_state) = q.state.filter(|s| s.len() <= 512) else {
        return tx_problem_page(TxProblem::Unknown);
    };
    let browser = req.cookie(BROWSER_COOKIE).map(|c| c.value().to_string());
    let now = state.clock.now_naive();
    let hash = secrets::hash_token(&upstream_state);
    let found = state
        .db
        .run(move |conn| {
            use crate::db::schema::login_transactions as lt;
            use diesel::prelude::*;
            let tx: Option<LoginTransaction> = lt::table
                .filter(lt::upstream_state_hash.eq(&hash))
                .select(LoginTransaction::as_select())
                .first(conn)
                .optional()?;
            Ok::<_, crate::db::DbError>(authorize::check_transaction(tx, browser.as_deref(), now))
        })
        .await;
    let tx = match found {
        Ok(Ok(tx)) => tx,
        Ok(Err(p)) => return tx_problem_page(p),
        Err(e) => return internal(e),
    };
    if let Some(err) = q.error {
        // The user declined upstream (or the upstream refused): tell the client.
        let request = authorize::request_of(&tx);
        let desc = q
            .error_description
            .unwrap_or_else(|| format!("{connection} returned {err}"));
        let tx_id = tx.id.clone();
        let _ = state
            .db
            .run(move |conn| {
                authorize::delete_transaction(conn, &tx_id).map_err(crate::db::DbError::from)
            })
            .await;
        return redirect_error(
            &state,
            &request,
            &OAuthError::AccessDenied(desc.chars().take(300).collect()),
        );
    }
    let Some(code) = q.code.filter(|c| c.len() <= 2048) else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "The identity provider sent no authorization code.",
            Some(&format!("/login?tx={}", qs(&tx.id))),
        );
    };
    let callback_url = format!("{}/callback/{connection}", state.settings.issuer);
    let pending = Pending {
        verifier: tx.upstream_verifier.clone(),
        nonce: tx.upstream_nonce.clone(),
    };
    let Some(result) = state
        .connectors
        .finish(&connection, &callback_url, &code, &pending)
        .await
    else {
        return not_enabled();
    };
    match result {
        Ok(profile) => finish_login(&state, &req, tx, profile).await,
        Err(e) => upstream_failure(&connection, &tx, e),
    }
}

async fn finish_login(
    state: &AppState,
    req: &HttpRequest,
    tx: LoginTransaction,
    profile: UpstreamProfile,
) -> HttpResponse {
    let now = state.clock.now_naive();
    let ip = super::peer_ip(req);
    let st = state.clone();
    let done: Result<LoginResult, OAuthError> = state
        .db
        .run(move |conn| login::complete(conn, &st.settings, &tx, &profile, ip.as_deref(), now))
        .await;
    match done {
        Ok(Ok(done)) => {
            let mut res = next_response(state, req, &done.request, done.next).await;
            let _ = res.add_cookie(&cookie(state, SESSION_COOKIE, done.session_cookie));
            res
        }
        Ok(Err((request, e))) => redirect_error(state, &request, &e),
        Err(e) => internal(e),
    }
}

/// The redirect for what follows a login: the client with a code (after the
/// post-login actions), or the org picker.
async fn next_response(
    state: &AppState,
    req: &HttpRequest,
    request: &AuthRequest,
    next: login::Next,
) -> HttpResponse {
    match next {
        login::Next::Code(code) => match login_hooks(state, req, request, &code).await {
            Ok(()) => see_other(&authorize::client_redirect(
                &request.redirect_uri,
                &state.settings.issuer,
                Ok(&code),
                request.state.as_deref(),
            )),
            Err(e) => redirect_error(state, request, &e),
        },
        login::Next::PickOrg(tx) => see_other(&format!("/login/organization?tx={}", qs(&tx))),
    }
}

/// Runs the post-login actions for a freshly issued code: their claims are
/// stored on the code for the token exchange; a denial deletes the code and
/// becomes `access_denied` with the reason.
async fn login_hooks(
    state: &AppState,
    req: &HttpRequest,
    request: &AuthRequest,
    code: &str,
) -> Result<(), OAuthError> {
    use crate::db::models::AuthorizationCode;
    use crate::db::schema::authorization_codes as ac;
    use crate::hooks::{event, Trigger};
    use diesel::prelude::*;
    if !state.hooks.has(Trigger::PostLogin) {
        return Ok(());
    }
    let now = state.clock.now_naive();
    let hash = secrets::hash_token(code);
    let ip = super::peer_ip(req);
    let ua = super::user_agent(req);
    let org_param = request.organization.clone();
    let (h, ip2) = (hash.clone(), ip.clone());
    let (row, ev) = state
        .db
        .run(move |conn| {
            let row: AuthorizationCode = ac::table
                .find(&h)
                .select(AuthorizationCode::as_select())
                .first(conn)?;
            let user = crate::accounts::find_user(conn, &row.user_id)?
                .ok_or_else(|| OAuthError::server("user vanished"))?;
            let client = crate::oauth::client::find(conn, &row.client_id)?
                .ok_or_else(|| OAuthError::server("client vanished"))?;
            let ev = event::build(
                conn,
                event::EventInput {
                    trigger: Trigger::PostLogin,
                    transaction: "login",
                    user: Some(&user),
                    client: &client,
                    connection: Some(&row.connection),
                    organization: row.org_id.as_deref(),
                    scope: &row.scope,
                    audience: row.audience.as_deref(),
                    organization_param: org_param.as_deref(),
                    ip: ip2.as_deref(),
                    user_agent: ua.as_deref(),
                    now: now.and_utc().timestamp(),
                },
            )?;
            Ok::<_, OAuthError>((row, ev))
        })
        .await?;
    match state
        .hooks
        .run(Trigger::PostLogin, ev, &state.metrics)
        .await
        .0
    {
        Ok(out) => {
            let claims =
                serde_json::json!({"access": out.access_token_claims, "id": out.id_token_claims})
                    .to_string();
            let user_id = row.user_id.clone();
            state
                .db
                .run(move |conn| {
                    crate::db::dialect::write_tx(conn, |conn| {
                        diesel::update(ac::table.find(&hash))
                            .set(ac::hook_claims.eq(claims))
                            .execute(conn)?;
                        if let Some(meta) = &out.app_metadata {
                            event::persist_app_metadata(conn, &user_id, meta, now)?;
                        }
                        Ok::<_, OAuthError>(())
                    })
                })
                .await
        }
        Err(denied) => {
            let reason = denied.reason.clone();
            let h = hash.clone();
            state
                .db
                .run(move |conn| {
                    diesel::delete(ac::table.find(&h))
                        .execute(conn)
                        .map_err(OAuthError::from)
                })
                .await?;
            crate::http::token::record_denial(
                state,
                Some(row.user_id.clone()),
                row.org_id.clone(),
                row.client_id.clone(),
                denied,
                ip,
            )
            .await;
            Err(OAuthError::AccessDenied(reason))
        }
    }
}

/// `GET /login/organization?tx=…`: the org picker (client requires an org, user has several).
pub async fn org_picker(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<TxQuery>,
) -> HttpResponse {
    let tx = match load_tx(&state, &req, q.into_inner().tx).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(user_id) = tx.user_id.clone() else {
        return tx_problem_page(TxProblem::Unknown);
    };
    let listed = state
        .db
        .run(move |conn| {
            crate::orgs::org::memberships(conn, &user_id, None, 200)
                .map_err(crate::db::DbError::from)
        })
        .await;
    let memberships = match listed {
        Ok(m) => m,
        Err(e) => return internal(e),
    };
    let mut body = String::from(
        r#"<p>Choose the organization to continue with.</p><form method="post" action="/login/organization">"#,
    );
    body.push_str(&format!(
        r#"<input type="hidden" name="tx" value="{}">"#,
        esc(&tx.id)
    ));
    for m in &memberships {
        body.push_str(&format!(
            r#"<button type="submit" name="organization" value="{}">{} <small>({})</small></button>"#,
            esc(&m.organization.id),
            esc(&m.organization.name),
            esc(&m.role)
        ));
    }
    body.push_str("</form>");
    pages::page(StatusCode::OK, "Choose an organization", &body)
}

#[derive(Debug, Deserialize)]
pub struct PickForm {
    tx: Option<String>,
    organization: Option<String>,
}

/// `POST /login/organization`: the picker's choice.
pub async fn org_picked(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<PickForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let tx = match load_tx(&state, &req, form.tx).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(org) = form.organization.filter(|o| o.len() <= 128) else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Choose an organization.",
            Some(&format!("/login/organization?tx={}", qs(&tx.id))),
        );
    };
    let Some(session_cookie) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()) else {
        return tx_problem_page(TxProblem::OtherBrowser);
    };
    let now = state.clock.now_naive();
    let st = state.clone();
    let picked = state
        .db
        .run(move |conn| {
            let Some(session) = session::find_live(conn, &session_cookie, now)? else {
                return Ok(Err(
                    "Your session has ended. Go back to the application and sign in again."
                        .to_string(),
                ));
            };
            login::pick(conn, &st.settings, &tx, &session, &org, now)
        })
        .await;
    match picked {
        Ok(Ok((request, code))) => {
            next_response(&state, &req, &request, login::Next::Code(code)).await
        }
        Ok(Err(msg)) => pages::error_page(StatusCode::BAD_REQUEST, &msg, None),
        Err(e) => internal(e),
    }
}
