//! CORS for browser apps (SPEC §2): the token, revocation, userinfo, JWKS and
//! discovery endpoints answer requests from the origins of registered
//! clients (redirect URI origins and `allowed_origins`), and no others.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use crate::app::AppState;
use crate::oauth::client;

const CORS_PATHS: &[&str] = &[
    "/oauth/token",
    "/oauth/revoke",
    "/userinfo",
    "/.well-known/jwks.json",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
];

/// How long the set of allowed origins is cached (clients added by CLI show up within this).
const TTL: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct OriginCache(RwLock<Option<(Instant, Arc<HashSet<String>>)>>);

impl OriginCache {
    async fn allowed(&self, state: &AppState) -> Arc<HashSet<String>> {
        if let Some((at, set)) = self.0.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if at.elapsed() < TTL {
                return set.clone();
            }
        }
        let loaded = state
            .db
            .run(|conn| client::list(conn).map_err(crate::db::DbError::from))
            .await;
        let set: Arc<HashSet<String>> = match loaded {
            Ok(clients) => Arc::new(clients.iter().flat_map(|c| c.origins()).collect()),
            Err(e) => {
                tracing::error!(error = %e, "loading CORS origins failed");
                return Arc::new(HashSet::new());
            }
        };
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), set.clone()));
        set
    }
}

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_string);
    let (Some(origin), true) = (origin, CORS_PATHS.contains(&req.path())) else {
        return next.call(req).await.map(|r| r.map_into_left_body());
    };
    let allowed = match req.app_data::<web::Data<AppState>>() {
        Some(state) => state.cors.allowed(state).await.contains(&origin),
        None => false,
    };
    if req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut res = HttpResponse::NoContent();
        res.insert_header((header::VARY, "Origin"));
        if allowed {
            res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "Authorization, Content-Type",
                ))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"));
        }
        return Ok(req.into_response(res.finish()).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    res.headers_mut()
        .append(header::VARY, header::HeaderValue::from_static("Origin"));
    if allowed {
        if let Ok(v) = header::HeaderValue::from_str(&origin) {
            res.headers_mut()
                .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
    }
    Ok(res.map_into_left_body())
}
