//! File + environment layering on figment: the embedded defaults, then the
//! TOML file, then the environment, merged by [`figment::Figment`].
//!
//! Defaults come from serde (`#[serde(default)]` on every section), so the
//! layers hold only what the file and the environment set. Figment tags every
//! value with the layer it came from, so an error names the file or the
//! variable, and the key (`database.pool_size`, `actions[0].kind (action crm)`).
//!
//! The file is read and parsed here (figment's TOML format), not by
//! `providers::Toml`: a read error then names the file, and a syntax error
//! carries toml's message without the quoted source line, which could be a
//! secret. Each environment variable is a layer of its own rather than one
//! `providers::Env::prefixed("TESSERA_").split("__")`, because
//! * `Env` reads only the process environment, and the tests pass theirs
//!   explicitly (no shared state between tests);
//! * `Env` types a value by its text, so a password or client id such as
//!   `0123` is read as the number 123 and refused for a text key; here the
//!   key decides: text, unless the key wants a number, a boolean or a list
//!   (learnt by deserializing the variable alone), then a TOML literal;
//! * a variable that names no setting (Kubernetes injects `TESSERA_PORT=tcp://…`
//!   and `TESSERA_SERVICE_HOST` for a Service named `tessera`) is left out
//!   and reported, while an unknown key in the file stays fatal; and an error
//!   names the variable as written, also for `DATABASE_URL` and `TESSERA_ENV`.

use std::path::Path;

use figment::error::{Actual, Kind};
use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};

use super::{ConfigError, Settings};

/// Environment variables with the `TESSERA_` prefix that are not settings.
const RESERVED_ENV: &[&str] = &[
    "TESSERA_ENV",
    "TESSERA_CONFIG",
    "TESSERA_LOG",
    "TESSERA_TEST_POSTGRES",
];

/// Variables that set a key without the `TESSERA_A__B` form. They are layered
/// first, so `TESSERA_DATABASE__URL` wins over `DATABASE_URL`.
const ALIASES: &[(&str, &[&str])] = &[
    ("DATABASE_URL", &["database", "url"]),
    ("TESSERA_ENV", &["server", "environment"]),
];

/// A value that does not fit the settings' shape (unknown key, wrong type,
/// a name outside an enum), with the key it is at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default())]
pub struct ShapeError {
    /// `database.pool_size`, `actions[0].kind (action crm)`; `None` at the top.
    pub key: Option<String>,
    /// The deserializer's message, e.g. ``missing field `from` ``.
    pub message: String,
}

/// Why an environment variable could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("`{raw}` is not a valid value for {key}")]
    NotAValue { raw: String, key: String },
    #[error(transparent)]
    Shape(#[from] ShapeError),
}

/// What [`load`] found.
#[derive(Debug)]
pub(super) struct Loaded {
    /// Deserialized, not yet validated.
    pub settings: Settings,
    /// `TESSERA_…` variables that name no setting, left out.
    pub ignored: Vec<String>,
}

/// Defaults ← `file` ← `env`, deserialized (not yet validated).
pub(super) fn load(file: Option<&Path>, env: &[(String, String)]) -> Result<Loaded, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: origin.clone(),
            source,
        })?;
        let dict: Dict = Toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            origin,
            message: e.message().to_string(),
        })?;
        figment = figment.merge(Layer {
            metadata: Metadata::from("TOML file", path),
            dict,
        });
    }
    let mut ignored = Vec::new();
    for var in env_vars(env) {
        match var.layer()? {
            Some(layer) => figment = figment.merge(layer),
            None => ignored.push(var.name.to_string()),
        }
    }
    let settings = figment
        .extract::<Settings>()
        .map_err(|e| shape_error(&figment, e, file))?;
    Ok(Loaded { settings, ignored })
}

/// A dict of settings and where it came from: the file, or one variable.
struct Layer {
    metadata: Metadata,
    dict: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// An environment variable that may set a key.
struct EnvVar<'a> {
    name: &'a str,
    path: Vec<String>,
    raw: &'a str,
}

/// The variables that may set keys, aliases first, in the order given.
fn env_vars(env: &[(String, String)]) -> Vec<EnvVar<'_>> {
    let aliases = ALIASES.iter().flat_map(|(alias, path)| {
        env.iter()
            .filter(move |(name, _)| name == alias)
            .map(move |(name, raw)| EnvVar {
                name,
                path: path.iter().map(|k| k.to_string()).collect(),
                raw,
            })
    });
    let prefixed = env.iter().filter_map(|(name, raw)| {
        let rest = name.strip_prefix("TESSERA_")?;
        (!RESERVED_ENV.contains(&name.as_str())).then(|| EnvVar {
            name,
            path: rest.split("__").map(|k| k.to_ascii_lowercase()).collect(),
            raw,
        })
    });
    aliases.chain(prefixed).collect()
}

impl EnvVar<'_> {
    fn with(&self, value: Value) -> Layer {
        let mut value = value;
        for key in self.path.iter().rev() {
            value = Value::from(Dict::from([(key.clone(), value)]));
        }
        let dict = value.into_dict().unwrap_or_default();
        Layer {
            metadata: Metadata::from("environment variable", self.name),
            dict,
        }
    }

    /// The variable as a layer, typed after its key: deserialized alone as
    /// text, it either fits, names no setting (`None`), or its key wants
    /// another type (then it is read as a TOML literal). Any other problem
    /// (a bad enum name, a section it does not complete) is left to the
    /// merged extraction, which names the variable.
    fn layer(&self) -> Result<Option<Layer>, ConfigError> {
        let text = self.with(Value::from(self.raw));
        let Err(e) = Figment::from(&text).extract::<Settings>() else {
            return Ok(Some(text));
        };
        match e.kind {
            Kind::UnknownField(..) if self.path.starts_with(&e.path) => Ok(None),
            Kind::InvalidType(Actual::Str(_), _) if e.path == self.path => {
                match Toml::from_str::<Dict>(&format!("v = {}", self.raw))
                    .ok()
                    .and_then(|mut d| d.remove("v"))
                {
                    Some(v) => Ok(Some(self.with(v))),
                    None => Err(ConfigError::Env {
                        var: self.name.to_string(),
                        source: EnvError::NotAValue {
                            raw: self.raw.to_string(),
                            key: self.path.join("."),
                        },
                    }),
                }
            }
            _ => Ok(Some(text)),
        }
    }
}

/// A figment error as ours: from the variable or the file whose value it is
/// about (the file, else `defaults`, when figment cannot tell).
fn shape_error(figment: &Figment, e: figment::Error, file: Option<&Path>) -> ConfigError {
    let source = ShapeError {
        key: key_name(figment, &e.path),
        message: message(&e.kind),
    };
    match e.metadata.and_then(|m| m.source) {
        Some(Source::Custom(var)) => ConfigError::Env {
            var,
            source: source.into(),
        },
        Some(Source::File(path)) => ConfigError::Shape {
            origin: path.display().to_string(),
            source,
        },
        _ => ConfigError::Shape {
            origin: file.map_or("defaults".into(), |p| p.display().to_string()),
            source,
        },
    }
}

/// serde's wording where figment's reads oddly: ``unknown field `poolsize`,
/// expected one of `url`, `pool_size`, …`` (figment: ``expected `one of `url`…``),
/// ``invalid value: found …`` (figment drops the colon).
fn message(kind: &Kind) -> String {
    fn one_of(names: &[&str]) -> String {
        let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        match quoted.as_slice() {
            [] => "nothing".into(),
            [one] => one.clone(),
            [a, b] => format!("{a} or {b}"),
            all => format!("one of {}", all.join(", ")),
        }
    }
    match kind {
        Kind::UnknownField(name, expected) => {
            format!("unknown field `{name}`, expected {}", one_of(expected))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value: found {actual}, expected {expected}")
        }
        other => other.to_string(),
    }
}

/// `["actions", "0", "kind"]` → `actions[0].kind (action crm)`; `None` at the
/// top. (Numbers are indices: no setting has a numeric key.)
fn key_name(figment: &Figment, path: &[String]) -> Option<String> {
    let mut key = String::new();
    for k in path {
        match k.parse::<usize>() {
            Ok(i) if !key.is_empty() => key.push_str(&format!("[{i}]")),
            _ if key.is_empty() => key.push_str(k),
            _ => key.push_str(&format!(".{k}")),
        }
    }
    let action = match path {
        [first, i, ..] if first == "actions" => action_name(figment, i),
        _ => None,
    };
    match action {
        Some(name) => Some(format!("{key} (action {name})")),
        None => (!key.is_empty()).then_some(key),
    }
}

/// The `name` of the action at `index` in the merged `[[actions]]`.
fn action_name(figment: &Figment, index: &str) -> Option<String> {
    let actions = figment.find_value("actions").ok()?.into_array()?;
    let action = actions.get(index.parse::<usize>().ok()?)?;
    Some(action.find_ref("name")?.as_str()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::*;

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
    fn defaults_layer_applies_without_file_or_env() {
        let s = Settings::load_from(None, &[]).unwrap();
        assert_eq!(s.database.pool_size, 8);
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert_eq!(s.tokens.access_token_ttl_secs, 3600);
        assert!(s.smtp.is_none());
    }

    #[test]
    fn file_layer_overrides_defaults_key_by_key() {
        let (_dir, p) = file("[database]\npool_size = 3\n[server]\nbind = '0.0.0.0:9000'\n");
        let s = Settings::load_from(Some(&p), &[]).unwrap();
        assert_eq!(s.database.pool_size, 3);
        assert_eq!(s.server.bind, "0.0.0.0:9000");
        // Keys the file leaves out keep their defaults, also in a section it sets.
        assert_eq!(s.database.url.expose(), "./data/tessera.db");
        assert_eq!(s.database.acquire_timeout_secs, 5);
        assert_eq!(s.tokens.access_token_ttl_secs, 3600);
    }

    #[test]
    fn env_layer_overrides_file_and_defaults() {
        let (_dir, p) = file(
            "[database]\nurl = 'from-file.db'\npool_size = 3\n[server]\nbind = '0.0.0.0:9000'\nenvironment = 'production'\n",
        );
        let s = Settings::load_from(
            Some(&p),
            &env(&[
                ("TESSERA_DATABASE__POOL_SIZE", "5"),
                ("TESSERA_TOKENS__ACCESS_TOKEN_TTL_SECS", "60"),
                ("TESSERA_ENV", "development"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.pool_size, 5, "env over file");
        assert_eq!(s.tokens.access_token_ttl_secs, 60, "env over default");
        assert_eq!(s.server.environment, Environment::Development);
        assert_eq!(s.server.bind, "0.0.0.0:9000", "file where env is silent");
        assert_eq!(s.database.url.expose(), "from-file.db");

        // DATABASE_URL over the file; TESSERA_DATABASE__URL over DATABASE_URL,
        // in either order.
        let s = Settings::load_from(Some(&p), &env(&[("DATABASE_URL", "alias.db")])).unwrap();
        assert_eq!(s.database.url.expose(), "alias.db");
        for pairs in [
            [
                ("TESSERA_DATABASE__URL", "own.db"),
                ("DATABASE_URL", "alias.db"),
            ],
            [
                ("DATABASE_URL", "alias.db"),
                ("TESSERA_DATABASE__URL", "own.db"),
            ],
        ] {
            let s = Settings::load_from(Some(&p), &env(&pairs)).unwrap();
            assert_eq!(s.database.url.expose(), "own.db");
        }
    }

    #[test]
    fn env_text_stays_text_where_the_key_is_text() {
        let s = Settings::load_from(
            None,
            &env(&[
                ("TESSERA_SMTP__HOST", "mail"),
                ("TESSERA_SMTP__FROM", "id@example.com"),
                ("TESSERA_SMTP__PASSWORD", "0123"),
                ("TESSERA_SMTP__PORT", "2525"),
                ("TESSERA_TOKENS__DEFAULT_AUDIENCE", "123"),
                ("TESSERA_CONNECTORS__DEV__ENABLED", "false"),
                (
                    "TESSERA_DOMAINS__NAMESERVERS",
                    "['127.0.0.1:53', '127.0.0.2:53']",
                ),
            ]),
        )
        .unwrap();
        let smtp = s.smtp.unwrap();
        assert_eq!(smtp.password.unwrap().expose(), "0123");
        assert_eq!(smtp.port, 2525);
        assert_eq!(smtp.tls, SmtpTls::StartTls);
        assert_eq!(s.tokens.default_audience.as_deref(), Some("123"));
        assert_eq!(s.connectors.dev.enabled, Some(false));
        assert_eq!(s.domains.nameservers, ["127.0.0.1:53", "127.0.0.2:53"]);
    }

    #[test]
    fn unknown_env_vars_are_ignored_and_reported() {
        // What Kubernetes injects for a Service named `tessera`, and a typo.
        let vars = env(&[
            ("TESSERA_PORT", "tcp://10.0.0.7:8080"),
            ("TESSERA_PORT_8080_TCP_ADDR", "10.0.0.7"),
            ("TESSERA_SERVICE_HOST", "10.0.0.7"),
            ("TESSERA_SERVICE_PORT", "8080"),
            ("TESSERA_DATABASE__URLL", "x"),
            ("TESSERA_DATABASE__POOL_SIZE", "4"),
            ("TESSERA_LOG", "debug"),
            ("TESSERA_CONFIG", "/etc/tessera.toml"),
            ("PATH", "/usr/bin"),
        ]);
        let loaded = super::load(None, &vars).unwrap();
        assert_eq!(
            loaded.ignored,
            [
                "TESSERA_PORT",
                "TESSERA_PORT_8080_TCP_ADDR",
                "TESSERA_SERVICE_HOST",
                "TESSERA_SERVICE_PORT",
                "TESSERA_DATABASE__URLL",
            ]
        );
        assert_eq!(loaded.settings.database.pool_size, 4);
        assert_eq!(loaded.settings.database.url.expose(), "./data/tessera.db");
        assert!(Settings::load_from(None, &vars).is_ok());
    }

    #[test]
    fn known_env_var_with_a_bad_value_is_an_error_naming_it() {
        for (var, value, key) in [
            ("TESSERA_DATABASE__POOL_SIZE", "many", "database.pool_size"),
            ("TESSERA_DATABASE__POOL_SIZE", "-1", "database.pool_size"),
            (
                "TESSERA_CONNECTORS__DEV__ENABLED",
                "maybe",
                "connectors.dev.enabled",
            ),
            ("TESSERA_ISSUER__HOST", "x", "issuer"),
            ("TESSERA_SMTP__HOST", "mail", "smtp"),
        ] {
            let vars = env(&[("TESSERA_SERVICE_HOST", "10.0.0.7"), (var, value)]);
            let msg = Settings::load_from(None, &vars).unwrap_err().to_string();
            assert!(
                msg.starts_with(&format!("environment variable {var}: ")) && msg.contains(key),
                "{msg}"
            );
        }
        let msg = Settings::load_from(None, &env(&[("TESSERA_SMTP__HOST", "mail")]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("missing field `from`"), "{msg}");
    }

    #[test]
    fn unknown_file_key_is_fatal_and_names_the_file_whatever_the_env_sets() {
        let (_dir, p) = file("[database]\npoolsize = 3\n");
        let vars = env(&[
            ("TESSERA_DATABASE__POOL_SIZE", "2"),
            ("TESSERA_SERVICE_HOST", "10.0.0.7"),
        ]);
        let msg = Settings::load_from(Some(&p), &vars)
            .unwrap_err()
            .to_string();
        assert!(
            msg.ends_with(
                "t.toml: database.poolsize: unknown field `poolsize`, expected one of `url`, `pool_size`, `connect_timeout_secs`, `acquire_timeout_secs`, `migrate_on_start`"
            ),
            "{msg}"
        );
        let (_dir, p) = file("tessera_port = 'tcp://10.0.0.7:8080'\n");
        let msg = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
        assert!(msg.contains("t.toml: tessera_port: "), "{msg}");
    }

    #[test]
    fn unreadable_and_malformed_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let msg = Settings::load_from(Some(&missing), &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("missing.toml: cannot read"), "{msg}");
        let (_dir, p) = file("[smtp]\npassword = \"hunter2\n");
        let msg = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
        assert!(msg.starts_with(&format!("{}: ", p.display())), "{msg}");
        assert!(
            !msg.contains("hunter2"),
            "the source line is not echoed: {msg}"
        );
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
}
