//! `/api/orgs…`: orgs, members, roles, audit log. Thin: extract, one domain
//! call, map the result.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{ip, run, ApiJson, Member, Page, PageQuery, UserCaller};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::orgs::members;
use crate::orgs::org::{self as org_ops, NewOrg, OrgChanges, OrgView};
use crate::orgs::roles::{self, RoleInput, RoleView};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    name: String,
    slug: Option<String>,
}

pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: UserCaller,
    body: ApiJson<CreateOrg>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let now = state.clock.now_naive();
    let ip = ip(&req);
    let st = state.clone();
    let org = run(&state, move |conn| {
        org_ops::create(
            conn,
            NewOrg {
                name: &body.name,
                slug: body.slug.as_deref(),
                personal: false,
            },
            &caller.user_id,
            &st.settings.orgs.default_roles,
            crate::audit::Actor::User(caller.user_id.clone()),
            ip.as_deref(),
            now,
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(OrgView::from(&org)))
}

pub async fn list_mine(
    state: web::Data<AppState>,
    caller: UserCaller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.limit()?;
    let cursor = q.cursor()?.map(str::to_string);
    let data = run(&state, move |conn| {
        Ok(org_ops::memberships(
            conn,
            &caller.user_id,
            cursor.as_deref(),
            limit,
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::new(data, limit, |m| m.organization.id.clone())))
}

pub async fn get(member: Member) -> Result<HttpResponse, ApiError> {
    member.0.require("org:read").map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "organization": OrgView::from(member.0.org()),
        "role": member.0.role().name,
        "permissions": member.0.permissions(),
    })))
}

pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    member: Member,
    body: ApiJson<OrgChanges>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_naive();
    let ip = ip(&req);
    let org = run(&state, move |conn| {
        org_ops::update(conn, &member.0, body.into_inner(), ip.as_deref(), now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(OrgView::from(&org)))
}

pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    member: Member,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_naive();
    let ip = ip(&req);
    run(&state, move |conn| {
        org_ops::delete(conn, &member.0, ip.as_deref(), now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list_members(
    state: web::Data<AppState>,
    member: Member,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.limit()?;
    let cursor = q.cursor()?.map(str::to_string);
    let data = run(&state, move |conn| {
        members::list(conn, &member.0, cursor.as_deref(), limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::new(data, limit, |m| m.user_id.clone())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    role: String,
}

pub async fn change_role(
    state: web::Data<AppState>,
    req: HttpRequest,
    member: Member,
    path: web::Path<(String, String)>,
    body: ApiJson<RoleChange>,
) -> Result<HttpResponse, ApiError> {
    let (_, user_id) = path.into_inner();
    let now = state.clock.now_naive();
    let ip = ip(&req);
    let role = run(&state, move |conn| {
        members::change_role(conn, &member.0, &user_id, &body.role, ip.as_deref(), now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"role": role.name, "role_id": role.id})))
}

pub async fn remove_member(
    state: web::Data<AppState>,
    req: HttpRequest,
    member: Member,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, user_id) = path.into_inner();
    let now = state.clock.now_naive();
    let ip = ip(&req);
    run(&state, move |conn| {
        members::remove(conn, &member.0, &user_id, ip.as_deref(), now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn leave(
    state: web::Data<AppState>,
    req: HttpRequest,
    member: Member,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_naive();
    let ip = ip(&req);
    run(&state, move |conn| {
        members::leave(conn, &member.0, ip.as_deref(), now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    user_id: String,
}

pub async fn transfer(
    state: web::Data<AppState>,
    req: HttpRequest,
    member: Member,
    body: ApiJson<Transfer>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_naive();
    let ip = ip(&req);
    run(&state, move |conn| {
        members::transfer_ownership(conn, &member.0, &body.user_id, ip.as_deref(), now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list_roles(
    state: web::Data<AppState>,
    member: Member,
) -> Result<HttpResponse, ApiError> {
    let list = run(&state, move |conn| roles::list(conn, &member.0)).await?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({"data": list.iter().map(RoleView::try_from).collect::<Result<Vec<_>, _>>()?})))
}

pub async fn create_role(
    state: web::Data<AppState>,
    req: HttpRequest,
    member: Member,
    body: ApiJson<RoleInput>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_naive();
    let ip = ip(&req);
    let role = run(&state, move |conn| {
        roles::create(conn, &member.0, body.into_inner(), ip.as_deref(), now)
    })
    .await?;
    Ok(HttpResponse::Created().json(RoleView::try_from(&role)?))
}

pub async fn update_role(
    state: web::Data<AppState>,
    req: HttpRequest,
    member: Member,
    path: web::Path<(String, String)>,
    body: ApiJson<RoleInput>,
) -> Result<HttpResponse, ApiError> {
    let (_, role_id) = path.into_inner();
    let now = state.clock.now_naive();
    let ip = ip(&req);
    let role = run(&state, move |conn| {
        roles::update(
            conn,
            &member.0,
            &role_id,
            body.into_inner(),
            ip.as_deref(),
            now,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(RoleView::try_from(&role)?))
}

pub async fn delete_role(
    state: web::Data<AppState>,
    req: HttpRequest,
    member: Member,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, role_id) = path.into_inner();
    let now = state.clock.now_naive();
    let ip = ip(&req);
    run(&state, move |conn| {
        roles::delete(conn, &member.0, &role_id, ip.as_deref(), now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn audit_log(
    state: web::Data<AppState>,
    member: Member,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.limit()?;
    let cursor = q.cursor()?.map(str::to_string);
    let events = run(&state, move |conn| {
        org_ops::audit_log(conn, &member.0, cursor.as_deref(), limit)
    })
    .await?;
    let data: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": e.id,
                "action": e.action,
                "actor": {"type": e.actor_type, "id": e.actor_id},
                "target": {"type": e.target_type, "id": e.target_id},
                "ip": e.ip,
                "detail": serde_json::from_str::<serde_json::Value>(&e.detail).unwrap_or_default(),
                "created_at": e.created_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(data, limit, |e| {
        e["id"].as_str().unwrap_or_default().to_string()
    })))
}
