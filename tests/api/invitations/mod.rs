//! Invitations: delivery, acceptance in the login redirect and by API, and
//! every way an invitation can be misused.

mod email;
mod github;
mod lifecycle;
mod permissions;

use serde_json::json;

use crate::helpers::{Backend, TestApp, TestClient, Tokens};

fn smtp_config(port: u16) -> tessera::config::SmtpSettings {
    tessera::config::SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: "none".parse().unwrap(),
        username: None,
        password: None,
        from: "Tessera <no-reply@tessera.test>".into(),
        timeout_secs: 2,
        attempts: 2,
        retry_backoff_ms: 10,
    }
}

/// An app with SMTP pointed at `port`, a web client, and an owner of org `acme`.
async fn setup(b: Backend, smtp_port: Option<u16>) -> (TestApp, TestClient, Tokens) {
    let app = TestApp::spawn_with(b, move |s| {
        s.smtp = smtp_port.map(smtp_config);
        s.invitations.default_client_id = Some("web".into());
    })
    .await;
    let client = app.web_client().await;
    let owner = app.api_user(&client, "owner@example.com").await;
    let (s, _) = app
        .api(
            "POST",
            "/api/orgs",
            Some(&owner.access_token),
            Some(json!({"name": "Acme Corp", "slug": "acme"})),
        )
        .await;
    assert_eq!(s, 201);
    (app, client, owner)
}

async fn invite(app: &TestApp, by: &Tokens, body: serde_json::Value) -> (u16, serde_json::Value) {
    app.api(
        "POST",
        "/api/orgs/acme/invitations",
        Some(&by.access_token),
        Some(body),
    )
    .await
}

async fn accept(app: &TestApp, who: &Tokens, token: &str) -> (u16, serde_json::Value) {
    app.api(
        "POST",
        "/api/invitations/accept",
        Some(&who.access_token),
        Some(json!({"token": token})),
    )
    .await
}

async fn members_of_acme(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) AS n FROM organization_members m JOIN organizations o ON o.id = m.org_id WHERE o.slug = 'acme'").await
}
