//! Invitations: the org-scoped API, the invitee's API, and the public page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{ip, run, ApiJson, Member, UserCaller};
use crate::accounts;
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::pages::{self, qs};
use crate::orgs::invitations::{self as inv, AcceptOutcome, CreateCtx, InvitationInput, Issued};
use crate::orgs::OrgError;

/// Sends the invitation email off the request path and records the outcome
/// on the invitation (`sent`, `logged` or `delivery_failed`).
fn deliver(state: &AppState, issued: &Issued) {
    let Some((to, org, inviter, role)) = issued.email.clone() else {
        return;
    };
    let email = crate::mail::invitation_email(&to, &org, &inviter, &role, &issued.link);
    let id = issued.invitation.id.clone();
    let state = state.clone();
    tokio::spawn(async move {
        let status = match state.mailer.send(&email).await {
            Ok(true) => "sent",
            Ok(false) => "logged",
            Err(e) => {
                tracing::error!(invitation = %id, error = %e, "invitation email could not be delivered");
                "delivery_failed"
            }
        };
        let now = state.clock.now_naive();
        if let Err(e) = state
            .db
            .run(move |conn| {
                inv::set_delivery(conn, &id, status, now).map_err(crate::db::DbError::from)
            })
            .await
        {
            tracing::error!(error = %e, "recording the delivery status failed");
        }
        // Whoever waits for deliveries (tests, and later the console) looks again.
        state.deliveries.send_modify(|n| *n += 1);
    });
}

pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    member: Member,
    body: ApiJson<InvitationInput>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_naive();
    let ip = ip(&req);
    let (issuer, ttl) = (
        state.settings.issuer.clone(),
        state.settings.invitations.ttl(),
    );
    let issued = run(&state, move |conn| {
        inv::create(
            conn,
            &member.0,
            body.into_inner(),
            CreateCtx {
                issuer: &issuer,
                ttl,
                ip: ip.as_deref(),
                now,
            },
        )
    })
    .await?;
    deliver(&state, &issued);
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(&issued))
}

pub async fn list(state: web::Data<AppState>, member: Member) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_naive();
    let data = run(&state, move |conn| inv::list(conn, &member.0, now)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"data": data})))
}

pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    member: Member,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let now = state.clock.now_naive();
    let ip = ip(&req);
    run(&state, move |conn| {
        inv::revoke(conn, &member.0, &id, ip.as_deref(), now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn resend(
    state: web::Data<AppState>,
    req: HttpRequest,
    member: Member,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let now = state.clock.now_naive();
    let ip = ip(&req);
    let (issuer, ttl) = (
        state.settings.issuer.clone(),
        state.settings.invitations.ttl(),
    );
    let issued = run(&state, move |conn| {
        inv::resend(
            conn,
            &member.0,
            &id,
            CreateCtx {
                issuer: &issuer,
                ttl,
                ip: ip.as_deref(),
                now,
            },
        )
    })
    .await?;
    deliver(&state, &issued);
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(&issued))
}

pub async fn mine(
    state: web::Data<AppState>,
    caller: UserCaller,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_naive();
    let data = run(&state, move |conn| {
        let user = accounts::find_user(conn, &caller.user_id)?.ok_or(OrgError::NotFound("user"))?;
        Ok(inv::for_user(conn, &user, now)?)
    })
    .await?;
    let data: Vec<serde_json::Value> = data
        .into_iter()
        .map(|(v, org_name)| serde_json::json!({"invitation": v, "organization_name": org_name}))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({"data": data})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    token: String,
}

pub async fn accept(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: UserCaller,
    body: ApiJson<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_naive();
    let ip = ip(&req);
    let token = body.into_inner().token;
    let outcome = run(&state, move |conn| {
        let user = accounts::find_user(conn, &caller.user_id)?.ok_or(OrgError::NotFound("user"))?;
        inv::accept(conn, &token, &user, ip.as_deref(), now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(match outcome {
        AcceptOutcome::Joined { org_id, role } => {
            serde_json::json!({"status": "joined", "organization": org_id, "role": role})
        }
        AcceptOutcome::AlreadyMember { org_id } => {
            serde_json::json!({"status": "already_member", "organization": org_id})
        }
    }))
}

pub async fn decline(
    state: web::Data<AppState>,
    caller: UserCaller,
    body: ApiJson<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_naive();
    let token = body.into_inner().token;
    run(&state, move |conn| {
        let user = accounts::find_user(conn, &caller.user_id)?.ok_or(OrgError::NotFound("user"))?;
        inv::decline(conn, &token, &user, now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /invitations/{token}`: names the org, the inviter and the role, and
/// continues into `/authorize` with `invitation=` for the configured app.
pub async fn page(state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    let token = path.into_inner();
    let now = state.clock.now_naive();
    let t = token.clone();
    let client_id = state.settings.invitations.default_client_id.clone();
    let found = state
        .db
        .run(move |conn| {
            let found = inv::lookup(conn, &t, now)?;
            let client = match &client_id {
                Some(id) => crate::oauth::client::find(conn, id)?,
                None => None,
            };
            let inviter = match &found {
                Ok((row, _, _)) => match &row.inviter_id {
                    Some(id) => accounts::find_user(conn, id)?.and_then(|u| u.name.or(u.email)),
                    None => None,
                },
                Err(_) => None,
            };
            Ok::<_, crate::db::DbError>((found, client, inviter))
        })
        .await;
    let (found, client, inviter) = match found {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "invitation page failed");
            return pages::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong.",
                None,
            );
        }
    };
    let (row, org, role) = match found {
        Ok(v) => v,
        Err(p) => {
            let status = if p == inv::TokenProblem::Unknown {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::GONE
            };
            return pages::error_page(status, p.message(), None);
        }
    };
    let inviter = inviter.unwrap_or_else(|| "A teammate".into());
    let accept_url = client
        .as_ref()
        .and_then(|c| c.redirect_uris.first().map(|r| (c, r)))
        .map(|(c, redirect)| {
            format!(
                "/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&invitation={}&organization={}",
                qs(&c.id),
                qs(redirect),
                qs("openid profile email orgs offline_access"),
                qs(&token),
                qs(&row.org_id)
            )
        });
    let expires = row.expires_at.format("%Y-%m-%d %H:%M").to_string();
    pages::render(
        StatusCode::OK,
        pages::invitation(&pages::Invitation {
            inviter: &inviter,
            org: &org.name,
            role: &role.name,
            accept_url: accept_url.as_deref(),
            expires: &expires,
        }),
    )
}
