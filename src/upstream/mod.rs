//! Upstream identity providers behind one [`IdentityProvider`] trait:
//! Google (OIDC, `openidconnect`), GitHub (OAuth 2.0, `oauth2` + REST API),
//! and the `dev` form (handled by the login pages, no upstream at all).

pub mod github;
pub mod google;

use std::future::Future;

use crate::accounts::UpstreamProfile;
use crate::config::Settings;

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

    /// Names of the enabled connections, in display order.
    pub fn enabled(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.google.is_some() {
            v.push("google".to_string());
        }
        if self.github.is_some() {
            v.push("github".to_string());
        }
        if self.dev {
            v.push("dev".to_string());
        }
        v
    }

    /// Starts a login at the named upstream; `None` if it is not enabled.
    pub async fn start(
        &self,
        name: &str,
        callback: &str,
    ) -> Option<Result<UpstreamStart, UpstreamError>> {
        match name {
            "google" => Some(self.google.as_ref()?.start(callback).await),
            "github" => Some(self.github.as_ref()?.start(callback).await),
            _ => None,
        }
    }

    /// Finishes a login at the named upstream; `None` if it is not enabled.
    pub async fn finish(
        &self,
        name: &str,
        callback: &str,
        code: &str,
        pending: &Pending,
    ) -> Option<Result<UpstreamProfile, UpstreamError>> {
        match name {
            "google" => Some(self.google.as_ref()?.finish(callback, code, pending).await),
            "github" => Some(self.github.as_ref()?.finish(callback, code, pending).await),
            _ => None,
        }
    }

    pub fn display_name(name: &str) -> &'static str {
        match name {
            "google" => "Google",
            "github" => "GitHub",
            "dev" => "Dev login (unsafe)",
            _ => "Unknown",
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
