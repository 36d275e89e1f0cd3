//! The token endpoint's grants, `/api/switch-org` and the actions dry run,
//! each one call: built-in stages → actions → claims → store → sign.

use serde_json::Value;

use super::actions::Subject;
use super::stages::{machine_org_claims, org_stage};
use super::{Issuance, RequestContext};
use crate::accounts;
use crate::hooks::event::{self, EventInput, Transaction};
use crate::hooks::{ActionTrace, Denied, HookOutput, Trigger};
use crate::oauth::client::{self, Client};
use crate::oauth::grants::{self, ActionAdditions, TokenRequest};
use crate::oauth::revoke::find_refresh;
use crate::oauth::OAuthError;
use crate::tokens::issue::{TokenPlan, TokenResponse};

impl Issuance {
    /// `POST /oauth/token` for an authenticated client: one grant, signed.
    pub async fn token(
        &self,
        client: Client,
        request: TokenRequest,
        ctx: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let grant_type = request.grant_type();
        let plan = match request {
            TokenRequest::ClientCredentials {
                scope,
                audience,
                organization,
            } => {
                self.client_credentials(client, scope, audience, organization, ctx)
                    .await?
            }
            TokenRequest::RefreshToken {
                refresh_token,
                scope,
                organization,
            } => {
                let transaction = match organization {
                    Some(_) => Transaction::Switch,
                    None => Transaction::Refresh,
                };
                self.refresh(client, refresh_token, scope, organization, transaction, ctx)
                    .await?
            }
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                let (settings, now) = (self.settings.clone(), self.now());
                self.db
                    .run(move |conn| {
                        grants::authorization_code(
                            conn,
                            &settings,
                            &client,
                            &code,
                            redirect_uri.as_deref(),
                            code_verifier.as_deref(),
                            &org_stage(&settings),
                            now,
                        )
                    })
                    .await?
            }
        };
        self.sign(plan, grant_type.as_str()).await
    }

    /// `POST /api/switch-org`: the refresh grant with `organization`, for a
    /// refresh token of the caller's, from the client of the caller's token.
    /// A confidential client's refresh token also needs that client's
    /// credentials (SPEC §3, round 2): a leaked refresh token plus any access
    /// token of the user must stay useless without the secret.
    pub async fn switch_org(
        &self,
        user_id: String,
        client_id: String,
        organization: String,
        refresh_token: String,
        presented: Option<client::PresentedClient>,
        ctx: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let token = refresh_token.clone();
        let client = self
            .db
            .run(move |conn| {
                let rt = find_refresh(conn, &token)?
                    .filter(|rt| rt.user_id == user_id && rt.client_id == client_id)
                    .ok_or_else(|| {
                        OAuthError::InvalidGrant("the refresh token is not yours".into())
                    })?;
                let client = client::find(conn, &rt.client_id)?
                    .ok_or_else(|| OAuthError::InvalidGrant("unknown client".into()))?;
                if client.public {
                    return Ok(client);
                }
                match presented {
                    Some(p) if p.client_id == client.id => client::verify(Some(client), p),
                    Some(_) => Err(OAuthError::InvalidClient(
                        "client_id is not the client of this refresh token".into(),
                    )),
                    None => Err(OAuthError::InvalidClient(
                        "a confidential client's refresh token needs client_id and client_secret"
                            .into(),
                    )),
                }
            })
            .await?;
        let plan = self
            .refresh(
                client,
                refresh_token,
                None,
                Some(organization),
                Transaction::Switch,
                ctx,
            )
            .await?;
        self.sign(plan, "switch_org").await
    }

    async fn sign(
        &self,
        plan: TokenPlan,
        label: &'static str,
    ) -> Result<TokenResponse, OAuthError> {
        let response = plan.sign(&self.keys).await?;
        self.metrics.token_issued(label);
        Ok(response)
    }

    /// The refresh grant (also the org switch) with the post-login actions
    /// between its read phase and its write phase. A denial is `invalid_grant`.
    async fn refresh(
        &self,
        client: Client,
        token: String,
        scope: Option<String>,
        organization: Option<String>,
        transaction: Transaction,
        ctx: &RequestContext,
    ) -> Result<TokenPlan, OAuthError> {
        let now = self.now();
        let with_hooks = self.hooks.has(Trigger::PostLogin);
        let (settings, c, ctx2) = (self.settings.clone(), client.clone(), ctx.clone());
        let (prepared, ev) = self
            .db
            .run(move |conn| {
                let p = grants::refresh_prepare(
                    conn,
                    &c,
                    &token,
                    scope.as_deref(),
                    organization.as_deref(),
                    &org_stage(&settings),
                    ctx2.ip.as_deref(),
                    now,
                )?;
                let ev = if with_hooks {
                    Some(event::build(
                        conn,
                        EventInput {
                            trigger: Trigger::PostLogin,
                            transaction,
                            user: Some(p.user()),
                            client: &c,
                            connection: Some(p.connection()),
                            organization: p.org_id(),
                            scope: &p.scope().to_string(),
                            audience: p.audience(),
                            organization_param: organization.as_deref(),
                            ip: ctx2.ip.as_deref(),
                            user_agent: ctx2.user_agent.as_deref(),
                            now: now.and_utc().timestamp(),
                        },
                    )?)
                } else {
                    None
                };
                Ok::<_, OAuthError>((p, ev))
            })
            .await?;
        let added: Option<ActionAdditions> = match ev {
            Some(ev) => {
                let subject = Subject {
                    user_id: Some(&prepared.user().id),
                    org_id: prepared.org_id(),
                    client_id: &client.id,
                };
                match self.run_actions(Trigger::PostLogin, ev, subject, ctx).await {
                    Ok(out) => Some(out.into()),
                    Err(denied) => return Err(OAuthError::InvalidGrant(denied.reason)),
                }
            }
            None => None,
        };
        let (settings, ip) = (self.settings.clone(), ctx.ip.clone());
        self.db
            .run(move |conn| {
                grants::refresh_commit(
                    conn,
                    &settings,
                    &client,
                    prepared,
                    added.as_ref(),
                    ip.as_deref(),
                    now,
                )
            })
            .await
    }

    /// Client credentials: no database on the hot path (unless the request
    /// names an org or `credentials_exchange` actions exist). A denial is
    /// `unauthorized_client`, the closest RFC 6749 §5.2 code.
    async fn client_credentials(
        &self,
        client: Client,
        scope: Option<String>,
        audience: Option<String>,
        organization: Option<String>,
        ctx: &RequestContext,
    ) -> Result<TokenPlan, OAuthError> {
        let now = self.now();
        let org_claims = match &organization {
            None => serde_json::Map::new(),
            Some(o) => {
                let (settings, c, o) = (self.settings.clone(), client.clone(), o.clone());
                self.db
                    .run(move |conn| machine_org_claims(conn, &settings, &c, Some(&o)))
                    .await?
            }
        };
        let mut plan = grants::client_credentials(
            &self.settings,
            &client,
            scope.as_deref(),
            audience.as_deref(),
            org_claims,
            now,
        )?;
        if !self.hooks.has(Trigger::CredentialsExchange) {
            return Ok(plan);
        }
        let (c, scope, ctx2) = (client.clone(), plan.scope.clone(), ctx.clone());
        let ev = self
            .db
            .run(move |conn| {
                event::build(
                    conn,
                    EventInput {
                        trigger: Trigger::CredentialsExchange,
                        transaction: Transaction::ClientCredentials,
                        user: None,
                        client: &c,
                        connection: None,
                        organization: organization.as_deref(),
                        scope: &scope,
                        audience: audience.as_deref(),
                        organization_param: organization.as_deref(),
                        ip: ctx2.ip.as_deref(),
                        user_agent: ctx2.user_agent.as_deref(),
                        now: now.and_utc().timestamp(),
                    },
                )
                .map_err(OAuthError::from)
            })
            .await?;
        let subject = Subject {
            user_id: None,
            org_id: None,
            client_id: &client.id,
        };
        match self
            .run_actions(Trigger::CredentialsExchange, ev, subject, ctx)
            .await
        {
            Ok(out) => {
                plan.access.extend(out.access_token_claims);
                Ok(plan)
            }
            Err(denied) => Err(OAuthError::UnauthorizedClient(denied.reason)),
        }
    }

    /// `POST /api/admin/hooks/dry-run`: runs the actions on an event (given,
    /// or built from the database as a real login would build it) without
    /// issuing or writing anything.
    pub async fn dry_run(&self, input: DryRunInput) -> Result<DryRunReport, DryRunError> {
        let trigger = input.trigger;
        let ev = match input.source {
            DryRunSource::Event(ev) => ev,
            DryRunSource::Build {
                client_id,
                user_id,
                organization,
            } => {
                let now = self.now();
                self.db
                    .run(move |conn| {
                        build_dry_run_event(conn, trigger, client_id, user_id, organization, now)
                    })
                    .await?
            }
        };
        let (result, actions) = self.hooks.run(trigger, ev.clone(), &self.metrics).await;
        Ok(DryRunReport {
            result,
            actions,
            event: ev,
        })
    }
}

fn build_dry_run_event(
    conn: &mut crate::db::DbConn,
    trigger: Trigger,
    client_id: String,
    user_id: Option<String>,
    organization: Option<String>,
    now: chrono::NaiveDateTime,
) -> Result<Value, DryRunError> {
    let client = client::find(conn, &client_id)?.ok_or(DryRunError::Invalid {
        field: "client_id",
        message: "no such client",
    })?;
    let user = match (&user_id, trigger) {
        (Some(id), _) => Some(accounts::find_user(conn, id)?.ok_or(DryRunError::Invalid {
            field: "user_id",
            message: "no such user",
        })?),
        (None, Trigger::PostLogin) => {
            return Err(DryRunError::Invalid {
                field: "user_id",
                message: "is required for post_login",
            })
        }
        (None, Trigger::CredentialsExchange) => None,
    };
    // The org a login would land in, when none is named.
    let org = match (&organization, &user) {
        (Some(o), _) => Some(o.clone()),
        (None, Some(u)) => {
            crate::orgs::claims::default_org(conn, u)?.map(|m| m.org_id().to_string())
        }
        (None, None) => None,
    };
    Ok(event::build(
        conn,
        EventInput {
            trigger,
            transaction: Transaction::DryRun,
            user: user.as_ref(),
            client: &client,
            connection: None,
            organization: org.as_deref(),
            scope: &client.scopes.join(" "),
            audience: None,
            organization_param: org.as_deref(),
            ip: None,
            user_agent: None,
            now: now.and_utc().timestamp(),
        },
    )?)
}

/// What the dry run runs on.
pub enum DryRunSource {
    /// A complete event, run as is.
    Event(Value),
    /// An event built from the database like a real login would build it.
    Build {
        client_id: String,
        user_id: Option<String>,
        organization: Option<String>,
    },
}

pub struct DryRunInput {
    pub trigger: Trigger,
    pub source: DryRunSource,
}

/// Each action's claims, any denial and the timings, and the event used.
pub struct DryRunReport {
    pub result: Result<HookOutput, Denied>,
    pub actions: Vec<ActionTrace>,
    pub event: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl From<diesel::result::Error> for DryRunError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}
