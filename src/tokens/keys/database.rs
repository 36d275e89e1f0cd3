//! The database store of signing keys (`keys.store = "database"`): the
//! `signing_keys` table, each private key sealed under the KEK
//! ([`super::envelope`]). Every instance on the database adopts the same
//! active key; the first to start on an empty table creates it under the
//! boot lock, so simultaneous first starts still make exactly one.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::envelope::Kek;
use super::{generate_pem, public_jwk_of, KeyError, KeyMeta, KeyRecord, KeyState};
use crate::config::{Algorithm, Settings};
use crate::db::dialect::{self, AdvisoryLock};
use crate::db::schema::signing_keys as sk;
use crate::db::{Db, DbConn};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sk)]
struct Row {
    kid: String,
    alg: String,
    state: String,
    created_at: NaiveDateTime,
    activates_at: NaiveDateTime,
    retired_at: Option<NaiveDateTime>,
    public_jwk: String,
    kek_id: String,
    sealed_data_key: String,
    sealed_private_key: String,
}

fn state_name(s: KeyState) -> &'static str {
    match s {
        KeyState::Active => "active",
        KeyState::Retiring => "retiring",
        KeyState::Retired => "retired",
    }
}

fn corrupt(kid: &str, what: &str) -> KeyError {
    KeyError::Kek(format!("signing_keys row `{kid}`: {what}"))
}

impl Row {
    fn meta(&self) -> Result<KeyMeta, KeyError> {
        let state = match self.state.as_str() {
            "active" => KeyState::Active,
            "retiring" => KeyState::Retiring,
            "retired" => KeyState::Retired,
            other => return Err(corrupt(&self.kid, &format!("unknown state `{other}`"))),
        };
        let alg: Algorithm = self
            .alg
            .parse()
            .map_err(|e| corrupt(&self.kid, &format!("{e}")))?;
        Ok(KeyMeta {
            kid: self.kid.clone(),
            alg,
            state,
            created_at: self.created_at.and_utc(),
            retired_at: self.retired_at.map(|t| t.and_utc()),
            activates_at: Some(self.activates_at.and_utc()),
        })
    }
}

/// The KEK of `keys.encryption_key` (config validation checked its shape).
pub fn kek_of(settings: &Settings) -> Result<Kek, KeyError> {
    let text = settings.keys.encryption_key.as_ref().ok_or_else(|| {
        KeyError::Kek("keys.encryption_key is required when keys.store = \"database\"".into())
    })?;
    Kek::parse(text.expose()).map_err(|e| KeyError::Kek(e.to_string()))
}

fn get(db: &Db) -> Result<crate::db::PooledConn, KeyError> {
    Ok(db.get()?)
}

fn new_row(
    kek: &Kek,
    alg: Algorithm,
    now: DateTime<Utc>,
    activates_at: DateTime<Utc>,
) -> Result<(Row, KeyMeta), KeyError> {
    let (kid, pem) = generate_pem(alg)?;
    let public = public_jwk_of(alg, &pem).map_err(KeyError::Generate)?;
    let (sealed_data_key, sealed_private_key) = kek
        .seal(&kid, &pem)
        .map_err(|e| KeyError::Kek(e.to_string()))?;
    let row = Row {
        kid: kid.clone(),
        alg: alg.as_str().into(),
        state: state_name(KeyState::Active).into(),
        created_at: now.naive_utc(),
        activates_at: activates_at.naive_utc(),
        retired_at: None,
        public_jwk: serde_json::Value::Object(public.as_ref().clone()).to_string(),
        kek_id: kek.id().into(),
        sealed_data_key,
        sealed_private_key,
    };
    let meta = row.meta()?;
    Ok((row, meta))
}

/// Creates the first active key unless one exists (under the boot lock).
/// Returns the new key's metadata when this call created it.
pub fn ensure_active(
    db: &Db,
    kek: &Kek,
    alg: Algorithm,
    now: DateTime<Utc>,
) -> Result<Option<KeyMeta>, KeyError> {
    let mut conn = get(db)?;
    let has_active = |conn: &mut DbConn| -> QueryResult<bool> {
        let n: i64 = sk::table
            .filter(sk::state.eq(state_name(KeyState::Active)))
            .count()
            .get_result(conn)?;
        Ok(n > 0)
    };
    if has_active(&mut conn)? {
        return Ok(None);
    }
    // Generated outside the transaction (RSA takes a while); checked again
    // under the lock, so of instances starting together only one inserts.
    let (row, meta) = new_row(kek, alg, now, now)?;
    dialect::write_tx(&mut conn, |conn| {
        dialect::xact_lock(conn, AdvisoryLock::Boot)?;
        if has_active(conn)? {
            return Ok(None);
        }
        diesel::insert_into(sk::table).values(&row).execute(conn)?;
        Ok(Some(meta))
    })
}

fn rows(conn: &mut DbConn) -> QueryResult<Vec<Row>> {
    sk::table
        .order(sk::created_at.asc())
        .select(Row::as_select())
        .load(conn)
}

/// Every key that is not retired, opened with the KEK. A key sealed under
/// another KEK is an error that says so (a wrong `keys.encryption_key`, or a
/// KEK rotation without `tessera keys rewrap`).
pub fn load(db: &Db, kek: &Kek) -> Result<Vec<KeyRecord>, KeyError> {
    let mut conn = get(db)?;
    let mut out = Vec::new();
    for row in rows(&mut conn)? {
        let meta = row.meta()?;
        if meta.state == KeyState::Retired {
            continue;
        }
        if row.kek_id != kek.id() {
            return Err(KeyError::Kek(format!(
                "signing key {} is sealed with the key-encryption key {}, but keys.encryption_key is {}: \
                 a wrong key, or a KEK rotation without `tessera keys rewrap --from <old key>`",
                row.kid,
                row.kek_id,
                kek.id()
            )));
        }
        let pem = kek
            .open(&row.kid, &row.sealed_data_key, &row.sealed_private_key)
            .map_err(|e| KeyError::Kek(format!("signing key {}: {e}", row.kid)))?;
        out.push(KeyRecord {
            origin: format!("signing_keys row `{}`", row.kid),
            meta,
            pem,
        });
    }
    Ok(out)
}

/// Metadata of every key (no private key opened).
pub fn list(db: &Db) -> Result<Vec<KeyMeta>, KeyError> {
    let mut conn = get(db)?;
    rows(&mut conn)?.iter().map(Row::meta).collect()
}

/// A new active key that signs from `now + delay` (published at once). With
/// no delay the previous active keys retire now; with one, they keep signing
/// until the new key's time comes and [`prune`] retires them then.
pub fn rotate(
    db: &Db,
    kek: &Kek,
    alg: Algorithm,
    now: DateTime<Utc>,
    delay: Duration,
) -> Result<KeyMeta, KeyError> {
    let mut conn = get(db)?;
    let (row, meta) = new_row(kek, alg, now, now + delay)?;
    dialect::write_tx(&mut conn, |conn| {
        dialect::xact_lock(conn, AdvisoryLock::Boot)?;
        if delay <= Duration::zero() {
            diesel::update(sk::table.filter(sk::state.eq(state_name(KeyState::Active))))
                .set((
                    sk::state.eq(state_name(KeyState::Retiring)),
                    sk::retired_at.eq(now.naive_utc()),
                ))
                .execute(conn)?;
        }
        diesel::insert_into(sk::table).values(&row).execute(conn)?;
        Ok(meta)
    })
}

/// Retires what is done: active keys superseded by a newer active key whose
/// time has come become `retiring` (from that time); `retiring` keys whose
/// every token has expired become `retired`. Returns the newly retired kids.
pub fn prune(
    db: &Db,
    max_token_ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<String>, KeyError> {
    let mut conn = get(db)?;
    dialect::write_tx(&mut conn, |conn| {
        dialect::xact_lock(conn, AdvisoryLock::Boot)?;
        let all = rows(conn)?;
        let now_n = now.naive_utc();
        let newest_due = all
            .iter()
            .filter(|r| r.state == "active" && r.activates_at <= now_n)
            .map(|r| r.activates_at)
            .max();
        if let Some(t) = newest_due {
            diesel::update(
                sk::table
                    .filter(sk::state.eq(state_name(KeyState::Active)))
                    .filter(sk::activates_at.lt(t)),
            )
            .set((
                sk::state.eq(state_name(KeyState::Retiring)),
                sk::retired_at.eq(t),
            ))
            .execute(conn)?;
        }
        let cutoff = (now - max_token_ttl).naive_utc();
        let done: Vec<String> = sk::table
            .filter(sk::state.eq(state_name(KeyState::Retiring)))
            .filter(sk::retired_at.lt(cutoff))
            .select(sk::kid)
            .load(conn)?;
        diesel::update(sk::table.filter(sk::kid.eq_any(&done)))
            .set(sk::state.eq(state_name(KeyState::Retired)))
            .execute(conn)?;
        Ok(done)
    })
}

/// KEK rotation: re-seals every data key sealed by `old` under `new` (the
/// private keys themselves are not touched). Rows already under `new` are
/// left alone; a row under a third KEK is an error and nothing changes.
pub fn rewrap(db: &Db, old: &Kek, new: &Kek) -> Result<usize, KeyError> {
    let mut conn = get(db)?;
    dialect::write_tx(&mut conn, |conn| {
        dialect::xact_lock(conn, AdvisoryLock::Boot)?;
        let mut n = 0;
        for row in rows(conn)? {
            if row.kek_id == new.id() {
                continue;
            }
            if row.kek_id != old.id() {
                return Err(KeyError::Kek(format!(
                    "signing key {} is sealed with the key-encryption key {}, neither the old ({}) nor the new ({})",
                    row.kid,
                    row.kek_id,
                    old.id(),
                    new.id()
                )));
            }
            let sealed = new
                .rewrap(old, &row.kid, &row.sealed_data_key)
                .map_err(|e| KeyError::Kek(format!("signing key {}: {e}", row.kid)))?;
            diesel::update(sk::table.find(&row.kid))
                .set((sk::sealed_data_key.eq(sealed), sk::kek_id.eq(new.id())))
                .execute(conn)?;
            n += 1;
        }
        Ok(n)
    })
}
