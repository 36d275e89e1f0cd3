//! The client credentials grant (RFC 6749 §4.4).

use chrono::NaiveDateTime;

use super::{audiences, expires_in, USER_SCOPES};
use crate::config::Settings;
use crate::oauth::client::Client;
use crate::oauth::grant_type::GrantType;
use crate::oauth::scope::Scope;
use crate::oauth::OAuthError;
use crate::tokens::issue::{self, AccessTokenSpec, TokenPlan};

/// RFC 6749 §4.4: a token for the client itself (`sub` = client_id).
/// No database writes: this is the hot path for machine-to-machine calls.
pub fn client_credentials(
    settings: &Settings,
    client: &Client,
    scope: Option<&str>,
    audience: Option<&str>,
    org_claims: serde_json::Map<String, serde_json::Value>,
    now: NaiveDateTime,
) -> Result<TokenPlan, OAuthError> {
    if client.public || !client.allows_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the client credentials grant".into(),
        ));
    }
    let scope = match scope {
        Some(s) => {
            let s = Scope::parse(s)?;
            if let Some(bad) = s.iter().find(|t| USER_SCOPES.contains(t)) {
                return Err(OAuthError::InvalidScope(format!(
                    "scope `{bad}` needs a user; not available to client credentials"
                )));
            }
            if let Some(bad) = s.first_outside(&client.scopes) {
                return Err(OAuthError::InvalidScope(format!(
                    "scope `{bad}` is not allowed for this client"
                )));
            }
            s
        }
        None => Scope::from_list(&client.scopes).without(USER_SCOPES),
    };
    let aud = audiences(settings, client, audience, &scope)?;
    let scope_text = scope.to_string();
    let jti = uuid::Uuid::new_v4().to_string();
    let access = issue::access_claims(
        settings,
        &AccessTokenSpec {
            jti: &jti,
            client_id: &client.id,
            subject: &client.id,
            audiences: &aud,
            scope: &scope_text,
            auth_time: None,
            now: now.and_utc().timestamp(),
        },
        &org_claims,
    );
    Ok(TokenPlan {
        access,
        id: None,
        refresh_token: None,
        scope: scope_text,
        expires_in: expires_in(settings),
    })
}
