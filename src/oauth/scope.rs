//! `Scope`: a parsed, de-duplicated, order-preserving set of scope tokens (RFC 6749 §3.3).

use std::fmt;

use super::OAuthError;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(Vec<String>);

impl Scope {
    pub fn parse(s: &str) -> Result<Self, OAuthError> {
        let mut out: Vec<String> = Vec::new();
        for tok in s.split(' ').filter(|t| !t.is_empty()) {
            // scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
            if !tok
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
            {
                return Err(OAuthError::InvalidScope(format!(
                    "malformed scope token `{tok}`"
                )));
            }
            if !out.iter().any(|t| t == tok) {
                out.push(tok.to_string());
            }
        }
        Ok(Self(out))
    }

    pub fn from_list(list: &[String]) -> Self {
        let mut s = Self::default();
        for t in list {
            if !s.contains(t) {
                s.0.push(t.clone());
            }
        }
        s
    }

    pub fn contains(&self, t: &str) -> bool {
        self.0.iter().any(|x| x == t)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|s| s.as_str())
    }

    /// Every token of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.0.iter().all(|t| other.contains(t))
    }

    /// The first token not allowed by `allowed`, if any.
    pub fn first_outside(&self, allowed: &[String]) -> Option<&str> {
        self.iter().find(|t| !allowed.iter().any(|a| a == t))
    }

    pub fn without(&self, drop: &[&str]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|t| !drop.contains(&t.as_str()))
                .cloned()
                .collect(),
        )
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}
