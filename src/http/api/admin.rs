//! Admin mode: `/api/admin/…` for client-credentials tokens with scope `manage`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{ip, run, AdminCaller, ApiJson, Page, PageQuery};
use crate::accounts;
use crate::app::AppState;
use crate::audit::Actor;
use crate::http::error::ApiError;
use crate::orgs::org::{self as org_ops, NewOrg, OrgView};
use crate::orgs::{admin, OrgError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    email: Option<String>,
    id: Option<String>,
}

pub async fn users(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    q: web::Query<UserQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    if q.email.as_ref().is_some_and(|e| e.len() > 320)
        || q.id.as_ref().is_some_and(|i| i.len() > 64)
    {
        return Err(ApiError::bad_request("email or id is too long"));
    }
    let found = run(&state, move |conn| {
        admin::find_users(conn, q.email.as_deref(), q.id.as_deref())
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"data": found})))
}

pub async fn org(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = path.into_inner();
    let report = run(&state, move |conn| admin::org_report(conn, &org)).await?;
    Ok(HttpResponse::Ok().json(report))
}

pub async fn list_orgs(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.limit()?;
    let cursor = q.cursor()?.map(str::to_string);
    let data = run(&state, move |conn| {
        admin::list_orgs(conn, cursor.as_deref(), limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::new(data, limit, |o| o.id.clone())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminCreateOrg {
    name: String,
    slug: Option<String>,
    owner_id: String,
}

pub async fn create_org(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: AdminCaller,
    body: ApiJson<AdminCreateOrg>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let now = state.clock.now_naive();
    let ip = ip(&req);
    let st = state.clone();
    let org = run(&state, move |conn| {
        if accounts::find_user(conn, &body.owner_id)?.is_none() {
            return Err(OrgError::invalid("owner_id", "no such user"));
        }
        org_ops::create(
            conn,
            NewOrg {
                name: &body.name,
                slug: body.slug.as_deref(),
                personal: false,
            },
            &body.owner_id,
            &st.settings.orgs.default_roles,
            Actor::Client(admin.client_id.clone()),
            ip.as_deref(),
            now,
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(OrgView::from(&org)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRun {
    /// `post_login` (default) or `credentials_exchange`.
    trigger: Option<String>,
    /// A complete event to run as is…
    event: Option<serde_json::Value>,
    /// …or one built from the database like a real login would build it.
    user_id: Option<String>,
    client_id: Option<String>,
    organization: Option<String>,
}

/// `POST /api/admin/hooks/dry-run`: runs the actions on an event without
/// issuing tokens or writing anything; returns each action's claims, any
/// denial and the timings.
pub async fn dry_run(
    state: web::Data<AppState>,
    _admin: AdminCaller,
    body: ApiJson<DryRun>,
) -> Result<HttpResponse, ApiError> {
    use crate::hooks::Trigger;
    use crate::issuance::token::DryRunSource;
    let body = body.into_inner();
    let trigger = match body.trigger.as_deref() {
        None => Trigger::PostLogin,
        Some(t) => t.parse::<Trigger>().map_err(|_| {
            ApiError::unprocessable("trigger: must be post_login or credentials_exchange")
        })?,
    };
    let source = match (body.event, body.client_id) {
        (Some(ev), None) if ev.is_object() => DryRunSource::Event(ev),
        (Some(_), _) => {
            return Err(ApiError::unprocessable(
                "event: give an object, or user_id + client_id instead",
            ))
        }
        (None, Some(client_id)) => DryRunSource::Build {
            client_id,
            user_id: body.user_id,
            organization: body.organization,
        },
        (None, None) => {
            return Err(ApiError::unprocessable(
                "event: give an event, or user_id + client_id",
            ))
        }
    };
    let report = state
        .issuance
        .dry_run(crate::issuance::DryRunInput { trigger, source })
        .await?;
    let (actions, ev) = (report.actions, report.event);
    Ok(HttpResponse::Ok().json(match report.result {
        Ok(out) => serde_json::json!({
            "allowed": true,
            "access_token_claims": out.access_token_claims,
            "id_token_claims": out.id_token_claims,
            "app_metadata": out.app_metadata,
            "actions": actions,
            "event": ev,
        }),
        Err(denied) => {
            serde_json::json!({"allowed": false, "denied": denied, "actions": actions, "event": ev})
        }
    }))
}
