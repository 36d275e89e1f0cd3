//! [`SecretString`]: a setting that must never reach a log, a `Debug` dump or
//! a serialized copy of the settings, and that compares in constant time.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// What a [`SecretString`] serializes as, should the settings ever be
/// serialized (they are never read back from a serialized copy).
pub const REDACTED: &str = "[redacted]";

/// A secret that never shows in `Debug` output, logs or serialized settings.
/// Read from a string; `env:NAME` reads the environment variable `NAME`.
#[derive(Clone, Default)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Constant time in the contents (the length may show), like every other
/// secret comparison (`crate::secrets::ct_eq`).
impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        crate::secrets::ct_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for SecretString {}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

impl Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        resolve_env_reference(&raw)
            .map(SecretString)
            .map_err(serde::de::Error::custom)
    }
}

/// An `env:NAME` reference to a variable that is not set (or not Unicode).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {0} (referenced as env:{0}) is not set")]
pub struct EnvReferenceError(pub String);

/// `env:NAME` → the value of `NAME`; anything else as it is.
pub fn resolve_env_reference(raw: &str) -> Result<String, EnvReferenceError> {
    match raw.strip_prefix("env:") {
        Some(name) => std::env::var(name).map_err(|_| EnvReferenceError(name.to_string())),
        None => Ok(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_serialize_redact() {
        let s = SecretString::new("hunter2");
        assert_eq!(format!("{s:?}"), "SecretString(***)");
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"[redacted]\"");
        let toml = toml::Value::try_from(std::collections::BTreeMap::from([("k", s)])).unwrap();
        assert!(!toml.to_string().contains("hunter2"));
    }

    #[test]
    fn equality_compares_contents() {
        assert_eq!(SecretString::new("abc"), SecretString::new("abc"));
        assert_ne!(SecretString::new("abc"), SecretString::new("abd"));
        assert_ne!(SecretString::new("abc"), SecretString::new("abcd"));
        assert_eq!(SecretString::default(), SecretString::new(""));
    }

    #[test]
    fn env_reference() {
        assert_eq!(resolve_env_reference("plain").unwrap(), "plain");
        let err = resolve_env_reference("env:TESSERA_TEST_NOT_SET_XYZ").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable TESSERA_TEST_NOT_SET_XYZ (referenced as env:TESSERA_TEST_NOT_SET_XYZ) is not set"
        );
        let s: SecretString = serde_json::from_value(serde_json::json!("literal")).unwrap();
        assert_eq!(s.expose(), "literal");
    }
}
