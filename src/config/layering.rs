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
mod tests;
