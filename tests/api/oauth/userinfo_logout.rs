//! RP-initiated logout and the userinfo endpoint.

use crate::both_backends;
use crate::helpers::{query_param, spec, Backend, Pkce, TestApp};

both_backends!(logout_validates_the_redirect, userinfo_needs_a_valid_token);

async fn logout_validates_the_redirect(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let url = app.authorize_url(&client, &pkce, "openid", "dev");
    let loc = browser.dev_login(&url, "lo@example.com", true).await;
    let t = app
        .exchange(&client, &query_param(&loc, "code").unwrap(), &pkce)
        .await;
    let hint = t.id_token.unwrap();
    // Unregistered post-logout URI: a page, no redirect, session kept.
    let res = browser
        .get(&format!(
            "/logout?id_token_hint={hint}&post_logout_redirect_uri=http%3A%2F%2Fevil.example%2F"
        ))
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    // No client to check against.
    let res = browser
        .get("/logout?post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fbye")
        .await;
    assert_eq!(res.status(), 400);
    // Forged hint.
    let res = browser.get("/logout?id_token_hint=a.b.c").await;
    assert_eq!(res.status(), 400);
    let res = browser.get(&format!("{url}&prompt=none")).await;
    assert!(
        query_param(res.headers()["location"].to_str().unwrap(), "code").is_some(),
        "still logged in"
    );
    // Registered URI with state.
    let res = browser
        .get(&format!("/logout?id_token_hint={hint}&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fbye&state=s1"))
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "http://127.0.0.1:9/bye?state=s1");
    let res = browser.get(&format!("{url}&prompt=none")).await;
    assert_eq!(
        query_param(res.headers()["location"].to_str().unwrap(), "error").as_deref(),
        Some("login_required")
    );
}

async fn userinfo_needs_a_valid_token(b: Backend) {
    let app = TestApp::spawn(b).await;
    let res = app.get("/userinfo").await;
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth("a.b.c")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    // An ID token is not an access token.
    let client = app.web_client().await;
    let t = app.login(&client, "u@example.com").await;
    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(t.id_token.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // POST with the token in the body.
    let res = app
        .client
        .post(app.url("/userinfo"))
        .form(&[("access_token", t.access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A client-credentials token has no openid scope.
    let mut s = spec("m2m");
    s.grant_types = vec!["client_credentials".into()];
    s.scopes = vec!["x".into()];
    let m2m = app.register(s).await;
    let cc: crate::helpers::Tokens = app
        .token(&m2m, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(cc.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
