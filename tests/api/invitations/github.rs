//! Invitations addressed to a GitHub account.

use serde_json::json;

use super::invite;
use crate::both_backends;
use crate::fakes::{self, FakeUser};
use crate::helpers::{org_claim, query_param, Backend, Pkce, TestApp};

both_backends!(github_id_invitation_is_accepted_with_github_login);

async fn github_id_invitation_is_accepted_with_github_login(b: Backend) {
    let github = fakes::github();
    let base = github.base.clone();
    let app = TestApp::spawn_with(b, move |s| {
        s.connectors.github = Some(tessera::config::GithubConnector {
            client_id: "gh".into(),
            client_secret: tessera::config::SecretString::new("gh-secret"),
            base_url: base.clone(),
            api_url: base,
        })
    })
    .await;
    let client = app.web_client().await;
    let owner = app.api_user(&client, "owner@example.com").await;
    app.api(
        "POST",
        "/api/orgs",
        Some(&owner.access_token),
        Some(json!({"name": "Acme", "slug": "acme"})),
    )
    .await;
    let (s, created) = invite(&app, &owner, json!({"github_id": 4242, "role": "member"})).await;
    assert_eq!(s, 201);
    assert_eq!(created["invitation"]["delivery_status"], "not_emailed");
    let token = created["token"].as_str().unwrap().to_string();
    github.set_user(FakeUser::new("4242", "octo@example.com", true));
    let browser = app.browser();
    let pkce = Pkce::new();
    let url = format!(
        "{}&invitation={token}",
        app.authorize_url(&client, &pkce, "openid orgs", "github")
    );
    let back = browser.follow(&url).await.expect("back to the client");
    let t = app
        .exchange(&client, &query_param(&back, "code").unwrap(), &pkce)
        .await;
    assert_eq!(org_claim(&app, &t.access_token, "org_slug"), "acme");
    // By login too, resolved to the numeric id at acceptance.
    let (_, created) = invite(
        &app,
        &owner,
        json!({"github_login": "User77", "role": "member"}),
    )
    .await;
    let token = created["token"].as_str().unwrap().to_string();
    github.set_user(FakeUser::new("77", "seven@example.com", true));
    let browser = app.browser();
    let url = format!(
        "{}&invitation={token}",
        app.authorize_url(&client, &pkce, "openid orgs", "github")
    );
    let back = browser.follow(&url).await.expect("back");
    let t = app
        .exchange(&client, &query_param(&back, "code").unwrap(), &pkce)
        .await;
    assert_eq!(org_claim(&app, &t.access_token, "org_slug"), "acme");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM organization_invitations WHERE github_login = 'user77' AND github_id = '77'").await, 1);
    // A GitHub id mismatch is refused.
    let (_, created) = invite(&app, &owner, json!({"github_id": "999", "role": "member"})).await;
    let token = created["token"].as_str().unwrap().to_string();
    github.set_user(FakeUser::new("1000", "other@example.com", true));
    let browser = app.browser();
    let url = format!(
        "{}&invitation={token}",
        app.authorize_url(&client, &pkce, "openid orgs", "github")
    );
    let back = browser.follow(&url).await.expect("back");
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
    assert!(query_param(&back, "error_description")
        .unwrap()
        .contains("different"));
}
