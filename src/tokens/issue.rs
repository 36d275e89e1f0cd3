//! Claims of access tokens (RFC 9068) and ID tokens (OIDC Core §2), and
//! signing a token set. The org and hook stages add their claims through
//! [`ExtraClaims`]; registered claims are always set here, last, so nothing
//! added earlier can override them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

use super::keys::{Algorithm, KeyError, KeyStore};
use crate::config::Settings;
use crate::db::models::User;

/// Claims added by later stages (org claims, actions), per token.
#[derive(Debug, Default, Clone)]
pub struct ExtraClaims {
    pub access: Map<String, Value>,
    pub id: Map<String, Value>,
}

pub struct AccessTokenSpec<'a> {
    pub jti: &'a str,
    pub client_id: &'a str,
    pub subject: &'a str,
    pub audiences: &'a [String],
    pub scope: &'a str,
    pub auth_time: Option<i64>,
    pub now: i64,
}

pub fn access_claims(
    settings: &Settings,
    spec: &AccessTokenSpec<'_>,
    extra: &Map<String, Value>,
) -> Map<String, Value> {
    let mut c = extra.clone();
    c.insert("iss".into(), settings.issuer.clone().into());
    c.insert("sub".into(), spec.subject.into());
    c.insert(
        "aud".into(),
        if spec.audiences.len() == 1 {
            Value::from(spec.audiences[0].clone())
        } else {
            Value::from(spec.audiences.to_vec())
        },
    );
    c.insert(
        "exp".into(),
        (spec.now + settings.tokens.access_token_ttl().num_seconds()).into(),
    );
    c.insert("iat".into(), spec.now.into());
    c.insert("nbf".into(), spec.now.into());
    c.insert("jti".into(), spec.jti.into());
    c.insert("client_id".into(), spec.client_id.into());
    c.insert("scope".into(), spec.scope.into());
    if let Some(t) = spec.auth_time {
        c.insert("auth_time".into(), t.into());
    }
    c
}

pub struct IdTokenSpec<'a> {
    pub client_id: &'a str,
    pub user: &'a User,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    pub session_id: Option<&'a str>,
    pub now: i64,
}

pub fn id_claims(
    settings: &Settings,
    spec: &IdTokenSpec<'_>,
    extra: &Map<String, Value>,
) -> Map<String, Value> {
    let mut c = extra.clone();
    c.extend(profile_claims(spec.user, spec.scope));
    c.insert("iss".into(), settings.issuer.clone().into());
    c.insert("sub".into(), spec.user.id.clone().into());
    c.insert("aud".into(), spec.client_id.into());
    c.insert("azp".into(), spec.client_id.into());
    c.insert(
        "exp".into(),
        (spec.now + settings.tokens.id_token_ttl().num_seconds()).into(),
    );
    c.insert("iat".into(), spec.now.into());
    c.insert("auth_time".into(), spec.auth_time.into());
    if let Some(n) = spec.nonce {
        c.insert("nonce".into(), n.into());
    }
    if let Some(sid) = spec.session_id {
        c.insert("sid".into(), sid.into());
    }
    c
}

/// Standard claims released by scope (OIDC Core §5.4).
pub fn profile_claims(user: &User, scope: &str) -> Map<String, Value> {
    let has = |t: &str| scope.split(' ').any(|s| s == t);
    let mut c = Map::new();
    if has("email") {
        if let Some(e) = &user.email {
            c.insert("email".into(), e.clone().into());
            c.insert("email_verified".into(), user.email_verified.into());
        }
    }
    if has("profile") {
        if let Some(n) = &user.name {
            c.insert("name".into(), n.clone().into());
        }
        if let Some(p) = &user.picture {
            c.insert("picture".into(), p.clone().into());
        }
        c.insert(
            "updated_at".into(),
            user.updated_at.and_utc().timestamp().into(),
        );
    }
    c
}

/// `at_hash`: left half of the hash of the access token, hash per the signing
/// alg (SHA-256 for RS256/ES256, SHA-512 for Ed25519), base64url (OIDC Core §3.1.3.6).
pub fn at_hash(alg: Algorithm, access_token: &str) -> String {
    match alg {
        Algorithm::RS256 | Algorithm::ES256 => {
            let d = Sha256::digest(access_token.as_bytes());
            B64.encode(&d[..16])
        }
        Algorithm::EdDSA => {
            let d = Sha512::digest(access_token.as_bytes());
            B64.encode(&d[..32])
        }
    }
}

/// The token endpoint's success body (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// A token set decided by a grant, ready to sign.
#[derive(Debug)]
pub struct TokenPlan {
    pub access: Map<String, Value>,
    pub id: Option<Map<String, Value>>,
    pub refresh_token: Option<String>,
    pub scope: String,
    pub expires_in: i64,
}

impl TokenPlan {
    /// Signs the access token and, if planned, the ID token (with `at_hash`).
    pub async fn sign(self, keys: &KeyStore) -> Result<TokenResponse, KeyError> {
        let alg = keys.current().active.meta.alg;
        let access_token = keys
            .sign_async("at+jwt", Value::Object(self.access))
            .await?;
        let id_token = match self.id {
            Some(mut id) => {
                id.insert("at_hash".into(), at_hash(alg, &access_token).into());
                Some(keys.sign_async("JWT", Value::Object(id)).await?)
            }
            None => None,
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.expires_in,
            scope: self.scope,
            refresh_token: self.refresh_token,
            id_token,
        })
    }
}

/// Registered JWT/OIDC claims that no later stage may set.
pub const REGISTERED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "azp",
    "nonce",
    "auth_time",
    "at_hash",
    "c_hash",
    "scope",
    "client_id",
    "sid",
    "acr",
    "amr",
    "cnf",
    "typ",
];
