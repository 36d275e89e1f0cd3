//! `POST /oauth/token`, `/oauth/introspect`, `/oauth/revoke`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::{peer_ip as ip, user_agent};
use crate::app::AppState;
use crate::oauth::client::{self, PresentedClient};
use crate::oauth::grants::{self, TokenRequest};
use crate::oauth::params::Params;
use crate::oauth::{introspect, revoke, OAuthError};

/// Parses a form-encoded body; anything else is `invalid_request`.
fn form(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| OAuthError::InvalidRequest("the body is not UTF-8".into()))?;
    Params::parse(text)
}

fn credentials(
    req: &HttpRequest,
    params: &mut Params,
) -> Result<Option<PresentedClient>, OAuthError> {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    client::presented(auth, params)
}

fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res.headers_mut()
        .insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    res
}

/// RFC 6749 §3.2.
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let mut params = form(&req, &body)?;
    let presented = credentials(&req, &mut params)?;
    let grant = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::InvalidRequest("grant_type is required".into()))?
        .to_string();
    if !TokenRequest::GRANT_TYPES.contains(&grant.as_str()) {
        return Err(OAuthError::UnsupportedGrantType(format!(
            "grant_type `{grant}` is not supported"
        )));
    }
    let request: TokenRequest = serde_json::from_value(params.into_json())
        .map_err(|e| OAuthError::InvalidRequest(format!("{grant}: {e}")))?;
    let grant_type = request.grant_type();
    let now = state.clock.now_naive();
    let client = authenticate(&state, presented).await?;
    let plan = match request {
        // The hot path: no database at all (unless actions run).
        TokenRequest::ClientCredentials {
            scope,
            audience,
            organization,
        } => {
            let org_claims = match &organization {
                None => serde_json::Map::new(),
                Some(o) => {
                    let (st, c, o) = (state.clone(), client.clone(), o.clone());
                    state
                        .db
                        .run(move |conn| crate::orgs::claims::m2m(conn, &st.settings, &c, Some(&o)))
                        .await?
                }
            };
            let plan = grants::client_credentials(
                &state.settings,
                &client,
                scope.as_deref(),
                audience.as_deref(),
                org_claims,
                now,
            )?;
            credentials_hooks(
                &state,
                &req,
                &client,
                plan,
                audience.as_deref(),
                organization.as_deref(),
            )
            .await?
        }
        TokenRequest::RefreshToken {
            refresh_token,
            scope,
            organization,
        } => {
            let transaction = if organization.is_some() {
                "switch"
            } else {
                "refresh"
            };
            refresh_with_hooks(
                &state,
                &req,
                client,
                refresh_token,
                scope,
                organization,
                transaction,
            )
            .await?
        }
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            let st = state.clone();
            state
                .db
                .run(move |conn| {
                    let extras = crate::orgs::claims::extras(&st.settings);
                    grants::authorization_code(
                        conn,
                        &st.settings,
                        &client,
                        &code,
                        redirect_uri.as_deref(),
                        code_verifier.as_deref(),
                        &extras,
                        now,
                    )
                })
                .await?
        }
    };
    let response = plan.sign(&state.keys).await?;
    state.metrics.inc(
        "tessera_tokens_issued_total",
        "Token responses issued, by grant type",
        vec![("grant_type", grant_type.to_string())],
    );
    Ok(no_store(HttpResponse::Ok().json(response)))
}

/// Client authentication through the short-lived client cache.
async fn authenticate(
    state: &AppState,
    presented: Option<PresentedClient>,
) -> Result<client::Client, OAuthError> {
    let p = presented
        .ok_or_else(|| OAuthError::InvalidClient("client authentication is required".into()))?;
    let found = match state.clients.get(&p.client_id) {
        Some(c) => Some(c),
        None => {
            let id = p.client_id.clone();
            let c = state
                .db
                .run(move |conn| client::find(conn, &id).map_err(OAuthError::from))
                .await?;
            if let Some(c) = &c {
                state.clients.put(c);
            }
            c
        }
    };
    client::verify(found, p)
}

/// RFC 7662 §2.
pub async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let mut params = form(&req, &body)?;
    let presented = credentials(&req, &mut params)?;
    let token = params
        .take("token")
        .ok_or_else(|| OAuthError::InvalidRequest("token is required".into()))?;
    let now = state.clock.now_naive();
    let st = state.clone();
    let answer = state
        .db
        .run(move |conn| {
            let client = client::authenticate(conn, presented)?;
            if client.public {
                return Err(OAuthError::InvalidClient(
                    "introspection needs a confidential client".into(),
                ));
            }
            introspect::introspect(conn, &st.keys, &st.settings, &client, &token, now)
        })
        .await?;
    Ok(no_store(HttpResponse::Ok().json(answer)))
}

/// RFC 7009 §2.
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let mut params = form(&req, &body)?;
    let presented = credentials(&req, &mut params)?;
    let token = params
        .take("token")
        .ok_or_else(|| OAuthError::InvalidRequest("token is required".into()))?;
    let now = state.clock.now_naive();
    let st = state.clone();
    state
        .db
        .run(move |conn| {
            let client = client::authenticate(conn, presented)?;
            revoke::revoke(conn, &st.keys, &client, &token, now)
        })
        .await?;
    Ok(no_store(HttpResponse::Ok().finish()))
}

/// Records `login_denied` for a denial by an action.
pub async fn record_denial(
    state: &AppState,
    user_id: Option<String>,
    org_id: Option<String>,
    client_id: String,
    denied: crate::hooks::Denied,
    ip: Option<String>,
) {
    let now = state.clock.now_naive();
    let result = state
        .db
        .run(move |conn| {
            crate::audit::record(
                conn,
                crate::audit::Event {
                    action: "login_denied",
                    org_id: org_id.as_deref(),
                    actor: match &user_id {
                        Some(u) => crate::audit::Actor::User(u.clone()),
                        None => crate::audit::Actor::Client(client_id.clone()),
                    },
                    target: Some(("client", &client_id)),
                    ip: ip.as_deref(),
                    detail: serde_json::json!({"action": denied.action, "reason": denied.reason}),
                },
                now,
            )
            .map_err(crate::db::DbError::from)
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "recording login_denied failed");
    }
}

/// The refresh grant (also the org switch) with the post-login actions
/// between its read phase and its write phase. A denial is `invalid_grant`.
pub async fn refresh_with_hooks(
    state: &AppState,
    req: &HttpRequest,
    client: client::Client,
    token: String,
    scope: Option<String>,
    organization: Option<String>,
    transaction: &'static str,
) -> Result<crate::tokens::issue::TokenPlan, OAuthError> {
    use crate::hooks::{event, Trigger};
    let now = state.clock.now_naive();
    let (ip, ua) = (ip(req), user_agent(req));
    let st = state.clone();
    let with_hooks = state.hooks.has(Trigger::PostLogin);
    let (ip2, c2, org) = (ip.clone(), client.clone(), organization.clone());
    let (prepared, ev) = state
        .db
        .run(move |conn| {
            let extras = crate::orgs::claims::extras(&st.settings);
            let p = grants::refresh_prepare(
                conn,
                &c2,
                &token,
                scope.as_deref(),
                org.as_deref(),
                &extras,
                ip2.as_deref(),
                now,
            )?;
            let ev = if with_hooks {
                Some(event::build(
                    conn,
                    event::EventInput {
                        trigger: Trigger::PostLogin,
                        transaction,
                        user: Some(p.user()),
                        client: &c2,
                        connection: Some(p.connection()),
                        organization: p.org_id(),
                        scope: &p.scope().to_string(),
                        audience: p.audience(),
                        organization_param: org.as_deref(),
                        ip: ip2.as_deref(),
                        user_agent: ua.as_deref(),
                        now: now.and_utc().timestamp(),
                    },
                )?)
            } else {
                None
            };
            Ok::<_, OAuthError>((p, ev))
        })
        .await?;
    let hook = match ev {
        Some(ev) => match state
            .hooks
            .run(Trigger::PostLogin, ev, &state.metrics)
            .await
            .0
        {
            Ok(out) => Some(out),
            Err(denied) => {
                let reason = denied.reason.clone();
                let (user, org) = (
                    prepared.user().id.clone(),
                    prepared.org_id().map(str::to_string),
                );
                record_denial(state, Some(user), org, client.id.clone(), denied, ip).await;
                return Err(OAuthError::InvalidGrant(reason));
            }
        },
        None => None,
    };
    let st = state.clone();
    state
        .db
        .run(move |conn| {
            grants::refresh_commit(
                conn,
                &st.settings,
                &client,
                prepared,
                hook.as_ref(),
                ip.as_deref(),
                now,
            )
        })
        .await
}

/// The `credentials_exchange` actions for a client-credentials token. A
/// denial is `unauthorized_client`, the closest RFC 6749 §5.2 code.
async fn credentials_hooks(
    state: &AppState,
    req: &HttpRequest,
    client: &client::Client,
    mut plan: crate::tokens::issue::TokenPlan,
    audience: Option<&str>,
    organization: Option<&str>,
) -> Result<crate::tokens::issue::TokenPlan, OAuthError> {
    use crate::hooks::{event, Trigger};
    if !state.hooks.has(Trigger::CredentialsExchange) {
        return Ok(plan);
    }
    let now = state.clock.now_naive();
    let (ip, ua) = (ip(req), user_agent(req));
    let (c, scope, aud, org) = (
        client.clone(),
        plan.scope.clone(),
        audience.map(str::to_string),
        organization.map(str::to_string),
    );
    let ip2 = ip.clone();
    let ev = state
        .db
        .run(move |conn| {
            event::build(
                conn,
                event::EventInput {
                    trigger: Trigger::CredentialsExchange,
                    transaction: "client_credentials",
                    user: None,
                    client: &c,
                    connection: None,
                    organization: org.as_deref(),
                    scope: &scope,
                    audience: aud.as_deref(),
                    organization_param: org.as_deref(),
                    ip: ip2.as_deref(),
                    user_agent: ua.as_deref(),
                    now: now.and_utc().timestamp(),
                },
            )
            .map_err(OAuthError::from)
        })
        .await?;
    match state
        .hooks
        .run(Trigger::CredentialsExchange, ev, &state.metrics)
        .await
        .0
    {
        Ok(out) => {
            plan.access.extend(out.access_token_claims);
            Ok(plan)
        }
        Err(denied) => {
            let reason = denied.reason.clone();
            record_denial(state, None, None, client.id.clone(), denied, ip).await;
            Err(OAuthError::UnauthorizedClient(reason))
        }
    }
}
