//! Rows (`Queryable`), inserts (`Insertable`, named `New…`) and changesets.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::organizations;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, serde::Serialize)]
#[diesel(table_name = organizations)]
pub struct Organization {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub logo_url: Option<String>,
    pub metadata: String,
    pub personal: bool,
    pub preferred_connection: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = organizations)]
pub struct NewOrganization<'a> {
    pub id: &'a str,
    pub slug: &'a str,
    pub name: &'a str,
    pub logo_url: Option<&'a str>,
    pub metadata: &'a str,
    pub personal: bool,
    pub preferred_connection: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

use super::schema::{
    audit_events, authorization_codes, clients, identities, login_transactions, refresh_tokens,
    revoked_tokens, sessions, users,
};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable, AsChangeset)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub picture: Option<String>,
    pub app_metadata: String,
    pub last_active_org_id: Option<String>,
    pub logins_count: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = identities)]
pub struct Identity {
    pub id: String,
    pub user_id: String,
    pub provider: String,
    pub subject: String,
    pub login: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub profile: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable, AsChangeset)]
#[diesel(table_name = clients)]
#[diesel(treat_none_as_null = true)]
pub struct ClientRow {
    pub id: String,
    pub secret_hash: Option<String>,
    pub name: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    pub audiences: String,
    pub allowed_origins: String,
    pub public: bool,
    pub first_party: bool,
    pub organization_usage: String,
    pub source: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = login_transactions)]
pub struct LoginTransaction {
    pub id: String,
    pub browser_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub login_hint: Option<String>,
    pub max_age: Option<i64>,
    pub connection: Option<String>,
    pub organization: Option<String>,
    pub invitation: Option<String>,
    pub audience: Option<String>,
    pub upstream_state_hash: Option<String>,
    pub upstream_verifier: Option<String>,
    pub upstream_nonce: Option<String>,
    pub user_id: Option<String>,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: String,
    pub token_hash: String,
    pub user_id: String,
    pub connection: String,
    pub auth_time: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = authorization_codes, primary_key(code_hash))]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub audience: Option<String>,
    pub org_id: Option<String>,
    pub connection: String,
    pub auth_time: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub access_token_jti: Option<String>,
    pub access_token_expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    /// JSON `{"access": {…}, "id": {…}}` from the post-login actions.
    pub hook_claims: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub id: String,
    pub token_hash: String,
    pub family_id: String,
    pub parent_id: Option<String>,
    pub client_id: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub code_hash: Option<String>,
    pub scope: String,
    pub audience: Option<String>,
    pub org_id: Option<String>,
    pub connection: String,
    pub auth_time: NaiveDateTime,
    pub access_token_jti: Option<String>,
    pub access_token_expires_at: Option<NaiveDateTime>,
    pub family_expires_at: NaiveDateTime,
    pub idle_expires_at: NaiveDateTime,
    pub rotated_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = revoked_tokens, primary_key(jti))]
pub struct RevokedToken {
    pub jti: String,
    pub expires_at: NaiveDateTime,
    pub revoked_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: String,
    pub org_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor_type: String,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
    pub created_at: NaiveDateTime,
}

use super::schema::{organization_member_removals, organization_members, roles};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = roles)]
pub struct Role {
    pub id: String,
    pub org_id: Option<String>,
    pub name: String,
    pub description: String,
    pub permissions: String,
    pub built_in: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Role {
    /// The stored permission list; a value that does not decode is an error,
    /// never an empty list (which would silently strip a role).
    pub fn permission_list(&self) -> diesel::QueryResult<Vec<String>> {
        serde_json::from_str(&self.permissions).map_err(|e| {
            diesel::result::Error::DeserializationError(
                format!("roles.permissions of `{}` does not decode: {e}", self.id).into(),
            )
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organization_members)]
pub struct Membership {
    pub org_id: String,
    pub user_id: String,
    pub role_id: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organization_member_removals)]
pub struct MemberRemoval {
    pub org_id: String,
    pub user_id: String,
    pub removed_at: NaiveDateTime,
}

use super::schema::organization_invitations;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = organization_invitations)]
pub struct Invitation {
    pub id: String,
    pub org_id: String,
    pub email: Option<String>,
    pub github_login: Option<String>,
    pub github_id: Option<String>,
    pub role_id: String,
    pub token_hash: String,
    pub inviter_id: Option<String>,
    pub delivery_status: String,
    pub expires_at: NaiveDateTime,
    pub accepted_at: Option<NaiveDateTime>,
    pub accepted_by: Option<String>,
    pub declined_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

use super::schema::organization_domains;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = organization_domains)]
pub struct OrgDomain {
    pub id: String,
    pub org_id: String,
    pub domain: String,
    pub verification_token: String,
    pub status: String,
    pub auto_enroll: bool,
    pub enroll_role_id: Option<String>,
    pub record_seen: Option<String>,
    pub verified_at: Option<NaiveDateTime>,
    pub last_checked_at: Option<NaiveDateTime>,
    pub failing_since: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}
