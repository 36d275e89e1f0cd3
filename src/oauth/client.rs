//! Registered clients: the parsed `Client`, registration (config, CLI),
//! and client authentication at the token, introspection and revocation
//! endpoints (`client_secret_basic`, `client_secret_post`, `none`).

use base64::engine::general_purpose::STANDARD as B64STD;
use base64::Engine;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::grant_type::GrantType;
use super::params::Params;
use super::OAuthError;
use crate::config::ClientConfig;
use crate::db::models::ClientRow;
use crate::db::schema::clients;
use crate::db::DbConn;
use crate::secrets;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrganizationUsage {
    None,
    Optional,
    Require,
}

/// A stored or configured value that is not a known one.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{field} must be {allowed}, not `{value}`")]
pub struct BadValue {
    pub field: &'static str,
    pub allowed: &'static str,
    pub value: String,
}

impl OrganizationUsage {
    pub fn parse(s: &str) -> Result<Self, BadValue> {
        match s {
            "none" => Ok(Self::None),
            "optional" => Ok(Self::Optional),
            "require" => Ok(Self::Require),
            other => Err(BadValue {
                field: "organization_usage",
                allowed: "none, optional or require",
                value: other.to_string(),
            }),
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Optional => "optional",
            Self::Require => "require",
        }
    }
}

/// A client as the protocol code sees it.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub audiences: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub organization_usage: OrganizationUsage,
}

/// A stored client row whose JSON or enum columns do not decode: an error,
/// never an empty default (a client silently losing its redirect URIs or
/// grants would be a confusing outage, one gaining defaults a hole).
fn corrupt(column: &'static str, id: &str, e: impl std::fmt::Display) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(
        format!("clients.{column} of `{id}` does not decode: {e}").into(),
    )
}

fn json_list<T: serde::de::DeserializeOwned>(
    column: &'static str,
    id: &str,
    s: &str,
) -> QueryResult<Vec<T>> {
    serde_json::from_str(s).map_err(|e| corrupt(column, id, e))
}

impl Client {
    pub fn from_row(row: ClientRow) -> QueryResult<Self> {
        let id = row.id.as_str();
        Ok(Self {
            redirect_uris: json_list("redirect_uris", id, &row.redirect_uris)?,
            post_logout_redirect_uris: json_list(
                "post_logout_redirect_uris",
                id,
                &row.post_logout_redirect_uris,
            )?,
            grant_types: json_list("grant_types", id, &row.grant_types)?,
            scopes: json_list("scopes", id, &row.scopes)?,
            audiences: json_list("audiences", id, &row.audiences)?,
            allowed_origins: json_list("allowed_origins", id, &row.allowed_origins)?,
            organization_usage: OrganizationUsage::parse(&row.organization_usage)
                .map_err(|e| corrupt("organization_usage", id, e))?,
            public: row.public,
            first_party: row.first_party,
            name: row.name,
            secret_hash: row.secret_hash,
            id: row.id,
        })
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// The grant type names, for listings.
    pub fn grant_type_names(&self) -> Vec<&'static str> {
        self.grant_types.iter().map(GrantType::as_str).collect()
    }

    /// Exact string match against a registered redirect URI (no prefix, no wildcard).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }

    /// Origins allowed for CORS: those of the redirect URIs plus `allowed_origins`.
    pub fn origins(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .redirect_uris
            .iter()
            .filter_map(|u| url::Url::parse(u).ok())
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o != "null")
            .collect();
        out.extend(
            self.allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_string()),
        );
        out
    }

    /// The audience of tokens when the request names none.
    pub fn default_audience(&self) -> Option<&str> {
        self.audiences.first().map(|s| s.as_str())
    }
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Client>> {
    clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
        .map(Client::from_row)
        .transpose()
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<Client>> {
    clients::table
        .order(clients::id.asc())
        .select(ClientRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Client::from_row)
        .collect()
}

/// What `clients add` and `[[clients]]` describe.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub audiences: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub organization_usage: String,
}

impl From<&ClientConfig> for ClientSpec {
    fn from(c: &ClientConfig) -> Self {
        Self {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            grant_types: c.grant_types.clone(),
            scopes: c.scopes.clone(),
            audiences: c.audiences.clone(),
            allowed_origins: c.allowed_origins.clone(),
            public: c.public,
            first_party: c.first_party,
            organization_usage: c.organization_usage.clone(),
        }
    }
}

impl ClientSpec {
    /// Validation shared by config and CLI registration.
    pub fn validate(&self) -> Result<(), RegisterError> {
        let id_ok = !self.client_id.is_empty()
            && self.client_id.len() <= 128
            && self
                .client_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !id_ok {
            return Err(RegisterError::Invalid(format!(
                "client_id `{}`: use 1-128 of [A-Za-z0-9._-]",
                self.client_id
            )));
        }
        if self.name.trim().is_empty() {
            return Err(RegisterError::Invalid(format!(
                "client {}: name is required",
                self.client_id
            )));
        }
        for uri in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            let u = url::Url::parse(uri).map_err(|e| {
                RegisterError::Invalid(format!(
                    "client {}: `{uri}` is not an absolute URI ({e})",
                    self.client_id
                ))
            })?;
            if u.fragment().is_some() {
                return Err(RegisterError::Invalid(format!(
                    "client {}: `{uri}` must not have a fragment (RFC 6749 §3.1.2)",
                    self.client_id
                )));
            }
        }
        for g in &self.grant_types {
            g.parse::<GrantType>()
                .map_err(|e| RegisterError::Invalid(format!("client {}: {e}", self.client_id)))?;
        }
        if self.public && self.grant_types.iter().any(|g| g == "client_credentials") {
            return Err(RegisterError::Invalid(format!(
                "client {}: a public client cannot use client_credentials",
                self.client_id
            )));
        }
        if self.grant_types.iter().any(|g| g == "authorization_code")
            && self.redirect_uris.is_empty()
        {
            return Err(RegisterError::Invalid(format!(
                "client {}: authorization_code needs at least one redirect URI",
                self.client_id
            )));
        }
        OrganizationUsage::parse(&self.organization_usage)
            .map_err(|e| RegisterError::Invalid(format!("client {}: {e}", self.client_id)))?;
        Ok(())
    }

    fn to_row(&self, secret_hash: Option<String>, source: &str, now: NaiveDateTime) -> ClientRow {
        let j = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        ClientRow {
            id: self.client_id.clone(),
            secret_hash,
            name: self.name.clone(),
            redirect_uris: j(&self.redirect_uris),
            post_logout_redirect_uris: j(&self.post_logout_redirect_uris),
            grant_types: j(&self.grant_types),
            scopes: j(&self.scopes),
            audiences: j(&self.audiences),
            allowed_origins: j(&self.allowed_origins),
            public: self.public,
            first_party: self.first_party,
            organization_usage: self.organization_usage.clone(),
            source: source.into(),
            created_at: now,
            updated_at: now,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{0}")]
    Invalid(String),
    #[error("client `{0}` already exists")]
    Exists(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// Registers a client. For a confidential client a secret is generated and
/// returned once; only its keyed hash is stored.
pub fn register(
    conn: &mut DbConn,
    spec: &ClientSpec,
    now: NaiveDateTime,
) -> Result<Option<String>, RegisterError> {
    spec.validate()?;
    if find(conn, &spec.client_id)?.is_some() {
        return Err(RegisterError::Exists(spec.client_id.clone()));
    }
    let secret = (!spec.public).then(secrets::new_token);
    let row = spec.to_row(
        secret.as_deref().map(secrets::hash_client_secret),
        "cli",
        now,
    );
    diesel::insert_into(clients::table)
        .values(&row)
        .execute(conn)?;
    Ok(secret)
}

pub fn remove(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    diesel::delete(clients::table.find(id))
        .execute(conn)
        .map(|n| n > 0)
}

/// Makes the database match `[[clients]]` of the config (insert or update;
/// clients registered by CLI are left alone). Every instance does this at
/// start; under the boot lock in one transaction, so instances started
/// together neither race on the inserts nor see half a sync.
pub fn sync_from_config(
    conn: &mut DbConn,
    configs: &[ClientConfig],
    now: NaiveDateTime,
) -> Result<(), RegisterError> {
    if configs.is_empty() {
        return Ok(());
    }
    crate::db::dialect::write_tx(conn, |conn| {
        crate::db::dialect::xact_lock(conn, crate::db::dialect::AdvisoryLock::Boot)?;
        sync_locked(conn, configs, now)
    })
}

fn sync_locked(
    conn: &mut DbConn,
    configs: &[ClientConfig],
    now: NaiveDateTime,
) -> Result<(), RegisterError> {
    for cfg in configs {
        let spec = ClientSpec::from(cfg);
        spec.validate()?;
        if !spec.public && cfg.client_secret.as_ref().is_none_or(|s| s.is_empty()) {
            return Err(RegisterError::Invalid(format!(
                "client {}: a confidential client needs client_secret (or public = true)",
                spec.client_id
            )));
        }
        if let Some(s) = &cfg.client_secret {
            if s.expose().len() < 32 {
                return Err(RegisterError::Invalid(format!(
                    "client {}: client_secret must be at least 32 characters of random",
                    spec.client_id
                )));
            }
        }
        let existing: Option<ClientRow> = clients::table
            .find(&spec.client_id)
            .select(ClientRow::as_select())
            .first(conn)
            .optional()?;
        let keep_hash = existing.as_ref().and_then(|e| {
            let same = match (&e.secret_hash, &cfg.client_secret) {
                (Some(h), Some(s)) => secrets::verify_client_secret(h, s.expose()),
                _ => false,
            };
            same.then(|| e.secret_hash.clone()).flatten()
        });
        let hash = if spec.public {
            None
        } else {
            keep_hash.or_else(|| {
                cfg.client_secret
                    .as_ref()
                    .map(|s| secrets::hash_client_secret(s.expose()))
            })
        };
        let mut row = spec.to_row(hash, "config", now);
        match existing {
            Some(e) => {
                row.created_at = e.created_at;
                diesel::update(clients::table.find(&spec.client_id))
                    .set(&row)
                    .execute(conn)?;
            }
            None => {
                diesel::insert_into(clients::table)
                    .values(&row)
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}

/// Credentials a request presented.
pub struct PresentedClient {
    pub client_id: String,
    secret: Option<String>,
    pub via_basic: bool,
}

impl PresentedClient {
    /// Credentials given in a JSON body (`/api/switch-org`).
    pub fn in_body(client_id: String, secret: Option<String>) -> Self {
        Self {
            client_id,
            secret,
            via_basic: false,
        }
    }
}

/// Never the secret.
impl std::fmt::Debug for PresentedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedClient")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("via_basic", &self.via_basic)
            .finish()
    }
}

/// Extracts client credentials from `Authorization: Basic` or the form body.
/// Using both methods at once is an error (RFC 6749 §2.3).
pub fn presented(
    authorization: Option<&str>,
    params: &mut Params,
) -> Result<Option<PresentedClient>, OAuthError> {
    let body_id = params.take("client_id");
    let body_secret = params.take("client_secret");
    if let Some(h) = authorization {
        let Some(b64) = h
            .strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
        else {
            return Err(OAuthError::InvalidClient(
                "unsupported Authorization scheme; use Basic".into(),
            ));
        };
        if body_secret.is_some() {
            return Err(OAuthError::InvalidRequest(
                "client authenticated by more than one method".into(),
            ));
        }
        let decoded = B64STD
            .decode(b64.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| OAuthError::InvalidClient("malformed Basic credentials".into()))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| OAuthError::InvalidClient("malformed Basic credentials".into()))?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| OAuthError::InvalidClient("malformed Basic credentials".into()))
        };
        let id = dec(id)?;
        if body_id.as_deref().is_some_and(|b| b != id) {
            return Err(OAuthError::InvalidRequest(
                "client_id differs from the Basic credentials".into(),
            ));
        }
        return Ok(Some(PresentedClient {
            client_id: id,
            secret: Some(dec(secret)?),
            via_basic: true,
        }));
    }
    Ok(body_id.map(|client_id| PresentedClient {
        client_id,
        secret: body_secret,
        via_basic: false,
    }))
}

/// Authenticates the presented client. Confidential clients must present
/// their secret; public clients must not (they authenticate with `none`).
pub fn authenticate(
    conn: &mut DbConn,
    presented: Option<PresentedClient>,
) -> Result<Client, OAuthError> {
    let p = presented
        .ok_or_else(|| OAuthError::InvalidClient("client authentication is required".into()))?;
    let client = find(conn, &p.client_id)?;
    verify(client, p)
}

/// Checks presented credentials against a (possibly absent) client.
pub fn verify(client: Option<Client>, p: PresentedClient) -> Result<Client, OAuthError> {
    // Same failure for an unknown client and a wrong secret.
    let fail = || OAuthError::InvalidClient("client authentication failed".into());
    let client = client.ok_or_else(fail)?;
    match (&client.secret_hash, &p.secret, client.public) {
        (_, None, true) => Ok(client),
        (_, Some(_), true) => Err(OAuthError::InvalidClient(
            "this client is public and has no secret".into(),
        )),
        (Some(hash), Some(secret), false) if secrets::verify_client_secret(hash, secret) => {
            Ok(client)
        }
        _ => Err(fail()),
    }
}

/// A short-lived in-process cache of client rows, so the token endpoint's
/// hot path (client credentials) needs no database round trip. A client
/// removed or changed by the CLI takes effect within [`ClientCache::TTL`].
#[derive(Default)]
pub struct ClientCache(
    std::sync::RwLock<std::collections::HashMap<String, (std::time::Instant, Client)>>,
);

impl ClientCache {
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(5);

    pub fn get(&self, id: &str) -> Option<Client> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(id)
            .filter(|(at, _)| at.elapsed() < Self::TTL)
            .map(|(_, c)| c.clone())
    }

    pub fn put(&self, client: &Client) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (at, _)| at.elapsed() < Self::TTL);
        }
        map.insert(
            client.id.clone(),
            (std::time::Instant::now(), client.clone()),
        );
    }
}
