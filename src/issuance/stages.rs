//! The built-in org stage: org claims of user tokens (login, refresh,
//! switch) and of machine tokens (client credentials with `organization=`).
//! Computed from the database at every issue, never copied from the request.

use diesel::prelude::*;
use serde_json::{Map, Value};

use crate::config::Settings;
use crate::db::models::User;
use crate::db::schema::client_organizations;
use crate::db::DbConn;
use crate::oauth::client::{Client, OrganizationUsage};
use crate::oauth::grants::Extras;
use crate::oauth::scope::Scope;
use crate::oauth::OAuthError;
use crate::orgs::claims::{default_org, org_claims};
use crate::orgs::membership::find_org;
use crate::orgs::OrgMember;
use crate::tokens::issue::ExtraClaims;

/// The org stage for user tokens: org claims in access and ID tokens.
/// Reads only; the grant remembers the active org in its write.
/// `org` is the org chosen at login, the refresh token's org, or a switch
/// target; the user must be a member *now*, else `invalid_grant`.
pub fn org_stage(
    settings: &Settings,
) -> impl Fn(&mut DbConn, &Client, &User, Option<&str>, &Scope) -> Result<Extras, OAuthError> + '_ {
    move |conn, client, user, org, _scope| {
        if client.organization_usage == OrganizationUsage::None {
            return Ok(Extras {
                claims: ExtraClaims::default(),
                org_id: None,
            });
        }
        let member = match org {
            Some(o) => Some(OrgMember::load(conn, &user.id, o)?.ok_or_else(|| {
                OAuthError::InvalidGrant(format!(
                    "the user is not a member of the organization `{o}`"
                ))
            })?),
            None => default_org(conn, user)?,
        };
        let Some(member) = member else {
            return Ok(Extras {
                claims: ExtraClaims::default(),
                org_id: None,
            });
        };
        let claims = org_claims(settings, &member);
        Ok(Extras {
            claims: ExtraClaims {
                access: claims.clone(),
                id: claims,
            },
            org_id: Some(member.org_id().to_string()),
        })
    }
}

/// Org claim of a machine-to-machine token: `{ns}org_id` only, for an org the
/// client was granted (`tessera orgs grant-client`).
pub fn machine_org_claims(
    conn: &mut DbConn,
    settings: &Settings,
    client: &Client,
    organization: Option<&str>,
) -> Result<Map<String, Value>, OAuthError> {
    let Some(o) = organization else {
        return Ok(Map::new());
    };
    let denied = || {
        OAuthError::InvalidRequest(format!(
            "this client has no access to the organization `{o}`"
        ))
    };
    let org = find_org(conn, o)?.ok_or_else(denied)?;
    let granted = client_organizations::table
        .filter(client_organizations::client_id.eq(&client.id))
        .filter(client_organizations::org_id.eq(&org.id))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if !granted {
        return Err(denied());
    }
    let mut c = Map::new();
    c.insert(format!("{}org_id", settings.namespace()), org.id.into());
    Ok(c)
}
