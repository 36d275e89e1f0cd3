//! `/api/orgs/{org}/domains…`: add, list, verify by DNS TXT, delete.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::{ip, run, ApiJson, Member};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::orgs::domains::{self, DomainInput, VerifyOutcome};

pub async fn add(
    state: web::Data<AppState>,
    req: HttpRequest,
    member: Member,
    body: ApiJson<DomainInput>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now_naive();
    let ip = ip(&req);
    let free = state.settings.domains.free_mail.clone();
    let d = run(&state, move |conn| {
        domains::add(
            conn,
            &member.0,
            body.into_inner(),
            &free,
            ip.as_deref(),
            now,
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(d))
}

pub async fn list(state: web::Data<AppState>, member: Member) -> Result<HttpResponse, ApiError> {
    let data = run(&state, move |conn| domains::list(conn, &member.0)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"data": data})))
}

pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    member: Member,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let now = state.clock.now_naive();
    let ip = ip(&req);
    run(&state, move |conn| {
        domains::delete(conn, &member.0, &id, ip.as_deref(), now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Resolves `_tessera-challenge.{domain}` TXT now; 200 when the expected
/// value is there, else 422 with what was found.
pub async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    member: Member,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let m = member.0.clone();
    let lookup_id = id.clone();
    let row = run(&state, move |conn| domains::find(conn, &m, &lookup_id)).await?;
    let answer = state.dns.txt(&domains::record_name(&row.domain)).await;
    state
        .metrics
        .dns_check("verify", crate::orgs::domains::outcome_label(&answer));
    let now = state.clock.now_naive();
    let ip = ip(&req);
    let outcome = run(&state, move |conn| {
        domains::apply_verification(conn, &member.0, &id, answer, ip.as_deref(), now)
    })
    .await?;
    Ok(match outcome {
        VerifyOutcome::Verified(d) => HttpResponse::Ok().json(d),
        VerifyOutcome::NotFound(found) => HttpResponse::build(StatusCode::UNPROCESSABLE_ENTITY).json(serde_json::json!({
            "error": "verification_failed",
            "error_description": format!(
                "{} does not hold the expected TXT value ({})",
                domains::record_name(&row.domain),
                describe(&found)
            ),
            "found": found,
            "expected": {"type": "TXT", "name": domains::record_name(&row.domain), "value": format!("{}{}", domains::VALUE_PREFIX, row.verification_token)},
        })),
    })
}

fn describe(a: &crate::dns::TxtAnswer) -> String {
    use crate::dns::TxtAnswer::*;
    match a {
        Records(v) => format!(
            "found other values: {}",
            v.iter()
                .map(|s| s.chars().take(100).collect::<String>())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        NoRecord => "no TXT record".into(),
        Nxdomain => "the name does not exist (NXDOMAIN)".into(),
        Timeout => "the DNS query timed out".into(),
        Error(e) => format!("DNS error: {e}"),
    }
}
