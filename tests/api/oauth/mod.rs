//! The OAuth 2.0 / OIDC provider: one test per rule, on both backends.

mod authorize;
mod client_credentials;
mod clients_cli;
mod cors;
mod full_flow;
mod introspect_revoke;
mod login_session;
mod purge;
mod token;
mod token_errors;
mod upstream;
mod userinfo_logout;

use crate::helpers::{TestApp, TestClient};

async fn introspect(app: &TestApp, client: &TestClient, token: &str) -> serde_json::Value {
    app.client
        .post(app.url("/oauth/introspect"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
