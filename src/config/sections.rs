//! The sections of [`super::Settings`], each with its embedded defaults and
//! the accessors that turn `*_secs` numbers into durations once.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{seconds, Algorithm, DnsProtocol, Environment, KeyStoreKind, SecretString, SmtpTls};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub bind: String,
    /// actix worker threads; 0 = one per core.
    pub workers: usize,
    /// `production` refuses the dev connector. Also set by `TESSERA_ENV`.
    pub environment: Environment,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            workers: 0,
            environment: Environment::Development,
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
    /// Apply pending migrations when `serve` starts (`serve --no-migrate`
    /// turns it off, for deployments that run `tessera migrate` as a job).
    pub migrate_on_start: bool,
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
            migrate_on_start: true,
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
    /// Algorithm of keys created automatically or by `keys rotate`.
    pub algorithm: Algorithm,
    /// How often a running server re-reads its keys (so a rotation reaches every instance).
    pub reload_interval_secs: u64,
    /// `files` (`keys.dir`) or `database` (N instances, no shared disk).
    pub store: KeyStoreKind,
    /// The key-encryption key of the database store: 32 random bytes, base64
    /// or hex, normally `env:TESSERA_KEK`.
    pub encryption_key: Option<SecretString>,
}

impl KeySettings {
    /// `reload_interval_secs`: also how long a rotated-in key is published
    /// before it signs (every instance has loaded it by then).
    pub fn reload_interval(&self) -> chrono::Duration {
        seconds(self.reload_interval_secs)
    }
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("./keys"),
            algorithm: Algorithm::RS256,
            reload_interval_secs: 60,
            store: KeyStoreKind::Files,
            encryption_key: None,
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

impl TokenSettings {
    pub fn access_token_ttl(&self) -> chrono::Duration {
        seconds(self.access_token_ttl_secs)
    }
    pub fn id_token_ttl(&self) -> chrono::Duration {
        seconds(self.id_token_ttl_secs)
    }
    pub fn code_ttl(&self) -> chrono::Duration {
        seconds(self.code_ttl_secs)
    }
    pub fn refresh_token_absolute_ttl(&self) -> chrono::Duration {
        seconds(self.refresh_token_absolute_ttl_secs)
    }
    pub fn refresh_token_idle_ttl(&self) -> chrono::Duration {
        seconds(self.refresh_token_idle_ttl_secs)
    }
    pub fn session_ttl(&self) -> chrono::Duration {
        seconds(self.session_ttl_secs)
    }
    pub fn login_transaction_ttl(&self) -> chrono::Duration {
        seconds(self.login_transaction_ttl_secs)
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

impl InvitationSettings {
    pub fn ttl(&self) -> chrono::Duration {
        seconds(self.ttl_secs)
    }
}

/// Verified domains: DNS resolver, free-mail list, re-verification.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DomainSettings {
    /// `ip:port` of the nameservers to ask; empty = the system resolver.
    pub nameservers: Vec<String>,
    pub protocol: DnsProtocol,
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
            protocol: DnsProtocol::Udp,
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

impl DomainSettings {
    /// How often verified domains are re-checked (zero: never, see
    /// `recheck_interval_secs`).
    pub fn recheck_interval(&self) -> chrono::Duration {
        seconds(self.recheck_interval_secs)
    }
    pub fn grace_period(&self) -> chrono::Duration {
        seconds(self.grace_period_secs)
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

impl MaintenanceSettings {
    /// The effective purge interval: at least 10 s. (`purge_interval_secs = 0`
    /// turns purging off; the caller checks that.)
    pub fn purge_interval(&self) -> chrono::Duration {
        seconds(self.purge_interval_secs.max(10))
    }
}

/// Outgoing mail for invitations. Without it, invitation links are logged.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default = "default_smtp_tls")]
    pub tls: SmtpTls,
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
fn default_smtp_tls() -> SmtpTls {
    SmtpTls::StartTls
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
