//! Webhook actions: POST the event as JSON, signed with HMAC-SHA256 in
//! `Tessera-Signature: t=<unix>,v1=<hex HMAC of "<t>.<body>">`.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::Sha256;

use super::ActionResult;
use crate::config::SecretString;

/// One pooled client for every webhook: bounded time, no redirects.
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(32)
        .user_agent(concat!("tessera-hooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("webhook client: {e}"))
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    pub secret: SecretString,
    pub timeout: Duration,
    pub http: reqwest::Client,
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
    pub async fn call(&self, event: &Value) -> Result<ActionResult, String> {
        let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
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
                    "the webhook timed out".to_string()
                } else {
                    format!("the webhook could not be reached: {e}")
                }
            })?;
        let status = res.status();
        if !status.is_success() {
            return Err(format!("the webhook answered HTTP {}", status.as_u16()));
        }
        let bytes = res
            .bytes()
            .await
            .map_err(|e| format!("reading the webhook reply: {e}"))?;
        if bytes.len() > 64 * 1024 {
            return Err("the webhook reply is larger than 64 KiB".into());
        }
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(ActionResult::default());
        }
        let reply: Reply = serde_json::from_slice(&bytes)
            .map_err(|e| format!("the webhook reply is not the expected JSON: {e}"))?;
        Ok(ActionResult {
            access: reply.access_token_claims,
            id: reply.id_token_claims,
            app_metadata: reply.app_metadata,
            deny: reply.deny,
        })
    }
}
