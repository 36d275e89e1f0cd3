//! `GET /authorize` and the org picker: extract, one call into the issuance
//! service, map the outcome to a redirect, a page and cookies.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::pages::{self, qs};
use crate::app::AppState;
use crate::db::models::LoginTransaction;
use crate::issuance::{AuthorizeInput, LoginOutcome, LoginResponse, RequestContext};
use crate::oauth::authorize::{self, TxProblem};
use crate::oauth::session::{BROWSER_COOKIE, SESSION_COOKIE};
use crate::oauth::OAuthError;

/// The request context of the issuance service: peer IP and User-Agent.
pub fn context(req: &HttpRequest) -> RequestContext {
    RequestContext {
        ip: super::peer_ip(req),
        user_agent: super::user_agent(req),
    }
}

fn cookie<'a>(state: &AppState, name: &'a str, value: String) -> Cookie<'a> {
    let mut c = Cookie::new(name, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c.set_secure(!state.settings.insecure_cookies_allowed());
    c
}

pub(super) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The redirect back to the client with an error (RFC 6749 §4.1.2.1).
pub(super) fn redirect_error(
    state: &AppState,
    redirect_uri: &str,
    st: Option<&str>,
    e: &OAuthError,
) -> HttpResponse {
    see_other(&authorize::client_redirect(
        redirect_uri,
        &state.settings.issuer,
        Err(e),
        st,
    ))
}

/// Maps what the issuance service decided for a login to the response.
pub(super) fn login_response(
    state: &AppState,
    done: Result<LoginResponse, OAuthError>,
) -> HttpResponse {
    let done = match done {
        Ok(d) => d,
        Err(e) => return crate::http::error::internal_page(&e),
    };
    let mut res = match done.outcome {
        LoginOutcome::Page(msg) => pages::error_page(StatusCode::BAD_REQUEST, &msg, None),
        LoginOutcome::Redirect {
            redirect_uri,
            state: st,
            result,
        } => see_other(&authorize::client_redirect(
            &redirect_uri,
            &state.settings.issuer,
            result.as_deref(),
            st.as_deref(),
        )),
        LoginOutcome::Login { tx, connection } => see_other(&match connection {
            Some(c) => format!("/login/{c}?tx={}", qs(&tx)),
            None => format!("/login?tx={}", qs(&tx)),
        }),
        LoginOutcome::PickOrg { tx } => see_other(&format!("/login/organization?tx={}", qs(&tx))),
    };
    for (name, value) in [
        (BROWSER_COOKIE, done.browser_cookie),
        (SESSION_COOKIE, done.session_cookie),
    ] {
        if let Some(v) = value {
            if let Err(e) = res.add_cookie(&cookie(state, name, v)) {
                tracing::error!(error = %e, cookie = name, "setting a cookie failed");
            }
        }
    }
    res
}

/// `GET /authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2).
pub async fn authorize(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let input = AuthorizeInput {
        query: req.query_string().to_string(),
        session_cookie: req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()),
        browser_cookie: req.cookie(BROWSER_COOKIE).map(|c| c.value().to_string()),
        connections: state.connectors.enabled_names(),
    };
    let done = state.issuance.authorize(input, &context(&req)).await;
    login_response(&state, done)
}

#[derive(Debug, Deserialize)]
pub struct TxQuery {
    pub(super) tx: Option<String>,
}

pub(super) fn tx_problem_page(p: TxProblem) -> HttpResponse {
    let msg = match p {
        TxProblem::Unknown => "This sign-in request is unknown or was already used. Go back to the application and sign in again.",
        TxProblem::Expired => "This sign-in request has expired. Go back to the application and sign in again.",
        TxProblem::OtherBrowser => "This sign-in was started in another browser or tab, so it cannot be finished here. Go back to the application and sign in again.",
    };
    pages::error_page(StatusCode::BAD_REQUEST, msg, None)
}

/// Loads the transaction named in the request, bound to this browser.
pub(super) async fn load_tx(
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
        Err(e) => Err(crate::http::error::internal_page(&e)),
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
        Err(e) => return crate::http::error::internal_page(&e),
    };
    pages::render(StatusCode::OK, pages::org_picker(&tx.id, &memberships))
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
    let done = state
        .issuance
        .pick_org(tx, session_cookie, org, &context(&req))
        .await;
    login_response(&state, done)
}
