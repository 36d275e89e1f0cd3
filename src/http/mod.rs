//! HTTP layer: thin actix handlers, one file per area. This file holds the
//! whole route table and the request middleware (request id, metrics).

pub mod api;
pub mod authorize;
pub mod cors;
pub mod error;
pub mod health;
pub mod login;
pub mod logout;
pub mod pages;
pub mod token;
pub mod userinfo;
pub mod well_known;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use tracing::Instrument;

use crate::app::AppState;
use crate::http::error::ApiError;

/// The route table.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route(
            "/.well-known/openid-configuration",
            web::get().to(well_known::openid_configuration),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            web::get().to(well_known::openid_configuration),
        )
        .route("/.well-known/jwks.json", web::get().to(well_known::jwks))
        .route("/authorize", web::get().to(authorize::authorize))
        .route("/login", web::get().to(login::login_page))
        .route("/login/organization", web::get().to(authorize::org_picker))
        .route("/login/organization", web::post().to(authorize::org_picked))
        .route(
            "/login/{connection}",
            web::get().to(login::login_connection),
        )
        .route("/callback/dev", web::post().to(login::dev_callback))
        .route("/callback/{connection}", web::get().to(login::callback))
        .route("/oauth/token", web::post().to(token::token))
        .route("/oauth/introspect", web::post().to(token::introspect))
        .route("/oauth/revoke", web::post().to(token::revoke))
        .route("/userinfo", web::get().to(userinfo::userinfo))
        .route("/userinfo", web::post().to(userinfo::userinfo))
        .route("/logout", web::get().to(logout::logout))
        .route(pages::STYLESHEET_PATH, web::get().to(pages::stylesheet))
        .route(
            "/invitations/{token}",
            web::get().to(api::invitations::page),
        )
        .service(
            web::scope("/api")
                .app_data(
                    web::QueryConfig::default()
                        .error_handler(|e, _| ApiError::bad_request(e.to_string()).into()),
                )
                .app_data(
                    web::PathConfig::default()
                        .error_handler(|e, _| ApiError::bad_request(e.to_string()).into()),
                )
                .route("/openapi.json", web::get().to(api::openapi::document))
                .configure(api::routes),
        );
}

/// The client's IP address as the server sees it (for audit events).
pub fn peer_ip(req: &actix_web::HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}

/// The `User-Agent` header, bounded (for the action event).
pub fn user_agent(req: &actix_web::HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(300).collect())
}

/// JSON 404 for unknown routes.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("No such endpoint."))
}

/// Gives every request an id (in its tracing span and the `X-Request-Id`
/// header) and records its count and latency by route pattern.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let method = req.method().to_string();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, path = %req.path());
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut res = result?;
    // The pattern (`/api/orgs/{org}`), never the path: the route label stays bounded.
    let pattern = res.request().match_pattern();
    let route = pattern.as_deref().unwrap_or(crate::metrics::UNMATCHED);
    let status = res.status().as_u16();
    if let Some(m) = metrics {
        m.http_request(&method, pattern.as_deref(), status, elapsed);
    }
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, route = %route, latency_ms = elapsed * 1000.0, "request failed");
        } else {
            // Access log at debug: `RUST_LOG=tessera=debug` turns it on.
            tracing::debug!(status, route = %route, latency_ms = elapsed * 1000.0, "request");
        }
    });
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            v,
        );
    }
    Ok(res)
}
