//! The login session: prompt, max_age, and a login transaction bound to the
//! browser that started it.

use crate::both_backends;
use crate::helpers::{claims, query_param, Backend, Pkce, TestApp, REDIRECT};

both_backends!(
    prompt_none_and_session_reuse,
    max_age_forces_a_new_login,
    login_transaction_is_bound_to_the_browser,
);

async fn prompt_none_and_session_reuse(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let url = app.authorize_url(&client, &pkce, "openid", "dev");
    let res = browser.get(&format!("{url}&prompt=none")).await;
    let loc = res.headers()["location"].to_str().unwrap();
    assert_eq!(query_param(loc, "error").as_deref(), Some("login_required"));
    assert_eq!(query_param(loc, "state").as_deref(), Some("st4te"));
    // Log in, then the session skips the upstream.
    let first = browser.dev_login(&url, "sso@example.com", true).await;
    assert!(query_param(&first, "code").is_some());
    let res = browser.get(&format!("{url}&prompt=none")).await;
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(REDIRECT));
    let code = query_param(&loc, "code").expect("code from the session");
    let t = app.exchange(&client, &code, &pkce).await;
    assert_eq!(
        claims(t.id_token.as_deref().unwrap())["email"],
        serde_json::Value::Null,
        "no email scope"
    );
    // Session cookie flags.
    let res = app.browser().get(&url).await;
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "http://127.0.0.1 issuer: no Secure flag"
    );
    // prompt=login forces the form again.
    let res = browser.get(&format!("{url}&prompt=login")).await;
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login/dev"));
}

async fn max_age_forces_a_new_login(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let url = app.authorize_url(&client, &pkce, "openid", "dev");
    browser.dev_login(&url, "age@example.com", true).await;
    app.clock.advance(chrono::Duration::seconds(120));
    let res = browser.get(&format!("{url}&max_age=300")).await;
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(REDIRECT),
        "fresh enough"
    );
    let res = browser.get(&format!("{url}&max_age=60")).await;
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login/dev"),
        "too old"
    );
    let res = browser.get(&format!("{url}&max_age=60&prompt=none")).await;
    assert_eq!(
        query_param(res.headers()["location"].to_str().unwrap(), "error").as_deref(),
        Some("login_required")
    );
}

async fn login_transaction_is_bound_to_the_browser(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let victim = app.browser();
    let attacker = app.browser();
    let pkce = Pkce::new();
    let res = attacker
        .get(&app.authorize_url(&client, &pkce, "openid", "dev"))
        .await;
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    let tx = query_param(&format!("{}{loc}", app.address), "tx").unwrap();
    // The victim's browser submits the attacker's transaction: refused.
    let res = victim
        .http
        .post(app.url("/callback/dev"))
        .form(&[
            ("tx", tx.as_str()),
            ("email", "victim@example.com"),
            ("email_verified", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    assert!(res.text().await.unwrap().contains("another browser"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 0);
    // Unknown transaction.
    let res = victim.get("/login?tx=nope").await;
    assert_eq!(res.status(), 400);
}
