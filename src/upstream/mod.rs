//! Upstream identity providers behind one [`IdentityProvider`] trait:
//! Google (OIDC, `openidconnect`), GitHub (OAuth 2.0, `oauth2` + REST API),
//! and the `dev` form ([`dev`], no upstream at all).

pub mod dev;
pub mod github;
pub mod google;

use std::fmt;
use std::str::FromStr;

use std::future::Future;

use crate::accounts::UpstreamProfile;
use crate::config::Settings;

/// A built-in connection (`/login/{connection}`, `connection=` at
/// `/authorize`, the identity provider of a user's identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Connection {
    Google,
    Github,
    Dev,
}

impl Connection {
    /// Display order on the login page.
    pub const ALL: [Connection; 3] = [Self::Google, Self::Github, Self::Dev];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Github => "github",
            Self::Dev => "dev",
        }
    }

    /// The button label.
    pub fn display_name(&self) -> &'static str {
        match self {
            Self::Google => "Google",
            Self::Github => "GitHub",
            Self::Dev => "Dev login (unsafe)",
        }
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown connection `{0}`")]
pub struct UnknownConnection(pub String);

impl FromStr for Connection {
    type Err = UnknownConnection;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownConnection(s.to_string()))
    }
}

/// Where to send the browser, and what to remember until the callback.
#[derive(Debug)]
pub struct UpstreamStart {
    pub url: String,
    pub state: String,
    pub verifier: Option<String>,
    pub nonce: Option<String>,
}

/// What the login transaction remembered for the callback.
#[derive(Debug, Default)]
pub struct Pending {
    pub verifier: Option<String>,
    pub nonce: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The provider is down, slow, or answered garbage.
    #[error("the identity provider could not be reached or answered unexpectedly: {0}")]
    Unavailable(String),
    /// The provider answered, but the account cannot be used (e.g. no verified email).
    #[error("{0}")]
    Rejected(String),
}

pub trait IdentityProvider: Send + Sync {
    /// The connection name used in URLs (`/login/{name}`).
    fn name(&self) -> &'static str;
    /// The button label.
    fn display_name(&self) -> &'static str;
    /// Builds the upstream authorization URL (with state, PKCE and nonce).
    fn start(
        &self,
        callback: &str,
    ) -> impl Future<Output = Result<UpstreamStart, UpstreamError>> + Send;
    /// Exchanges the callback's code and returns the verified profile.
    fn finish(
        &self,
        callback: &str,
        code: &str,
        pending: &Pending,
    ) -> impl Future<Output = Result<UpstreamProfile, UpstreamError>> + Send;
}

/// The enabled connections of this deployment.
pub struct Connectors {
    pub google: Option<google::Google>,
    pub github: Option<github::Github>,
    pub dev: bool,
}

impl Connectors {
    pub fn from_settings(settings: &Settings, http: reqwest::Client) -> Self {
        Self {
            google: settings
                .connectors
                .google
                .as_ref()
                .map(|g| google::Google::new(g.clone(), http.clone())),
            github: settings
                .connectors
                .github
                .as_ref()
                .map(|g| github::Github::new(g.clone(), http.clone())),
            dev: settings.dev_connector_enabled(),
        }
    }

    pub fn is_enabled(&self, c: Connection) -> bool {
        match c {
            Connection::Google => self.google.is_some(),
            Connection::Github => self.github.is_some(),
            Connection::Dev => self.dev,
        }
    }

    /// The enabled connections, in display order.
    pub fn enabled(&self) -> Vec<Connection> {
        Connection::ALL
            .into_iter()
            .filter(|c| self.is_enabled(*c))
            .collect()
    }

    /// Names of the enabled connections, in display order.
    pub fn enabled_names(&self) -> Vec<String> {
        self.enabled()
            .iter()
            .map(|c| c.as_str().to_string())
            .collect()
    }

    /// Starts a login at an upstream; `None` if it is not enabled or has no
    /// upstream (dev).
    pub async fn start(
        &self,
        c: Connection,
        callback: &str,
    ) -> Option<Result<UpstreamStart, UpstreamError>> {
        match c {
            Connection::Google => Some(self.google.as_ref()?.start(callback).await),
            Connection::Github => Some(self.github.as_ref()?.start(callback).await),
            Connection::Dev => None,
        }
    }

    /// Finishes a login at an upstream; `None` if it is not enabled or has no
    /// upstream (dev).
    pub async fn finish(
        &self,
        c: Connection,
        callback: &str,
        code: &str,
        pending: &Pending,
    ) -> Option<Result<UpstreamProfile, UpstreamError>> {
        match c {
            Connection::Google => Some(self.google.as_ref()?.finish(callback, code, pending).await),
            Connection::Github => Some(self.github.as_ref()?.finish(callback, code, pending).await),
            Connection::Dev => None,
        }
    }
}

/// The HTTP client for upstream calls: bounded time, no redirects (SSRF).
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .connect_timeout(std::time::Duration::from_secs(5))
        .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
        .build()
}
