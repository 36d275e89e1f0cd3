//! Choosing the org at login: the organization parameter and the org picker.

use super::{create_org, org_id, setup};
use crate::both_backends;
use crate::helpers::{org_claim, query_param, spec, Backend, Pkce, TestApp, REDIRECT};

both_backends!(
    organization_parameter_selects_or_denies,
    org_picker_for_clients_that_require_an_org,
);

async fn organization_parameter_selects_or_denies(b: Backend) {
    let (app, client) = setup(b).await;
    let owner = app.api_user(&client, "own@example.com").await;
    let team = create_org(&app, &owner, "Team", "team").await;
    let other = app.api_user(&client, "stranger@example.com").await;
    let other_org = org_id(&app, &other);
    // By slug and by id.
    let t = app
        .login_with(
            &client,
            "own@example.com",
            "openid orgs offline_access",
            "&organization=team",
        )
        .await;
    assert_eq!(org_id(&app, &t), team);
    let t = app
        .login_with(
            &client,
            "own@example.com",
            "openid orgs offline_access",
            &format!("&organization={team}"),
        )
        .await;
    assert_eq!(org_id(&app, &t), team);
    // Not a member: access_denied, no code.
    let browser = app.browser();
    let pkce = Pkce::new();
    let url = format!(
        "{}&organization={other_org}",
        app.authorize_url(&client, &pkce, "openid orgs", "dev")
    );
    let loc = browser.dev_login(&url, "own@example.com", true).await;
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    assert!(query_param(&loc, "code").is_none());
    // Unknown org looks the same.
    let url = format!(
        "{}&organization=nope-nope",
        app.authorize_url(&client, &pkce, "openid orgs", "dev")
    );
    let loc = app.browser().dev_login(&url, "own@example.com", true).await;
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
}

async fn org_picker_for_clients_that_require_an_org(b: Backend) {
    let app = TestApp::spawn(b).await;
    let mut s = spec("b2b");
    s.organization_usage = "require".into();
    let b2b = app.register(s).await;
    let web = app.web_client().await;
    let t = app.api_user(&web, "multi@example.com").await;
    let team = create_org(&app, &t, "Team", "team").await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let url = app.authorize_url(&b2b, &pkce, "openid orgs", "dev");
    let loc = browser.dev_login(&url, "multi@example.com", true).await;
    assert!(loc.starts_with("/login/organization?tx="), "{loc}");
    let page = browser.get(&loc).await.text().await.unwrap();
    assert!(
        page.contains("Team") && page.contains("organization"),
        "{page}"
    );
    let tx = query_param(&format!("{}{loc}", app.address), "tx").unwrap();
    // Another browser cannot answer the picker.
    let res = app
        .browser()
        .http
        .post(app.url("/login/organization"))
        .form(&[("tx", tx.as_str()), ("organization", team.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = browser
        .http
        .post(app.url("/login/organization"))
        .form(&[("tx", tx.as_str()), ("organization", team.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let back = res.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with(REDIRECT));
    let tokens = app
        .exchange(&b2b, &query_param(&back, "code").unwrap(), &pkce)
        .await;
    assert_eq!(org_id(&app, &tokens), team);
    // With the session, the picker comes again (no organization param).
    let res = browser.get(&url).await;
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login/organization"));
    // organization= skips it.
    let res = browser.get(&format!("{url}&organization=team")).await;
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with(REDIRECT));
    // A client with organization_usage = none gets no org claims.
    let mut s = spec("plain");
    s.organization_usage = "none".into();
    let plain = app.register(s).await;
    let t = app.api_user(&plain, "multi@example.com").await;
    assert!(org_claim(&app, &t.access_token, "org_id").is_null());
}
