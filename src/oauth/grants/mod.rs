//! The token endpoint's grants (RFC 6749 §4.1.3, §6, §4.4). Each grant does
//! its database work in one transaction and returns a [`TokenPlan`]; the
//! issuance service (`crate::issuance`) runs the actions around them and
//! signs the plan afterwards (off the executor for RSA).
//!
//! * [`code`] — the authorization code grant, with replay revocation;
//! * [`refresh`] — rotation with reuse detection, in a read phase and a write phase;
//! * [`client_credentials`] — machine-to-machine tokens, no database.

mod client_credentials;
mod code;
mod refresh;

pub use client_credentials::client_credentials;
pub use code::authorization_code;
pub use refresh::{refresh_commit, refresh_prepare, RefreshPrepared};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Deserialize;

use super::client::Client;
use super::grant_type::GrantType;
use super::scope::Scope;
use super::OAuthError;
use crate::config::Settings;
use crate::db::models::{RefreshToken, User};
use crate::db::schema::refresh_tokens;
use crate::db::DbConn;
use crate::secrets;
use crate::tokens::issue::{self, AccessTokenSpec, ExtraClaims, IdTokenSpec, TokenPlan};

/// `POST /oauth/token` parameters after client authentication, by grant type.
#[derive(Debug, Deserialize)]
#[serde(tag = "grant_type", rename_all = "snake_case")]
pub enum TokenRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<String>,
        organization: Option<String>,
    },
    ClientCredentials {
        scope: Option<String>,
        audience: Option<String>,
        organization: Option<String>,
    },
}

impl TokenRequest {
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            Self::RefreshToken { .. } => GrantType::RefreshToken,
            Self::ClientCredentials { .. } => GrantType::ClientCredentials,
        }
    }
}

/// Scopes that only make sense with a user.
pub(crate) const USER_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access", "orgs"];

/// The outcome of a grant's transaction: a plan, or a failure whose side
/// effects (revocations, audit) must still be committed.
pub(crate) enum Outcome {
    Issue(Box<TokenPlan>),
    Fail(OAuthError),
}

/// `expires_in` of a token response: the access token lifetime.
pub(crate) fn expires_in(settings: &Settings) -> i64 {
    settings.tokens.access_token_ttl().num_seconds()
}

/// The claims the post-login actions added at `/authorize`, kept on the
/// code (`authorization_codes.hook_claims`) until the exchange.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct CodeClaims {
    #[serde(default)]
    pub access: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub id: serde_json::Map<String, serde_json::Value>,
}

impl CodeClaims {
    /// Decodes the stored column; a value that does not decode is an error
    /// (a silently dropped claim would change what downstream services see).
    pub fn decode(stored: &str) -> Result<Self, OAuthError> {
        serde_json::from_str(stored)
            .map_err(|e| OAuthError::server(format!("authorization_codes.hook_claims: {e}")))
    }

    pub fn encode(&self) -> String {
        serde_json::json!({"access": self.access, "id": self.id}).to_string()
    }
}

/// What the stages before the grant computed: org claims (and the actions'
/// claims) and the org the refresh token is bound to.
#[derive(Debug, Clone)]
pub struct Extras {
    pub claims: ExtraClaims,
    pub org_id: Option<String>,
}

/// What the post-login actions asked for, applied in the grant's write.
#[derive(Debug, Default, Clone)]
pub struct ActionAdditions {
    pub claims: ExtraClaims,
    /// app_metadata keys to merge into the user's (top level).
    pub app_metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Computes the org stage for a user token (given by the issuance service).
pub type ExtrasFn<'a> =
    &'a dyn Fn(&mut DbConn, &Client, &User, Option<&str>, &Scope) -> Result<Extras, OAuthError>;

/// The `aud` of an access token: the requested audience (which must be one
/// of the client's, or `{issuer}/api`), else the client's default, else the
/// configured default, else the issuer; plus `{issuer}/api` when the scope
/// holds `manage`, or `orgs` for a first-party client.
pub fn audiences(
    settings: &Settings,
    client: &Client,
    requested: Option<&str>,
    scope: &Scope,
) -> Result<Vec<String>, OAuthError> {
    let api = settings.api_audience();
    let mut aud = Vec::new();
    match requested {
        Some(r) if client.audiences.iter().any(|a| a == r) || r == api => aud.push(r.to_string()),
        Some(r) => {
            return Err(OAuthError::InvalidTarget(format!(
                "audience `{r}` is not allowed for this client"
            )))
        }
        None => {
            if let Some(d) = client
                .default_audience()
                .or(settings.tokens.default_audience.as_deref())
            {
                aud.push(d.to_string());
            }
        }
    }
    // SPEC §2 (round 2): only a first-party client's `orgs` token also
    // carries the org API's audience. A third-party client gets an org-API
    // token only by asking for `audience={issuer}/api`, and that token has
    // no other audience — an app's resource server must not be able to
    // replay a user's token against the org API. (`manage` is a machine's
    // own client-credentials access to it.)
    let wants_api = scope.contains("manage") || (scope.contains("orgs") && client.first_party);
    if wants_api && !aud.contains(&api) {
        aud.push(api);
    }
    if aud.is_empty() {
        aud.push(settings.issuer.clone());
    }
    Ok(aud)
}

pub(crate) struct UserTokenInput<'a> {
    client: &'a Client,
    user: &'a User,
    scope: &'a Scope,
    refresh_scope: &'a Scope,
    audience: Option<&'a str>,
    nonce: Option<&'a str>,
    auth_time: NaiveDateTime,
    session_id: Option<&'a str>,
    connection: &'a str,
    code_hash: Option<&'a str>,
    family: Option<(&'a str, &'a str, NaiveDateTime)>,
    extras: Extras,
}

/// Builds access/ID claims and, when the client may refresh, stores a new refresh token.
pub(crate) fn plan_user_tokens(
    conn: &mut DbConn,
    settings: &Settings,
    input: UserTokenInput<'_>,
    now: NaiveDateTime,
) -> Result<(TokenPlan, String, NaiveDateTime), OAuthError> {
    let aud = audiences(settings, input.client, input.audience, input.scope)?;
    let scope = input.scope.to_string();
    let jti = uuid::Uuid::new_v4().to_string();
    let unix = now.and_utc().timestamp();
    let auth_time = input.auth_time.and_utc().timestamp();
    let access = issue::access_claims(
        settings,
        &AccessTokenSpec {
            jti: &jti,
            client_id: &input.client.id,
            subject: &input.user.id,
            audiences: &aud,
            scope: &scope,
            auth_time: Some(auth_time),
            now: unix,
        },
        &input.extras.claims.access,
    );
    let id = input.scope.contains("openid").then(|| {
        issue::id_claims(
            settings,
            &IdTokenSpec {
                client_id: &input.client.id,
                user: input.user,
                scope: &scope,
                nonce: input.nonce,
                auth_time,
                session_id: input.session_id,
                now: unix,
            },
            &input.extras.claims.id,
        )
    });
    if let Some(org) = &input.extras.org_id {
        crate::orgs::claims::remember(conn, input.user, org, now)?;
    }
    let access_exp = now + settings.tokens.access_token_ttl();
    let refresh_token = if input.client.allows_grant(GrantType::RefreshToken) {
        let token = secrets::new_token();
        let (family_id, parent_id, family_expires_at) = match input.family {
            Some((f, p, exp)) => (f.to_string(), Some(p.to_string()), exp),
            None => (
                uuid::Uuid::now_v7().to_string(),
                None,
                now + settings.tokens.refresh_token_absolute_ttl(),
            ),
        };
        let row = RefreshToken {
            id: uuid::Uuid::now_v7().to_string(),
            token_hash: secrets::hash_token(&token),
            family_id,
            parent_id,
            client_id: input.client.id.clone(),
            user_id: input.user.id.clone(),
            session_id: input.session_id.map(str::to_string),
            code_hash: input.code_hash.map(str::to_string),
            scope: input.refresh_scope.to_string(),
            audience: input.audience.map(str::to_string),
            org_id: input.extras.org_id.clone(),
            connection: input.connection.to_string(),
            auth_time: input.auth_time,
            access_token_jti: Some(jti.clone()),
            access_token_expires_at: Some(access_exp),
            family_expires_at,
            idle_expires_at: (now + settings.tokens.refresh_token_idle_ttl())
                .min(family_expires_at),
            rotated_at: None,
            revoked_at: None,
            created_at: now,
        };
        diesel::insert_into(refresh_tokens::table)
            .values(&row)
            .execute(conn)?;
        Some(token)
    } else {
        None
    };
    let plan = TokenPlan {
        access,
        id,
        refresh_token,
        scope,
        expires_in: expires_in(settings),
    };
    Ok((plan, jti, access_exp))
}
