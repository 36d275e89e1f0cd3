//! The hosted login pages and the upstream round trip: `GET /login`,
//! `GET /login/{connection}`, `POST /callback/dev`, `GET /callback/{connection}`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::authorize::{
    context, load_tx, login_response, redirect_error, see_other, tx_problem_page, TxQuery,
};
use super::pages::{self, qs};
use crate::app::AppState;
use crate::db::models::LoginTransaction;
use crate::oauth::authorize::{self, TxProblem};
use crate::oauth::session::BROWSER_COOKIE;
use crate::oauth::OAuthError;
use crate::secrets;
use crate::upstream::dev::{self, DevAnswer};
use crate::upstream::{Connection, Pending, UpstreamError};

fn not_enabled() -> HttpResponse {
    pages::error_page(
        StatusCode::NOT_FOUND,
        "This login method is not enabled.",
        None,
    )
}

/// An enabled connection named in the path, else `None`.
fn enabled(state: &AppState, name: &str) -> Option<Connection> {
    name.parse::<Connection>()
        .ok()
        .filter(|c| state.connectors.is_enabled(*c))
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
    pages::render(
        StatusCode::OK,
        pages::login(&connections, &tx.id, state.connectors.dev),
    )
}

/// `GET /login/{connection}?tx=…`: to the upstream (or the dev form).
pub async fn login_connection(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<TxQuery>,
) -> HttpResponse {
    let Some(connection) = enabled(&state, &path.into_inner()) else {
        return not_enabled();
    };
    let tx = match load_tx(&state, &req, q.into_inner().tx).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    if connection == Connection::Dev {
        return dev_form(&tx);
    }
    let callback = format!("{}/callback/{connection}", state.settings.issuer);
    let Some(started) = state.connectors.start(connection, &callback).await else {
        return not_enabled();
    };
    let start = match started {
        Ok(s) => s,
        Err(e) => return upstream_failure(connection, &tx, e),
    };
    let tx_id = tx.id.clone();
    let state_hash = secrets::hash_token(&start.state);
    let (verifier, nonce) = (start.verifier.clone(), start.nonce.clone());
    let saved = state
        .db
        .run(move |conn| {
            authorize::remember_upstream(
                conn,
                &tx_id,
                &state_hash,
                verifier.as_deref(),
                nonce.as_deref(),
            )
            .map_err(crate::db::DbError::from)
        })
        .await;
    match saved {
        Ok(_) => see_other(&start.url),
        Err(e) => crate::http::error::internal_page(&e),
    }
}

fn upstream_failure(
    connection: Connection,
    tx: &LoginTransaction,
    e: UpstreamError,
) -> HttpResponse {
    let retry = format!("/login?tx={}", qs(&tx.id));
    match e {
        UpstreamError::Unavailable(cause) => {
            tracing::warn!(%connection, %cause, "upstream login failed");
            pages::error_page(
                StatusCode::BAD_GATEWAY,
                &format!(
                    "{} did not answer as expected. Please try again.",
                    connection.display_name()
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
    pages::render(StatusCode::OK, pages::dev_login(&tx.id, hint))
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
    let profile = match dev::profile(DevAnswer {
        email: form.email,
        name: form.name,
        email_verified: form.email_verified.as_deref() == Some("true"),
    }) {
        Ok(p) => p,
        Err(e) => {
            return pages::error_page(
                StatusCode::BAD_REQUEST,
                &e.to_string(),
                Some(&format!("/login/dev?tx={}", qs(&tx.id))),
            )
        }
    };
    let done = state
        .issuance
        .complete_login(tx, profile, &context(&req))
        .await;
    login_response(&state, done)
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
    let name = path.into_inner();
    let q = q.into_inner();
    let Some(upstream_state) = q.state.filter(|s| s.len() <= 512) else {
        return tx_problem_page(TxProblem::Unknown);
    };
    let browser = req.cookie(BROWSER_COOKIE).map(|c| c.value().to_string());
    let now = state.clock.now_naive();
    let found = state
        .db
        .run(move |conn| {
            authorize::load_by_upstream_state(conn, &upstream_state, browser.as_deref(), now)
                .map_err(crate::db::DbError::from)
        })
        .await;
    let tx = match found {
        Ok(Ok(tx)) => tx,
        Ok(Err(p)) => return tx_problem_page(p),
        Err(e) => return crate::http::error::internal_page(&e),
    };
    if let Some(err) = q.error {
        // The user declined upstream (or the upstream refused): tell the client.
        let desc = q
            .error_description
            .unwrap_or_else(|| format!("{name} returned {err}"));
        let tx_id = tx.id.clone();
        let deleted = state
            .db
            .run(move |conn| {
                authorize::delete_transaction(conn, &tx_id).map_err(crate::db::DbError::from)
            })
            .await;
        if let Err(e) = deleted {
            // The transaction expires on its own; the answer to the client stands.
            tracing::error!(error = %e, "deleting a declined login transaction failed");
        }
        return redirect_error(
            &state,
            &tx.redirect_uri,
            tx.state.as_deref(),
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
    let Some(connection) = enabled(&state, &name) else {
        return not_enabled();
    };
    let callback_url = format!("{}/callback/{connection}", state.settings.issuer);
    let pending = Pending {
        verifier: tx.upstream_verifier.clone(),
        nonce: tx.upstream_nonce.clone(),
    };
    let Some(result) = state
        .connectors
        .finish(connection, &callback_url, &code, &pending)
        .await
    else {
        return not_enabled();
    };
    match result {
        Ok(profile) => {
            let done = state
                .issuance
                .complete_login(tx, profile, &context(&req))
                .await;
            login_response(&state, done)
        }
        Err(e) => upstream_failure(connection, &tx, e),
    }
}
