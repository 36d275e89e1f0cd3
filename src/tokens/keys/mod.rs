//! Signing keys and the in-memory key store.
//!
//! Two stores (`keys.store`): [`files`] — `keys/<kid>.pem` (PKCS#8, mode
//! 0600) plus `keys/<kid>.json` (algorithm, state, times) — and [`database`]
//! — the `signing_keys` table, private keys sealed under a key-encryption key
//! ([`envelope`]) so N instances with no shared disk use one key set. The
//! `kid` is the RFC 7638 JWK thumbprint of the public key. States: `active`
//! (the newest whose activation time has come signs), `retiring` (published
//! in JWKS until every token it signed has expired), `retired` (no longer
//! published; kept for the record).

pub mod database;
pub mod envelope;
pub mod files;

pub use envelope::Kek;
pub use files::{generate_key, list_keys, prune, rotate};

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use josekit::jwk::Jwk;
use josekit::jws::{EdDSA, JwsSigner, JwsVerifier, ES256, RS256};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::config::KeyStoreKind;
use crate::db::Db;

/// The algorithm of a key: the config's enum (`keys.algorithm`), re-exported
/// here where the keys are. Stored in `<kid>.json` as `RS256`, `ES256`, `EdDSA`.
pub use crate::config::Algorithm;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Active,
    Retiring,
    Retired,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyMeta {
    pub kid: String,
    pub alg: Algorithm,
    pub state: KeyState,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub retired_at: Option<DateTime<Utc>>,
    /// When the key starts signing (published before that); `None`: at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activates_at: Option<DateTime<Utc>>,
}

impl KeyMeta {
    pub fn activation(&self) -> DateTime<Utc> {
        self.activates_at.unwrap_or(self.created_at)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    WriteMeta {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path}: corrupt key metadata: {source}")]
    CorruptMeta {
        path: String,
        source: serde_json::Error,
    },
    /// A key file that does not hold a usable key.
    #[error("{path}: {source}")]
    BadKey {
        path: String,
        source: KeyMaterialError,
    },
    #[error("no active signing key in {0}")]
    NoActiveKey(String),
    #[error("generating a key failed: {0}")]
    Generate(#[source] KeyMaterialError),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    #[error("signing keys in the database: {0}")]
    Db(#[from] crate::db::DbError),
    #[error("{0}")]
    Kek(String),
}

impl From<diesel::result::Error> for KeyError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// What is wrong with a key itself (its PEM or its public JWK).
#[derive(Debug, thiserror::Error)]
pub enum KeyMaterialError {
    #[error("JWK lacks `{0}`")]
    MissingMember(&'static str),
    #[error("unsupported key type {0}")]
    KeyType(String),
    #[error("not a valid {alg} private key: {source}")]
    InvalidPem {
        alg: Algorithm,
        source: josekit::JoseError,
    },
    #[error("kid in metadata ({expected}) does not match the key's thumbprint ({actual})")]
    KidMismatch { expected: String, actual: String },
    #[error(transparent)]
    Jose(#[from] josekit::JoseError),
}

/// A key loaded from disk, ready to sign and verify.
pub struct LoadedKey {
    pub meta: KeyMeta,
    pub public_jwk: serde_json::Value,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
}

impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedKey")
            .field("meta", &self.meta)
            .finish()
    }
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order.
pub fn thumbprint(jwk: &serde_json::Value) -> Result<String, KeyMaterialError> {
    let get = |k: &'static str| {
        jwk.get(k)
            .and_then(|v| v.as_str())
            .map(|s| s.to_string())
            .ok_or(KeyMaterialError::MissingMember(k))
    };
    let canonical = match get("kty")?.as_str() {
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, get("e")?, get("n")?),
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            get("crv")?,
            get("x")?,
            get("y")?
        ),
        "OKP" => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            get("crv")?,
            get("x")?
        ),
        other => return Err(KeyMaterialError::KeyType(other.to_string())),
    };
    Ok(B64.encode(Sha256::digest(canonical.as_bytes())))
}

fn public_jwk_of(alg: Algorithm, pem: &[u8]) -> Result<Jwk, KeyMaterialError> {
    use josekit::jwk::KeyPair;
    let jwk = match alg {
        Algorithm::RS256 => RS256.key_pair_from_pem(pem).map(|k| k.to_jwk_public_key()),
        Algorithm::ES256 => ES256.key_pair_from_pem(pem).map(|k| k.to_jwk_public_key()),
        Algorithm::EdDSA => EdDSA.key_pair_from_pem(pem).map(|k| k.to_jwk_public_key()),
    };
    jwk.map_err(|source| KeyMaterialError::InvalidPem { alg, source })
}

impl LoadedKey {
    fn from_pem(meta: KeyMeta, pem: &[u8]) -> Result<Self, KeyMaterialError> {
        let jwk = public_jwk_of(meta.alg, pem)?;
        let mut public: serde_json::Value = serde_json::Value::Object(jwk.as_ref().clone());
        let kid = thumbprint(&public)?;
        if kid != meta.kid {
            return Err(KeyMaterialError::KidMismatch {
                expected: meta.kid,
                actual: kid,
            });
        }
        let (signer, verifier): (Box<dyn JwsSigner>, Box<dyn JwsVerifier>) = match meta.alg {
            Algorithm::RS256 => (
                Box::new(RS256.signer_from_pem(pem)?),
                Box::new(RS256.verifier_from_jwk(&jwk)?),
            ),
            Algorithm::ES256 => (
                Box::new(ES256.signer_from_pem(pem)?),
                Box::new(ES256.verifier_from_jwk(&jwk)?),
            ),
            Algorithm::EdDSA => (
                Box::new(EdDSA.signer_from_pem(pem)?),
                Box::new(EdDSA.verifier_from_jwk(&jwk)?),
            ),
        };
        if let Some(obj) = public.as_object_mut() {
            obj.insert("kid".into(), kid.into());
            obj.insert("alg".into(), meta.alg.as_str().into());
            obj.insert("use".into(), "sig".into());
        }
        Ok(Self {
            meta,
            public_jwk: public,
            signer,
            verifier,
        })
    }
}

/// Generates a private key of `alg` (PKCS#8 PEM) and its kid.
pub fn generate_pem(alg: Algorithm) -> Result<(String, Vec<u8>), KeyError> {
    use josekit::jwk::KeyPair;
    let pem = match alg {
        Algorithm::RS256 => RS256
            .generate_key_pair(2048)
            .map(|k| k.to_pem_private_key()),
        Algorithm::ES256 => ES256.generate_key_pair().map(|k| k.to_pem_private_key()),
        Algorithm::EdDSA => EdDSA
            .generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)
            .map(|k| k.to_pem_private_key()),
    }
    .map_err(|e| KeyError::Generate(e.into()))?;
    let jwk = public_jwk_of(alg, &pem).map_err(KeyError::Generate)?;
    let kid =
        thumbprint(&serde_json::Value::Object(jwk.as_ref().clone())).map_err(KeyError::Generate)?;
    Ok((kid, pem))
}

/// A key as a store holds it: metadata and the private key (PEM), plus where
/// it came from for error messages.
pub struct KeyRecord {
    pub meta: KeyMeta,
    pub pem: Vec<u8>,
    pub origin: String,
}

/// The current set of keys: one signs, all published ones verify.
pub struct KeySet {
    pub active: Arc<LoadedKey>,
    pub published: Vec<Arc<LoadedKey>>,
    /// The JWKS document, serialized once per key set (cheap to clone).
    pub jwks_body: Bytes,
    pub jwks_etag: String,
}

/// Where the keys live (`keys.store`).
#[derive(Clone)]
enum Source {
    /// `keys/<kid>.pem` + `<kid>.json`: one node, or a mounted secret.
    Files(PathBuf),
    /// The `signing_keys` table, private keys sealed under the KEK: N
    /// instances with no shared disk sign with one key and publish one JWKS.
    Database { db: Db, kek: Arc<Kek> },
}

impl Source {
    fn load(&self) -> Result<Vec<KeyRecord>, KeyError> {
        match self {
            Self::Files(dir) => files::load(dir),
            Self::Database { db, kek } => database::load(db, kek),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Files(dir) => dir.display().to_string(),
            Self::Database { .. } => "the database (signing_keys)".into(),
        }
    }
}

/// Shared key store. Cheap to clone; `reload` swaps the whole set atomically.
#[derive(Clone)]
pub struct KeyStore {
    source: Source,
    max_token_ttl: Duration,
    inner: Arc<RwLock<Arc<KeySet>>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("source", &self.source.describe())
            .finish()
    }
}

impl KeyStore {
    /// Loads `dir`, creating an `alg` key first if it holds none.
    pub fn open(
        dir: &Path,
        alg: Algorithm,
        max_token_ttl: Duration,
        clock: &dyn Clock,
    ) -> Result<Self, KeyError> {
        let has_active = list_keys(dir)?.iter().any(|m| m.state == KeyState::Active);
        if !has_active {
            let meta = generate_key(dir, alg, clock.now())?;
            tracing::info!(kid = %meta.kid, alg = alg.as_str(), dir = %dir.display(), "created signing key");
        }
        Self::with_source(Source::Files(dir.to_path_buf()), max_token_ttl, clock)
    }

    /// The database store: adopts the active key, or — the first instance to
    /// start on an empty table, under the boot lock — creates it. Blocking.
    pub fn open_database(
        db: Db,
        kek: Kek,
        alg: Algorithm,
        max_token_ttl: Duration,
        clock: &dyn Clock,
    ) -> Result<Self, KeyError> {
        if let Some(meta) = database::ensure_active(&db, &kek, alg, clock.now())? {
            tracing::info!(kid = %meta.kid, alg = alg.as_str(), "created signing key in the database");
        }
        let source = Source::Database {
            db,
            kek: Arc::new(kek),
        };
        Self::with_source(source, max_token_ttl, clock)
    }

    /// The store `keys.store` names (database: `keys.encryption_key` is the KEK).
    pub fn from_settings(
        settings: &crate::config::Settings,
        db: &Db,
        clock: &dyn Clock,
    ) -> Result<Self, KeyError> {
        let (alg, ttl) = (settings.keys.algorithm, settings.max_token_ttl());
        match settings.keys.store {
            KeyStoreKind::Files => Self::open(&settings.keys.dir, alg, ttl, clock),
            KeyStoreKind::Database => {
                let kek = database::kek_of(settings)?;
                Self::open_database(db.clone(), kek, alg, ttl, clock)
            }
        }
    }

    fn with_source(
        source: Source,
        max_token_ttl: Duration,
        clock: &dyn Clock,
    ) -> Result<Self, KeyError> {
        let set = build_set(
            source.load()?,
            &source.describe(),
            max_token_ttl,
            clock.now(),
        )?;
        Ok(Self {
            source,
            max_token_ttl,
            inner: Arc::new(RwLock::new(Arc::new(set))),
        })
    }

    /// Re-reads the store (after a rotation by another process). Blocking
    /// for the database store: call it off the async workers.
    pub fn reload(&self, clock: &dyn Clock) -> Result<(), KeyError> {
        let set = build_set(
            self.source.load()?,
            &self.source.describe(),
            self.max_token_ttl,
            clock.now(),
        )?;
        let mut guard = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if guard.jwks_etag != set.jwks_etag || guard.active.meta.kid != set.active.meta.kid {
            tracing::info!(active = %set.active.meta.kid, published = set.published.len(), "signing keys reloaded");
        }
        *guard = Arc::new(set);
        Ok(())
    }

    pub fn current(&self) -> Arc<KeySet> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Signs a JWT with the active key (compact JWS, RFC 7515 §7.1).
    /// RSA signing is CPU-heavy: async callers use [`KeyStore::sign_async`].
    pub fn sign(&self, typ: &str, claims: &serde_json::Value) -> Result<String, KeyError> {
        let set = self.current();
        let key = &set.active;
        let header = serde_json::json!({
            "alg": key.meta.alg.as_str(),
            "typ": typ,
            "kid": key.meta.kid,
        });
        let header = serde_json::to_vec(&header).map_err(|e| KeyError::Sign(e.to_string()))?;
        let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Sign(e.to_string()))?;
        let mut out = String::with_capacity(header.len() * 2 + payload.len() * 2 + 400);
        B64.encode_string(&header, &mut out);
        out.push('.');
        B64.encode_string(&payload, &mut out);
        let sig = key
            .signer
            .sign(out.as_bytes())
            .map_err(|e| KeyError::Sign(e.to_string()))?;
        out.push('.');
        B64.encode_string(&sig, &mut out);
        Ok(out)
    }

    /// [`KeyStore::sign`] on the blocking pool when the active key is RSA.
    pub async fn sign_async(
        &self,
        typ: &'static str,
        claims: serde_json::Value,
    ) -> Result<String, KeyError> {
        if self.current().active.meta.alg == Algorithm::RS256 {
            let store = self.clone();
            tokio::task::spawn_blocking(move || store.sign(typ, &claims))
                .await
                .map_err(|e| KeyError::Sign(e.to_string()))?
        } else {
            self.sign(typ, &claims)
        }
    }

    /// Verifies a compact JWS against the published keys and returns (header, claims).
    /// Checks the signature and `alg` only; callers check `exp`, `iss`, `aud`.
    pub fn verify(&self, token: &str) -> Result<(serde_json::Value, serde_json::Value), KeyError> {
        let mut parts = token.splitn(3, '.');
        let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(KeyError::InvalidToken("not a compact JWS"));
        };
        let header: serde_json::Value = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(KeyError::InvalidToken("malformed header"))?;
        let kid = header
            .get("kid")
            .and_then(|k| k.as_str())
            .ok_or(KeyError::InvalidToken("no kid"))?;
        let set = self.current();
        let key = set
            .published
            .iter()
            .find(|k| k.meta.kid == kid)
            .ok_or(KeyError::InvalidToken("unknown kid"))?;
        if header.get("alg").and_then(|a| a.as_str()) != Some(key.meta.alg.as_str()) {
            return Err(KeyError::InvalidToken("alg does not match the key"));
        }
        let sig = B64
            .decode(s)
            .map_err(|_| KeyError::InvalidToken("malformed signature"))?;
        let signing_input_len = h.len() + 1 + p.len();
        key.verifier
            .verify(&token.as_bytes()[..signing_input_len], &sig)
            .map_err(|_| KeyError::InvalidToken("bad signature"))?;
        let claims: serde_json::Value = B64
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(KeyError::InvalidToken("malformed payload"))?;
        Ok((header, claims))
    }
}

/// The key set of what a store holds. Signs: the newest `active` key whose
/// activation time has come (a rotation may publish its key before it signs).
/// Published: every `active` key (newer ones are about to sign, older ones
/// were superseded and still verify), and `retiring` keys until every token
/// they signed has expired.
fn build_set(
    records: Vec<KeyRecord>,
    source: &str,
    max_token_ttl: Duration,
    now: DateTime<Utc>,
) -> Result<KeySet, KeyError> {
    let mut records = records;
    records.sort_by_key(|r| (r.meta.activation(), r.meta.created_at));
    let mut active: Option<Arc<LoadedKey>> = None;
    let mut first_active: Option<Arc<LoadedKey>> = None;
    let mut published = Vec::new();
    for r in records {
        let meta = r.meta;
        let still_published = match meta.state {
            KeyState::Active => true,
            KeyState::Retiring => meta.retired_at.is_none_or(|t| t + max_token_ttl >= now),
            KeyState::Retired => false,
        };
        if !still_published {
            continue;
        }
        let is_active = meta.state == KeyState::Active;
        let due = meta.activation() <= now;
        let key = LoadedKey::from_pem(meta, &r.pem).map_err(|source| KeyError::BadKey {
            path: r.origin.clone(),
            source,
        })?;
        let key = Arc::new(key);
        if is_active {
            first_active.get_or_insert_with(|| key.clone());
            if due {
                // The newest due active key wins (also if a crash left two).
                active = Some(key.clone());
            }
        }
        published.push(key);
    }
    let active = active.or(first_active);
    let active = active.ok_or_else(|| KeyError::NoActiveKey(source.to_string()))?;
    // The active key leads the JWKS, then retiring keys newest first.
    published.sort_by_key(|k| {
        (
            k.meta.state != KeyState::Active,
            std::cmp::Reverse(k.meta.created_at),
        )
    });
    let jwks = serde_json::json!({
        "keys": published.iter().map(|k| k.public_jwk.clone()).collect::<Vec<_>>()
    });
    let body = serde_json::to_vec(&jwks).map_err(|e| KeyError::Sign(e.to_string()))?;
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..16]));
    Ok(KeySet {
        active,
        published,
        jwks_body: Bytes::from(body),
        jwks_etag: etag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1.
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn corrupt_pem_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let clock = FixedClock::starting_now();
        let meta = generate_key(dir.path(), Algorithm::ES256, clock.now()).unwrap();
        let pem = dir.path().join(format!("{}.pem", meta.kid));
        std::fs::remove_file(&pem).unwrap();
        std::fs::write(&pem, b"garbage").unwrap();
        let err =
            KeyStore::open(dir.path(), Algorithm::ES256, Duration::hours(1), &clock).unwrap_err();
        assert!(
            err.to_string().contains(&format!("{}.pem", meta.kid)),
            "{err}"
        );
    }

    #[test]
    fn sign_then_verify_each_algorithm() {
        for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
            let dir = tempfile::tempdir().unwrap();
            let clock = FixedClock::starting_now();
            let store = KeyStore::open(dir.path(), alg, Duration::hours(1), &clock).unwrap();
            let token = store.sign("JWT", &serde_json::json!({"sub": "x"})).unwrap();
            let (header, claims) = store.verify(&token).unwrap();
            assert_eq!(header["alg"], alg.as_str());
            assert_eq!(claims["sub"], "x");
            let mut tampered = token.clone();
            tampered.insert(token.find('.').unwrap() + 2, 'A');
            assert!(store.verify(&tampered).is_err());
        }
    }
}
