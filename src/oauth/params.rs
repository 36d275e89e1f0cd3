//! Request parameters with RFC 6749 §3.1 rules: a parameter sent more than
//! once is an error, empty values count as absent, sizes are bounded.

use std::collections::HashMap;

use super::OAuthError;

/// Longest value accepted for any single parameter.
pub const MAX_PARAM_LEN: usize = 4096;

#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn parse(input: &str) -> Result<Self, OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(input)
            .map_err(|_| OAuthError::InvalidRequest("malformed form encoding".into()))?;
        let mut map = HashMap::with_capacity(pairs.len());
        for (k, v) in pairs {
            if v.len() > MAX_PARAM_LEN || k.len() > 128 {
                return Err(OAuthError::InvalidRequest(format!(
                    "parameter `{k}` is too long"
                )));
            }
            if v.is_empty() {
                continue;
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(OAuthError::InvalidRequest(format!(
                    "parameter `{k}` is repeated (RFC 6749 §3.1)"
                )));
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(|s| s.as_str())
    }

    pub fn take(&mut self, k: &str) -> Option<String> {
        self.0.remove(k)
    }

    pub fn contains(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }

    /// The remaining parameters as a JSON object of strings (for serde-tagged enums).
    pub fn into_json(self) -> serde_json::Value {
        serde_json::Value::Object(self.0.into_iter().map(|(k, v)| (k, v.into())).collect())
    }
}
