//! Organizations: claims, switching, the org API, invariants, the access matrix.

mod access_matrix;
mod audit_log;
mod crud;
mod members;
mod openapi;
mod org_admin;
mod roles;
mod select_org;
mod switch_org;
mod token_claims;

use serde_json::json;

use crate::helpers::{claims, org_claim, Backend, TestApp, TestClient, Tokens};

async fn setup(b: Backend) -> (TestApp, TestClient) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    (app, client)
}

fn org_id(app: &TestApp, t: &Tokens) -> String {
    org_claim(app, &t.access_token, "org_id")
        .as_str()
        .unwrap()
        .to_string()
}

async fn create_org(app: &TestApp, t: &Tokens, name: &str, slug: &str) -> String {
    let (s, body) = app
        .api(
            "POST",
            "/api/orgs",
            Some(&t.access_token),
            Some(json!({"name": name, "slug": slug})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// Adds `user` to `org` directly (invitations come with their own issue).
async fn add_member(app: &TestApp, org: &str, user: &str, role: &str) {
    let db = app.state.db.clone();
    let (org, user, role) = (org.to_string(), user.to_string(), role.to_string());
    let now = tessera::clock::Clock::now_naive(app.clock.as_ref());
    tokio::task::spawn_blocking(move || {
        let mut conn = db.get().unwrap();
        let org = tessera::orgs::membership::find_org(&mut conn, &org)
            .unwrap()
            .unwrap()
            .id;
        tessera::orgs::members::add(
            &mut conn,
            &org,
            &user,
            &role,
            tessera::audit::Actor::System,
            "member_added",
            None,
            now,
        )
        .unwrap();
    })
    .await
    .unwrap();
}

fn sub(t: &Tokens) -> String {
    claims(&t.access_token)["sub"].as_str().unwrap().to_string()
}
