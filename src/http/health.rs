//! Liveness, readiness and metrics.

use actix_web::{web, HttpResponse};

use crate::app::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// 503 while the database cannot answer a query.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "status": "unavailable",
                "error": "database_unreachable",
                "error_description": "The database did not answer.",
            }))
        }
    }
}

/// The Prometheus text exposition format, as the `prometheus` crate encodes it.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    match state.metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .content_type(state.metrics.content_type())
            .body(text),
        Err(e) => {
            tracing::error!(error = %e, "metrics could not be encoded");
            HttpResponse::InternalServerError().finish()
        }
    }
}
