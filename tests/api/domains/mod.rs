//! Verified domains against a real DNS server on 127.0.0.1.

mod login;
mod permissions;
mod recheck;
mod verification;

use serde_json::json;

use crate::dns::DnsServer;
use crate::helpers::{Backend, TestApp, TestClient, Tokens};

async fn setup(b: Backend) -> (TestApp, TestClient, Tokens, DnsServer) {
    let dns = DnsServer::start().await;
    let ns = dns.addr.clone();
    let app = TestApp::spawn_with(b, move |s| {
        s.domains.nameservers = vec![ns];
        s.domains.timeout_ms = 300;
        s.domains.attempts = 1;
    })
    .await;
    let client = app.web_client().await;
    let owner = app.api_user(&client, "owner@acme.com").await;
    let (s, _) = app
        .api(
            "POST",
            "/api/orgs",
            Some(&owner.access_token),
            Some(json!({"name": "Acme", "slug": "acme"})),
        )
        .await;
    assert_eq!(s, 201);
    (app, client, owner, dns)
}

async fn add(
    app: &TestApp,
    t: &Tokens,
    org: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    app.api(
        "POST",
        &format!("/api/orgs/{org}/domains"),
        Some(&t.access_token),
        Some(body),
    )
    .await
}

async fn verify(app: &TestApp, t: &Tokens, org: &str, id: &str) -> (u16, serde_json::Value) {
    app.api(
        "POST",
        &format!("/api/orgs/{org}/domains/{id}/verify"),
        Some(&t.access_token),
        None,
    )
    .await
}

/// Adds acme.com to `acme`, publishes the record and verifies it.
async fn verified_acme(
    app: &TestApp,
    owner: &Tokens,
    dns: &DnsServer,
    auto_enroll: bool,
) -> String {
    let (s, d) = add(
        app,
        owner,
        "acme",
        json!({"domain": "acme.com", "auto_enroll": auto_enroll, "enroll_role": "member"}),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    dns.set_txt(
        d["record"]["name"].as_str().unwrap(),
        &[d["record"]["value"].as_str().unwrap()],
    );
    let id = d["id"].as_str().unwrap().to_string();
    assert_eq!(verify(app, owner, "acme", &id).await.0, 200);
    id
}
