//! `GET /logout`: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

use actix_web::cookie::Cookie;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::pages;
use crate::app::AppState;
use crate::oauth::client;
use crate::oauth::params::Params;
use crate::oauth::session::{self, SESSION_COOKIE};

pub async fn logout(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let mut p = match Params::parse(req.query_string()) {
        Ok(p) => p,
        Err(e) => return pages::error_page(StatusCode::BAD_REQUEST, &e.description(), None),
    };
    // id_token_hint: signed by us, for us; an expired hint is still a valid hint.
    let hinted_client = match p.take("id_token_hint") {
        Some(hint) => match state.keys.verify(&hint) {
            Ok((_, claims))
                if claims.get("iss").and_then(|i| i.as_str())
                    == Some(state.settings.issuer.as_str()) =>
            {
                claims
                    .get("aud")
                    .and_then(|a| a.as_str())
                    .map(str::to_string)
            }
            _ => {
                return pages::error_page(
                    StatusCode::BAD_REQUEST,
                    "The id_token_hint is not a valid ID token from this server.",
                    None,
                )
            }
        },
        None => None,
    };
    let client_id = match (p.take("client_id"), hinted_client) {
        (Some(a), Some(b)) if a != b => {
            return pages::error_page(
                StatusCode::BAD_REQUEST,
                "client_id does not match the id_token_hint.",
                None,
            )
        }
        (a, b) => a.or(b),
    };
    let post_logout = p.take("post_logout_redirect_uri");
    let logout_state = p.take("state");
    let target = match (&post_logout, &client_id) {
        (None, _) => None,
        (Some(_), None) => {
            return pages::error_page(
                StatusCode::BAD_REQUEST,
                "post_logout_redirect_uri needs a client_id or an id_token_hint.",
                None,
            )
        }
        (Some(uri), Some(cid)) => {
            let (uri, cid) = (uri.clone(), cid.clone());
            let found = state
                .db
                .run(move |conn| client::find(conn, &cid).map_err(crate::db::DbError::from))
                .await;
            match found {
                Ok(Some(c)) if c.post_logout_redirect_uris.contains(&uri) => Some(uri),
                Ok(_) => {
                    return pages::error_page(
                        StatusCode::BAD_REQUEST,
                        "The post_logout_redirect_uri is not registered for this application.",
                        None,
                    )
                }
                Err(e) => {
                    tracing::error!(error = %e, "logout failed");
                    return pages::error_page(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Something went wrong.",
                        None,
                    );
                }
            }
        }
    };
    if let Some(c) = req.cookie(SESSION_COOKIE) {
        let value = c.value().to_string();
        let now = state.clock.now_naive();
        if let Err(e) = state
            .db
            .run(move |conn| session::revoke(conn, &value, now).map_err(crate::db::DbError::from))
            .await
        {
            tracing::error!(error = %e, "revoking the session failed");
        }
    }
    let mut res = match target {
        Some(uri) => {
            let mut url = match url::Url::parse(&uri) {
                Ok(u) => u,
                Err(_) => {
                    return pages::error_page(StatusCode::BAD_REQUEST, "Invalid redirect.", None)
                }
            };
            if let Some(s) = logout_state {
                url.query_pairs_mut().append_pair("state", &s);
            }
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, url.to_string()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        None => pages::page(StatusCode::OK, "Signed out", "<p>You are signed out.</p>"),
    };
    let mut gone = Cookie::new(SESSION_COOKIE, "");
    gone.set_path("/");
    gone.make_removal();
    let _ = res.add_cookie(&gone);
    res
}
