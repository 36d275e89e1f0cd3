//! File + environment layering: the TOML file over the embedded defaults,
//! then `TESSERA_…` variables, each error naming its origin and key.
//!
//! Defaults come from serde (`#[serde(default)]` on every section), so the
//! tree that is deserialized holds only what the file and the environment
//! set. A second tree, the defaults serialized and the file merged over them,
//! is only consulted for the *type* of a key an environment variable sets
//! (secrets serialize as `[redacted]` there, which is why it is never read back).

use std::path::Path;

use super::{ConfigError, Settings};

/// Environment variables with the `TESSERA_` prefix that are not settings.
const RESERVED_ENV: &[&str] = &[
    "TESSERA_ENV",
    "TESSERA_CONFIG",
    "TESSERA_LOG",
    "TESSERA_TEST_POSTGRES",
];

/// An environment variable whose name does not fit the settings' shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyPathError {
    #[error("empty key")]
    Empty,
    #[error("{0} is not a section")]
    NotASection(String),
}

/// A value that does not fit the settings' shape (unknown key, wrong type,
/// a name outside an enum), with the key it is at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default())]
pub struct ShapeError {
    /// `database.pool_size`, `actions[0].kind (action crm)`; `None` at the top.
    pub key: Option<String>,
    /// serde's message, e.g. ``unknown field `urll`, expected one of …``.
    pub message: String,
}

/// Why an environment variable could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("`{raw}` is not a valid value for {key}")]
    NotAValue { raw: String, key: String },
    #[error(transparent)]
    Key(#[from] KeyPathError),
    #[error(transparent)]
    Shape(#[from] ShapeError),
}

/// Defaults ← `file` ← `env`, deserialized (not yet validated).
pub(super) fn load(file: Option<&Path>, env: &[(String, String)]) -> Result<Settings, ConfigError> {
    let (mut tree, origin) = match file {
        Some(path) => {
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                file: origin.clone(),
                source,
            })?;
            let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
                origin: origin.clone(),
                message: e.message().to_string(),
            })?;
            (toml::Value::Table(table), origin)
        }
        None => (
            toml::Value::Table(toml::Table::new()),
            "defaults".to_string(),
        ),
    };
    let settings = deserialize(&tree).map_err(|source| ConfigError::Shape { origin, source })?;
    let mut types = toml::Value::try_from(Settings::default())?;
    merge(&mut types, tree.clone());
    Ok(apply_env(&mut tree, &mut types, env)?.unwrap_or(settings))
}

/// Deserializes `tree`; an error names the key (`database.pool_size`,
/// `actions[0].kind (action crm)`) before serde's message.
fn deserialize(tree: &toml::Value) -> Result<Settings, ShapeError> {
    serde_path_to_error::deserialize(tree.clone()).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().message().to_string();
        let key = (!path.is_empty() && path != ".").then(|| match action_name(tree, &path) {
            Some(name) => format!("{path} (action {name})"),
            None => path,
        });
        ShapeError { key, message }
    })
}

/// The `name` of the action a path such as `actions[2].kind` points into.
fn action_name<'a>(tree: &'a toml::Value, path: &str) -> Option<&'a str> {
    let index: usize = path
        .strip_prefix("actions[")?
        .split(']')
        .next()?
        .parse()
        .ok()?;
    tree.get("actions")?.get(index)?.get("name")?.as_str()
}

pub(super) fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_table() && v.is_table() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Applies `TESSERA_A__B=value` overrides to `tree`. The value is typed after
/// the current value at that key in `types` (number, bool, list as TOML),
/// else taken as text; enums are text, so `TESSERA_ENV=production` parses
/// into [`super::Environment`] like the file's value would. Returns the
/// settings after the last override, or `None` when no variable applied.
fn apply_env(
    tree: &mut toml::Value,
    types: &mut toml::Value,
    env: &[(String, String)],
) -> Result<Option<Settings>, ConfigError> {
    let mut settings = None;
    for (name, raw) in env {
        let path: Vec<String> = if name == "DATABASE_URL" {
            vec!["database".into(), "url".into()]
        } else if name == "TESSERA_ENV" {
            vec!["server".into(), "environment".into()]
        } else if let Some(rest) = name.strip_prefix("TESSERA_") {
            if RESERVED_ENV.contains(&name.as_str()) {
                continue;
            }
            rest.split("__").map(|p| p.to_ascii_lowercase()).collect()
        } else {
            continue;
        };
        let env_err = |source: EnvError| ConfigError::Env {
            var: name.clone(),
            source,
        };
        let existing = lookup(types, &path);
        let literal = || {
            toml::from_str::<toml::Table>(&format!("v = {raw}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
        };
        let typed = match existing {
            // Unknown keys and unset Option fields: a TOML literal if it is one.
            None => literal().unwrap_or_else(|| toml::Value::String(raw.clone())),
            Some(toml::Value::String(_)) => toml::Value::String(raw.clone()),
            Some(_) => literal().ok_or_else(|| {
                env_err(EnvError::NotAValue {
                    raw: raw.clone(),
                    key: path.join("."),
                })
            })?,
        };
        set(types, &path, typed.clone()).map_err(|e| env_err(e.into()))?;
        set(tree, &path, typed).map_err(|e| env_err(e.into()))?;
        // Deserialize after each variable, so an error names the one at fault.
        settings = Some(deserialize(tree).map_err(|e| env_err(e.into()))?);
    }
    Ok(settings)
}

fn lookup<'a>(v: &'a toml::Value, path: &[String]) -> Option<&'a toml::Value> {
    path.iter().try_fold(v, |cur, k| cur.get(k.as_str()))
}

fn set(v: &mut toml::Value, path: &[String], new: toml::Value) -> Result<(), KeyPathError> {
    let Some((last, parents)) = path.split_last() else {
        return Err(KeyPathError::Empty);
    };
    let mut cur = v;
    for p in parents {
        let table = cur
            .as_table_mut()
            .ok_or_else(|| KeyPathError::NotASection(p.clone()))?;
        cur = table
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    cur.as_table_mut()
        .ok_or_else(|| KeyPathError::NotASection(parents.join(".")))?
        .insert(last.clone(), new);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::set;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn defaults_need_no_file() {
        let s = Settings::load_from(None, &[]).unwrap();
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert_eq!(s.database.url.expose(), "./data/tessera.db");
        assert_eq!(s.namespace(), "http://127.0.0.1:8080/");
        assert_eq!(s.keys.algorithm, Algorithm::RS256);
        assert_eq!(s.server.environment, Environment::Development);
    }

    #[test]
    fn env_overrides_are_typed() {
        let s = Settings::load_from(
            None,
            &env(&[
                ("TESSERA_DATABASE__POOL_SIZE", "3"),
                ("TESSERA_ISSUER", "https://id.example.com/"),
                ("TESSERA_CLAIMS__NAMESPACE", ""),
                ("DATABASE_URL", "postgres://u:pw@h/db"),
                ("TESSERA_ENV", "production"),
                ("TESSERA_KEYS__ALGORITHM", "EdDSA"),
                ("TESSERA_DOMAINS__PROTOCOL", "tcp"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.pool_size, 3);
        assert_eq!(s.issuer, "https://id.example.com");
        assert_eq!(s.namespace(), "");
        assert_eq!(s.database.url.expose(), "postgres://u:pw@h/db");
        assert_eq!(s.server.environment, Environment::Production);
        assert_eq!(s.keys.algorithm, Algorithm::EdDSA);
        assert_eq!(s.domains.protocol, DnsProtocol::Tcp);
        assert!(!format!("{s:?}").contains("pw"));
    }

    #[test]
    fn file_secrets_survive_env_layering() {
        // The layering never round-trips through serialized (redacted) secrets.
        let (_dir, p) = file("[database]\nurl = 'postgres://u:pw@h/db'\n[connectors.github]\nclient_id = 'c'\nclient_secret = 's3cret'\n");
        let s =
            Settings::load_from(Some(&p), &env(&[("TESSERA_DATABASE__POOL_SIZE", "2")])).unwrap();
        assert_eq!(s.database.url.expose(), "postgres://u:pw@h/db");
        let gh = s.connectors.github.unwrap();
        assert_eq!(gh.client_secret.expose(), "s3cret");
    }

    #[test]
    fn unknown_env_key_is_named() {
        let err = Settings::load_from(None, &env(&[("TESSERA_DATABASE__URLL", "x")])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("TESSERA_DATABASE__URLL"), "{msg}");
        assert!(msg.contains("urll"), "{msg}");
    }

    #[test]
    fn bad_typed_env_value_is_named() {
        let err = Settings::load_from(None, &env(&[("TESSERA_DATABASE__POOL_SIZE", "many")]))
            .unwrap_err();
        assert!(err.to_string().contains("database.pool_size"), "{err}");
    }

    #[test]
    fn bad_enum_in_env_names_variable_key_and_allowed_values() {
        for (var, value, key, allowed) in [
            (
                "TESSERA_ENV",
                "staging",
                "server.environment",
                "development or production",
            ),
            (
                "TESSERA_KEYS__ALGORITHM",
                "HS256",
                "keys.algorithm",
                "RS256, ES256 or EdDSA",
            ),
            (
                "TESSERA_DOMAINS__PROTOCOL",
                "quic",
                "domains.protocol",
                "udp or tcp",
            ),
        ] {
            let msg = Settings::load_from(None, &env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(
                msg.starts_with(&format!("environment variable {var}: {key}: ")),
                "{msg}"
            );
            assert!(msg.contains(value) && msg.contains(allowed), "{msg}");
        }
    }

    #[test]
    fn bad_enum_in_file_names_file_key_and_allowed_values() {
        let (_dir, p) = file("[smtp]\nhost = 'h'\nfrom = 'a@b.com'\ntls = 'ssl'\n");
        let msg = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
        assert!(msg.contains("t.toml: smtp.tls: "), "{msg}");
        assert!(
            msg.contains("`ssl`") && msg.contains("none, starttls or tls"),
            "{msg}"
        );

        let (_dir, p) = file("[[actions]]\nname = 'crm'\nkind = 'webhook'\non_error = 'retry'\n");
        let msg = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
        assert!(msg.contains("actions[0].on_error (action crm): "), "{msg}");
        assert!(msg.contains("deny or continue"), "{msg}");

        let (_dir, p) = file(
            "[[actions]]\nname = 'crm'\nkind = 'webhook'\ntriggers = ['post_login', 'logout']\n",
        );
        let msg = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
        assert!(
            msg.contains("actions[0].triggers[1] (action crm): "),
            "{msg}"
        );
        assert!(msg.contains("post_login or credentials_exchange"), "{msg}");
    }

    #[test]
    fn unknown_file_key_is_named() {
        let (_dir, p) = file("[database]\nurl = 'x'\npoolsize = 3\n");
        let msg = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
        assert!(msg.contains("t.toml") && msg.contains("poolsize"), "{msg}");
    }

    #[test]
    fn env_reference_secret() {
        let (_dir, p) = file("[database]\nurl = 'env:TESSERA_TEST_NOT_SET_XYZ'\n");
        let msg = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
        assert!(msg.contains("TESSERA_TEST_NOT_SET_XYZ"), "{msg}");
    }

    #[test]
    fn example_config_is_valid() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
        let s = Settings::load_from(Some(&p), &[]).unwrap();
        assert_eq!(s.server.bind, Settings::default().server.bind);
    }

    #[test]
    fn production_refuses_dev_connector() {
        let msg = Settings::load_from(
            None,
            &env(&[
                ("TESSERA_ENV", "production"),
                ("TESSERA_CONNECTORS__DEV__ENABLED", "true"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("connectors.dev.enabled"), "{msg}");
        let s = Settings::load_from(None, &env(&[("TESSERA_ENV", "production")])).unwrap();
        assert!(!s.dev_connector_enabled());
    }

    #[test]
    fn set_needs_sections() {
        let mut v = toml::Value::Table(toml::Table::new());
        assert_eq!(
            set(&mut v, &[], toml::Value::Boolean(true)),
            Err(super::KeyPathError::Empty)
        );
        let path = ["issuer".to_string(), "x".to_string()];
        set(&mut v, &path[..1], toml::Value::String("i".into())).unwrap();
        assert_eq!(
            set(&mut v, &path, toml::Value::Boolean(true))
                .unwrap_err()
                .to_string(),
            "issuer is not a section"
        );
    }
}
