//! `POST /oauth/token`, `/oauth/introspect`, `/oauth/revoke`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::AppState;
use crate::oauth::client::{self, PresentedClient};
use crate::oauth::grant_type::GrantType;
use crate::oauth::grants::TokenRequest;
use crate::oauth::params::Params;
use crate::oauth::{introspect, revoke, OAuthError};

/// Parses a form-encoded body; anything else is `invalid_request`.
fn form(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| OAuthError::InvalidRequest("the body is not UTF-8".into()))?;
    Params::parse(text)
}

fn credentials(
    req: &HttpRequest,
    params: &mut Params,
) -> Result<Option<PresentedClient>, OAuthError> {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    client::presented(auth, params)
}

fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res.headers_mut()
        .insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    res
}

/// RFC 6749 §3.2.
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let mut params = form(&req, &body)?;
    let presented = credentials(&req, &mut params)?;
    let grant = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::InvalidRequest("grant_type is required".into()))?
        .to_string();
    if grant.parse::<GrantType>().is_err() {
        return Err(OAuthError::UnsupportedGrantType(format!(
            "grant_type `{grant}` is not supported"
        )));
    }
    let request: TokenRequest = serde_json::from_value(params.into_json())
        .map_err(|e| OAuthError::InvalidRequest(format!("{grant}: {e}")))?;
    let client = authenticate(&state, presented).await?;
    let response = state
        .issuance
        .token(client, request, &super::authorize::context(&req))
        .await?;
    Ok(no_store(HttpResponse::Ok().json(response)))
}

/// Client authentication through the short-lived client cache.
async fn authenticate(
    state: &AppState,
    presented: Option<PresentedClient>,
) -> Result<client::Client, OAuthError> {
    let p = presented
        .ok_or_else(|| OAuthError::InvalidClient("client authentication is required".into()))?;
    let found = match state.clients.get(&p.client_id) {
        Some(c) => Some(c),
        None => {
            let id = p.client_id.clone();
            let c = state
                .db
                .run(move |conn| client::find(conn, &id).map_err(OAuthError::from))
                .await?;
            if let Some(c) = &c {
                state.clients.put(c);
            }
            c
        }
    };
    client::verify(found, p)
}

/// RFC 7662 §2.
pub async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let mut params = form(&req, &body)?;
    let presented = credentials(&req, &mut params)?;
    let token = params
        .take("token")
        .ok_or_else(|| OAuthError::InvalidRequest("token is required".into()))?;
    let now = state.clock.now_naive();
    let st = state.clone();
    let answer = state
        .db
        .run(move |conn| {
            let client = client::authenticate(conn, presented)?;
            if client.public {
                return Err(OAuthError::InvalidClient(
                    "introspection needs a confidential client".into(),
                ));
            }
            introspect::introspect(conn, &st.keys, &st.settings, &client, &token, now)
        })
        .await?;
    Ok(no_store(HttpResponse::Ok().json(answer)))
}

/// RFC 7009 §2.
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let mut params = form(&req, &body)?;
    let presented = credentials(&req, &mut params)?;
    let token = params
        .take("token")
        .ok_or_else(|| OAuthError::InvalidRequest("token is required".into()))?;
    let now = state.clock.now_naive();
    let st = state.clone();
    state
        .db
        .run(move |conn| {
            let client = client::authenticate(conn, presented)?;
            revoke::revoke(conn, &st.keys, &client, &token, now)
        })
        .await?;
    Ok(no_store(HttpResponse::Ok().finish()))
}
