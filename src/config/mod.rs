//! Settings: embedded defaults, then the TOML file, then `TESSERA_…` environment
//! variables (merged by figment), then validation. Every failure names the file
//! or variable, the key and the problem, so `main` can print it and exit with
//! code 2.
//!
//! Environment overrides use `__` between nesting levels:
//! `TESSERA_DATABASE__URL`, `TESSERA_TOKENS__ACCESS_TOKEN_TTL_SECS`,
//! `TESSERA_ISSUER`. `DATABASE_URL` and `TESSERA_ENV` are honoured too (they
//! win over the file; `TESSERA_DATABASE__URL` and `TESSERA_SERVER__ENVIRONMENT`
//! win over them). A `TESSERA_…` variable that names no setting is logged and
//! ignored; an unknown key in the file is an error. A string value `env:NAME`
//! is replaced by the environment variable `NAME` (for secrets that should not
//! live in the file).
//!
//! Closed sets of values (algorithm, environment, DNS protocol, SMTP TLS,
//! action kind, `on_error`, triggers) are enums read by serde, so a bad value
//! is refused at load with the allowed names. `*_secs` numbers become
//! `chrono::Duration`s through the accessors of each section, which saturate
//! instead of overflowing. This module depends on no other part of Tessera
//! except `crate::secrets` (constant-time comparison).
//!
//! * `mod.rs` — [`Settings`], [`ConfigError`], validation;
//! * `sections.rs` — the sections (`[server]`, `[tokens]`, …) and their defaults;
//! * `actions.rs` — `[[actions]]`, [`Trigger`], [`ActionKind`], [`OnError`];
//! * `values.rs` — the other enums and [`UnknownValue`];
//! * `secret.rs` — [`SecretString`];
//! * `layering.rs` — file + environment layering (figment).

mod actions;
mod layering;
mod secret;
mod sections;
mod values;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use actions::{ActionConfig, ActionKind, OnError, Trigger};
pub use layering::{EnvError, ShapeError};
pub use secret::{resolve_env_reference, EnvReferenceError, SecretString, REDACTED};
pub use sections::{
    redact_url, ClaimSettings, ClientConfig, ConnectorSettings, DatabaseSettings, DefaultRole,
    DevConnector, DomainSettings, GithubConnector, GoogleConnector, HookSettings,
    InvitationSettings, KeySettings, MaintenanceSettings, OrgSettings, ServerSettings,
    SmtpSettings, TokenSettings,
};
pub use values::{Algorithm, DnsProtocol, Environment, KeyStoreKind, SmtpTls, UnknownValue};

/// Why the settings could not be loaded. `main` prints it and exits with code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{origin}: {message}")]
    Syntax { origin: String, message: String },
    /// A value in the file does not fit its key. `origin` is the file, or
    /// `defaults` without one.
    #[error("{origin}: {source}")]
    Shape { origin: String, source: ShapeError },
    /// An environment variable does not fit the key it sets.
    #[error("environment variable {var}: {source}")]
    Env { var: String, source: EnvError },
    /// A value of the right type that is out of range or inconsistent.
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl ConfigError {
    fn invalid(key: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            key,
            message: message.into(),
        }
    }
}

/// The longest duration a `*_secs` setting becomes (about 1000 years): far
/// beyond any real lifetime, yet `now + it` stays a valid timestamp in
/// chrono, PostgreSQL and SQLite instead of overflowing.
pub const MAX_DURATION_SECS: i64 = 1000 * 366 * 24 * 3600;

/// Seconds from the config as a `chrono::Duration`, saturating at
/// [`MAX_DURATION_SECS`]. The one place where a `u64` setting becomes signed.
pub(crate) fn seconds(secs: u64) -> chrono::Duration {
    let secs = i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .min(MAX_DURATION_SECS);
    chrono::Duration::try_seconds(secs).unwrap_or(chrono::Duration::MAX)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The issuer URL: `iss` of every token and the base of every endpoint URL.
    pub issuer: String,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub keys: KeySettings,
    pub tokens: TokenSettings,
    pub claims: ClaimSettings,
    pub orgs: OrgSettings,
    pub connectors: ConnectorSettings,
    pub invitations: InvitationSettings,
    pub smtp: Option<SmtpSettings>,
    pub domains: DomainSettings,
    pub maintenance: MaintenanceSettings,
    pub hooks: HookSettings,
    /// Post-login / credentials-exchange actions, run in this order.
    pub actions: Vec<ActionConfig>,
    pub clients: Vec<ClientConfig>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            keys: KeySettings::default(),
            tokens: TokenSettings::default(),
            claims: ClaimSettings::default(),
            orgs: OrgSettings::default(),
            connectors: ConnectorSettings::default(),
            invitations: InvitationSettings::default(),
            smtp: None,
            domains: DomainSettings::default(),
            maintenance: MaintenanceSettings::default(),
            hooks: HookSettings::default(),
            actions: Vec::new(),
            clients: Vec::new(),
        }
    }
}

impl Settings {
    /// Loads defaults, the optional file, and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    /// Same as [`Settings::load`] with an explicit environment (for tests).
    /// `TESSERA_…` variables that name no setting are logged and ignored.
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut loaded = layering::load(file, env)?;
        // The documented home of the key-encryption key (`env:TESSERA_KEK`)
        // names no setting by design: not worth a warning at every start.
        loaded.ignored.retain(|v| v != "TESSERA_KEK");
        if !loaded.ignored.is_empty() {
            tracing::warn!(
                variables = %loaded.ignored.join(", "),
                "ignoring TESSERA_ environment variables that name no setting"
            );
        }
        let mut settings = loaded.settings;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        let issuer = url::Url::parse(&self.issuer)
            .map_err(|e| ConfigError::invalid("issuer", format!("not a URL ({e})")))?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ConfigError::invalid(
                "issuer",
                "must not have a query or fragment (OIDC Discovery §3)",
            ));
        }
        if !matches!(issuer.scheme(), "http" | "https") {
            return Err(ConfigError::invalid("issuer", "must be http or https"));
        }
        self.issuer = self.issuer.trim_end_matches('/').to_string();
        if self.keys.store == KeyStoreKind::Database {
            match &self.keys.encryption_key {
                None => {
                    return Err(ConfigError::invalid(
                        "keys.encryption_key",
                        "is required when keys.store = \"database\" (32 random bytes, base64; e.g. \"env:TESSERA_KEK\")",
                    ))
                }
                Some(k) if crate::secrets::decode_key32(k.expose()).is_none() => {
                    return Err(ConfigError::invalid(
                        "keys.encryption_key",
                        "must be 32 random bytes, base64 (44 characters) or hex (64); generate one with `openssl rand -base64 32`",
                    ))
                }
                Some(_) => {}
            }
        }
        if self.database.pool_size == 0 {
            return Err(ConfigError::invalid(
                "database.pool_size",
                "must be at least 1",
            ));
        }
        if self.tokens.code_ttl_secs == 0 || self.tokens.code_ttl_secs > 60 {
            return Err(ConfigError::invalid(
                "tokens.code_ttl_secs",
                "must be between 1 and 60 (RFC 6749 §4.1.2)",
            ));
        }
        for ns in &self.domains.nameservers {
            if ns.parse::<std::net::SocketAddr>().is_err() {
                return Err(ConfigError::invalid(
                    "domains.nameservers",
                    format!("`{ns}` is not ip:port"),
                ));
            }
        }
        if let Some(smtp) = &self.smtp {
            if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(ConfigError::invalid(
                    "smtp.from",
                    format!("`{}` is not an email address", smtp.from),
                ));
            }
        }
        if self.is_production() && self.connectors.dev.enabled == Some(true) {
            return Err(ConfigError::invalid(
                "connectors.dev.enabled",
                "the dev connector is refused when TESSERA_ENV=production",
            ));
        }
        Ok(())
    }

    pub fn is_production(&self) -> bool {
        self.server.environment == Environment::Production
    }

    pub fn dev_connector_enabled(&self) -> bool {
        self.connectors.dev.enabled.unwrap_or(!self.is_production())
    }

    /// The claim namespace: configured value, else `{issuer}/`.
    pub fn namespace(&self) -> String {
        match &self.claims.namespace {
            Some(ns) => ns.clone(),
            None => format!("{}/", self.issuer),
        }
    }

    /// Identifier of Tessera's own org API, required in `aud` by `/api/…`.
    pub fn api_audience(&self) -> String {
        format!("{}/api", self.issuer)
    }

    /// The longest lifetime of a signed token (access or ID token): a
    /// retiring key stays published this long, and deny-list entries live
    /// this long.
    pub fn max_token_ttl(&self) -> chrono::Duration {
        self.tokens
            .access_token_ttl()
            .max(self.tokens.id_token_ttl())
    }

    /// True when the issuer is plain http on a loopback host, where cookies may not be `Secure`.
    pub fn insecure_cookies_allowed(&self) -> bool {
        url::Url::parse(&self.issuer)
            .map(|u| {
                u.scheme() == "http"
                    && matches!(
                        u.host_str(),
                        Some("localhost") | Some("127.0.0.1") | Some("[::1]")
                    )
            })
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_parsed_once_and_saturate() {
        let mut s = Settings::default();
        assert_eq!(s.tokens.access_token_ttl(), chrono::Duration::hours(1));
        assert_eq!(s.tokens.code_ttl(), chrono::Duration::seconds(60));
        assert_eq!(s.tokens.session_ttl(), chrono::Duration::days(1));
        assert_eq!(
            s.tokens.login_transaction_ttl(),
            chrono::Duration::minutes(10)
        );
        assert_eq!(
            s.tokens.refresh_token_absolute_ttl(),
            chrono::Duration::days(30)
        );
        assert_eq!(s.tokens.refresh_token_idle_ttl(), chrono::Duration::days(7));
        assert_eq!(s.invitations.ttl(), chrono::Duration::days(7));
        assert_eq!(s.domains.recheck_interval(), chrono::Duration::hours(1));
        assert_eq!(s.domains.grace_period(), chrono::Duration::hours(72));
        assert_eq!(
            s.maintenance.purge_interval(),
            chrono::Duration::minutes(10)
        );
        s.maintenance.purge_interval_secs = 0;
        assert_eq!(
            s.maintenance.purge_interval(),
            chrono::Duration::seconds(10)
        );

        s.tokens.id_token_ttl_secs = 7200;
        assert_eq!(s.max_token_ttl(), chrono::Duration::hours(2));
        s.tokens.access_token_ttl_secs = u64::MAX;
        let max = chrono::Duration::seconds(MAX_DURATION_SECS);
        assert_eq!(s.tokens.access_token_ttl(), max);
        assert_eq!(s.max_token_ttl(), max);
        // Saturated durations still add to a timestamp.
        let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH.naive_utc();
        assert!(now.checked_add_signed(max).is_some());
    }

    #[test]
    fn validation_names_the_key() {
        let mut s = Settings::default();
        s.tokens.code_ttl_secs = 61;
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "tokens.code_ttl_secs: must be between 1 and 60 (RFC 6749 §4.1.2)"
        );
        let mut s = Settings::default();
        s.domains.nameservers = vec!["localhost".into()];
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "domains.nameservers: `localhost` is not ip:port"
        );
    }
}
