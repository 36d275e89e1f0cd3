//! Running the configured actions for one issue, and auditing a denial
//! (`login_denied`) so every entry point records it the same way.

use serde_json::Value;

use super::{Issuance, RequestContext};
use crate::audit::{self, Actor};
use crate::hooks::{Denied, HookOutput, Trigger};
use crate::oauth::grants::ActionAdditions;
use crate::tokens::issue::ExtraClaims;

/// Who a denied issue was for, for the audit event.
pub(crate) struct Subject<'a> {
    pub user_id: Option<&'a str>,
    pub org_id: Option<&'a str>,
    pub client_id: &'a str,
}

impl Issuance {
    /// Runs the actions of `trigger` on `event`. A denial is recorded as
    /// `login_denied` and returned with its reason.
    pub(crate) async fn run_actions(
        &self,
        trigger: Trigger,
        event: Value,
        subject: Subject<'_>,
        ctx: &RequestContext,
    ) -> Result<HookOutput, Denied> {
        let (result, _traces) = self.hooks.run(trigger, event, &self.metrics).await;
        if let Err(denied) = &result {
            self.record_denial(&subject, denied, ctx).await;
        }
        result
    }

    async fn record_denial(&self, subject: &Subject<'_>, denied: &Denied, ctx: &RequestContext) {
        let now = self.now();
        let (user_id, org_id, client_id) = (
            subject.user_id.map(str::to_string),
            subject.org_id.map(str::to_string),
            subject.client_id.to_string(),
        );
        let ip = ctx.ip.clone();
        let detail = serde_json::json!({"action": denied.action, "reason": denied.reason});
        let result = self
            .db
            .run(move |conn| {
                audit::record(
                    conn,
                    audit::Event {
                        action: "login_denied",
                        org_id: org_id.as_deref(),
                        actor: match &user_id {
                            Some(u) => Actor::User(u.clone()),
                            None => Actor::Client(client_id.clone()),
                        },
                        target: Some(("client", &client_id)),
                        ip: ip.as_deref(),
                        detail,
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
}

impl From<HookOutput> for ActionAdditions {
    fn from(out: HookOutput) -> Self {
        Self {
            claims: ExtraClaims {
                access: out.access_token_claims,
                id: out.id_token_claims,
            },
            app_metadata: out.app_metadata,
        }
    }
}
