//! `GET /logout`: RP-initiated logout; the protocol is `oauth::logout`.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::authorize::see_other;
use super::pages;
use crate::app::AppState;
use crate::oauth::logout;
use crate::oauth::session::SESSION_COOKIE;

pub async fn logout(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let query = req.query_string().to_string();
    let session_cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
    let now = state.clock.now_naive();
    let st = state.clone();
    let done = state
        .db
        .run(move |conn| {
            logout::logout(
                conn,
                &st.keys,
                &st.settings.issuer,
                &query,
                session_cookie.as_deref(),
                now,
            )
        })
        .await;
    let mut res = match done {
        Ok(Ok(Some(url))) => see_other(&url),
        Ok(Ok(None)) => pages::render(StatusCode::OK, pages::signed_out()),
        Ok(Err(problem)) => {
            return pages::error_page(StatusCode::BAD_REQUEST, &problem.to_string(), None)
        }
        Err(e) => return crate::http::error::internal_page(&e),
    };
    let mut gone = Cookie::new(SESSION_COOKIE, "");
    gone.set_path("/");
    gone.make_removal();
    if let Err(e) = res.add_cookie(&gone) {
        tracing::error!(error = %e, "clearing the session cookie failed");
    }
    res
}
