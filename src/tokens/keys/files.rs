//! The file store of signing keys: `keys/<kid>.pem` and `keys/<kid>.json`.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};

use super::{generate_pem, KeyError, KeyMeta, KeyRecord, KeyState};
use crate::config::Algorithm;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Generates a key, writes `<kid>.pem` and `<kid>.json`, and returns its metadata.
pub fn generate_key(dir: &Path, alg: Algorithm, now: DateTime<Utc>) -> Result<KeyMeta, KeyError> {
    crate::secrets::create_private_dir(dir).map_err(io_err(dir))?;
    let (kid, pem) = generate_pem(alg)?;
    let meta = KeyMeta {
        kid: kid.clone(),
        alg,
        state: KeyState::Active,
        created_at: now,
        retired_at: None,
        activates_at: None,
    };
    let pem_path = dir.join(format!("{kid}.pem"));
    write_private(&pem_path, &pem)?;
    write_meta(dir, &meta)?;
    Ok(meta)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    use std::io::Write;
    let mut f = crate::secrets::private_file_options()
        .create_new(true)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))
}

fn write_meta(dir: &Path, meta: &KeyMeta) -> Result<(), KeyError> {
    let path = dir.join(format!("{}.json", meta.kid));
    let tmp = dir.join(format!(".{}.json.tmp", meta.kid));
    let body = serde_json::to_vec_pretty(meta).map_err(|source| KeyError::WriteMeta {
        path: path.display().to_string(),
        source,
    })?;
    {
        use std::io::Write;
        let mut f = crate::secrets::private_file_options()
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        f.write_all(&body).map_err(io_err(&tmp))?;
    }
    std::fs::rename(&tmp, &path).map_err(io_err(&path))
}

/// Reads every key's metadata in `dir` (no private key parsing).
pub fn list_keys(dir: &Path) -> Result<Vec<KeyMeta>, KeyError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for entry in entries {
        let path = entry.map_err(io_err(dir))?.path();
        let is_meta = path.extension().is_some_and(|e| e == "json")
            && !path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
        if !is_meta {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        let meta: KeyMeta =
            serde_json::from_str(&text).map_err(|source| KeyError::CorruptMeta {
                path: path.display().to_string(),
                source,
            })?;
        out.push(meta);
    }
    out.sort_by_key(|m| m.created_at);
    Ok(out)
}

/// `keys rotate`: a new active key; the previous active key becomes retiring.
pub fn rotate(dir: &Path, alg: Algorithm, now: DateTime<Utc>) -> Result<KeyMeta, KeyError> {
    let existing = list_keys(dir)?;
    let new = generate_key(dir, alg, now)?;
    for mut meta in existing.into_iter().filter(|m| m.state == KeyState::Active) {
        meta.state = KeyState::Retiring;
        meta.retired_at = Some(now);
        write_meta(dir, &meta)?;
    }
    Ok(new)
}

/// Marks retiring keys whose every token has expired as retired. Returns their kids.
pub fn prune(
    dir: &Path,
    max_token_ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<String>, KeyError> {
    let mut pruned = Vec::new();
    for mut meta in list_keys(dir)? {
        if meta.state == KeyState::Retiring
            && meta.retired_at.is_some_and(|t| t + max_token_ttl < now)
        {
            meta.state = KeyState::Retired;
            write_meta(dir, &meta)?;
            pruned.push(meta.kid);
        }
    }
    Ok(pruned)
}

/// Every published-or-not key of `dir` with its private key.
pub fn load(dir: &Path) -> Result<Vec<KeyRecord>, KeyError> {
    let mut out = Vec::new();
    for meta in list_keys(dir)? {
        if meta.state == KeyState::Retired {
            continue;
        }
        let pem_path = dir.join(format!("{}.pem", meta.kid));
        let pem = std::fs::read(&pem_path).map_err(io_err(&pem_path))?;
        out.push(KeyRecord {
            meta,
            pem,
            origin: pem_path.display().to_string(),
        });
    }
    Ok(out)
}
