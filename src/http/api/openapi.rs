//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the org API, built
//! from the same route table that registers the handlers.

use actix_web::HttpResponse;
use serde_json::{json, Map, Value};

use super::ROUTES;

fn request_schema(name: &str) -> Value {
    let s = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
    match name {
        "SwitchOrg" => s(
            json!({"organization": {"type": "string", "description": "org id or slug"}, "refresh_token": {"type": "string"},
                "client_id": {"type": "string", "description": "required for a confidential client's refresh token"},
                "client_secret": {"type": "string", "description": "required for a confidential client's refresh token"}}),
            &["organization", "refresh_token"],
        ),
        "CreateOrg" => s(
            json!({"name": {"type": "string", "maxLength": 100}, "slug": {"type": "string", "pattern": "^[a-z0-9-]{2,63}$"}}),
            &["name"],
        ),
        "OrgChanges" => s(
            json!({"name": {"type": "string"}, "slug": {"type": "string"}, "logo_url": {"type": ["string", "null"]}, "metadata": {"type": "object"}}),
            &[],
        ),
        "RoleChange" => s(
            json!({"role": {"type": "string", "description": "role id or name"}}),
            &["role"],
        ),
        "Transfer" => s(json!({"user_id": {"type": "string"}}), &["user_id"]),
        "RoleInput" => s(
            json!({"name": {"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"}, "description": {"type": "string"}, "permissions": {"type": "array", "items": {"type": "string"}}}),
            &[],
        ),
        "AdminCreateOrg" => s(
            json!({"name": {"type": "string"}, "slug": {"type": "string"}, "owner_id": {"type": "string"}}),
            &["name", "owner_id"],
        ),
        "InvitationInput" => s(
            json!({"email": {"type": "string"}, "github_login": {"type": "string"}, "github_id": {"type": ["integer", "string"]}, "role": {"type": "string"}}),
            &["role"],
        ),
        "DomainInput" => s(
            json!({"domain": {"type": "string"}, "auto_enroll": {"type": "boolean"}, "enroll_role": {"type": "string"}}),
            &["domain"],
        ),
        "DryRun" => s(
            json!({"trigger": {"type": "string", "enum": ["post_login", "credentials_exchange"]}, "event": {"type": "object"}, "user_id": {"type": "string"}, "client_id": {"type": "string"}, "organization": {"type": "string"}}),
            &[],
        ),
        "TokenBody" => s(json!({"token": {"type": "string"}}), &["token"]),
        _ => json!({"type": "object"}),
    }
}

pub fn build() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for r in ROUTES {
        let full = format!("/api{}", r.path);
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}, "description": if p == "org" { "org id or slug" } else { "" }}))
            .collect();
        let mut responses = Map::new();
        responses.insert(
            r.success.to_string(),
            if r.success == 204 { json!({"description": "done"}) } else { json!({"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}) },
        );
        for (code, why) in [
            ("400", "malformed request"),
            ("401", "missing, invalid, expired or revoked token"),
            ("403", "insufficient scope or permission"),
            ("404", "not found (also: not a member)"),
            ("409", "conflict (e.g. last owner)"),
            ("422", "invalid field"),
        ] {
            responses.insert(code.into(), json!({"description": why, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}));
        }
        let mut op = json!({
            "summary": r.summary,
            "description": format!("Access: {}", r.access),
            "parameters": params,
            "responses": responses,
            "security": [{"bearer": []}],
        });
        if let Some(name) = r.request {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": request_schema(name)}}});
        }
        if r.method == "get"
            && (r.path.ends_with("/orgs")
                || r.path.ends_with("/members")
                || r.path.ends_with("/audit-log"))
        {
            if let Some(p) = op["parameters"].as_array_mut() {
                p.push(json!({"name": "cursor", "in": "query", "schema": {"type": "string"}}));
                p.push(json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}}));
            }
        }
        let entry = paths.entry(full).or_insert_with(|| json!({}));
        entry[r.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Tessera org API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "User mode: access token with scope `orgs`. Admin mode: client-credentials token with scope `manage`."}},
            "schemas": {"Error": {"type": "object", "required": ["error", "error_description"],
                "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}}},
        },
    })
}

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(build())
}
