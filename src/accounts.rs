//! Users and their upstream identities: find by (provider, subject), link a
//! new identity by verified email only, else create a user.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::models::{Identity, User};
use crate::db::schema::{identities, users};
use crate::db::DbConn;
use crate::email::Email;

/// What an upstream login proved about the person.
#[derive(Debug, Clone)]
pub struct UpstreamProfile {
    pub provider: String,
    pub subject: String,
    pub login: Option<String>,
    /// Parsed by the connector; an address it could not parse is `None`.
    pub email: Option<Email>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub picture: Option<String>,
    pub raw: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioned {
    /// The identity was known.
    Existing,
    /// A new identity was linked to the user holding the same verified email.
    Linked,
    /// A new user was created.
    Created,
}

/// Finds or creates the user for an upstream profile and counts the login.
/// Runs inside the caller's transaction so a failure leaves no half user.
pub fn provision(
    conn: &mut DbConn,
    p: &UpstreamProfile,
    now: NaiveDateTime,
) -> QueryResult<(User, Provisioned)> {
    // Stored lowercased (Email::parse), so equality is case-insensitive.
    let email: Option<String> = p.email.as_ref().map(|e| e.as_str().to_string());
    let profile_json = p.raw.to_string();
    let existing: Option<Identity> = identities::table
        .filter(identities::provider.eq(&p.provider))
        .filter(identities::subject.eq(&p.subject))
        .select(Identity::as_select())
        .first(conn)
        .optional()?;
    let (user_id, outcome) = if let Some(identity) = existing {
        diesel::update(identities::table.find(&identity.id))
            .set((
                identities::login.eq(&p.login),
                identities::email.eq(&email),
                identities::email_verified.eq(p.email_verified),
                identities::profile.eq(&profile_json),
                identities::updated_at.eq(now),
            ))
            .execute(conn)?;
        (identity.user_id, Provisioned::Existing)
    } else {
        // Link only when the upstream verified the email AND the existing user's
        // email is verified too; anything else would allow account takeover.
        let link_to: Option<String> = match (&email, p.email_verified) {
            (Some(e), true) => users::table
                .filter(users::email.eq(e))
                .filter(users::email_verified.eq(true))
                .order(users::created_at.asc())
                .select(users::id)
                .first(conn)
                .optional()?,
            _ => None,
        };
        let (user_id, outcome) = match link_to {
            Some(id) => (id, Provisioned::Linked),
            None => {
                let user = User {
                    id: uuid::Uuid::now_v7().to_string(),
                    email: email.clone(),
                    email_verified: email.is_some() && p.email_verified,
                    name: p.name.clone(),
                    picture: p.picture.clone(),
                    app_metadata: "{}".into(),
                    last_active_org_id: None,
                    logins_count: 0,
                    created_at: now,
                    updated_at: now,
                };
                diesel::insert_into(users::table)
                    .values(&user)
                    .execute(conn)?;
                (user.id, Provisioned::Created)
            }
        };
        let identity = Identity {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user_id.clone(),
            provider: p.provider.clone(),
            subject: p.subject.clone(),
            login: p.login.clone(),
            email: email.clone(),
            email_verified: p.email_verified,
            profile: profile_json,
            created_at: now,
            updated_at: now,
        };
        diesel::insert_into(identities::table)
            .values(&identity)
            .execute(conn)?;
        (user_id, outcome)
    };
    // Refresh profile fields from the identity used; a verified email upgrades.
    let user: User = users::table
        .find(&user_id)
        .select(User::as_select())
        .first(conn)?;
    let (new_email, new_verified) = match (&email, p.email_verified) {
        (Some(e), true) if !user.email_verified || user.email.as_deref() == Some(e.as_str()) => {
            (Some(e.clone()), true)
        }
        _ => (user.email.clone(), user.email_verified),
    };
    diesel::update(users::table.find(&user_id))
        .set((
            users::email.eq(&new_email),
            users::email_verified.eq(new_verified),
            users::name.eq(p.name.clone().or(user.name.clone())),
            users::picture.eq(p.picture.clone().or(user.picture.clone())),
            users::logins_count.eq(users::logins_count + 1),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    let user: User = users::table
        .find(&user_id)
        .select(User::as_select())
        .first(conn)?;
    Ok((user, outcome))
}

pub fn find_user(conn: &mut DbConn, id: &str) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// The user's `app_metadata` object. A stored value that is not a JSON
/// object is an error: overwriting it with `{}` would lose data.
pub fn app_metadata(user: &User) -> QueryResult<serde_json::Map<String, serde_json::Value>> {
    decode_app_metadata(&user.id, &user.app_metadata)
}

fn decode_app_metadata(
    user_id: &str,
    stored: &str,
) -> QueryResult<serde_json::Map<String, serde_json::Value>> {
    serde_json::from_str(stored).map_err(|e| {
        diesel::result::Error::DeserializationError(
            format!("users.app_metadata of `{user_id}` is not a JSON object: {e}").into(),
        )
    })
}

/// Merges app_metadata changes (top-level keys) into the user's stored
/// app_metadata, in the caller's transaction.
pub fn merge_app_metadata(
    conn: &mut DbConn,
    user_id: &str,
    changes: &serde_json::Map<String, serde_json::Value>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let current: String = users::table
        .find(user_id)
        .select(users::app_metadata)
        .first(conn)?;
    let mut meta = decode_app_metadata(user_id, &current)?;
    meta.extend(changes.clone());
    diesel::update(users::table.find(user_id))
        .set((
            users::app_metadata.eq(serde_json::Value::Object(meta).to_string()),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
