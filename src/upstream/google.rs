//! Google (or any OIDC provider) through the `openidconnect` crate:
//! discovery, PKCE, nonce and full ID-token validation.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};

use super::{Connection, IdentityProvider, Pending, UpstreamError, UpstreamStart};
use crate::accounts::UpstreamProfile;
use crate::config::GoogleConnector;
use crate::email::Email;

pub struct Google {
    config: GoogleConnector,
    http: reqwest::Client,
    /// Discovery (with the JWKS) is cached briefly: two round trips per login saved.
    cache: std::sync::RwLock<Option<(std::time::Instant, CoreProviderMetadata)>>,
}

/// How long discovery metadata and keys are reused. Short, so a key rotation
/// upstream is picked up quickly; a failed validation refetches.
const METADATA_TTL: std::time::Duration = std::time::Duration::from_secs(300);

impl Google {
    pub fn new(config: GoogleConnector, http: reqwest::Client) -> Self {
        Self {
            config,
            http,
            cache: std::sync::RwLock::new(None),
        }
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, UpstreamError> {
        if let Some((at, m)) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            if at.elapsed() < METADATA_TTL {
                return Ok(m.clone());
            }
        }
        self.fetch().await
    }

    async fn fetch(&self) -> Result<CoreProviderMetadata, UpstreamError> {
        let issuer = IssuerUrl::new(self.config.issuer_url.clone())
            .map_err(|e| UpstreamError::Unavailable(format!("bad issuer URL: {e}")))?;
        let m = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("discovery failed: {e}")))?;
        *self.cache.write().unwrap_or_else(|p| p.into_inner()) =
            Some((std::time::Instant::now(), m.clone()));
        Ok(m)
    }
}

impl IdentityProvider for Google {
    fn name(&self) -> &'static str {
        Connection::Google.as_str()
    }

    fn display_name(&self) -> &'static str {
        "Google"
    }

    async fn start(&self, callback: &str) -> Result<UpstreamStart, UpstreamError> {
        let metadata = self.metadata().await?;
        let redirect = RedirectUrl::new(callback.to_string())
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(
                self.config.client_secret.expose().to_string(),
            )),
        )
        .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(UpstreamStart {
            url: url.to_string(),
            state: state.secret().clone(),
            verifier: Some(verifier.secret().clone()),
            nonce: Some(nonce.secret().clone()),
        })
    }

    async fn finish(
        &self,
        callback: &str,
        code: &str,
        pending: &Pending,
    ) -> Result<UpstreamProfile, UpstreamError> {
        let metadata = self.metadata().await?;
        let redirect = RedirectUrl::new(callback.to_string())
            .map_err(|e| UpstreamError::Unavailable(e.to_string()))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(
                self.config.client_secret.expose().to_string(),
            )),
        )
        .set_redirect_uri(redirect);
        let verifier = pending.verifier.clone().ok_or_else(|| {
            UpstreamError::Unavailable("login transaction lost its PKCE verifier".into())
        })?;
        let nonce = pending
            .nonce
            .clone()
            .ok_or_else(|| UpstreamError::Unavailable("login transaction lost its nonce".into()))?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| UpstreamError::Unavailable(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("code exchange failed: {e}")))?;
        let id_token = response.id_token().ok_or_else(|| {
            UpstreamError::Unavailable("the token response has no id_token".into())
        })?;
        let claims = match id_token.claims(&client.id_token_verifier(), &Nonce::new(nonce.clone()))
        {
            Ok(c) => c.clone(),
            Err(first) => {
                // Perhaps the provider rotated its keys since we cached them.
                let fresh = CoreClient::from_provider_metadata(
                    self.fetch().await?,
                    ClientId::new(self.config.client_id.clone()),
                    Some(ClientSecret::new(
                        self.config.client_secret.expose().to_string(),
                    )),
                );
                let verifier = fresh.id_token_verifier();
                let retried = id_token
                    .claims(&verifier, &Nonce::new(nonce))
                    .map_err(|e| {
                        UpstreamError::Unavailable(format!(
                            "ID token rejected: {e} (first try: {first})"
                        ))
                    })?
                    .clone();
                retried
            }
        };
        let email = claims.email().map(|e| e.as_str().to_string());
        // An address Tessera cannot parse is not used for linking or enrolment.
        let parsed = email.as_deref().and_then(|e| match Email::parse(e) {
            Ok(e) => Some(e),
            Err(err) => {
                tracing::warn!(error = %err, "Google sent an email address that does not parse; ignored");
                None
            }
        });
        let email_verified = parsed.is_some() && claims.email_verified() == Some(true);
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_string());
        let picture = claims
            .picture()
            .and_then(|p| p.get(None))
            .map(|p| p.as_str().to_string());
        let subject = claims.subject().as_str().to_string();
        Ok(UpstreamProfile {
            provider: Connection::Google.as_str().into(),
            subject: subject.clone(),
            login: None,
            email: parsed,
            email_verified,
            name: name.clone(),
            picture: picture.clone(),
            raw: serde_json::json!({"sub": subject, "email": email, "email_verified": email_verified, "name": name, "picture": picture}),
        })
    }
}
