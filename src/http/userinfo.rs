//! `GET/POST /userinfo` (OIDC Core §5.3) with RFC 6750 errors.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use crate::accounts;
use crate::app::AppState;
use crate::oauth::revoke::is_denied;
use crate::oauth::scope::Scope;
use crate::tokens::issue::profile_claims;
use crate::tokens::verify::verify_access_token;

/// An RFC 6750 §3 error with its `WWW-Authenticate` challenge.
pub fn bearer_error(status: StatusCode, code: &str, description: &str) -> HttpResponse {
    let challenge = if code.is_empty() {
        r#"Bearer realm="tessera""#.to_string()
    } else {
        format!(
            r#"Bearer realm="tessera", error="{code}", error_description="{}""#,
            description.replace('"', "'")
        )
    };
    let mut res = HttpResponse::build(status);
    res.insert_header((header::WWW_AUTHENTICATE, challenge))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if code.is_empty() {
        res.finish()
    } else {
        res.json(serde_json::json!({"error": code, "error_description": description}))
    }
}

/// The token of an `Authorization: Bearer …` header (RFC 6750 §2.1).
pub fn bearer_header(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string())
}

/// The bearer token of a request: `Authorization: Bearer` or (POST) a form `access_token`.
pub fn bearer_token(req: &HttpRequest, body: &[u8]) -> Result<Option<String>, &'static str> {
    let header_token = bearer_header(req);
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let body_token = if is_form {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .ok()
            .and_then(|p| {
                p.into_iter()
                    .find(|(k, _)| k == "access_token")
                    .map(|(_, v)| v)
            })
    } else {
        None
    };
    match (header_token, body_token) {
        (Some(_), Some(_)) => Err("the token was sent by more than one method"),
        (Some(t), None) | (None, Some(t)) => Ok(Some(t)),
        (None, None) => Ok(None),
    }
}

pub async fn userinfo(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let token = match bearer_token(&req, &body) {
        Ok(Some(t)) => t,
        Ok(None) => return bearer_error(StatusCode::UNAUTHORIZED, "", ""),
        Err(msg) => return bearer_error(StatusCode::BAD_REQUEST, "invalid_request", msg),
    };
    let claims = match verify_access_token(&state.keys, &state.settings, &token, state.clock.unix())
    {
        Ok(c) => c,
        Err(e) => return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", &e.to_string()),
    };
    let scope = Scope::parse(claims.get("scope").and_then(|s| s.as_str()).unwrap_or(""))
        .unwrap_or_default();
    if !scope.contains("openid") {
        return bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the token lacks the openid scope",
        );
    }
    let jti = claims
        .get("jti")
        .and_then(|j| j.as_str())
        .unwrap_or("")
        .to_string();
    let sub = claims
        .get("sub")
        .and_then(|s| s.as_str())
        .unwrap_or("")
        .to_string();
    let found = state
        .db
        .run(move |conn| {
            if is_denied(conn, &jti)? {
                return Ok::<_, crate::db::DbError>(None);
            }
            Ok(accounts::find_user(conn, &sub)?)
        })
        .await;
    let user = match found {
        Ok(Some(u)) => u,
        Ok(None) => {
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the token was revoked",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "userinfo failed");
            return HttpResponse::InternalServerError()
                .json(serde_json::json!({"error": "server_error"}));
        }
    };
    let mut out = profile_claims(&user, &scope.to_string());
    out.insert("sub".into(), Value::from(user.id));
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Value::Object(out))
}
