//! Webhook actions: POST the event as JSON, signed with HMAC-SHA256 in
//! `Tessera-Signature: t=<unix>,v1=<hex HMAC of "<t>.<body>">`.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::Sha256;

use super::ActionResult;
use crate::config::SecretString;

/// Replies larger than this are an error.
const MAX_REPLY: usize = 64 * 1024;

/// Why a webhook call failed (or its client could not be built). The texts
/// are what traces, the dry run and the log show.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("{0}")]
    Encode(#[source] serde_json::Error),
    #[error("the webhook timed out")]
    Timeout,
    #[error("the webhook could not be reached: {0}")]
    Unreachable(#[source] reqwest::Error),
    #[error("the webhook answered HTTP {0}")]
    Status(u16),
    #[error("reading the webhook reply: {0}")]
    Read(#[source] reqwest::Error),
    #[error("the webhook reply is larger than 64 KiB")]
    TooLarge,
    #[error("the webhook reply is not the expected JSON: {0}")]
    BadReply(#[source] serde_json::Error),
}

/// One pooled client for every webhook: bounded time, no redirects.
pub fn client() -> Result<reqwest::Client, WebhookError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(32)
        .user_agent(concat!("tessera-hooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(WebhookError::Client)
}

#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub secret: SecretString,
    pub timeout: Duration,
    pub http: reqwest::Client,
}

/// Written by hand so that the signing key can never show, whatever
/// `SecretString`'s own `Debug` does.
impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("secret", &crate::config::REDACTED)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Reply {
    #[serde(default)]
    access_token_claims: Map<String, Value>,
    #[serde(default)]
    id_token_claims: Map<String, Value>,
    #[serde(default)]
    app_metadata: Option<Map<String, Value>>,
    #[serde(default)]
    deny: Option<String>,
}

/// The `Tessera-Signature` header value for `body` at time `t`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    pub async fn call(&self, event: &Value) -> Result<ActionResult, WebhookError> {
        let body = serde_json::to_vec(event).map_err(WebhookError::Encode)?;
        let t = event.get("timestamp").and_then(|t| t.as_i64()).unwrap_or(0);
        let sig = signature(self.secret.expose(), t, &body);
        let res = self
            .http
            .post(&self.url)
            .timeout(self.timeout)
            .header("Content-Type", "application/json")
            .header("Tessera-Signature", sig)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    WebhookError::Timeout
                } else {
                    WebhookError::Unreachable(e)
                }
            })?;
        let status = res.status();
        if !status.is_success() {
            return Err(WebhookError::Status(status.as_u16()));
        }
        let bytes = res.bytes().await.map_err(WebhookError::Read)?;
        if bytes.len() > MAX_REPLY {
            return Err(WebhookError::TooLarge);
        }
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(ActionResult::default());
        }
        let reply: Reply = serde_json::from_slice(&bytes).map_err(WebhookError::BadReply)?;
        Ok(ActionResult {
            access: reply.access_token_claims,
            id: reply.id_token_claims,
            app_metadata: reply.app_metadata,
            deny: reply.deny,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let w = Webhook {
            url: "https://hooks.example.com/x".into(),
            secret: SecretString::new("hook-signing-key"),
            timeout: Duration::from_secs(1),
            http: reqwest::Client::new(),
        };
        let dbg = format!("{w:?}");
        assert!(!dbg.contains("hook-signing-key"), "{dbg}");
        assert!(
            dbg.contains("hooks.example.com") && dbg.contains("[redacted]"),
            "{dbg}"
        );
    }

    #[test]
    fn messages_are_the_documented_ones() {
        assert_eq!(WebhookError::Timeout.to_string(), "the webhook timed out");
        assert_eq!(
            WebhookError::Status(502).to_string(),
            "the webhook answered HTTP 502"
        );
    }
}
