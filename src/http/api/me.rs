//! `GET /api/me` and `POST /api/switch-org`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{run, ApiJson, UserCaller};
use crate::accounts;
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::orgs::{org as orgs, OrgError};

pub async fn me(state: web::Data<AppState>, caller: UserCaller) -> Result<HttpResponse, ApiError> {
    let user_id = caller.user_id.clone();
    let (user, memberships) = run(&state, move |conn| {
        let user = accounts::find_user(conn, &user_id)?.ok_or(OrgError::NotFound("user"))?;
        let memberships = orgs::memberships(conn, &user_id, None, 500)?;
        Ok((user, memberships))
    })
    .await?;
    let active = user
        .last_active_org_id
        .as_deref()
        .and_then(|a| memberships.iter().find(|m| m.organization.id == a));
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "user": {
            "id": user.id,
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.name,
            "picture": user.picture,
            "created_at": user.created_at,
        },
        "active_organization": active,
        "memberships": memberships,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchOrg {
    organization: String,
    refresh_token: String,
    /// Required when the refresh token belongs to a confidential client.
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `POST /api/switch-org`: the same code path as
/// `grant_type=refresh_token&organization=…`. The refresh token must be the
/// caller's, from the same client as the bearer token.
pub async fn switch_org(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: UserCaller,
    body: ApiJson<SwitchOrg>,
) -> Result<HttpResponse, actix_web::Error> {
    let body = body.into_inner();
    if body.organization.len() > 128
        || body.refresh_token.len() > 512
        || body.client_id.as_ref().is_some_and(|c| c.len() > 128)
        || body.client_secret.as_ref().is_some_and(|c| c.len() > 512)
    {
        return Err(ApiError::unprocessable(
            "organization, refresh_token, client_id or client_secret is too long",
        )
        .into());
    }
    let response = state
        .issuance
        .switch_org(
            caller.user_id,
            caller.client_id,
            body.organization,
            body.refresh_token,
            body.client_id
                .map(|id| crate::oauth::client::PresentedClient::in_body(id, body.client_secret)),
            &crate::http::authorize::context(&req),
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(response))
}
