//! `[[actions]]`: the post-login / credentials-exchange actions, and the
//! enums they are configured with. `crate::hooks` builds its pipeline from
//! these and re-exports [`Trigger`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::values::named_enum;
use super::SecretString;

named_enum! {
    /// When an action runs (SPEC §4).
    pub enum Trigger ("trigger") {
        /// A user's tokens are issued: login, refresh, org switch, dry run.
        PostLogin = "post_login",
        /// A client's own tokens are issued (client credentials).
        CredentialsExchange = "credentials_exchange",
    }
}

named_enum! {
    /// What an action is.
    pub enum ActionKind ("action kind") {
        /// POST the event to a URL, signed with HMAC-SHA256.
        Webhook = "webhook",
        /// Run a JavaScript file in QuickJS.
        Script = "script",
    }
}

named_enum! {
    /// What an action's failure (error, timeout, forbidden claim) does.
    pub enum OnError ("on_error") {
        /// Refuse the login (the default).
        Deny = "deny",
        /// Skip the action and go on.
        Continue = "continue",
    }
}

/// One action (`[[actions]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    pub name: String,
    pub kind: ActionKind,
    #[serde(default = "default_triggers")]
    pub triggers: Vec<Trigger>,
    #[serde(default = "default_on_error")]
    pub on_error: OnError,
    /// Webhook: the URL to POST the event to.
    #[serde(default)]
    pub url: Option<String>,
    /// Webhook: the HMAC-SHA256 key of `Tessera-Signature`.
    #[serde(default)]
    pub secret: Option<SecretString>,
    #[serde(default = "default_action_timeout")]
    pub timeout_ms: u64,
    /// Script: the JavaScript file.
    #[serde(default)]
    pub script: Option<PathBuf>,
    #[serde(default = "default_time_limit")]
    pub time_limit_ms: u64,
    #[serde(default = "default_memory_limit")]
    pub memory_limit_bytes: usize,
    #[serde(default = "default_stack_limit")]
    pub stack_limit_bytes: usize,
    /// Given to the action as `event.secrets`.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretString>,
}

fn default_triggers() -> Vec<Trigger> {
    vec![Trigger::PostLogin]
}
fn default_on_error() -> OnError {
    OnError::Deny
}
fn default_action_timeout() -> u64 {
    2000
}
fn default_time_limit() -> u64 {
    100
}
fn default_memory_limit() -> usize {
    16 * 1024 * 1024
}
fn default_stack_limit() -> usize {
    256 * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_names() {
        let a: ActionConfig = toml::from_str("name = 'a'\nkind = 'script'\n").unwrap();
        assert_eq!(a.kind, ActionKind::Script);
        assert_eq!(a.triggers, vec![Trigger::PostLogin]);
        assert_eq!(a.on_error, OnError::Deny);
        assert_eq!(
            "credentials_exchange".parse::<Trigger>(),
            Ok(Trigger::CredentialsExchange)
        );
        assert_eq!(Trigger::PostLogin.as_str(), "post_login");
    }

    #[test]
    fn bad_values_list_the_allowed_ones() {
        let err = toml::from_str::<ActionConfig>("name = 'a'\nkind = 'lambda'\n").unwrap_err();
        assert!(
            err.message()
                .contains("unsupported action kind `lambda` (use webhook or script)"),
            "{err}"
        );
        let err = toml::from_str::<ActionConfig>(
            "name = 'a'\nkind = 'script'\ntriggers = ['pre_login']\n",
        )
        .unwrap_err();
        assert!(
            err.message()
                .contains("(use post_login or credentials_exchange)"),
            "{err}"
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut a: ActionConfig = toml::from_str("name = 'a'\nkind = 'webhook'\n").unwrap();
        a.secret = Some(SecretString::new("hook-key"));
        a.secrets
            .insert("API_KEY".into(), SecretString::new("api-key"));
        let dbg = format!("{a:?}");
        assert!(
            !dbg.contains("hook-key") && !dbg.contains("api-key"),
            "{dbg}"
        );
        assert!(dbg.contains("API_KEY"), "{dbg}");
    }
}
