//! Org claims for tokens, computed from the database at issue time.

use serde_json::{Map, Value};

use crate::config::Settings;
use crate::db::models::User;
use crate::db::DbConn;
use crate::oauth::client::Client;
use crate::oauth::grants::Extras;
use crate::oauth::scope::Scope;
use crate::oauth::OAuthError;
use crate::tokens::issue::ExtraClaims;

/// The extras stage for user tokens (org claims; hooks add theirs later).
pub fn extras(
    _settings: &Settings,
) -> impl Fn(&mut DbConn, &Client, &User, Option<&str>, &Scope) -> Result<Extras, OAuthError> + '_ {
    move |_conn, _client, _user, org, _scope| {
        Ok(Extras {
            claims: ExtraClaims::default(),
            org_id: org.map(str::to_string),
        })
    }
}

/// Org claims of a machine-to-machine token.
pub fn m2m(
    _conn: &mut DbConn,
    _settings: &Settings,
    _client: &Client,
    organization: Option<&str>,
) -> Result<Map<String, Value>, OAuthError> {
    match organization {
        None => Ok(Map::new()),
        Some(_) => Err(OAuthError::InvalidRequest(
            "organization-scoped client credentials are not available yet".into(),
        )),
    }
}
