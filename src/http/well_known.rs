//! Discovery (OIDC Discovery 1.0 §3, RFC 8414) and the JWKS (RFC 7517).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::AppState;

/// Scopes Tessera understands. `orgs` unlocks the org API; `manage` is the
/// admin-mode scope for client-credentials tokens.
pub const SCOPES_SUPPORTED: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "orgs",
    "manage",
];

pub fn discovery_document(state: &AppState) -> serde_json::Value {
    let iss = &state.settings.issuer;
    let ns = state.settings.namespace();
    let mut algs: Vec<&'static str> = state
        .keys
        .current()
        .published
        .iter()
        .map(|k| k.meta.alg.as_str())
        .collect();
    algs.sort_unstable();
    algs.dedup();
    serde_json::json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/oauth/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{iss}/oauth/introspect"),
        "revocation_endpoint": format!("{iss}/oauth/revoke"),
        "end_session_endpoint": format!("{iss}/logout"),
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": crate::oauth::grant_type::GrantType::ALL.map(|g| g.as_str()),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "select_account"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "jti",
            "client_id", "scope", "email", "email_verified", "name", "picture",
            format!("{ns}org_id"), format!("{ns}org_slug"), format!("{ns}org_role"),
            format!("{ns}org_permissions"),
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": false,
        "frontchannel_logout_supported": false,
        // Tessera extension: `/authorize?organization=` and
        // `grant_type=refresh_token&organization=` select the active org.
        "organization_parameter_supported": true,
        "organization_claims_namespace": ns,
        "org_api_audience": state.settings.api_audience(),
    })
}

pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(discovery_document(&state))
}

pub async fn jwks(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let set = state.keys.current();
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == set.jwks_etag || t.trim() == "*")
        });
    // Short max-age: after a rotation verifiers must see the new key quickly,
    // and the retiring key stays published, so a stale cache still verifies.
    let cache = "public, max-age=300, stale-while-revalidate=60";
    if not_modified {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, set.jwks_etag.clone()))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/jwk-set+json"))
        .insert_header((header::ETAG, set.jwks_etag.clone()))
        .insert_header((header::CACHE_CONTROL, cache))
        .body(set.jwks_body.clone())
}
