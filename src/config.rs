//! Settings: embedded defaults, then the TOML file, then `TESSERA_…` environment
//! variables, then validation. Every failure names the file or variable, the
//! key and the problem, so `main` can print it and exit with code 2.
//!
//! Environment overrides use `__` between nesting levels:
//! `TESSERA_DATABASE__URL`, `TESSERA_TOKENS__ACCESS_TOKEN_TTL_SECS`,
//! `TESSERA_ISSUER`. `DATABASE_URL` is honoured too (it wins over the file).
//! A string value `env:NAME` is replaced by the environment variable `NAME`
//! (for secrets that should not live in the file).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

/// Environment variables with the `TESSERA_` prefix that are not settings.
const RESERVED_ENV: &[&str] = &[
    "TESSERA_ENV",
    "TESSERA_CONFIG",
    "TESSERA_LOG",
    "TESSERA_TEST_POSTGRES",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, Default, PartialEq, Eq)]
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

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

impl Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
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

fn resolve_env_reference(raw: &str) -> Result<String, String> {
    match raw.strip_prefix("env:") {
        Some(name) => std::env::var(name).map_err(|_| {
            format!("environment variable {name} (referenced as env:{name}) is not set")
        }),
        None => Ok(raw.to_string()),
    }
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub bind: String,
    /// actix worker threads; 0 = one per core.
    pub workers: usize,
    /// `production` refuses the dev connector. Also set by `TESSERA_ENV`.
    pub environment: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            workers: 0,
            environment: "development".into(),
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `postgres://…`, `postgresql://…`, `sqlite://path` or a plain file path.
    pub url: SecretString,
    pub pool_size: u32,
    /// How long start-up keeps retrying an unreachable database.
    pub connect_timeout_secs: u64,
    /// How long a request waits for a pooled connection.
    pub acquire_timeout_secs: u64,
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(self.url.expose()))
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretString::new("./data/tessera.db"),
            pool_size: 8,
            connect_timeout_secs: 30,
            acquire_timeout_secs: 5,
        }
    }
}

/// Hides the password of a database URL for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    pub dir: PathBuf,
    /// Algorithm of keys created automatically or by `keys rotate`: RS256, ES256 or EdDSA.
    pub algorithm: String,
    /// How often a running server re-reads `keys/` (so a rotation reaches every instance).
    pub reload_interval_secs: u64,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("./keys"),
            algorithm: "RS256".into(),
            reload_interval_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    pub access_token_ttl_secs: u64,
    pub id_token_ttl_secs: u64,
    pub code_ttl_secs: u64,
    pub refresh_token_absolute_ttl_secs: u64,
    pub refresh_token_idle_ttl_secs: u64,
    pub session_ttl_secs: u64,
    pub login_transaction_ttl_secs: u64,
    /// Audience of tokens when the request names none and the client has no audiences.
    pub default_audience: Option<String>,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 3600,
            id_token_ttl_secs: 3600,
            code_ttl_secs: 60,
            refresh_token_absolute_ttl_secs: 30 * 24 * 3600,
            refresh_token_idle_ttl_secs: 7 * 24 * 3600,
            session_ttl_secs: 24 * 3600,
            login_transaction_ttl_secs: 600,
            default_audience: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimSettings {
    /// Prefix of org and custom claims. Unset: the issuer URL with a trailing `/`.
    /// Empty string: plain claim names.
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrgSettings {
    /// Create a personal org, owned by the user, at first login.
    pub personal_org: bool,
    /// Extra roles created in every new org (`[[orgs.default_roles]]`).
    pub default_roles: Vec<DefaultRole>,
}

impl Default for OrgSettings {
    fn default() -> Self {
        Self {
            personal_org: true,
            default_roles: Vec::new(),
        }
    }
}

/// A custom role every new org starts with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultRole {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvitationSettings {
    /// How long an invitation link stays valid.
    pub ttl_secs: u64,
    /// The client whose login the invitation page continues into
    /// (`/authorize?client_id=…&invitation=…`). Unset: the page asks the
    /// invitee to open the app, which calls `POST /api/invitations/accept`.
    pub default_client_id: Option<String>,
}

impl Default for InvitationSettings {
    fn default() -> Self {
        Self {
            ttl_secs: 7 * 24 * 3600,
            default_client_id: None,
        }
    }
}

/// Verified domains: DNS resolver, free-mail list, re-verification.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DomainSettings {
    /// `ip:port` of the nameservers to ask; empty = the system resolver.
    pub nameservers: Vec<String>,
    /// `udp` or `tcp`.
    pub protocol: String,
    pub timeout_ms: u64,
    pub attempts: usize,
    /// Domains that anyone can get an address at: never verifiable.
    pub free_mail: Vec<String>,
    /// How often verified domains are re-checked (0 = never).
    pub recheck_interval_secs: u64,
    /// How long a domain may fail re-checks before it becomes unverified.
    pub grace_period_secs: u64,
}

impl Default for DomainSettings {
    fn default() -> Self {
        Self {
            nameservers: Vec::new(),
            protocol: "udp".into(),
            timeout_ms: 3000,
            attempts: 2,
            free_mail: [
                "gmail.com",
                "googlemail.com",
                "outlook.com",
                "hotmail.com",
                "live.com",
                "msn.com",
                "yahoo.com",
                "ymail.com",
                "icloud.com",
                "me.com",
                "mac.com",
                "aol.com",
                "proton.me",
                "protonmail.com",
                "pm.me",
                "gmx.com",
                "gmx.net",
                "gmx.de",
                "web.de",
                "mail.com",
                "yandex.com",
                "yandex.ru",
                "mail.ru",
                "zoho.com",
                "qq.com",
                "163.com",
                "126.com",
                "fastmail.com",
                "tutanota.com",
                "hey.com",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            recheck_interval_secs: 3600,
            grace_period_secs: 72 * 3600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HookSettings {
    /// Bound on the JSON size of the custom claims actions add, per token.
    pub max_claims_bytes: usize,
}

impl Default for HookSettings {
    fn default() -> Self {
        Self {
            max_claims_bytes: 4096,
        }
    }
}

/// One action (`[[actions]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    pub name: String,
    /// `webhook` or `script`.
    pub kind: String,
    /// `post_login` and/or `credentials_exchange`.
    #[serde(default = "default_triggers")]
    pub triggers: Vec<String>,
    /// `deny` (default) or `continue` when the action fails.
    #[serde(default = "default_on_error")]
    pub on_error: String,
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
    pub secrets: std::collections::BTreeMap<String, SecretString>,
}

fn default_triggers() -> Vec<String> {
    vec!["post_login".into()]
}
fn default_on_error() -> String {
    "deny".into()
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaintenanceSettings {
    /// How often expired rows are purged (0 = never).
    pub purge_interval_secs: u64,
}

impl Default for MaintenanceSettings {
    fn default() -> Self {
        Self {
            purge_interval_secs: 600,
        }
    }
}

/// Outgoing mail for invitations. Without it, invitation links are logged.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    #[serde(default = "default_smtp_tls")]
    pub tls: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretString>,
    pub from: String,
    #[serde(default = "default_smtp_timeout")]
    pub timeout_secs: u64,
    /// Delivery attempts before an invitation is marked `delivery_failed`.
    #[serde(default = "default_smtp_attempts")]
    pub attempts: u32,
    /// Pause before the second attempt; doubles each time.
    #[serde(default = "default_smtp_backoff")]
    pub retry_backoff_ms: u64,
}

fn default_smtp_port() -> u16 {
    587
}
fn default_smtp_tls() -> String {
    "starttls".into()
}
fn default_smtp_timeout() -> u64 {
    10
}
fn default_smtp_attempts() -> u32 {
    3
}
fn default_smtp_backoff() -> u64 {
    1000
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorSettings {
    pub dev: DevConnector,
    pub google: Option<GoogleConnector>,
    pub github: Option<GithubConnector>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DevConnector {
    /// Default: on unless the environment is `production`, where it is refused.
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleConnector {
    pub client_id: String,
    pub client_secret: SecretString,
    #[serde(default = "default_google_issuer")]
    pub issuer_url: String,
}

fn default_google_issuer() -> String {
    "https://accounts.google.com".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConnector {
    pub client_id: String,
    pub client_secret: SecretString,
    #[serde(default = "default_github_base")]
    pub base_url: String,
    #[serde(default = "default_github_api")]
    pub api_url: String,
}

fn default_github_base() -> String {
    "https://github.com".into()
}
fn default_github_api() -> String {
    "https://api.github.com".into()
}

/// A client registered in the config file (`[[clients]]`). Synced into the
/// database at start; `client_secret` may be an `env:NAME` reference.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    pub name: String,
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default = "default_grants")]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default = "default_org_usage")]
    pub organization_usage: String,
    #[serde(default)]
    pub first_party: bool,
}

fn default_grants() -> Vec<String> {
    vec!["authorization_code".into(), "refresh_token".into()]
}
fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email", "offline_access", "orgs"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}
fn default_org_usage() -> String {
    "optional".into()
}

impl Settings {
    /// Loads defaults, the optional file, and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    /// Same as [`Settings::load`] with an explicit environment (for tests).
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut value = toml::Value::try_from(Settings::default())
            .map_err(|e| ConfigError::Invalid(format!("internal defaults: {e}")))?;
        let source = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    file: path.display().to_string(),
                    source,
                })?;
                let parsed: toml::Value = toml::from_str(&text).map_err(|e| {
                    ConfigError::Invalid(format!("{}: {}", path.display(), e.message()))
                })?;
                merge(&mut value, parsed);
                path.display().to_string()
            }
            None => "defaults".to_string(),
        };
        let mut settings: Settings = value.try_into().map_err(|e: toml::de::Error| {
            ConfigError::Invalid(format!("{source}: {}", e.message()))
        })?;
        apply_env(&mut settings, env)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        let issuer = url::Url::parse(&self.issuer)
            .map_err(|e| ConfigError::Invalid(format!("issuer: not a URL ({e})")))?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ConfigError::Invalid(
                "issuer: must not have a query or fragment (OIDC Discovery §3)".into(),
            ));
        }
        if !matches!(issuer.scheme(), "http" | "https") {
            return Err(ConfigError::Invalid("issuer: must be http or https".into()));
        }
        self.issuer = self.issuer.trim_end_matches('/').to_string();
        if self.database.pool_size == 0 {
            return Err(ConfigError::Invalid(
                "database.pool_size: must be at least 1".into(),
            ));
        }
        crate::tokens::keys::Algorithm::parse(&self.keys.algorithm)
            .map_err(|e| ConfigError::Invalid(format!("keys.algorithm: {e}")))?;
        if self.tokens.code_ttl_secs == 0 || self.tokens.code_ttl_secs > 60 {
            return Err(ConfigError::Invalid(
                "tokens.code_ttl_secs: must be between 1 and 60 (RFC 6749 §4.1.2)".into(),
            ));
        }
        if !matches!(self.domains.protocol.as_str(), "udp" | "tcp") {
            return Err(ConfigError::Invalid(
                "domains.protocol: must be udp or tcp".into(),
            ));
        }
        for ns in &self.domains.nameservers {
            if ns.parse::<std::net::SocketAddr>().is_err() {
                return Err(ConfigError::Invalid(format!(
                    "domains.nameservers: `{ns}` is not ip:port"
                )));
            }
        }
        if let Some(smtp) = &self.smtp {
            if !matches!(smtp.tls.as_str(), "none" | "starttls" | "tls") {
                return Err(ConfigError::Invalid(
                    "smtp.tls: must be none, starttls or tls".into(),
                ));
            }
            if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(ConfigError::Invalid(format!(
                    "smtp.from: `{}` is not an email address",
                    smtp.from
                )));
            }
        }
        if self.is_production() && self.connectors.dev.enabled == Some(true) {
            return Err(ConfigError::Invalid(
                "connectors.dev.enabled: the dev connector is refused when TESSERA_ENV=production"
                    .into(),
            ));
        }
        Ok(())
    }

    pub fn is_production(&self) -> bool {
        self.server.environment == "production"
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

fn merge(base: &mut toml::Value, over: toml::Value) {
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

/// Applies `TESSERA_A__B=value` overrides. The value is typed after the
/// current value at that key (number, bool, list as TOML), else taken as text.
fn apply_env(settings: &mut Settings, env: &[(String, String)]) -> Result<(), ConfigError> {
    let mut value = toml::Value::try_from(&*settings)
        .map_err(|e| ConfigError::Invalid(format!("internal settings: {e}")))?;
    let mut changed = false;
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
        let existing = lookup(&value, &path);
        let typed = match existing {
            Some(toml::Value::String(_)) | None => {
                // Unknown keys and Option fields: try TOML literal for non-strings.
                match (
                    existing,
                    toml::from_str::<toml::Table>(&format!("v = {raw}")),
                ) {
                    (None, Ok(mut t)) => t.remove("v").unwrap_or(toml::Value::String(raw.clone())),
                    _ => toml::Value::String(raw.clone()),
                }
            }
            Some(_) => {
                let mut t = toml::from_str::<toml::Table>(&format!("v = {raw}")).map_err(|_| {
                    ConfigError::Invalid(format!(
                        "environment variable {name}: `{raw}` is not a valid value for {}",
                        path.join(".")
                    ))
                })?;
                t.remove("v").unwrap_or(toml::Value::String(raw.clone()))
            }
        };
        set(&mut value, &path, typed)
            .map_err(|e| ConfigError::Invalid(format!("environment variable {name}: {e}")))?;
        changed = true;
        // Give a precise error for an unknown key right away.
        let probe: Result<Settings, _> = value.clone().try_into();
        if let Err(e) = probe {
            return Err(ConfigError::Invalid(format!(
                "environment variable {name}: {}",
                e.message()
            )));
        }
    }
    if changed {
        *settings = value.try_into().map_err(|e: toml::de::Error| {
            ConfigError::Invalid(format!("environment: {}", e.message()))
        })?;
    }
    Ok(())
}

fn lookup<'a>(v: &'a toml::Value, path: &[String]) -> Option<&'a toml::Value> {
    path.iter().try_fold(v, |cur, k| cur.get(k.as_str()))
}

fn set(v: &mut toml::Value, path: &[String], new: toml::Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty key".into());
    };
    let mut cur = v;
    for p in parents {
        let table = cur
            .as_table_mut()
            .ok_or_else(|| format!("{p} is not a section"))?;
        cur = table
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    cur.as_table_mut()
        .ok_or_else(|| format!("{} is not a section", parents.join(".")))?
        .insert(last.clone(), new);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_need_no_file() {
        let s = Settings::load_from(None, &[]).unwrap();
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert_eq!(s.database.url.expose(), "./data/tessera.db");
        assert_eq!(s.namespace(), "http://127.0.0.1:8080/");
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
                ("TESSERA_ENV", "staging"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.pool_size, 3);
        assert_eq!(s.issuer, "https://id.example.com");
        assert_eq!(s.namespace(), "");
        assert_eq!(s.server.environment, "staging");
        assert!(!format!("{s:?}").contains("pw"));
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
    fn unknown_file_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(&p, "[database]\nurl = 'x'\npoolsize = 3\n").unwrap();
        let msg = Settings::load_from(Some(&p), &[]).unwrap_err().to_string();
        assert!(msg.contains("t.toml") && msg.contains("poolsize"), "{msg}");
    }

    #[test]
    fn env_reference_secret() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(&p, "[database]\nurl = 'env:TESSERA_TEST_NOT_SET_XYZ'\n").unwrap();
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
