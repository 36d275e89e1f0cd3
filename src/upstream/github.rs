//! GitHub through the `oauth2` crate, then `GET /user` and `GET /user/emails`
//! (the primary verified email). The numeric user id is the subject.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;

use super::{Connection, IdentityProvider, Pending, UpstreamError, UpstreamStart};
use crate::accounts::UpstreamProfile;
use crate::config::GithubConnector;
use crate::email::Email;

pub struct Github {
    config: GithubConnector,
    http: reqwest::Client,
}

#[derive(Debug, Deserialize)]
struct GithubUser {
    id: i64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GithubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

impl Github {
    pub fn new(config: GithubConnector, http: reqwest::Client) -> Self {
        Self { config, http }
    }

    fn urls(&self) -> Result<(AuthUrl, TokenUrl), UpstreamError> {
        let base = self.config.base_url.trim_end_matches('/');
        let auth = AuthUrl::new(format!("{base}/login/oauth/authorize"))
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let token = TokenUrl::new(format!("{base}/login/oauth/access_token"))
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        Ok((auth, token))
    }

    async fn api<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
    ) -> Result<T, UpstreamError> {
        let url = format!("{}{path}", self.config.api_url.trim_end_matches('/'));
        let res = self
            .http
            .get(&url)
            .bearer_auth(token)
            .header("Accept", "application/vnd.github+json")
            .send()
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("GET {path}: {e}")))?;
        if !res.status().is_success() {
            return Err(UpstreamError::Unavailable(format!(
                "GET {path}: HTTP {}",
                res.status()
            )));
        }
        res.json::<T>()
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("GET {path}: unexpected body: {e}")))
    }
}

impl IdentityProvider for Github {
    fn name(&self) -> &'static str {
        Connection::Github.as_str()
    }

    fn display_name(&self) -> &'static str {
        "GitHub"
    }

    async fn start(&self, callback: &str) -> Result<UpstreamStart, UpstreamError> {
        let (auth, token) = self.urls()?;
        let redirect = RedirectUrl::new(callback.to_string())
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let client = BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.config.client_secret.expose().to_string(),
            ))
            .set_auth_uri(auth)
            .set_token_uri(token)
            .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("read:user".into()))
            .add_scope(Scope::new("user:email".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(UpstreamStart {
            url: url.to_string(),
            state: state.secret().clone(),
            verifier: Some(verifier.secret().clone()),
            nonce: None,
        })
    }

    async fn finish(
        &self,
        callback: &str,
        code: &str,
        pending: &Pending,
    ) -> Result<UpstreamProfile, UpstreamError> {
        let (auth, token_url) = self.urls()?;
        let redirect = RedirectUrl::new(callback.to_string())
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let client = BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.config.client_secret.expose().to_string(),
            ))
            .set_auth_uri(auth)
            .set_token_uri(token_url)
            .set_redirect_uri(redirect);
        let mut request = client.exchange_code(AuthorizationCode::new(code.to_string()));
        if let Some(v) = &pending.verifier {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(v.clone()));
        }
        let token = request
            .request_async(&self.http)
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("code exchange failed: {e}")))?;
        let access = token.access_token().secret().clone();
        let user: GithubUser = self.api("/user", &access).await?;
        let emails: Vec<GithubEmail> = self.api("/user/emails", &access).await?;
        let primary = emails.iter().find(|e| e.primary && e.verified).ok_or_else(|| {
            UpstreamError::Rejected(format!(
                "Your GitHub account ({}) has no verified primary email address. Verify one at GitHub, then try again.",
                user.login
            ))
        })?;
        let email = Email::parse(&primary.email).map_err(|_| {
            UpstreamError::Rejected(format!(
                "The primary email address of your GitHub account ({}) is not one Tessera can use.",
                user.login
            ))
        })?;
        Ok(UpstreamProfile {
            provider: Connection::Github.as_str().into(),
            subject: user.id.to_string(),
            login: Some(user.login.clone()),
            email: Some(email),
            email_verified: true,
            name: user.name.clone(),
            picture: user.avatar_url.clone(),
            raw: serde_json::json!({"id": user.id, "login": user.login, "name": user.name, "avatar_url": user.avatar_url}),
        })
    }
}
